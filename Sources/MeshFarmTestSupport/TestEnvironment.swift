import Foundation

/// Where tests find shared fixtures and services.
///
/// `scripts/test` exports `MESHFARM_TEST_AMQP_URL` (its own broker); the
/// defaults make a plain `swift test` work from a checkout that has
/// `../shared` beside it and a broker started with `scripts/rabbitmq start`.
public enum TestEnvironment {
    /// The package root (the directory holding Package.swift).
    public static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }()

    /// `MESHFARM_MODELS_DIR`, default `../shared/models` beside the package.
    public static var modelsDirectory: URL {
        if let dir = ProcessInfo.processInfo.environment["MESHFARM_MODELS_DIR"] { return URL(fileURLWithPath: dir) }
        return packageRoot.deletingLastPathComponent().appendingPathComponent("shared/models")
    }

    /// Every model file in the shared models directory, sorted by name.
    public static var sharedModels: [URL] {
        let files =
            (try? FileManager.default.contentsOfDirectory(at: modelsDirectory, includingPropertiesForKeys: nil)) ?? []
        return files.filter { $0.pathExtension != "md" }.sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    /// `MESHFARM_TEST_AMQP_URL`, default the local broker of `scripts/rabbitmq`.
    public static var amqpURL: String {
        ProcessInfo.processInfo.environment["MESHFARM_TEST_AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:5672/"
    }

    /// A fresh directory for one test's outputs, under `.build/test-output`
    /// (kept after the run so failures can be inspected).
    public static func outputDirectory(_ name: String) -> URL {
        let dir = packageRoot.appendingPathComponent(".build/test-output/\(name)-\(UUID().uuidString.prefix(8))")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// The path of one of the package's executables, built next to the test
    /// bundle by `swift build --build-tests` (which `scripts/test` runs).
    public static func executable(_ name: String) -> String {
        let testBinary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var candidates = [testBinary.deletingLastPathComponent().appendingPathComponent(name).path]
        if let bundle = Bundle.main.executableURL {
            candidates.append(bundle.deletingLastPathComponent().appendingPathComponent(name).path)
        }
        candidates.append(packageRoot.appendingPathComponent(".build/debug/\(name)").path)
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates.last!
    }

    /// A TCP port on 127.0.0.1 that nothing listened on a moment ago (the
    /// kernel's pick for an ephemeral bind).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BrokerError("socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else { throw BrokerError("cannot bind an ephemeral port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// A name unique to this test run, for queues and exchanges.
    public static func uniqueName(_ prefix: String) -> String {
        "\(prefix).\(ProcessInfo.processInfo.processIdentifier).\(UUID().uuidString.prefix(8))"
    }
}
