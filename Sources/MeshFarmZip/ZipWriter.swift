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
        var local = Data()
        local.le32(0x0403_4B50)
        local.le16(20)  // version needed
        local.le16(0x0800)  // UTF-8 names
        local.le16(method.rawValue)
        local.le16(0)  // time
        local.le16(0x21)  // date: 1980-01-01
        local.le32(crc)
        local.le32(UInt32(stored.count))
        local.le32(UInt32(data.count))
        local.le16(UInt16(nameBytes.count))
        local.le16(0)
        body.append(local)
        body.append(nameBytes)
        body.append(stored)

        directory.le32(0x0201_4B50)
        directory.le16(unixMode == nil ? 20 : 0x0314)  // made by: MS-DOS, or Unix when a mode is given
        directory.le16(20)
        directory.le16(0x0800)
        directory.le16(method.rawValue)
        directory.le16(0)
        directory.le16(0x21)
        directory.le32(crc)
        directory.le32(UInt32(stored.count))
        directory.le32(UInt32(data.count))
        directory.le16(UInt16(nameBytes.count))
        directory.le16(0)  // extra
        directory.le16(0)  // comment
        directory.le16(0)  // disk
        directory.le16(0)  // internal attributes
        directory.le32((unixMode ?? 0) << 16)
        directory.le32(offset)
        directory.append(nameBytes)
        count += 1
    }

    /// The finished archive.
    public func finish() -> Data {
        var out = body
        out.append(directory)
        out.le32(0x0605_4B50)
        out.le16(0)
        out.le16(0)
        out.le16(UInt16(count))
        out.le16(UInt16(count))
        out.le32(UInt32(directory.count))
        out.le32(UInt32(body.count))
        out.le16(0)
        return out
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

extension Data {
    fileprivate mutating func le16(_ value: UInt16) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
    fileprivate mutating func le32(_ value: UInt32) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}
