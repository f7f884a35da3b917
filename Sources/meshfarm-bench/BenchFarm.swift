import ArgumentParser
import Foundation

/// A farm of real processes for a benchmark: the submit service and
/// workers, launched from the directory of this binary, each with its log
/// in a work directory, on one topology prefix.
final class BenchFarm {
    let broker: String
    let work: URL
    let prefix = "bench-\(getpid())"
    private let bin = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    private var processes: [String: Process] = [:]
    private(set) var server = ""

    init(broker: String, work: URL) {
        self.broker = broker
        self.work = work
    }

    deinit { stopAll() }

    /// Starts `meshfarm-submit` and waits until it listens.
    @discardableResult
    func startSubmit(_ arguments: [String] = []) async throws -> Process {
        let process = try launch(
            "meshfarm-submit", as: "submit",
            [
                "--port", "0", "--data-dir", work.appendingPathComponent("data").path, "--broker", broker,
                "--topology-prefix", prefix,
            ] + arguments)
        let line = try await waitFor("listening on port", in: "submit")
        server = "http://127.0.0.1:\(line.split(separator: " ").last!)"
        return process
    }

    /// Starts a worker of `pool` named `name` and waits until it consumes.
    @discardableResult
    func startWorker(_ pool: String, name: String, _ arguments: [String] = []) async throws -> Process {
        let process = try launch(
            "meshfarm-\(pool)-worker", as: name,
            [
                "--broker", broker, "--server", server, "--topology-prefix", prefix, "--metrics-port", "0",
                "--name", name, "--cache-dir", work.appendingPathComponent("cache-\(name)").path,
            ] + arguments)
        _ = try await waitFor("consuming", in: name)
        return process
    }

    /// Stops the process started as `name` (SIGTERM, then waits).
    func stop(_ name: String) {
        guard let process = processes.removeValue(forKey: name), process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    func stopAll() {
        for name in processes.keys { stop(name) }
    }

    private func launch(_ executable: String, as name: String, _ arguments: [String]) throws -> Process {
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let log = work.appendingPathComponent("\(name).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let process = Process()
        process.executableURL = bin.appendingPathComponent(executable)
        process.arguments = arguments
        process.standardOutput = try FileHandle(forWritingTo: log)
        process.standardError = FileHandle.nullDevice
        try process.run()
        processes[name] = process
        return process
    }

    private func waitFor(_ marker: String, in name: String) async throws -> String {
        let log = work.appendingPathComponent("\(name).log")
        for _ in 0..<600 {
            if let text = try? String(contentsOf: log, encoding: .utf8),
                let line = text.split(separator: "\n").first(where: { $0.contains(marker) })
            {
                return String(line)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ValidationError("timed out waiting for '\(marker)' in \(log.path)")
    }
}
