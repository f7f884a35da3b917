/// Limits checked before the importer allocates, so that a hostile or
/// mistaken upload fails fast with a clear error instead of exhausting memory.
public struct ImportLimits: Sendable, Equatable, Codable {
    /// Largest accepted file, in bytes. Default 1 GiB.
    public var maxFileBytes: Int
    /// Largest accepted triangle count (after triangulation and, for 3MF,
    /// after instancing components and build items). Default 50 million.
    public var maxTriangles: Int
    /// Largest total a zip container (3MF, or a zip of a model and its side
    /// files) may inflate to, from the sizes its directory declares. Default 4 GiB.
    public var maxUncompressedBytes: Int
    /// Most entries in a zip container. Default 10,000.
    public var maxArchiveEntries: Int

    public init(
        maxFileBytes: Int = 1 << 30, maxTriangles: Int = 50_000_000, maxUncompressedBytes: Int = 4 << 30,
        maxArchiveEntries: Int = 10_000
    ) {
        self.maxFileBytes = maxFileBytes
        self.maxTriangles = maxTriangles
        self.maxUncompressedBytes = maxUncompressedBytes
        self.maxArchiveEntries = maxArchiveEntries
    }
}
