import Foundation

/// A task message: versioned JSON, published persistent to the tasks
/// exchange with routing key `<pool>.<kind>` and `message_id`
/// `<taskID>:<attempt>`.
///
/// `attempt` counts the coordinator's publications of the task (a retry
/// after a failure is attempt + 1). A redelivery of the same message after
/// a worker crash keeps its attempt; the broker counts those in
/// `x-delivery-count`. Results are idempotent by (task id, attempt).
public struct TaskEnvelope: Sendable, Equatable, Codable {
    /// Current envelope format version; readers reject other versions.
    public static let currentVersion = 1

    public var version: Int
    public var taskID: String
    public var attempt: Int
    /// Task kind, e.g. `analyze`, `reduce`, `render`, `finalize`.
    public var kind: String
    /// Worker pool, the first word of the routing key: `cpu` or `gpu`.
    public var pool: String
    public var jobID: String
    public var payload: JSONValue
    /// Correlates logs across services.
    public var traceID: String
    public var createdAt: Date

    public init(
        taskID: String, attempt: Int, kind: String, pool: String, jobID: String, payload: JSONValue,
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
}

/// What a worker reports about a task, published to the events exchange.
public struct TaskEvent: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable {
        case started, progress, succeeded, failed
    }

    /// Why a task failed, and whether trying again could help.
    public struct Failure: Sendable, Equatable, Codable {
        public var message: String
        /// A transient problem (network, out of memory...): retry later.
        /// False for bad input: retrying cannot help.
        public var retryable: Bool

        public init(message: String, retryable: Bool) {
            self.message = message
            self.retryable = retryable
        }
    }

    public static let currentVersion = 1

    public var version: Int
    public var kind: Kind
    public var taskID: String
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
    public var result: JSONValue?
    public var failure: Failure?
    /// Broker redeliveries of this attempt before it ran here.
    public var deliveryCount: Int
    /// Seconds the handler ran (`succeeded`, `failed`).
    public var seconds: Double?
    public var traceID: String

    public init(
        kind: Kind, task: TaskEnvelope, worker: String, at: Date = Date(), progress: Double? = nil,
        stage: String? = nil,
        result: JSONValue? = nil, failure: Failure? = nil, deliveryCount: Int = 0, seconds: Double? = nil
    ) {
        version = Self.currentVersion
        self.kind = kind
        taskID = task.taskID
        attempt = task.attempt
        jobID = task.jobID
        self.worker = worker
        self.at = at
        self.progress = progress
        self.stage = stage
        self.result = result
        self.failure = failure
        self.deliveryCount = deliveryCount
        self.seconds = seconds
        traceID = task.traceID
    }

    /// `<taskID>:<attempt>:<kind>`: the dedupe key of the event.
    public var eventID: String { "\(taskID):\(attempt):\(kind.rawValue)" }
}

/// JSON coding shared by every MeshFarm message: ISO-8601 dates with
/// fractional seconds, sorted keys.
public enum MessageCoding {
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.timeIntervalSince1970)
        }
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            Date(timeIntervalSince1970: try decoder.singleValueContainer().decode(Double.self))
        }
        return decoder
    }

    /// Decodes a task envelope, checking its version.
    public static func decodeTask(_ data: Data) throws -> TaskEnvelope {
        let envelope = try decoder().decode(TaskEnvelope.self, from: data)
        guard envelope.version == TaskEnvelope.currentVersion else {
            throw MessagingError.unsupportedVersion(envelope.version)
        }
        return envelope
    }

    /// Decodes a task event, checking its version.
    public static func decodeEvent(_ data: Data) throws -> TaskEvent {
        let event = try decoder().decode(TaskEvent.self, from: data)
        guard event.version == TaskEvent.currentVersion else { throw MessagingError.unsupportedVersion(event.version) }
        return event
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
