import Foundation
import MeshFarmJobs
import MeshFarmMessaging
import Metrics

/// The wrapper every task handler runs in: whatever the handler throws is
/// classed by ``FailureClassifier`` (the one place that decides retryable
/// or permanent), and its tasks are counted and timed for `/metrics`:
/// `meshfarm_tasks_total{kind, outcome}` (`succeeded`, `failed_retryable`,
/// `failed_permanent`, `handed_back`: the worker is broken, see
/// ``FailureClassifier/unhealthy(_:)``) and
/// `meshfarm_task_duration_seconds{kind}`.
public struct MeteredHandler: JobTaskHandler {
    let kind: String
    let inner: any JobTaskHandler
    let succeeded: Counter
    let failedRetryable: Counter
    let failedPermanent: Counter
    let handedBack: Counter
    let duration: Metrics.Timer

    public init(kind: String, _ inner: any JobTaskHandler, factory: any MetricsFactory = MetricsSystem.factory) {
        self.kind = kind
        self.inner = inner
        func counter(_ outcome: String) -> Counter {
            Counter(
                label: "meshfarm_tasks_total", dimensions: [("kind", kind), ("outcome", outcome)], factory: factory)
        }
        succeeded = counter("succeeded")
        failedRetryable = counter("failed_retryable")
        failedPermanent = counter("failed_permanent")
        handedBack = counter("handed_back")
        duration = Metrics.Timer(
            label: "meshfarm_task_duration_seconds", dimensions: [("kind", kind)], preferredDisplayUnit: .seconds,
            factory: factory)
    }

    /// Every handler of `handlers`, metered.
    public static func metering(_ handlers: [String: any JobTaskHandler]) -> [String: any JobTaskHandler] {
        Dictionary(uniqueKeysWithValues: handlers.map { ($0.key, MeteredHandler(kind: $0.key, $0.value)) })
    }

    public func run(_ task: JobTask, context: TaskContext) throws -> TaskResult {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { duration.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - start)) }
        do {
            let result = try inner.run(task, context: context)
            succeeded.increment()
            return result
        } catch {
            if let unhealthy = FailureClassifier.unhealthy(error) {
                handedBack.increment()
                throw unhealthy
            }
            let failure = FailureClassifier.classify(error)
            (failure.retryable ? failedRetryable : failedPermanent).increment()
            throw failure
        }
    }
}
