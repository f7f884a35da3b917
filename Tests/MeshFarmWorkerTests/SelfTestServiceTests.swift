import Foundation
import MeshFarmJobs
import MeshFarmMessaging
import MeshFarmWorker
import Synchronization
import Testing

/// A worker whose periodic self-test starts failing steps aside: it stops
/// taking tasks and says why. Over the in-memory broker, with the real
/// runtime.
@Suite struct SelfTestServiceTests {
    let farm = FarmTopology(prefix: "selftest")

    @Test(.timeLimit(.minutes(1))) func aFailingSelfTestMakesAnIdleWorkerStopTakingTasks() async throws {
        let transport = await InMemoryTransport()
        try await transport.declare(farm.topology)
        let reported = Mutex<String?>(nil)
        let runtime = WorkerRuntime<TaskPayload, TaskResult>(
            transport: transport,
            configuration: WorkerConfiguration(queue: farm.cpuQueue, eventsExchange: farm.eventsExchange),
            handlers: [:], onUnhealthy: { reason in reported.withLock { $0 = reason } })
        let running = Task { try await runtime.run() }
        defer { running.cancel() }

        let runs = Mutex(0)
        let busy = Mutex(true)
        let service = SelfTestService(
            interval: 0.05, isIdle: { !busy.withLock { $0 } },
            test: {
                let n = runs.withLock {
                    $0 += 1; return $0
                }
                if n >= 3 { throw SelfTestFailure() }
            }, stepAside: runtime.stepAside)
        let checking = Task { try await service.run() }
        // Busy: no self-test runs (the work itself shows the device works).
        try await Task.sleep(for: .milliseconds(300))
        #expect(runs.withLock { $0 } == 0)
        busy.withLock { $0 = false }
        try await checking.value  // returns at the first failure
        #expect(runs.withLock { $0 } == 3)
        #expect(runtime.unhealthyReason == "the self-test failed: the device computed wrong values")
        #expect(reported.withLock { $0 } == runtime.unhealthyReason)
        // It no longer consumes: a task published now stays in the queue.
        let task = JobTask(
            taskID: "j.analyze", attempt: 1, kind: "analyze", pool: "cpu", jobID: "j",
            payload: .analyze(AnalyzePayload(model: String(repeating: "a", count: 64), fileName: "m.obj")))
        try await transport.publish(
            OutgoingMessage(
                exchange: farm.tasksExchange, routingKey: task.routingKey, body: try MessageCoding.encode(task)))
        try await Task.sleep(for: .milliseconds(200))
        #expect(try await transport.messageCount(queue: farm.cpuQueue) == 1)
    }
}

struct SelfTestFailure: Error, CustomStringConvertible {
    var description: String { "the device computed wrong values" }
}
