import Foundation

/// What a task carries (its payload) or returns (its result): a value that
/// knows, from its task's kind, which type to read. MeshFarm's tasks use
/// the typed enums of `MeshFarmJobs` (`TaskPayload`, `TaskResult`); tests
/// and the test worker use ``JSONValue``.
public protocol TaskContent: Sendable, Equatable, Encodable {
    /// Reads the content of a task of `kind`. `kind` is nil for a result in
    /// an event from a worker of the previous release, which did not name
    /// it: then `taskID` is all there is to go by.
    init(kind: String?, taskID: String, from decoder: any Decoder) throws
}

/// A task message: versioned JSON, published persistent to the tasks
/// exchange with routing key `<pool>.<kind>` and `message_id`
/// `<taskID>:<attempt>`. The payload is typed (`Payload`) and decoded once,
/// straight from the message, by the type the envelope's `kind` names.
///
/// `attempt` counts the coordinator's publications of the task (a retry
/// after a failure is attempt + 1). A redelivery of the same message after
/// a worker crash keeps its attempt; the broker counts those in
/// `x-delivery-count`. Results are idempotent by (task id, attempt).
public struct TaskEnvelope<Payload: TaskContent>: Sendable, Equatable, Codable {
    /// Current envelope format version; readers reject other versions.
    public static var currentVersion: Int { 1 }

    public var version: Int
    public var taskID: String
    public var attempt: Int
    /// Task kind, e.g. `analyze`, `reduce`, `render`, `finalize`.
    public var kind: String
    /// Worker pool, the first word of the routing key: `cpu` or `gpu`.
    public var pool: String
    public var jobID: String
    public var payload: Payload
    /// Correlates logs across services.
    public var traceID: String
    public var createdAt: Date

    public init(
        taskID: String, attempt: Int, kind: String, pool: String, jobID: String, payload: Payload,
        traceID: String = RandomID.make(), createdAt: Date = Date()
    ) {
        version = Self.currentVersion
        self.taskID = taskID
        self.attempt = attempt
        self.kind = kind
        self.pool = pool
        self.jobID = jobID
        self.payload = payload
        self.traceID = traceID
        self.createdAt = createdAt
    }

    /// `<pool>.<kind>`.
    public var routingKey: String { "\(pool).\(kind)" }
    /// `<taskID>:<attempt>`.
    public var messageID: String { "\(taskID):\(attempt)" }

    enum CodingKeys: String, CodingKey {
        case version, taskID, attempt, kind, pool, jobID, payload, traceID, createdAt
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decode(Int.self, forKey: .version)
        taskID = try c.decode(String.self, forKey: .taskID)
        attempt = try c.decode(Int.self, forKey: .attempt)
        kind = try c.decode(String.self, forKey: .kind)
        pool = try c.decode(String.self, forKey: .pool)
        jobID = try c.decode(String.self, forKey: .jobID)
        payload = try Payload(kind: kind, taskID: taskID, from: try c.superDecoder(forKey: .payload))
        traceID = try c.decode(String.self, forKey: .traceID)
        createdAt = try c.decode(Date.self, forKey: .createdAt)
    }
}

