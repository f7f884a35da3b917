import Foundation

/// A RabbitMQ node run through `scripts/rabbitmq`, for tests that must stop
/// and restart the broker without disturbing the shared test broker.
public struct BrokerNode: Sendable {
    public let port: Int
    /// Lines appended to the node's rabbitmq.conf (e.g. a TLS listener).
    public let extraConfig: String?

    public init(port: Int, extraConfig: String? = nil) {
        self.port = port
        self.extraConfig = extraConfig
    }

    /// The node `scripts/test` started for the whole run.
    public static var shared: BrokerNode {
        BrokerNode(port: Int(ProcessInfo.processInfo.environment["MESHFARM_AMQP_PORT"] ?? "") ?? 5672)
    }

    public var url: String { "amqp://guest:guest@127.0.0.1:\(port)/" }

    /// The URL of one of the farm's least-privilege users (`submit` or
    /// `worker`), which `scripts/rabbitmq start` creates.
    public func url(user: String) throws -> String {
        try run(["url", user]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public func start() throws { try run("start") }
    public func stop() throws { try run("stop") }
    public func restart() throws { try run("restart") }

    /// Runs `rabbitmqctl` against this node (e.g. `list_connections`).
    public func ctl(_ arguments: [String]) throws -> String {
        try run(["ctl"] + arguments)
    }

    @discardableResult
    private func run(_ command: String) throws -> String { try run([command]) }

    @discardableResult
    private func run(_ arguments: [String]) throws -> String {
        let script = TestEnvironment.packageRoot.appendingPathComponent("scripts/rabbitmq").path
        var environment = ["MESHFARM_AMQP_PORT": "\(port)"]
        if let extraConfig { environment["MESHFARM_RABBITMQ_EXTRA_CONF"] = extraConfig }
        let outcome = try ChildProcess.run(script, arguments, environment: environment, timeout: 180)
        guard outcome.status == 0, !outcome.signaled else {
            throw BrokerError("scripts/rabbitmq \(arguments.joined(separator: " ")) failed: \(outcome.stderrText)")
        }
        return outcome.stdoutText
    }
}

public struct BrokerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A worker child process (`meshfarm-test-worker` or a real worker) that
/// tests can kill.
public final class WorkerProcess: @unchecked Sendable {
    public let process = Process()
    private let output: URL

    /// Starts `executable` with `arguments` and waits until its output
    /// contains `readyMarker` (or `timeout` passes). Its output goes to log
    /// files under the test output directory.
    public init(
        executable: String, arguments: [String], environment: [String: String] = [:], readyMarker: String = "ready",
        timeout: Double = 30
    ) throws {
        let directory = TestEnvironment.outputDirectory("worker")
        output = directory.appendingPathComponent("stdout.log")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = try FileHandle(forWritingTo: output)
        process.standardError = try FileHandle(
            forWritingTo: {
                let err = directory.appendingPathComponent("stderr.log")
                _ = FileManager.default.createFile(atPath: err.path, contents: nil)
                return err
            }())
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        func ready() -> Bool { (try? String(contentsOf: output, encoding: .utf8))?.contains(readyMarker) ?? false }
        while Date() < deadline, process.isRunning {
            if ready() { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        // It may have become ready and died at once (a poison task).
        if ready() { return }
        throw BrokerError("worker \(executable) did not become ready (log: \(directory.path))")
    }

    public var isRunning: Bool { process.isRunning }

    /// What the process printed on stdout so far.
    public var outputText: String { (try? String(contentsOf: output, encoding: .utf8)) ?? "" }
    public var pid: Int32 { process.processIdentifier }

    /// SIGKILL: no chance to settle anything.
    public func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// SIGTERM and wait.
    public func terminate() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }

    /// SIGTERM, then waits up to `timeout` seconds for the exit: the seconds
    /// it took and the exit status, or nil when it was still running (it is
    /// killed then).
    public func terminate(within timeout: Double) -> (seconds: Double, status: Int32, signaled: Bool)? {
        let start = Date()
        if process.isRunning { process.terminate() }
        while process.isRunning {
            if Date().timeIntervalSince(start) > timeout {
                kill()
                return nil
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return (
            Date().timeIntervalSince(start), process.terminationStatus, process.terminationReason == .uncaughtSignal
        )
    }

    deinit { kill() }
}
