/// Limits checked before the importer allocates, so that a hostile or
/// mistaken upload fails fast with a clear error instead of exhausting memory.
public struct ImportLimits: Sendable, Equatable, Codable {
    /// Largest accepted file, in bytes. Default 1 GiB.
    public var maxFileBytes: Int
    /// Largest accepted triangle count (after triangulation). Default 50 million.
    public var maxTriangles: Int

    public init(maxFileBytes: Int = 1 << 30, maxTriangles: Int = 50_000_000) {
        self.maxFileBytes = maxFileBytes
        self.maxTriangles = maxTriangles
    }
}
