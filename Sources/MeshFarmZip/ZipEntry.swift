/// One file or folder of an archive, as its central directory describes it
/// (with the ZIP64 sizes applied and the local header cross-checked).
public struct ZipEntry: Sendable, Equatable {
    /// The stored name, `/`-separated (backslashes normalised), checked by
    /// ``ZipPath/check(_:)``: relative, no `..`, no empty components.
    public var name: String
    /// 0 stored, 8 deflate.
    public var method: UInt16
    public var crc32: UInt32
    public var compressedSize: Int
    public var uncompressedSize: Int
    /// Offset of the local file header.
    var localHeaderOffset: Int
    /// Offset of the entry's data (after the local header, its name and extra field).
    var dataOffset: Int

    /// A folder entry (name ends with `/`): no data.
    public var isDirectory: Bool { name.hasSuffix("/") }
}
