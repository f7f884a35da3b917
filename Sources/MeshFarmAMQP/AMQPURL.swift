import Foundation

/// A parsed `amqp://` or `amqps://` URL, following RabbitMQ's URI spec:
/// `amqp[s]://user:pass@host:port/vhost?heartbeat=30&cacertfile=...`.
///
/// User, password and vhost are percent-decoded (`%2F` is `/`). An empty or
/// missing vhost means the default vhost `/`. TLS options come from the query:
/// `cacertfile`, `certfile`, `keyfile`, `verify` (`verify_peer` or
/// `verify_none`), plus `heartbeat` and `connection_timeout` (seconds).
public struct AMQPURL: Sendable, Equatable, CustomStringConvertible {
    public var tls: Bool
    public var host: String
    public var port: Int
    public var user: String
    public var password: String
    public var vhost: String
    /// Heartbeat in seconds requested by the URL, if any.
    public var heartbeat: Int?
    public var connectionTimeout: Double?
    public var caCertFile: String?
    public var certFile: String?
    public var keyFile: String?
    public var verifyPeer: Bool

    /// Parses `string`; throws ``AMQPError/invalidURL(_:)`` with the reason.
    public init(_ string: String) throws {
        guard let components = URLComponents(string: string), let scheme = components.scheme?.lowercased() else {
            throw AMQPError.invalidURL("'\(Self.redact(string))' is not a URL")
        }
        switch scheme {
        case "amqp": tls = false
        case "amqps": tls = true
        default: throw AMQPError.invalidURL("scheme must be amqp or amqps, got '\(scheme)'")
        }
        guard let host = components.host, !host.isEmpty else {
            throw AMQPError.invalidURL("'\(Self.redact(string))' has no host")
        }
        self.host = host
        port = components.port ?? (tls ? 5671 : 5672)
        guard (1...65535).contains(port) else { throw AMQPError.invalidURL("port \(port) is out of range") }
        user = components.user?.removingPercentEncoding ?? "guest"
        password = components.password?.removingPercentEncoding ?? "guest"
        let path = components.percentEncodedPath
        let rawVhost = path.hasPrefix("/") ? String(path.dropFirst()) : path
        guard !rawVhost.contains("/") else {
            throw AMQPError.invalidURL("vhost '\(rawVhost)' contains '/': write it as %2F")
        }
        let decoded = rawVhost.removingPercentEncoding ?? rawVhost
        vhost = decoded.isEmpty ? "/" : decoded

        var query: [String: String] = [:]
        for item in components.queryItems ?? [] { query[item.name] = item.value ?? "" }
        if let value = query["heartbeat"] {
            guard let seconds = Int(value), seconds >= 0 else {
                throw AMQPError.invalidURL("heartbeat must be seconds >= 0")
            }
            heartbeat = seconds
        }
        if let value = query["connection_timeout"] {
            guard let seconds = Double(value), seconds > 0 else {
                throw AMQPError.invalidURL("connection_timeout must be seconds > 0")
            }
            connectionTimeout = seconds
        }
        caCertFile = query["cacertfile"]
        certFile = query["certfile"]
        keyFile = query["keyfile"]
        if (certFile == nil) != (keyFile == nil) {
            throw AMQPError.invalidURL("certfile and keyfile must be given together")
        }
        switch query["verify"] ?? "verify_peer" {
        case "verify_peer": verifyPeer = true
        case "verify_none": verifyPeer = false
        case let other: throw AMQPError.invalidURL("verify must be verify_peer or verify_none, got '\(other)'")
        }
    }

    /// The URL with the password hidden, for logs.
    public var description: String {
        let vhostPart = vhost == "/" ? "" : vhost.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? vhost
        return "\(tls ? "amqps" : "amqp")://\(user):***@\(host):\(port)/\(vhostPart)"
    }

    /// Hides the password of a URL string that may not parse.
    static func redact(_ string: String) -> String {
        guard let at = string.lastIndex(of: "@"), let schemeEnd = string.range(of: "://") else { return string }
        let credentials = string[schemeEnd.upperBound..<at]
        guard let colon = credentials.firstIndex(of: ":") else { return string }
        return String(string[..<colon]) + ":***" + String(string[at...])
    }
}
