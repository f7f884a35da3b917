import CZlib
import Foundation

/// Writes a zip archive as a stream, entry after entry, without knowing an
/// entry's CRC-32 or size before its data has gone by: each entry's local
/// header says they follow the data (a data descriptor), and the central
/// directory at the end has them. Stored entries (no compression: what it
/// packs, PNG images and meshes, is sent as it is), UTF-8 names, no ZIP64
/// (4 GiB and 65,535 entries at most). The caller sends the bytes each
/// call returns, in order.
public struct ZipStream: Sendable {
    private var offset = 0
    private var directory = Data()
    private var entries = 0
    private var current: (name: Data, offset: Int, crc: uLong, size: Int)?

    public init() {}

    /// Starts an entry: its local header.
    public mutating func begin(_ name: String) throws -> Data {
        guard current == nil else { throw ZipError.overLimit("an entry is still open") }
        guard entries < 0xFFFF else { throw ZipError.overLimit("more than 65,535 entries need ZIP64") }
        let nameBytes = Data(name.utf8)
        current = (nameBytes, offset, crc32(0, nil, 0), 0)
        let local = header(name: nameBytes, crc: 0, size: 0).local()
        try advance(local.count)
        return local
    }

    /// Data of the open entry, passed through (counted and checksummed).
    public mutating func data(_ chunk: Data) throws -> Data {
        guard var entry = current else { throw ZipError.overLimit("no entry is open") }
        entry.crc = chunk.withUnsafeBytes {
            crc32(entry.crc, $0.baseAddress?.assumingMemoryBound(to: Bytef.self), uInt($0.count))
        }
        entry.size += chunk.count
        current = entry
        try advance(chunk.count)
        return chunk
    }

    /// Ends the open entry: its data descriptor.
    public mutating func end() throws -> Data {
        guard let entry = current else { throw ZipError.overLimit("no entry is open") }
        current = nil
        let finished = header(name: entry.name, crc: UInt32(entry.crc), size: UInt32(entry.size))
        directory.append(finished.central(offset: UInt32(entry.offset)))
        entries += 1
        let descriptor = finished.descriptor()
        try advance(descriptor.count)
        return descriptor
    }

    /// The central directory and the end record.
    public func finish() throws -> Data {
        guard current == nil else { throw ZipError.overLimit("an entry is still open") }
        guard offset + directory.count < 0xFFFF_FFFF else {
            throw ZipError.overLimit("archives over 4 GiB need ZIP64, which this writer does not write")
        }
        return directory + ZipEntryHeader.end(entries: entries, directorySize: directory.count, directoryOffset: offset)
    }

    private func header(name: Data, crc: UInt32, size: UInt32) -> ZipEntryHeader {
        ZipEntryHeader(
            name: name, method: 0, crc: crc, compressedSize: size, size: size, unixMode: nil, flags: 0x0808)
    }

    private mutating func advance(_ count: Int) throws {
        offset += count
        guard offset < 0xFFFF_FFFF else {
            throw ZipError.overLimit("archives over 4 GiB need ZIP64, which this writer does not write")
        }
    }
}
