import Foundation

/// Any JSON value: documents MeshFarm embeds without reading them (a
/// model's analysis in reports, a camera), and the task content of tests
/// and the test worker, whose tasks have no fixed types.
public enum JSONValue: Sendable, Hashable, Codable, TaskContent {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let b = try? container.decode(Bool.self) {
            self = .bool(b)
        } else if let n = try? container.decode(Double.self) {
            self = .number(n)
        } else if let s = try? container.decode(String.self) {
            self = .string(s)
        } else if let a = try? container.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// As task content: any JSON, whatever the kind.
    public init(kind: String?, taskID: String, from decoder: any Decoder) throws { try self.init(from: decoder) }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let b): try container.encode(b)
        case .number(let n): try container.encode(n)
        case .string(let s): try container.encode(s)
        case .array(let a): try container.encode(a)
        case .object(let o): try container.encode(o)
        }
    }

    /// Converts any `Encodable` value (through JSON).
    public init<T: Encodable>(encoding value: T) throws {
        self = try JSONDecoder().decode(JSONValue.self, from: try JSONEncoder().encode(value))
    }

    /// Decodes this value as `T` (through JSON).
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: try JSONEncoder().encode(self))
    }

    /// Member `key` of an object, nil otherwise.
    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }
}

/// A task message with JSON content: the tasks of tests, the test worker
/// and the messaging benchmark, which have no fixed types.
public typealias JSONTask = TaskEnvelope<JSONValue>
/// An event about a ``JSONTask``.
public typealias JSONTaskEvent = TaskEvent<JSONValue>
/// A handler of ``JSONTask``s built from a closure.
public typealias JSONTaskHandler = ClosureTaskHandler<JSONValue, JSONValue>
