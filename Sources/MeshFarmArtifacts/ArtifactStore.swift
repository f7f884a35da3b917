import Foundation
import Synchronization

/// A stored blob.
public struct ArtifactInfo: Sendable, Equatable, Codable {
    public var sha256: String
    public var bytes: Int

    public init(sha256: String, bytes: Int) {
        self.sha256 = sha256
        self.bytes = bytes
    }
}

/// Why an artifact operation failed.
public enum StorageError: Error, Sendable, Equatable, CustomStringConvertible {
    case tooLarge(limit: Int)
    case notFound(String)
    case invalidHash(String)
    case io(String)

    public var description: String {
        switch self {
        case .tooLarge(let limit): "the upload is larger than the limit of \(limit) bytes"
        case .notFound(let what): "\(what) not found"
        case .invalidHash(let hash): "'\(hash)' is not a SHA-256 (64 lowercase hex digits)"
        case .io(let reason): "storage error: \(reason)"
        }
    }
}

/// A file of the artifact store: an artifact (named by its hash) or a
/// partial write.
public struct StoredArtifact: Sendable, Equatable {
    public var name: String
    public var bytes: Int
    /// Its modification time: when it was stored, or last stored again or
    /// named by a new job.
    public var lastUsed: Date

    public init(name: String, bytes: Int, lastUsed: Date) {
        self.name = name
        self.bytes = bytes
        self.lastUsed = lastUsed
    }
}

/// Content-addressed blobs: uploads, meshes, images. Put once, read by hash.
public protocol ArtifactStore: Sendable {
    /// Stores the bytes read from `chunks` (streamed; the upload is refused
    /// once it passes `limit` bytes) and returns their hash.
    func put<S: AsyncSequence & Sendable>(chunks: S, limit: Int?) async throws -> ArtifactInfo
    where S.Element == Data
    /// Stores a copy of a file.
    func put(file: URL) throws -> ArtifactInfo
    /// Stores bytes.
    func put(data: Data) throws -> ArtifactInfo
    /// The local file of an artifact, nil when absent.
    func file(for sha256: String) throws -> URL?
}

/// Artifacts as files under `root/ab/cd/<hash>` (two levels of fan-out keep
/// directories small).
///
/// Writes go to a temporary file in the same file system, hashed while
/// written, then renamed into place: a reader never sees a partial
/// artifact, and concurrent writers of the same content are harmless.
public struct DiskArtifactStore: ArtifactStore {
    public let root: URL
    /// Orders "this artifact is used now" (storing it again, a job naming
    /// it) against the collector's removal, for every copy of this store.
    private let use = UseLock()

    public init(root: URL) throws {
        self.root = root
        try FileManager.default.createDirectory(
            at: root.appendingPathComponent("tmp"), withIntermediateDirectories: true)
    }

