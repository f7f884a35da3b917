import Foundation
import MeshFarmMessaging

/// When the coordinator retries a task that failed with a retryable error.
public struct RetryPolicy: Sendable, Equatable, Codable {
    public var backoff: Backoff
    /// Publications of one task before its failure fails the job.
    public var maxAttempts: Int

    /// 10 s doubling, capped at 6 minutes, 6 attempts: Kubernetes Job's
    /// defaults.
    public init(backoff: Backoff = Backoff(initial: 10, maximum: 360), maxAttempts: Int = 6) {
        self.backoff = backoff
        self.maxAttempts = maxAttempts
    }
}

/// What the coordinator must do after a transition.
public enum JobAction: Sendable, Hashable {
    /// Publish this attempt of the task (payload built from its dependencies).
    /// Only ``JobRecord/dispatch(_:)`` (and a restart) produce it; other
    /// transitions make tasks `ready` and leave the order to `Dispatcher`.
    case publish(taskID: TaskID, attempt: Int)
    /// Call ``JobRecord/retryDue(_:now:)`` for this task at this time.
    case scheduleRetry(taskID: TaskID, at: Date)
    /// The job reached a terminal status.
    case finished(JobStatus)
}

/// The coordinator's state machine. Every method is idempotent where the
/// messaging layer can repeat itself: a duplicate or stale event (an older
/// attempt, an event after the task finished, `started` after the result)
/// changes nothing and returns no action.
extension JobRecord {
    /// Makes every pending task whose dependencies have succeeded `ready`.
    public mutating func start(now: Date) {
        guard !status.isTerminal else { return }
        markReadyTasks(now: now)
    }

    /// Hands a `ready` task to the broker: its next attempt is `queued`
    /// and must be published. Nil when the task is not ready (or the job
    /// is finished).
    public mutating func dispatch(_ taskID: TaskID, now: Date = Date()) -> JobAction? {
        guard !status.isTerminal, let i = index(of: taskID), tasks[i].state == .ready else { return nil }
        tasks[i].attempt += 1
        tasks[i].state = .queued
        tasks[i].published = false
        tasks[i].note("queued attempt \(tasks[i].attempt)", at: now)
        return .publish(taskID: tasks[i].id, attempt: tasks[i].attempt)
    }

    /// The current attempt was lost (``Reconciler``: its message is gone
    /// from the queue, or its worker went silent) or handed back by its
    /// worker (shutting down, or broken). A new attempt is queued
    /// at once; it is not a retry (``TaskRecord/republished``). Events of
    /// the lost attempt are ignored from now on, except a success, which is
    /// a valid result whichever attempt brings it.
    public mutating func republishLost(_ taskID: TaskID, now: Date, reason: String? = nil) -> JobAction? {
        guard !status.isTerminal, let i = index(of: taskID), tasks[i].isWithBroker else { return nil }
        tasks[i].note(
            "attempt \(tasks[i].attempt) \(reason ?? "was handed back"): published again as attempt \(tasks[i].attempt + 1)",
            level: .warning, at: now)
        tasks[i].attempt += 1
        tasks[i].republished += 1
        tasks[i].state = .queued
        tasks[i].published = false
        tasks[i].queuedAt = now
        tasks[i].startedAt = nil
        tasks[i].worker = nil
        tasks[i].progress = nil
        tasks[i].stage = nil
        return .publish(taskID: tasks[i].id, attempt: tasks[i].attempt)
    }

    /// Records that the broker confirmed the publication of `attempt`.
    public mutating func markPublished(_ taskID: TaskID, attempt: Int) {
        guard let i = index(of: taskID), tasks[i].attempt == attempt else { return }
        tasks[i].published = true
    }

