import Foundation

/// JSON coding shared by every MeshFarm message: dates as seconds since
/// 1970 (a JSON number, fractions kept), sorted keys.
///
/// Task envelopes and events, the messages of every task, are written and
/// read by hand (``JSONWriter``, ``JSONReader``): the same documents as
/// their `Codable` conformances give through Foundation (tested both ways
/// in `MessageCodingTests`), at a fraction of the cost. Their payloads and
/// results go through their own `Codable`, except ``JSONValue``. Other
/// messages use Foundation's coders; one encoder serves every thread
/// (Foundation's is safe to share once configured).
public enum MessageCoding {
    private static let sharedEncoder = encoder()

    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return decoder
    }

    /// Encodes a message with ``encoder()``.
    public static func encode(_ value: some Encodable) throws -> Data { try sharedEncoder.encode(value) }

    // MARK: - Task envelopes

    /// Encodes a task envelope (keys sorted, as ``encoder()`` writes them).
    public static func encode<Payload>(_ task: TaskEnvelope<Payload>) throws -> Data {
        var w = JSONWriter()
        w.beginObject()
        w.member("attempt", task.attempt)
        try w.member("createdAt", number: task.createdAt.timeIntervalSince1970)
        w.member("jobID", task.jobID)
        w.member("kind", task.kind)
        w.key("payload")
        try content(task.payload, into: &w)
        w.member("pool", task.pool)
        w.member("taskID", task.taskID)
        w.member("traceID", task.traceID)
        w.member("version", task.version)
        w.endObject()
        return Data(w.bytes)
    }

    /// Decodes a task envelope, checking its version.
    public static func decodeTask<Payload>(
        _ data: Data, as type: TaskEnvelope<Payload>.Type = TaskEnvelope<Payload>.self
    )
        throws -> TaskEnvelope<Payload>
    {
        try reading("task envelope") { try readTask(data) }
    }

    private static func readTask<Payload>(_ data: Data) throws -> TaskEnvelope<Payload> {
        var version: Int?
        var taskID: String?
        var attempt: Int?
        var kind: String?
        var pool: String?
        var jobID: String?
        var traceID: String?
        var createdAt: Double?
        var payload: Range<Int>?
        let payloadJSON = try JSONReader.read(data) { r -> Data? in
            try r.object { key, r in
                switch key {
                case "version": version = try r.int()
                case "taskID": taskID = try r.string()
                case "attempt": attempt = try r.int()
                case "kind": kind = try r.string()
                case "pool": pool = try r.string()
                case "jobID": jobID = try r.string()
                case "traceID": traceID = try r.string()
                case "createdAt": createdAt = try r.number()
                case "payload": payload = try r.skipValue()
                default: _ = try r.skipValue()
                }
            }
            return payload.map { r.data($0) }
        }
        guard let version else { throw missing("version") }
        guard version == TaskEnvelope<Payload>.currentVersion else {
            throw MessagingError.unsupportedVersion(version)
        }
        guard let taskID else { throw missing("taskID") }
        guard let kind else { throw missing("kind") }
        let content: Payload = try readContent(payloadJSON, kind: kind, taskID: taskID)
        return TaskEnvelope(
            taskID: taskID, attempt: try required(attempt, "attempt"), kind: kind, pool: try required(pool, "pool"),
            jobID: try required(jobID, "jobID"), payload: content, traceID: try required(traceID, "traceID"),
            createdAt: Date(timeIntervalSince1970: try required(createdAt, "createdAt")))
    }

    // MARK: - Task events

    /// Encodes a task event (keys sorted, as ``encoder()`` writes them).
    public static func encode<Result>(_ event: TaskEvent<Result>) throws -> Data {
        var w = JSONWriter()
        w.beginObject()
        try w.member("at", number: event.at.timeIntervalSince1970)
        w.member("attempt", event.attempt)
        w.member("deliveryCount", event.deliveryCount)
        if let failure = event.failure {
            w.key("failure")
            w.beginObject()
            if let handedBack = failure.handedBack {
                w.member("handedBack", handedBack)
            }
            w.member("message", failure.message)
            w.member("retryable", failure.retryable)
            w.endObject()
        }
        w.member("jobID", event.jobID)
        w.member("kind", event.kind.rawValue)
        if let log = event.log {
            w.key("log")
            w.beginArray()
            for line in log {
                w.beginObject()
                try w.member("at", number: line.at.timeIntervalSince1970)
                w.member("level", line.level.rawValue)
                w.member("source", line.source)
                w.member("text", line.text)
                w.endObject()
            }
            w.endArray()
        }
        if let progress = event.progress {
            try w.member("progress", number: progress)
        }
        if let result = event.result {
            w.key("result")
            try content(result, into: &w)
        }
        if let seconds = event.seconds {
            try w.member("seconds", number: seconds)
        }
        if let stage = event.stage {
            w.member("stage", stage)
        }
        w.member("taskID", event.taskID)
        if let taskKind = event.taskKind {
            w.member("taskKind", taskKind)
        }
        w.member("traceID", event.traceID)
        w.member("version", event.version)
        w.member("worker", event.worker)
        w.endObject()
        return Data(w.bytes)
    }

    /// Decodes a task event, checking its version.
    public static func decodeEvent<Result>(_ data: Data, as type: TaskEvent<Result>.Type = TaskEvent<Result>.self)
        throws -> TaskEvent<Result>
    {
        try reading("task event") { try readEvent(data) }
    }

    private static func readEvent<Result>(_ data: Data) throws -> TaskEvent<Result> {
        var version: Int?
        var kind: TaskEvent<Result>.Kind?
        var taskID: String?
        var taskKind: String?
        var attempt: Int?
        var jobID: String?
        var worker: String?
        var at: Double?
        var progress: Double?
        var stage: String?
        var resultJSON: Data?
        var failure: TaskEvent<Result>.Failure?
        var deliveryCount: Int?
        var seconds: Double?
        var traceID: String?
        var log: [TaskLogLine]?
        try JSONReader.read(data) { r in
            try r.object { key, r in
                switch key {
                case "version": version = try r.int()
                case "kind": kind = try r.named(TaskEvent<Result>.Kind.self, "kind")
                case "taskID": taskID = try r.string()
                case "taskKind": taskKind = r.null() ? nil : try r.string()
                case "attempt": attempt = try r.int()
                case "jobID": jobID = try r.string()
                case "worker": worker = try r.string()
                case "at": at = try r.number()
                case "progress": progress = r.null() ? nil : try r.number()
                case "stage": stage = r.null() ? nil : try r.string()
                case "result": resultJSON = r.null() ? nil : r.data(try r.skipValue())
                case "failure": failure = r.null() ? nil : try readFailure(&r)
                case "deliveryCount": deliveryCount = try r.int()
                case "seconds": seconds = r.null() ? nil : try r.number()
                case "traceID": traceID = try r.string()
                case "log": log = r.null() ? nil : try readLog(&r)
                default: _ = try r.skipValue()
                }
            }
        }
        guard let version else { throw missing("version") }
        guard version == TaskEvent<Result>.currentVersion else { throw MessagingError.unsupportedVersion(version) }
        guard let taskID else { throw missing("taskID") }
        let result: Result? = try resultJSON.map { try readContent($0, kind: taskKind, taskID: taskID) }
        return TaskEvent(
            version: version, kind: try required(kind, "kind"), taskID: taskID, taskKind: taskKind,
            attempt: try required(attempt, "attempt"), jobID: try required(jobID, "jobID"),
            worker: try required(worker, "worker"), at: Date(timeIntervalSince1970: try required(at, "at")),
            progress: progress, stage: stage, result: result, failure: failure,
            deliveryCount: try required(deliveryCount, "deliveryCount"), seconds: seconds,
            traceID: try required(traceID, "traceID"), log: log)
    }

    private static func readFailure<Result>(_ r: inout JSONReader) throws -> TaskEvent<Result>.Failure {
        var message: String?
        var retryable: Bool?
        var handedBack: Bool?
        try r.object { key, r in
            switch key {
            case "message": message = try r.string()
            case "retryable": retryable = try r.bool()
            case "handedBack": handedBack = r.null() ? nil : try r.bool()
            default: _ = try r.skipValue()
            }
        }
        return .init(
            message: try required(message, "failure.message"), retryable: try required(retryable, "failure.retryable"),
            handedBack: handedBack)
    }

    private static func readLog(_ r: inout JSONReader) throws -> [TaskLogLine] {
        var lines: [TaskLogLine] = []
        try r.array { r in
            var at: Double?
            var source: String?
            var level: TaskLogLine.Level?
            var text: String?
            try r.object { key, r in
                switch key {
                case "at": at = try r.number()
                case "source": source = try r.string()
                case "level": level = try r.named(TaskLogLine.Level.self, "log level")
                case "text": text = try r.string()
                default: _ = try r.skipValue()
                }
            }
            var line = TaskLogLine(
                at: Date(timeIntervalSince1970: try required(at, "log.at")), source: try required(source, "log.source"),
                level: try required(level, "log.level"), text: "")
            line.text = try required(text, "log.text")  // kept as sent: the writer bounded it already
            lines.append(line)
        }
        return lines
    }

    // MARK: - Content

    /// A payload or result: ``JSONValue`` written directly, any other type
    /// by its own `Codable`.
    private static func content(_ value: some Encodable, into w: inout JSONWriter) throws {
        if let json = value as? JSONValue { return try w.value(json) }
        w.raw(try sharedEncoder.encode(value))
    }

    /// Reads a payload or result of a task of `kind` from its JSON (nil:
    /// the key was missing, read as `null`).
    private static func readContent<Content: TaskContent>(_ json: Data?, kind: String?, taskID: String) throws
        -> Content
    {
        let json = json ?? Data("null".utf8)
        if Content.self == JSONValue.self {
            return try JSONReader.read(json) { try $0.value() } as! Content
        }
        // A decoder per call: the kind and task id travel in its userInfo.
        let decoder = decoder()
        decoder.userInfo[ContentBox<Content>.context] = ContentBox<Content>.Context(kind: kind, taskID: taskID)
        return try decoder.decode(ContentBox<Content>.self, from: json).value
    }

    private static func missing(_ key: String) -> MessageCodingError { MessageCodingError("missing '\(key)'") }

    /// A key's value, which the message must have.
    private static func required<T>(_ value: T?, _ key: String) throws -> T {
        guard let value else { throw missing(key) }
        return value
    }

    /// Runs `body`, saying which message a coding error is about.
    private static func reading<T>(_ what: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as MessageCodingError {
            throw MessageCodingError("\(what): \(error.description)")
        }
    }
}

/// Reads task content through `Decodable`, handing it the kind and task id
/// (``TaskContent/init(kind:taskID:from:)``) from the decoder's userInfo.
private struct ContentBox<Content: TaskContent>: Decodable {
    struct Context {
        var kind: String?
        var taskID: String
    }

    static var context: CodingUserInfoKey { CodingUserInfoKey(rawValue: "meshfarm.taskContent")! }

    let value: Content

    init(from decoder: any Decoder) throws {
        guard let context = decoder.userInfo[Self.context] as? Context else {
            throw MessageCodingError("task content read without its kind")
        }
        value = try Content(kind: context.kind, taskID: context.taskID, from: decoder)
    }
}
