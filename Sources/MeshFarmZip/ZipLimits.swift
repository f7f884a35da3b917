/// What an archive may claim. Every limit is checked against the central
/// directory before a single byte is inflated, and inflation stops at each
/// entry's declared size, so a zip bomb is refused by arithmetic, not by
/// running out of memory or disk.
public struct ZipLimits: Sendable, Equatable, Codable {
    /// Most entries (files and folders) in one archive. Default 10,000.
    public var maxEntries: Int
    /// Largest declared uncompressed size of one entry. Default 4 GiB.
    public var maxEntryBytes: Int
    /// Largest sum of declared uncompressed sizes. Default 4 GiB.
    public var maxTotalBytes: Int
    /// Largest ratio of uncompressed to compressed size for one entry
    /// (deflate cannot exceed about 1032:1; real models stay far below 100:1).
    /// Entries under 1 MiB are exempt. Default 200.
    public var maxRatio: Int

    public init(
        maxEntries: Int = 10_000, maxEntryBytes: Int = 4 << 30, maxTotalBytes: Int = 4 << 30, maxRatio: Int = 200
    ) {
        self.maxEntries = maxEntries
        self.maxEntryBytes = maxEntryBytes
        self.maxTotalBytes = maxTotalBytes
        self.maxRatio = maxRatio
    }
}