    /// Applies a worker's event.
    public mutating func apply(_ event: JobTaskEvent, now: Date, policy: RetryPolicy) -> [JobAction] {
        guard let id = TaskID(event.taskID), let i = index(of: id) else { return [] }
        var task = tasks[i]
        defer { tasks[i] = task }
        switch event.kind {
        case .started:
            guard task.isWithBroker, event.attempt == task.attempt else { return [] }
            task.state = .running
            task.worker = event.worker
            task.startedAt = event.at
            task.redeliveries = max(task.redeliveries, event.deliveryCount)
            if status == .queued {
                status = .running
                startedAt = event.at
            }
            return []

        case .progress:
            guard task.isWithBroker, event.attempt == task.attempt else { return [] }
            task.progress = event.progress
            task.stage = event.stage
            return []

        case .succeeded:
            // A success from any attempt is a valid result (a redelivered
            // earlier attempt may finish after a retry was published).
            guard task.state != .succeeded, event.attempt <= task.attempt else { return [] }
            task.note(event.log ?? [])
            task.state = .succeeded
            task.result = event.result
            task.worker = event.worker
            task.finishedAt = event.at
            task.startedAt = task.startedAt ?? event.at.addingTimeInterval(-(event.seconds ?? 0))
            task.computeSeconds += event.seconds ?? 0
            task.redeliveries = max(task.redeliveries, event.deliveryCount)
            task.progress = 1
            task.error = nil
            task.retryAt = nil
            tasks[i] = task
            if status == .queued {
                status = .running
                startedAt = task.startedAt
            }
            guard !status.isTerminal else { return [] }
            if let triangles = task.result?.analyze?.triangles {
                splitIfBig(triangles: triangles, now: now)
                task = tasks[index(of: id)!]  // what the deferred write-back stores, wherever the split put it
            }
            if tasks.allSatisfy({ $0.state == .succeeded }) { return finish(.succeeded, error: nil, now: now) }
            markReadyTasks(now: now)
            return []

        case .failed:
            guard task.isWithBroker, event.attempt == task.attempt else { return [] }
            task.note(event.log ?? [])
            let failure =
                event.failure ?? .init(message: "the worker reported a failure without details", retryable: true)
            if failure.handedBack == true, !status.isTerminal, task.republished < policy.maxAttempts {
                // Not the task's failure: its worker shut down or stepped
                // aside. Again at once, as a new attempt that is not a retry.
                // Bounded: a task that breaks every worker it lands on (a
                // mesh that loses the device) is, past the retry policy's
                // count, handled as the retryable failure it then is.
                tasks[i] = task
                let action = republishLost(task.id, now: now)
                task = tasks[i]  // what the deferred write-back stores
                return action.map { [$0] } ?? []
            }
            task.computeSeconds += event.seconds ?? 0
            task.worker = event.worker
            task.error = failure.message
            guard !status.isTerminal else {
                task.state = .failed
                task.finishedAt = event.at
                return []
            }
            if failure.retryable, task.retryAttempts < policy.maxAttempts {
                let delay = policy.backoff.delay(retry: task.retryAttempts)
                let at = now.addingTimeInterval(delay)
                task.state = .retrying
                task.retryAt = at
                task.note(
                    "retrying in \(Int(delay.rounded())) s (\(task.retryAttempts) of \(policy.maxAttempts) attempts used)",
                    at: now)
                return [.scheduleRetry(taskID: task.id, at: at)]
            }
            task.note(
                failure.retryable ? "no attempts left: the job fails" : "a failure retrying cannot mend: the job fails",
                level: .error, at: now)
            task.state = .failed
            task.finishedAt = event.at
            tasks[i] = task
            let attempts = task.attempt > 1 ? " after \(task.attempt) attempts" : ""
            return finish(
                .failed, error: "\(task.task.kind.rawValue) task \(task.id) failed\(attempts): \(failure.message)",
                now: now)

        case .cancelled:
            // The worker abandoned or skipped the attempt because the job
            // was cancelled. A job that is not finished never asked for
            // that (a stale id): the attempt is handed back.
            guard task.isWithBroker, event.attempt == task.attempt else { return [] }
            guard status.isTerminal else {
                tasks[i] = task
                let action = republishLost(
                    task.id, now: now, reason: "was stopped by \(event.worker), which had heard of a cancel")
                task = tasks[i]
                return action.map { [$0] } ?? []
            }
            task.note(event.log ?? [])
            task.note("stopped by \(event.worker): the job is \(status.rawValue)", at: now)
            task.state = .cancelled
            task.worker = event.worker
            task.finishedAt = event.at
            task.progress = nil
            task.stage = nil
            return []
        }
    }

    /// The backoff of a retrying task has elapsed: its next attempt is
    /// `ready`.
    public mutating func retryDue(_ taskID: TaskID, now: Date) {
        guard !status.isTerminal, let i = index(of: taskID), tasks[i].state == .retrying else { return }
        markReady(i, now: now)
    }

    /// The broker dead-lettered a task message (it kept killing workers past
    /// the delivery limit, or no worker could read it).
    public mutating func deadLettered(_ taskID: TaskID, attempt: Int, reason: String, now: Date) -> [JobAction] {
        guard let i = index(of: taskID), !tasks[i].state.isTerminal, attempt == tasks[i].attempt else { return [] }
        tasks[i].state = .failed
        tasks[i].finishedAt = now
        tasks[i].error = reason
        tasks[i].note("dead-lettered: \(reason)", level: .error, at: now)
        guard !status.isTerminal else { return [] }
        return finish(.failed, error: "\(tasks[i].task.kind.rawValue) task \(taskID) failed: \(reason)", now: now)
    }

    /// Stops scheduling: pending and retrying tasks are cancelled. Tasks
    /// with the broker are stopped by their workers, told over the control
    /// exchange (``ControlMessage``): each comes back as a `cancelled`
    /// event; a result that arrives first is still recorded.
    public mutating func cancel(now: Date, reason: String = "cancelled by request") -> [JobAction] {
        guard !status.isTerminal else { return [] }
        return finish(.cancelled, error: reason, now: now)
    }