/// What a worker reports about a task, published to the events exchange.
public struct TaskEvent<Result: TaskContent>: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable {
        case started, progress, succeeded, failed
        /// The worker abandoned this attempt, or skipped it, because its
        /// job was cancelled (``ControlMessage``).
        case cancelled
    }

    /// Why a task failed, and whether trying again could help.
    public struct Failure: Sendable, Equatable, Codable {
        public var message: String
        /// A transient problem (network, out of memory...): retry later.
        /// False for bad input: retrying cannot help.
        public var retryable: Bool
        /// Not the task's failure: the worker handed it back (it shut down
        /// before the task finished, or it is broken and steps aside). The
        /// coordinator publishes it again at once, as a new attempt that is
        /// not a retry. Added as an optional key, the version staying 1: a
        /// coordinator of the previous release sees a retryable failure.
        public var handedBack: Bool?

        public init(message: String, retryable: Bool, handedBack: Bool? = nil) {
            self.message = message
            self.retryable = retryable
            self.handedBack = handedBack
        }
    }

    public static var currentVersion: Int { 1 }

    public var version: Int
    public var kind: Kind
    public var taskID: String
    /// The task's kind, which names the type of `result`. Added after the
    /// first release as an optional key, the message version staying 1: an
    /// older reader ignores it, and an event without it is read from
    /// `taskID`.
    public var taskKind: String?
    public var attempt: Int
    public var jobID: String
    /// Worker name (host and process), for the dashboard.
    public var worker: String
    public var at: Date
    /// 0...1 for `progress`.
    public var progress: Double?
    /// Free-form stage label for `progress` ("reducing", "view 3/8").
    public var stage: String?
    /// The handler's output for `succeeded`.
    public var result: Result?
    public var failure: Failure?
    /// Broker redeliveries of this attempt before it ran here.
    public var deliveryCount: Int
    /// Seconds the handler ran (`succeeded`, `failed`).
    public var seconds: Double?
    public var traceID: String
    /// The attempt's log (`succeeded`, `failed`, `cancelled`). Added as an
    /// optional key, the version staying 1: an older reader ignores it.
    public var log: [TaskLogLine]?

    public init<Payload>(
        kind: Kind, task: TaskEnvelope<Payload>, worker: String, at: Date = Date(), progress: Double? = nil,
        stage: String? = nil, result: Result? = nil, failure: Failure? = nil, deliveryCount: Int = 0,
        seconds: Double? = nil, log: [TaskLogLine]? = nil
    ) {
        self.init(
            version: Self.currentVersion, kind: kind, taskID: task.taskID, taskKind: task.kind,
            attempt: task.attempt, jobID: task.jobID, worker: worker, at: at, progress: progress, stage: stage,
            result: result, failure: failure, deliveryCount: deliveryCount, seconds: seconds,
            traceID: task.traceID, log: log)
    }

    /// Every field as read from a message (``MessageCoding``).
    init(
        version: Int, kind: Kind, taskID: String, taskKind: String?, attempt: Int, jobID: String, worker: String,
        at: Date, progress: Double?, stage: String?, result: Result?, failure: Failure?, deliveryCount: Int,
        seconds: Double?, traceID: String, log: [TaskLogLine]?
    ) {
        self.version = version
        self.kind = kind
        self.taskID = taskID
        self.taskKind = taskKind
        self.attempt = attempt
        self.jobID = jobID
        self.worker = worker
        self.at = at
        self.progress = progress
        self.stage = stage
        self.result = result
        self.failure = failure
        self.deliveryCount = deliveryCount
        self.seconds = seconds
        self.traceID = traceID
        self.log = log
    }

    /// `<taskID>:<attempt>:<kind>`: the dedupe key of the event.
    public var eventID: String { "\(taskID):\(attempt):\(kind.rawValue)" }

    enum CodingKeys: String, CodingKey {
        case version, kind, taskID, taskKind, attempt, jobID, worker, at, progress, stage, result, failure
        case deliveryCount, seconds, traceID, log
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decode(Int.self, forKey: .version)
        kind = try c.decode(Kind.self, forKey: .kind)
        taskID = try c.decode(String.self, forKey: .taskID)
        taskKind = try c.decodeIfPresent(String.self, forKey: .taskKind)
        attempt = try c.decode(Int.self, forKey: .attempt)
        jobID = try c.decode(String.self, forKey: .jobID)
        worker = try c.decode(String.self, forKey: .worker)
        at = try c.decode(Date.self, forKey: .at)
        progress = try c.decodeIfPresent(Double.self, forKey: .progress)
        stage = try c.decodeIfPresent(String.self, forKey: .stage)
        if c.contains(.result), try !c.decodeNil(forKey: .result) {
            result = try Result(kind: taskKind, taskID: taskID, from: try c.superDecoder(forKey: .result))
        }
        failure = try c.decodeIfPresent(Failure.self, forKey: .failure)
        deliveryCount = try c.decode(Int.self, forKey: .deliveryCount)
        seconds = try c.decodeIfPresent(Double.self, forKey: .seconds)
        traceID = try c.decode(String.self, forKey: .traceID)
        log = try c.decodeIfPresent([TaskLogLine].self, forKey: .log)
    }
}

/// Errors of the transport-neutral messaging layer.
public enum MessagingError: Error, Sendable, Equatable, CustomStringConvertible {
    case unsupportedVersion(Int)
    case noSuchQueue(String)
    case noSuchExchange(String)
    case unroutable(exchange: String, routingKey: String)
    case closed
    case timedOut(String)

    public var description: String {
        switch self {
        case .unsupportedVersion(let v): "unsupported message version \(v)"
        case .noSuchQueue(let q): "no queue named '\(q)'"
        case .noSuchExchange(let e): "no exchange named '\(e)'"
        case .unroutable(let e, let k): "message to '\(e)' with key '\(k)' matches no queue"
        case .closed: "the transport is closed"
        case .timedOut(let what): "timed out: \(what)"
        }
    }
}
