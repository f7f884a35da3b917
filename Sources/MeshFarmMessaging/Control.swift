import Foundation

/// What the coordinator tells every worker, over the control exchange
/// (fanout: each worker binds a private queue of its own).
///
/// Which jobs are cancelled while some of their tasks may still be queued
/// or running. The coordinator sends it when a job is cancelled and again
/// every few seconds while such tasks remain, so a worker that was away,
/// or that started since, learns it too; a worker abandons the running
/// tasks of those jobs and skips their queued ones. And which jobs an
/// operator retried (`resumedJobs`, optional: a worker of the previous
/// release ignores it and forgets the job within its memory): workers
/// forget them at once.
public struct ControlMessage: Sendable, Equatable, Codable {
    public var version: Int
    /// Cancelled jobs whose tasks may still reach a worker.
    public var cancelledJobs: [String]
    /// Jobs retried after a cancel or failure: no longer cancelled.
    public var resumedJobs: [String]?
    /// Workers (by name) to drain: finish what they run, take no more.
    public var drainWorkers: [String]?
    /// Workers to take tasks again after a drain.
    public var resumeWorkers: [String]?

    public init(
        cancelledJobs: [String], resumedJobs: [String]? = nil, drainWorkers: [String]? = nil,
        resumeWorkers: [String]? = nil
    ) {
        version = 1
        self.cancelledJobs = cancelledJobs
        self.resumedJobs = resumedJobs
        self.drainWorkers = drainWorkers
        self.resumeWorkers = resumeWorkers
    }

    /// Decodes a control message, checking its version.
    public static func decode(_ data: Data) throws -> ControlMessage {
        let message = try MessageCoding.decoder().decode(ControlMessage.self, from: data)
        guard message.version == 1 else { throw MessagingError.unsupportedVersion(message.version) }
        return message
    }

    /// Transient and not mandatory: with no worker bound, nobody needs it,
    /// and the coordinator repeats it while it matters.
    public func message(exchange: String) throws -> OutgoingMessage {
        OutgoingMessage(
            exchange: exchange, routingKey: "cancelled-jobs", body: try MessageCoding.encode(self), persistent: false,
            mandatory: false)
    }
}

/// What a worker says of itself, every few seconds and when it changes:
/// published to the events exchange (routing key ``routingKey``), so the
/// coordinator knows idle and draining workers too, not only those whose
/// tasks send events. Transient: a lost one is followed by the next.
public struct WorkerStatus: Sendable, Equatable, Codable {
    public enum State: String, Sendable, Codable {
        case idle, busy
        /// Finishing what it runs, taking no more (an operator's drain).
        case draining
    }

    public static let routingKey = "worker.status"

    public var version: Int
    public var worker: String
    /// The task queue it consumes.
    public var queue: String
    public var state: State
    /// Tasks running now.
    public var running: [String]
    /// Tasks finished since it started.
    public var completed: Int
    public var at: Date

    public init(worker: String, queue: String, state: State, running: [String], completed: Int, at: Date = Date()) {
        version = 1
        self.worker = worker
        self.queue = queue
        self.state = state
        self.running = running
        self.completed = completed
        self.at = at
    }

    public static func decode(_ data: Data) throws -> WorkerStatus {
        let status = try MessageCoding.decoder().decode(WorkerStatus.self, from: data)
        guard status.version == 1 else { throw MessagingError.unsupportedVersion(status.version) }
        return status
    }

    public func message(exchange: String) throws -> OutgoingMessage {
        OutgoingMessage(
            exchange: exchange, routingKey: Self.routingKey, body: try MessageCoding.encode(self), persistent: false,
            mandatory: false)
    }
}

/// A worker's memory of cancelled jobs: ids heard in ``ControlMessage``s,
/// each forgotten once it has not been repeated for `memory` seconds (the
/// coordinator repeats an id while its job still has tasks with the
/// broker, so only ids that no longer matter are forgotten).
public struct CancelledJobs: Sendable, Equatable {
    public var memory: Double
    private var lastHeard: [String: Date] = [:]

    public init(memory: Double = 600) { self.memory = memory }

    /// Records the ids of a control message; forgets stale ones.
    public mutating func heard(_ ids: [String], now: Date) {
        lastHeard = lastHeard.filter { now.timeIntervalSince($0.value) < memory }
        for id in ids { lastHeard[id] = now }
    }

    /// Forgets jobs that run again (an operator retried them).
    public mutating func forget(_ ids: [String]) {
        for id in ids { lastHeard[id] = nil }
    }

    public func contains(_ jobID: String) -> Bool { lastHeard[jobID] != nil }

    public var count: Int { lastHeard.count }
}
