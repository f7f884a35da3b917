import CZlib
import Foundation

/// Builds a zip archive in memory: stored or deflated entries, UTF-8 names,
/// no ZIP64 (archives stay under 4 GiB). Used to pack a model and its side
/// files for upload, and by tests to build archives entry by entry.
public struct ZipWriter {
    /// How an entry's data is stored.
    public enum Method: UInt16, Sendable { case stored = 0, deflate = 8 }

    private var body = Data()
    private var directory = Data()
    private var count = 0

    public init() {}

    /// Appends an entry. `name` is written as given (tests use this to build
    /// hostile archives); ``ZipPath/check(_:)`` tells whether it is safe.
    /// `unixMode`, when given, is stored in the external attributes.
    public mutating func add(_ name: String, _ data: Data, method: Method = .deflate, unixMode: UInt32? = nil) throws {
        let stored = method == .stored ? data : try Self.deflate(data)
        let crc = UInt32(
            data.withUnsafeBytes { crc32(0, $0.baseAddress?.assumingMemoryBound(to: Bytef.self), uInt($0.count)) })
        let nameBytes = Data(name.utf8)
        guard body.count + stored.count + 30 + nameBytes.count < 0xFFFF_FFFF, data.count < 0xFFFF_FFFF else {
            throw ZipError.overLimit("archives over 4 GiB need ZIP64, which this writer does not write")
        }
        let offset = UInt32(body.count)
        let entry = ZipEntryHeader(
            name: nameBytes, method: method.rawValue, crc: crc, compressedSize: UInt32(stored.count),
            size: UInt32(data.count), unixMode: unixMode, flags: 0x0800)
        body.append(entry.local())
        body.append(stored)
        directory.append(entry.central(offset: offset))
        count += 1
    }

    /// The finished archive.
    public func finish() -> Data {
        body + directory
            + ZipEntryHeader.end(entries: count, directorySize: directory.count, directoryOffset: body.count)
    }

    /// Raw deflate at the default level.
    public static func deflate(_ data: Data) throws -> Data {
        var stream = z_stream()
        guard meshfarm_deflate_init_raw(&stream, Z_DEFAULT_COMPRESSION) == Z_OK else {
            throw ZipError.corrupt("zlib could not start")
        }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, uLong(data.count)))
        var out = [UInt8](repeating: 0, count: bound)
        let status = data.withUnsafeBytes { source in
            out.withUnsafeMutableBufferPointer { destination in
                stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress?.assumingMemoryBound(to: Bytef.self))
                stream.avail_in = uInt(source.count)
                stream.next_out = destination.baseAddress
                stream.avail_out = uInt(destination.count)
                return CZlib.deflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else { throw ZipError.corrupt("deflate failed (status \(status))") }
        return Data(out[..<Int(stream.total_out)])
    }
}

/// The headers of one entry: its local header and its central directory
/// record, and the archive's end record. No ZIP64.
struct ZipEntryHeader {
    var name: Data
    var method: UInt16
    var crc: UInt32
    var compressedSize: UInt32
    var size: UInt32
    var unixMode: UInt32?
    /// Bit 11: UTF-8 names; bit 3: CRC and sizes follow the data.
    var flags: UInt16

    func local() -> Data {
        var local = Data()
        local.le32(0x0403_4B50)
        local.le16(20)  // version needed
        local.le16(flags)
        local.le16(method)
        local.le16(0)  // time
        local.le16(0x21)  // date: 1980-01-01
        local.le32(crc)
        local.le32(compressedSize)
        local.le32(size)
        local.le16(UInt16(name.count))
        local.le16(0)
        local.append(name)
        return local
    }

    func central(offset: UInt32) -> Data {
        var directory = Data()
        directory.le32(0x0201_4B50)
        directory.le16(unixMode == nil ? 20 : 0x0314)  // made by: MS-DOS, or Unix when a mode is given
        directory.le16(20)
        directory.le16(flags)
        directory.le16(method)
        directory.le16(0)
        directory.le16(0x21)
        directory.le32(crc)
        directory.le32(compressedSize)
        directory.le32(size)
        directory.le16(UInt16(name.count))
        directory.le16(0)  // extra
        directory.le16(0)  // comment
        directory.le16(0)  // disk
        directory.le16(0)  // internal attributes
        directory.le32((unixMode ?? 0) << 16)
        directory.le32(offset)
        directory.append(name)
        return directory
    }

    /// The data descriptor written after an entry's data (flag bit 3).
    func descriptor() -> Data {
        var out = Data()
        out.le32(0x0807_4B50)
        out.le32(crc)
        out.le32(compressedSize)
        out.le32(size)
        return out
    }

    static func end(entries: Int, directorySize: Int, directoryOffset: Int) -> Data {
        var out = Data()
        out.le32(0x0605_4B50)
        out.le16(0)
        out.le16(0)
        out.le16(UInt16(entries))
        out.le16(UInt16(entries))
        out.le32(UInt32(directorySize))
        out.le32(UInt32(directoryOffset))
        out.le16(0)
        return out
    }
}

extension Data {
    fileprivate mutating func le16(_ value: UInt16) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
    fileprivate mutating func le32(_ value: UInt32) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}