    /// The writes and hashing run on NIO's blocking thread pool, never on
    /// Swift's cooperative pool: an upload of a gigabyte must not hold one
    /// of its few threads.
    public func put<S: AsyncSequence & Sendable>(chunks: S, limit: Int?) async throws -> ArtifactInfo
    where S.Element == Data {
        let temporary = root.appendingPathComponent("tmp/\(UUID().uuidString)")
        let file = try await BlockingIO.run { try UploadFile(temporary) }
        var bytes = 0
        // HTTP bodies arrive in pieces of a few KiB: gathered to 1 MiB, so a
        // large upload hops to the thread pool per MiB, not per piece.
        var pending = Data()
        do {
            for try await chunk in chunks {
                bytes += chunk.count
                if let limit, bytes > limit { throw StorageError.tooLarge(limit: limit) }
                pending.append(chunk)
                if pending.count >= 1 << 20 {
                    let full = pending
                    pending = Data()
                    try await BlockingIO.run { try file.append(full) }
                }
            }
            let total = bytes
            let rest = pending
            return try await BlockingIO.run {
                if !rest.isEmpty { try file.append(rest) }
                try file.close()
                return try install(temporary, sha256: file.hasher.finalize(), bytes: total)
            }
        } catch {
            try? file.close()
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }

    public func put(file: URL) throws -> ArtifactInfo {
        let sha = try SHA256Hasher.hex(file: file)
        let bytes = (try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int) ?? 0
        let temporary = root.appendingPathComponent("tmp/\(UUID().uuidString)")
        try FileManager.default.copyItem(at: file, to: temporary)
        return try install(temporary, sha256: sha, bytes: bytes)
    }

    public func put(data: Data) throws -> ArtifactInfo {
        let temporary = root.appendingPathComponent("tmp/\(UUID().uuidString)")
        try data.write(to: temporary)
        return try install(temporary, sha256: SHA256Hasher.hex(data), bytes: data.count)
    }

    public func file(for sha256: String) throws -> URL? {
        guard SHA256Hasher.isValid(sha256) else { throw StorageError.invalidHash(sha256) }
        let url = path(sha256)
        return FileManager.default.fileExists(atPath: url.path) ? url : nil
    }

    /// Marks an existing artifact as used now (its modification time): the
    /// collector spares what was used recently, so an old upload named by
    /// a job being created is not removed under it. False when absent.
    public func retain(_ sha256: String) throws -> Bool {
        guard SHA256Hasher.isValid(sha256) else { throw StorageError.invalidHash(sha256) }
        return touch(sha256)
    }

    private func touch(_ sha256: String) -> Bool {
        let path = path(sha256).path
        return use.mutex.withLock { _ in utimes(path, nil) == 0 }
    }

    /// Removes an artifact unless it was used (stored again, or retained)
    /// at or after `cutoff`; returns the bytes freed, nil when kept or
    /// absent. Checked and removed under the same lock as ``retain(_:)``.
    public func remove(_ sha256: String, unlessUsedSince cutoff: Date) -> Int? {
        guard SHA256Hasher.isValid(sha256) else { return nil }
        let path = path(sha256).path
        return use.mutex.withLock { _ -> Int? in
            var info = stat()
            guard stat(path, &info) == 0, Double(info.st_mtim.tv_sec) < cutoff.timeIntervalSince1970,
                unlink(path) == 0
            else { return nil }
            return Int(info.st_size)
        }
    }

    /// Every stored artifact with its size and when it was last used, and
    /// the partial writes in `tmp/` (crashed or abandoned uploads).
    public func inventory() throws -> (artifacts: [StoredArtifact], partial: [StoredArtifact]) {
        var artifacts: [StoredArtifact] = []
        var partial: [StoredArtifact] = []
        let manager = FileManager.default
        for first in try manager.contentsOfDirectory(atPath: root.path) {
            let level1 = root.appendingPathComponent(first)
            if first == "tmp" {
                for name in (try? manager.contentsOfDirectory(atPath: level1.path)) ?? [] {
                    if let entry = Self.stored(name, at: level1.appendingPathComponent(name).path) {
                        partial.append(entry)
                    }
                }
                continue
            }
            guard first.utf8.count == 2 else { continue }
            for second in (try? manager.contentsOfDirectory(atPath: level1.path)) ?? [] {
                let level2 = level1.appendingPathComponent(second)
                for name in (try? manager.contentsOfDirectory(atPath: level2.path)) ?? []
                where SHA256Hasher.isValid(name) {
                    if let entry = Self.stored(name, at: level2.appendingPathComponent(name).path) {
                        artifacts.append(entry)
                    }
                }
            }
        }
        return (artifacts, partial)
    }

    /// Removes a partial write of `tmp/` (see ``inventory()``).
    public func removePartial(_ name: String) {
        guard !name.contains("/") else { return }
        try? FileManager.default.removeItem(at: root.appendingPathComponent("tmp/\(name)"))
    }

    private static func stored(_ name: String, at path: String) -> StoredArtifact? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return StoredArtifact(
            name: name, bytes: Int(info.st_size),
            lastUsed: Date(timeIntervalSince1970: Double(info.st_mtim.tv_sec)))
    }

    /// The size of a stored artifact, nil when absent.
    public func size(of sha256: String) -> Int? {
        guard SHA256Hasher.isValid(sha256) else { return nil }
        var info = stat()
        return stat(path(sha256).path, &info) == 0 ? Int(info.st_size) : nil
    }

    func path(_ sha256: String) -> URL {
        let s = Array(sha256)
        return root.appendingPathComponent("\(String(s[0..<2]))/\(String(s[2..<4]))/\(sha256)")
    }

    private func install(_ temporary: URL, sha256: String, bytes: Int) throws -> ArtifactInfo {
        let destination = path(sha256)
        if touch(sha256) {
            try? FileManager.default.removeItem(at: temporary)  // same content already stored
        } else {
            try FileManager.default.createDirectory(
                at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
            if rename(temporary.path, destination.path) != 0 {
                try? FileManager.default.removeItem(at: temporary)
                throw StorageError.io("cannot store artifact \(sha256): \(String(cString: strerror(errno)))")
            }
        }
        return ArtifactInfo(sha256: sha256, bytes: bytes)
    }
}

/// An upload being written: its file and its running hash. Used by one
/// upload at a time, from one blocking-pool job after another.
final class UploadFile: @unchecked Sendable {
    let handle: FileHandle
    let hasher = SHA256Hasher()

    init(_ url: URL) throws {
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw StorageError.io("cannot create \(url.path)")
        }
        handle = try FileHandle(forWritingTo: url)
    }

    func append(_ chunk: Data) throws {
        hasher.update(chunk)
        try handle.write(contentsOf: chunk)
    }

    func close() throws { try handle.close() }
}

/// The lock of ``DiskArtifactStore``, shared by its copies.
final class UseLock: Sendable {
    let mutex = Mutex(())
}
