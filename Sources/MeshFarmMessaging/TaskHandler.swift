import Foundation

/// Runs one kind of task. `run` is called on a dedicated thread (never on
/// Swift's cooperative pool and never on a broker connection's thread), so
/// it may block and compute for hours.
public protocol TaskHandler<Payload, Result>: Sendable {
    associatedtype Payload: TaskContent
    associatedtype Result: TaskContent
    /// Does the work; the returned value becomes the `succeeded` event's
    /// result. Throw ``TaskFailure`` to say whether a retry could help; any
    /// other error counts as retryable.
    func run(_ task: TaskEnvelope<Payload>, context: TaskContext) throws -> Result
}

/// A handler built from a closure.
public struct ClosureTaskHandler<Payload: TaskContent, Result: TaskContent>: TaskHandler {
    let body: @Sendable (TaskEnvelope<Payload>, TaskContext) throws -> Result

    public init(_ body: @escaping @Sendable (TaskEnvelope<Payload>, TaskContext) throws -> Result) {
        self.body = body
    }

    public func run(_ task: TaskEnvelope<Payload>, context: TaskContext) throws -> Result { try body(task, context) }
}

/// A task failure with its retry classification.
public struct TaskFailure: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var retryable: Bool
    /// Not the task's failure: its worker hands it back (see
    /// ``WorkerUnhealthy``).
    public var handedBack: Bool?

    public init(_ message: String, retryable: Bool, handedBack: Bool? = nil) {
        self.message = message
        self.retryable = retryable
        self.handedBack = handedBack
    }

    public static func permanent(_ message: String) -> TaskFailure { TaskFailure(message, retryable: false) }
    public static func retryable(_ message: String) -> TaskFailure { TaskFailure(message, retryable: true) }

    public var description: String { message }
}

/// Thrown by a handler when the worker itself is broken, not the task (a
/// lost GPU device, a full temporary disk): the runtime hands the task back
/// (it runs again elsewhere, without counting as its failure), stops taking
/// tasks and reports the worker unhealthy, so that its orchestrator
/// replaces it (``WorkerRuntime/onUnhealthy``).
public struct WorkerUnhealthy: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String

    public init(_ reason: String) { self.reason = reason }

    public var description: String { "the worker is unhealthy: \(reason)" }
}

/// What a running handler can tell the runtime.
public struct TaskContext: Sendable {
    let reportProgress: @Sendable (Double, String?) -> Void
    let cancelled: @Sendable () -> Bool
    let taskLog: TaskLog?

    public init(
        reportProgress: @escaping @Sendable (Double, String?) -> Void = { _, _ in },
        cancelled: @escaping @Sendable () -> Bool = { false }, log: TaskLog? = nil
    ) {
        self.reportProgress = reportProgress
        self.cancelled = cancelled
        taskLog = log
    }

    /// Notes a line in the task's log (sent with the attempt's result;
    /// at most ``TaskLog/limit`` lines): what a user reading why a task
    /// took long or went wrong wants to see, such as sizes, timings and
    /// warnings.
    public func log(_ text: String, level: TaskLogLine.Level = .info) { taskLog?.note(text, level: level) }

    /// Reports progress in 0...1 with an optional stage label; published as
    /// a `progress` event (rate-limited, never blocks the handler).
    public func progress(_ fraction: Double, stage: String? = nil) { reportProgress(fraction, stage) }

    /// True once the task is settled without its handler: it failed at its
    /// time limit, or its job was cancelled (reported already). A handler
    /// that can stop early should; whatever it returns is dropped. A
    /// worker shutting down does not cancel its tasks: they get the
    /// shutdown grace to finish.
    public var isCancelled: Bool { cancelled() }

    /// Throws once ``isCancelled``: a handler calls it between steps.
    public func stopIfCancelled() throws {
        if cancelled() {
            throw TaskFailure.permanent("the task was stopped: past its time limit, or its job cancelled")
        }
    }
}
