import Foundation

/// A farm of real processes for end-to-end tests: `meshfarm-submit`,
/// `meshfarm-cpu-worker` and `meshfarm-gpu-worker` on a private topology
/// prefix and data directory, against the test broker, each with the
/// broker user of its role (`meshfarm-submit`, `meshfarm-worker`), so every
/// farm test also proves those users' permissions are enough.
public final class FarmCluster: @unchecked Sendable {
    public let prefix = TestEnvironment.uniqueName("farm")
    public let dataDirectory = TestEnvironment.outputDirectory("farm-data")
    public let broker: BrokerNode
    public private(set) var submit: WorkerProcess?
    public private(set) var port = 0
    public private(set) var workers: [WorkerProcess] = []
    let submitArguments: [String]

    public init(broker: BrokerNode = .shared, submitArguments: [String] = []) {
        self.broker = broker
        self.submitArguments = submitArguments
    }

    public var serverURL: URL { URL(string: "http://127.0.0.1:\(port)")! }

    /// Starts (or restarts, on the same port and data) the submit service.
    @discardableResult
    public func startSubmit() throws -> WorkerProcess {
        let process = try WorkerProcess(
            executable: TestEnvironment.executable("meshfarm-submit"),
            arguments: [
                "--port", "\(port)", "--data-dir", dataDirectory.path, "--broker", brokerURL("submit"),
                "--topology-prefix",
                prefix,
                "--retry-initial", "0.5", "--retry-max", "2",
            ] + submitArguments,
            readyMarker: "listening on port")
        if port == 0,
            let line = process.outputText.split(separator: "\n").first(where: { $0.contains("listening on port") }),
            let parsed = Int(line.split(separator: " ").last ?? "")
        {
            port = parsed
        }
        submit = process
        return process
    }

    /// Starts a worker of `pool` (`cpu` or `gpu`) and waits for
    /// `readyMarker` on its output (by default: consuming its queue).
    @discardableResult
    public func startWorker(_ pool: String, name: String, arguments: [String] = [], readyMarker: String = "consuming")
        throws -> WorkerProcess
    {
        let worker = try WorkerProcess(
            executable: TestEnvironment.executable("meshfarm-\(pool)-worker"),
            arguments: [
                "--broker", brokerURL("worker"), "--server", serverURL.absoluteString, "--topology-prefix", prefix,
                "--name",
                name,
                "--metrics-port", "0", "--cache-dir", dataDirectory.appendingPathComponent("cache-\(name)").path,
                "--shutdown-grace", "5",
            ] + arguments,
            readyMarker: readyMarker)
        workers.append(worker)
        return worker
    }

    /// The URL of the farm's broker user for `role`; guest's when the node
    /// has none (it was never started).
    func brokerURL(_ role: String) -> String {
        guard let url = try? broker.url(user: role), !url.contains(":@") else { return broker.url }
        return url
    }

    public func stopAll() {
        for worker in workers { worker.terminate() }
        submit?.terminate()
    }

    deinit { stopAll() }
}
