/// Everything that can go wrong talking to the broker.
public enum AMQPError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The broker URL does not parse.
    case invalidURL(String)
    /// TCP/TLS connect or login failed.
    case connectionFailed(String)
    /// The connection is gone (socket error, heartbeat timeout, broker close).
    case connectionClosed(String)
    /// The broker closed a channel (for example 404 on a missing exchange).
    case channelClosed(code: Int, reason: String)
    /// The broker answered a publish with `basic.nack`.
    case nacked
    /// A mandatory message could not be routed to any queue.
    case unroutable(exchange: String, routingKey: String, reason: String)
    /// A library call failed.
    case library(String)
    /// The client was shut down.
    case shutdown

    public var description: String {
        switch self {
        case .invalidURL(let reason): "invalid broker URL: \(reason)"
        case .connectionFailed(let reason): "cannot connect to the broker: \(reason)"
        case .connectionClosed(let reason): "broker connection lost: \(reason)"
        case .channelClosed(let code, let reason): "broker closed the channel: \(code) \(reason)"
        case .nacked: "the broker refused the message (basic.nack)"
        case .unroutable(let exchange, let key, let reason):
            "message to exchange '\(exchange)' with key '\(key)' was not routed to any queue: \(reason)"
        case .library(let reason): "librabbitmq: \(reason)"
        case .shutdown: "the broker client is shut down"
        }
    }
}
