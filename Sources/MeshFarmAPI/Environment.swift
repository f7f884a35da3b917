import Foundation

/// Option defaults from the environment: every flag of the three services
/// (`meshfarm-submit` and the workers) has a `MESHFARM_*` variable, as do
/// the client's `--server` and import limits (flags win).
public enum Env {
    public static func string(_ name: String, _ fallback: String) -> String {
        ProcessInfo.processInfo.environment[name].flatMap { $0.isEmpty ? nil : $0 } ?? fallback
    }

    public static func int(_ name: String, _ fallback: Int) -> Int {
        ProcessInfo.processInfo.environment[name].flatMap { Int($0) } ?? fallback
    }

    public static func double(_ name: String, _ fallback: Double) -> Double {
        ProcessInfo.processInfo.environment[name].flatMap { Double($0) } ?? fallback
    }

    public static let defaultBroker = "amqp://guest:guest@127.0.0.1:5672/"
    public static let defaultServer = "http://127.0.0.1:8080"
}
