import Foundation

/// Runs a program to completion and captures its output, for tests that need
/// a real separate process (crash isolation, kill tests).
public struct ChildProcess {
    public struct Outcome: Sendable {
        public var status: Int32
        /// The process died from a signal (crash, kill) rather than exiting.
        public var signaled: Bool
        public var timedOut: Bool
        public var stdout: Data
        public var stderr: Data

        public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
        public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
    }

    /// Runs `path` with `arguments`, killing it after `timeout` seconds.
    /// Blocking: call it from a test thread or a dispatch queue, not from an
    /// async context that shares the cooperative pool.
    ///
    /// Spawned with `posix_spawn` and reaped with `waitpid` polling rather
    /// than Foundation's `Process`, whose exit detection relies on a SIGCHLD
    /// that threads created earlier (AMQP connection threads) can swallow,
    /// leaving a zombie that never "exits". Output goes through files, not
    /// pipes: a daemon started by the child (the broker) would keep a pipe
    /// open forever.
    public static func run(
        _ path: String, _ arguments: [String], environment: [String: String]? = nil, timeout: Double = 60
    ) throws -> Outcome {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "meshfarm-child-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let outPath = directory.appendingPathComponent("stdout").path
        let errPath = directory.appendingPathComponent("stderr").path

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)

        let env = ProcessInfo.processInfo.environment.merging(environment ?? [:]) { $1 }.map { "\($0)=\($1)" }
        var pid: pid_t = 0
        let spawned = withCStrings([path] + arguments) { argv in
            withCStrings(env) { envp in posix_spawn(&pid, path, &actions, nil, argv, envp) }
        }
        guard spawned == 0 else { throw BrokerError("cannot run \(path): \(String(cString: strerror(spawned)))") }

        let deadline = Date().addingTimeInterval(timeout)
        var status: Int32 = 0
        var timedOut = false
        while waitpid(pid, &status, WNOHANG) == 0 {
            if Date() > deadline {
                timedOut = true
                kill(pid, SIGKILL)
                waitpid(pid, &status, 0)
                break
            }
            usleep(5000)
        }
        let signaled = status & 0x7f != 0
        return Outcome(
            status: signaled ? status & 0x7f : (status >> 8) & 0xff, signaled: signaled, timedOut: timedOut,
            stdout: FileManager.default.contents(atPath: outPath) ?? Data(),
            stderr: FileManager.default.contents(atPath: errPath) ?? Data())
    }

    private static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R)
        -> R
    {
        let pointers = strings.map { strdup($0) } + [nil]
        defer { pointers.forEach { free($0) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

/// Runs blocking work (a child process wait, a task thread's I/O) on a
/// thread of its own, never on the cooperative pool that async code needs.
public func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
