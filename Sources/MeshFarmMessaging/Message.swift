import Foundation

/// A value in a message's header table (AMQP field table semantics).
public enum HeaderValue: Sendable, Equatable, Hashable {
    case string(String)
    case int(Int64)
    case bool(Bool)
    case double(Double)
    case array([HeaderValue])
    case table([String: HeaderValue])

    /// The value as a string, when it is one.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The value as an integer, when it is one.
    public var intValue: Int64? {
        if case .int(let i) = self { return i }
        return nil
    }
}

/// A message to publish: where it goes, its bytes and the AMQP properties
/// MeshFarm uses. Published persistent and mandatory by default, so it
/// survives a broker restart and an unroutable message is an error.
public struct OutgoingMessage: Sendable, Equatable {
    public var exchange: String
    public var routingKey: String
    public var body: Data
    /// Task id + attempt for tasks; lets consumers and the broker's logs
    /// identify a message across redeliveries.
    public var messageID: String?
    public var headers: [String: HeaderValue]
    /// Survive a broker restart (delivery mode 2).
    public var persistent: Bool
    /// Ask the broker to return the message when no queue is bound for it.
    public var mandatory: Bool
    public var contentType: String?

    public init(
        exchange: String, routingKey: String, body: Data, messageID: String? = nil,
        headers: [String: HeaderValue] = [:], persistent: Bool = true, mandatory: Bool = true,
        contentType: String? = "application/json"
    ) {
        self.exchange = exchange
        self.routingKey = routingKey
        self.body = body
        self.messageID = messageID
        self.headers = headers
        self.persistent = persistent
        self.mandatory = mandatory
        self.contentType = contentType
    }
}

/// A message received from a queue, before it is acknowledged.
public struct ReceivedMessage: Sendable, Equatable {
    public var body: Data
    public var exchange: String
    public var routingKey: String
    public var messageID: String?
    public var headers: [String: HeaderValue]
    /// The broker delivered this message before (to this or another consumer).
    public var redelivered: Bool

    public init(
        body: Data, exchange: String, routingKey: String, messageID: String? = nil,
        headers: [String: HeaderValue] = [:], redelivered: Bool = false
    ) {
        self.body = body
        self.exchange = exchange
        self.routingKey = routingKey
        self.messageID = messageID
        self.headers = headers
        self.redelivered = redelivered
    }

    /// How many times the broker delivered this message before, as counted
    /// by quorum queues (`x-delivery-count`); 0 on a first delivery.
    public var deliveryCount: Int {
        Int(headers["x-delivery-count"]?.intValue ?? 0)
    }
}