    /// An operator's retry of a failed or cancelled job: its failed and
    /// cancelled tasks start again from the beginning, with the retry
    /// policy's attempts counted afresh; what succeeded is kept. The job is
    /// running again (queued when nothing has run yet) and its runnable
    /// tasks are `ready`. A task still with the broker (its workers were
    /// being told to stop it) is left as it is: its result counts, and if
    /// a worker abandons or skips it after all, the `cancelled` event of a
    /// running job publishes it again. Refused for a job that did not end
    /// in failure or a cancel.
    public mutating func retry(now: Date) throws(RetryRefusal) {
        guard status == .failed || status == .cancelled else {
            throw status == .succeeded ? .nothingToRetry : .unfinished(status)
        }
        for i in tasks.indices where tasks[i].state == .failed || tasks[i].state == .cancelled {
            tasks[i].note("to run again: the job was retried", at: now)
            tasks[i].state = .pending
            tasks[i].resetAttempts = tasks[i].attempt - tasks[i].republished
            tasks[i].published = false
            tasks[i].worker = nil
            tasks[i].queuedAt = nil
            tasks[i].startedAt = nil
            tasks[i].finishedAt = nil
            tasks[i].retryAt = nil
            tasks[i].progress = nil
            tasks[i].stage = nil
            tasks[i].error = nil
        }
        status = tasks.contains { $0.state == .succeeded || $0.state == .running } ? .running : .queued
        error = nil
        finishedAt = nil
        notifiedAt = nil  // its callback hears of its next end too
        // An analysis that arrived after the job ended (cancelled while it ran) did not split it yet.
        if let triangles = analysisResult?.triangles { splitIfBig(triangles: triangles, now: now) }
        markReadyTasks(now: now)
    }

    /// Tasks that are queued but whose publication was never confirmed:
    /// a restarted coordinator publishes them (again).
    public var unpublishedTasks: [TaskRecord] {
        status.isTerminal ? [] : tasks.filter { $0.state == .queued && !$0.published }
    }

    /// Retrying tasks and when they are due.
    public var pendingRetries: [(TaskID, Date)] {
        status.isTerminal ? [] : tasks.compactMap { t in t.state == .retrying ? t.retryAt.map { (t.id, $0) } : nil }
    }

    // MARK: - Helpers

    /// Replaces each reduction by a split one (partition, parts, stitch)
    /// when the analysis found the model bigger than the spec's
    /// `splitAbove` (``Planner/split(_:jobID:spec:triangles:)``). The
    /// tasks already there keep their records.
    private mutating func splitIfBig(triangles: Int, now: Date) {
        guard let planned = Planner.split(tasks.map(\.task), jobID: id, spec: spec, triangles: triangles) else {
            return
        }
        var existing = Dictionary(uniqueKeysWithValues: tasks.map { ($0.id, $0) })
        tasks = planned.map { task in
            guard var record = existing.removeValue(forKey: task.id) else { return TaskRecord(task: task) }
            record.task = task
            return record
        }
        let parts = tasks.filter { $0.task.kind == .reducePart }.count
        let levels = tasks.filter { $0.task.kind == .stitch }.count
        if let i = index(of: .partition(id)) {
            tasks[i].note(
                "the model has \(triangles) triangles, over \(spec.splitAbove ?? JobSpec.defaultSplitAbove): "
                    + "each reduced level is split into \(parts / max(1, levels)) parts", at: now)
        }
    }

    private mutating func markReadyTasks(now: Date) {
        let succeeded = Set(tasks.filter { $0.state == .succeeded }.map(\.id))
        for i in tasks.indices where tasks[i].state == .pending {
            if tasks[i].task.dependencies.allSatisfy(succeeded.contains) { markReady(i, now: now) }
        }
    }

    private mutating func markReady(_ i: Int, now: Date) {
        tasks[i].state = .ready
        tasks[i].queuedAt = now
        tasks[i].retryAt = nil
    }

    private mutating func finish(_ final: JobStatus, error: String?, now: Date) -> [JobAction] {
        status = final
        self.error = error
        finishedAt = now
        for i in tasks.indices where [.pending, .ready, .retrying].contains(tasks[i].state) {
            tasks[i].state = .cancelled
            tasks[i].retryAt = nil
            tasks[i].note("not run: the job \(final == .cancelled ? "was cancelled" : "failed")", at: now)
        }
        return [.finished(final)]
    }
}

/// Why a job cannot be retried.
public enum RetryRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    /// It is still queued or running.
    case unfinished(JobStatus)
    /// It succeeded: nothing failed.
    case nothingToRetry

    public var description: String {
        switch self {
        case .unfinished(let status): "the job is \(status.rawValue): only a failed or cancelled job is retried"
        case .nothingToRetry: "the job succeeded: nothing to retry"
        }
    }
}

extension TaskRecord {
    /// The current attempt was handed to the broker and has not finished:
    /// only then do a worker's `started`, `progress` and `failed` events for
    /// it mean anything. (A `ready` or `retrying` task keeps the number of
    /// its last, finished attempt until it is dispatched again.)
    public var isWithBroker: Bool { state == .queued || state == .running }
}
