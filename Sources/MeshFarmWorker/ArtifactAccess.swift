import Foundation
import MeshFarmArtifacts

/// How a task handler reads and writes artifacts. Synchronous on purpose:
/// handlers run on dedicated task threads, where blocking is fine.
///
/// Workers use an HTTP implementation against the submit service (messages
/// carry hashes, never bytes); `meshfarm run` and tests use the artifact
/// store directly.
public protocol ArtifactAccess: Sendable {
    /// A local file holding the artifact (downloaded if needed).
    func fetch(_ sha256: String) throws -> URL
    /// Stores a file; returns its hash.
    func store(file: URL) throws -> String
    /// Stores bytes; returns their hash.
    func store(data: Data) throws -> String
}

/// ``ArtifactAccess`` on a local ``ArtifactStore``.
public struct LocalArtifactAccess: ArtifactAccess {
    public let store: any ArtifactStore

    public init(store: any ArtifactStore) { self.store = store }

    public func fetch(_ sha256: String) throws -> URL {
        guard let url = try store.file(for: sha256) else { throw StorageError.notFound("artifact \(sha256)") }
        return url
    }

    public func store(file: URL) throws -> String { try store.put(file: file).sha256 }

    public func store(data: Data) throws -> String { try store.put(data: data).sha256 }
}
