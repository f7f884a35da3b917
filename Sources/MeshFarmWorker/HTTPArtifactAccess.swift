import Foundation
import MeshFarmAPI
import MeshFarmArtifacts

/// ``ArtifactAccess`` over the submit service's HTTP API, with a local
/// cache: the reductions of one model all start from the same mesh
/// artifact, and a worker should download it once.
///
/// Called from task threads, so the async HTTP calls are awaited by
/// blocking (never on the cooperative pool). Transient failures are tried
/// again within a budget (``TransferRetry``). Uploads are safe to repeat:
/// artifacts are addressed by their SHA-256, so an upload whose response
/// was lost is stored once and answered with the same hash, which is
/// checked against the bytes sent.
public final class HTTPArtifactAccess: ArtifactAccess, @unchecked Sendable {
    let client: APIClient
    let cacheDirectory: URL
    let cacheLimitBytes: Int
    let retry: TransferRetry
    private let lock = NSLock()
    private var lastUse: [String: Date] = [:]

    public init(
        client: APIClient, cacheDirectory: URL, cacheLimitBytes: Int = 2 << 30, retry: TransferRetry = TransferRetry()
    ) throws {
        self.client = client
        self.cacheDirectory = cacheDirectory
        self.cacheLimitBytes = cacheLimitBytes
        self.retry = retry
        try FileManager.default.createDirectory(at: cacheDirectory, withIntermediateDirectories: true)
    }

    public func fetch(_ sha256: String) throws -> URL {
        guard SHA256Hasher.isValid(sha256) else { throw StorageError.invalidHash(sha256) }
        let local = cacheDirectory.appendingPathComponent(sha256)
        lock.withLock { lastUse[sha256] = Date() }
        if FileManager.default.fileExists(atPath: local.path) { return local }
        let partial = cacheDirectory.appendingPathComponent("\(sha256).\(UUID().uuidString).part")
        defer { try? FileManager.default.removeItem(at: partial) }  // gone after the rename, or on failure
        try retry.run("downloading artifact \(sha256)") {
            try blocking { try await self.client.downloadArtifact(sha256, to: partial) }
            // Verify what came over the wire before trusting it.
            guard try SHA256Hasher.hex(file: partial) == sha256 else {
                try? FileManager.default.removeItem(at: partial)
                throw TransferError.downloadCorrupted(sha256)
            }
        }
        if rename(partial.path, local.path) != 0 { try? FileManager.default.removeItem(at: partial) }
        evictIfNeeded()
        return local
    }

    public func store(file: URL) throws -> String {
        try upload(SHA256Hasher.hex(file: file)) { try await self.client.putArtifact(file: file) }
    }

    public func store(data: Data) throws -> String {
        try upload(SHA256Hasher.hex(data)) { try await self.client.putArtifact(data: data) }
    }

    private func upload(_ sha256: String, _ put: @escaping @Sendable () async throws -> StoredBlob) throws -> String {
        try retry.run("uploading artifact \(sha256)") {
            let stored = try blocking(put).sha256
            guard stored == sha256 else { throw TransferError.uploadMismatch(sent: sha256, stored: stored) }
            return stored
        }
    }

    /// Deletes least recently used files beyond the cache limit, sparing
    /// anything used in the last ten minutes: another task thread may be
    /// reading it (a file over the limit simply stays until then).
    private func evictIfNeeded() {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: cacheDirectory.path)) ?? []
        var entries = files.filter { !$0.hasSuffix(".part") }.map { name -> (String, Int, Date) in
            let size =
                (try? FileManager.default.attributesOfItem(atPath: cacheDirectory.appendingPathComponent(name).path)[
                    .size] as? Int) ?? 0
            return (name, size, lock.withLock { lastUse[name] } ?? .distantPast)
        }
        var total = entries.reduce(0) { $0 + $1.1 }
        entries.sort { $0.2 < $1.2 }
        let recent = Date().addingTimeInterval(-600)
        for (name, size, used) in entries where total > cacheLimitBytes && used < recent {
            try? FileManager.default.removeItem(at: cacheDirectory.appendingPathComponent(name))
            total -= size
            _ = lock.withLock { lastUse.removeValue(forKey: name) }
        }
    }
}

/// Runs async work from a thread that may block (a task thread).
func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let box = ResultBox<T>()
    let semaphore = DispatchSemaphore(value: 0)
    Task.detached {
        do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
        semaphore.signal()
    }
    semaphore.wait()
    return try box.result!.get()
}

/// The result of work finished on another thread; read after a semaphore.
final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, Error>?
}
