import NIOPosix

/// Blocking work (file writes, Vulkan set-up, C libraries) from async code,
/// on NIO's thread pool for blocking I/O, as Hummingbird's `FileIO` does:
/// Swift's cooperative pool has one thread per core and must never wait.
public enum BlockingIO {
    /// Runs `body` on the blocking pool and returns its result.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(body)
    }
}
