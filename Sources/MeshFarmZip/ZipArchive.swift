import Foundation

/// A zip archive opened for reading, with every claim of its directory
/// checked before anything is inflated.
///
/// Opening reads the end-of-central-directory record (ZIP64 included), then
/// the central directory, then each entry's local header, and refuses an
/// archive when:
/// - a structure points outside the file or the directory overlaps the data;
/// - an entry is encrypted, spans disks, or uses a method other than stored
///   (0) or deflate (8);
/// - a name is unsafe (``ZipPath``), a duplicate (compared case-insensitively,
///   as OPC and most file systems do), or differs from its local header;
/// - an entry is a symbolic link;
/// - two entries' data overlap (the trick of "overlapping" zip bombs);
/// - the entry count, an entry's size, the total size or an entry's
///   compression ratio is over ``ZipLimits``.
///
/// Reading an entry (``read(_:chunk:)``) inflates it in 64 KiB pieces,
/// stops with an error as soon as it produces more than the declared size,
/// and checks the length and CRC-32 at the end.
public final class ZipArchive: @unchecked Sendable {
    public let path: String
    public let entries: [ZipEntry]
    public let limits: ZipLimits
    let file: FileHandle
    let fileSize: Int
    private let byName: [String: Int]

    /// Opens and checks the archive at `path`.
    public init(path: String, limits: ZipLimits = ZipLimits()) throws(ZipError) {
        guard let file = FileHandle(forReadingAtPath: path) else {
            throw .notAnArchive("cannot open \(path)")
        }
        self.path = path
        self.file = file
        self.limits = limits
        do {
            fileSize = Int(try file.seekToEnd())
        } catch {
            throw .notAnArchive("cannot read \(path): \(error)")
        }
        let reader = ByteReader(file: file, size: fileSize)
        let directory = try Self.findDirectory(reader)
        let parsed = try Self.readDirectory(reader, directory, limits: limits)
        entries = parsed
        var byName: [String: Int] = [:]
        for (i, entry) in parsed.enumerated() { byName[entry.name.lowercased()] = i }
        self.byName = byName
    }

    deinit { try? file.close() }

    /// The entry named `name` (case-insensitive), if any.
    public func entry(named name: String) -> ZipEntry? {
        byName[name.lowercased()].map { entries[$0] }
    }

    /// Sum of the declared uncompressed sizes.
    public var totalUncompressedBytes: Int { entries.reduce(0) { $0 + $1.uncompressedSize } }

    // MARK: - Directory

    struct Directory {
        var entryCount: Int
        var offset: Int
        var size: Int
    }

    /// Finds the end-of-central-directory record (and its ZIP64 version)
    /// in the last 64 KiB + 22 bytes.
    static func findDirectory(_ reader: ByteReader) throws(ZipError) -> Directory {
        guard reader.size >= 22 else { throw .notAnArchive("\(reader.size) bytes is shorter than a zip directory") }
        let tailStart = max(0, reader.size - (22 + 65_535))
        let tail = try reader.read(at: tailStart, count: reader.size - tailStart)
        var eocd: Int?
        var i = tail.count - 22
        while i >= 0 {
            if tail[i] == 0x50, tail[i + 1] == 0x4B, tail[i + 2] == 0x05, tail[i + 3] == 0x06 {
                // The comment length must reach the end of the file exactly.
                let commentLength = Int(le16(tail, i + 20))
                if i + 22 + commentLength == tail.count {
                    eocd = i
                    break
                }
            }
            i -= 1
        }
        guard let eocd else { throw .notAnArchive("no end-of-central-directory record") }
        let disk = le16(tail, eocd + 4)
        let directoryDisk = le16(tail, eocd + 6)
        var entriesHere = Int(le16(tail, eocd + 8))
        var entryCount = Int(le16(tail, eocd + 10))
        var size = Int(le32(tail, eocd + 12))
        var offset = Int(le32(tail, eocd + 16))
        var multiDisk = disk != 0 || directoryDisk != 0

        let eocdOffset = tailStart + eocd
        let needsZip64 = entryCount == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF
        if eocdOffset >= 20, let locator = try? reader.read(at: eocdOffset - 20, count: 20),
            le32(locator, 0) == 0x0706_4B50
        {
            let recordOffset = try checkedInt(le64(locator, 8), "the ZIP64 record offset")
            multiDisk = multiDisk || le32(locator, 4) != 0 || le32(locator, 16) > 1
            guard recordOffset + 56 <= eocdOffset - 20 else {
                throw .corrupt("the ZIP64 locator points outside the file")
            }
            let record = try reader.read(at: recordOffset, count: 56)
            guard le32(record, 0) == 0x0606_4B50 else { throw .corrupt("no ZIP64 end record where the locator points") }
            multiDisk = multiDisk || le32(record, 16) != 0 || le32(record, 20) != 0
            entriesHere = try checkedInt(le64(record, 24), "the ZIP64 entry count")
            entryCount = try checkedInt(le64(record, 32), "the ZIP64 entry count")
            size = try checkedInt(le64(record, 40), "the ZIP64 directory size")
            offset = try checkedInt(le64(record, 48), "the ZIP64 directory offset")
        } else if needsZip64 {
            throw .corrupt("the directory needs ZIP64 values but there is no ZIP64 locator")
        }
        guard !multiDisk, entriesHere == entryCount else { throw .unsupported("archives split over several disks") }
        guard offset <= reader.size, size <= reader.size - offset, offset + size <= eocdOffset else {
            throw .corrupt(
                "the central directory (\(size) bytes at offset \(offset)) does not fit in the \(reader.size)-byte file"
            )
        }
        // Every directory entry takes at least 46 bytes: an absurd count is refused before allocating for it.
        guard entryCount <= size / 46 else {
            throw .corrupt("the directory claims \(entryCount) entries but has room for at most \(size / 46)")
        }
        return Directory(entryCount: entryCount, offset: offset, size: size)
    }

    /// Parses the central directory and cross-checks every local header.
    static func readDirectory(_ reader: ByteReader, _ directory: Directory, limits: ZipLimits) throws(ZipError)
        -> [ZipEntry]
    {
        guard directory.entryCount <= limits.maxEntries else {
            throw .overLimit("the archive has \(directory.entryCount) entries, over the limit of \(limits.maxEntries)")
        }
        let bytes = try reader.read(at: directory.offset, count: directory.size)
        var entries: [ZipEntry] = []
        entries.reserveCapacity(directory.entryCount)
        var seen = Set<String>()
        var total = 0
        var p = 0
        for index in 0..<directory.entryCount {
            guard p + 46 <= bytes.count, le32(bytes, p) == 0x0201_4B50 else {
                throw .corrupt("directory entry \(index) is missing or cut short")
            }
            let madeBy = le16(bytes, p + 4)
            let flags = le16(bytes, p + 8)
            let method = le16(bytes, p + 10)
            let crc = le32(bytes, p + 16)
            var compressed = UInt64(le32(bytes, p + 20))
            var uncompressed = UInt64(le32(bytes, p + 24))
            let nameLength = Int(le16(bytes, p + 28))
            let extraLength = Int(le16(bytes, p + 30))
            let commentLength = Int(le16(bytes, p + 32))
            let startDisk = le16(bytes, p + 34)
            let external = le32(bytes, p + 38)
            var localOffset = UInt64(le32(bytes, p + 42))
            let end = p + 46 + nameLength + extraLength + commentLength
            guard end <= bytes.count else { throw .corrupt("directory entry \(index) runs past the directory") }
            let rawName = bytes[(p + 46)..<(p + 46 + nameLength)]
            guard let decoded = String(validating: rawName, as: UTF8.self) else {
                throw .unsafePath("entry \(index)'s name is not valid UTF-8")
            }
            // ZIP64 extra field: the 8-byte values replace, in this order, those saturated above.
            var extra = p + 46 + nameLength
            let extraEnd = extra + extraLength
            while extra + 4 <= extraEnd {
                let id = le16(bytes, extra)
                let length = Int(le16(bytes, extra + 2))
                guard extra + 4 + length <= extraEnd else { throw .corrupt("entry '\(decoded)' has a cut extra field") }
                if id == 0x0001 {
                    var q = extra + 4
                    func next() throws(ZipError) -> UInt64 {
                        guard q + 8 <= extra + 4 + length else {
                            throw .corrupt("entry '\(decoded)' has a short ZIP64 field")
                        }
                        defer { q += 8 }
                        return le64(bytes, q)
                    }
                    if uncompressed == 0xFFFF_FFFF { uncompressed = try next() }
                    if compressed == 0xFFFF_FFFF { compressed = try next() }
                    if localOffset == 0xFFFF_FFFF { localOffset = try next() }
                }
                extra += 4 + length
            }
            p = end

            let name = try ZipPath.check(decoded)
            guard seen.insert(name.lowercased()).inserted else {
                throw .corrupt("two entries are named '\(name)'")
            }
            guard flags & 0x0001 == 0, flags & 0x0040 == 0 else { throw .unsupported("'\(name)' is encrypted") }
            guard startDisk == 0 else { throw .unsupported("archives split over several disks") }
            let unixMode = madeBy >> 8 == 3 ? external >> 16 : 0
            guard unixMode & 0o170000 != 0o120000 else {
                throw .unsafePath("'\(name)' is a symbolic link")
            }
            guard method == 0 || method == 8 else {
                throw .unsupported("'\(name)' uses compression method \(method) (only stored and deflate are read)")
            }
            let compressedSize = try checkedInt(compressed, "'\(name)''s compressed size")
            let uncompressedSize = try checkedInt(uncompressed, "'\(name)''s size")
            let headerOffset = try checkedInt(localOffset, "'\(name)''s offset")
            if method == 0, compressedSize != uncompressedSize {
                throw .corrupt("'\(name)' is stored but its two sizes differ")
            }
            guard uncompressedSize <= limits.maxEntryBytes else {
                throw .overLimit(
                    "'\(name)' would inflate to \(uncompressedSize) bytes, over the limit of \(limits.maxEntryBytes)")
            }
            total += uncompressedSize
            guard total <= limits.maxTotalBytes else {
                throw .overLimit(
                    "the archive would inflate to more than \(limits.maxTotalBytes) bytes (the limit) before '\(name)'")
            }
            if uncompressedSize > 1 << 20, uncompressedSize / max(compressedSize, 1) > limits.maxRatio {
                throw .overLimit(
                    "'\(name)' claims a compression ratio of \(uncompressedSize / max(compressedSize, 1)):1, over the limit of \(limits.maxRatio):1 (a zip bomb?)"
                )
            }
            entries.append(
                ZipEntry(
                    name: name, method: method, crc32: crc, compressedSize: compressedSize,
                    uncompressedSize: uncompressedSize, localHeaderOffset: headerOffset, dataOffset: 0))
        }
        try locateData(reader, &entries, directoryOffset: directory.offset)
        return entries
    }

    /// Reads each local header to find where the data starts, checks it
    /// agrees with the directory, and that no two entries' data overlap.
    static func locateData(_ reader: ByteReader, _ entries: inout [ZipEntry], directoryOffset: Int) throws(ZipError) {
        for i in entries.indices {
            let entry = entries[i]
            guard entry.localHeaderOffset <= directoryOffset - 30 else {
                throw .corrupt("'\(entry.name)''s local header is outside the data area")
            }
            let header = try reader.read(at: entry.localHeaderOffset, count: 30)
            guard le32(header, 0) == 0x0403_4B50 else { throw .corrupt("'\(entry.name)' has no local header") }
            let nameLength = Int(le16(header, 26))
            let extraLength = Int(le16(header, 28))
            let dataOffset = entry.localHeaderOffset + 30 + nameLength + extraLength
            guard dataOffset <= directoryOffset, entry.compressedSize <= directoryOffset - dataOffset else {
                throw .corrupt("'\(entry.name)''s data runs into the central directory")
            }
            let localName = try reader.read(at: entry.localHeaderOffset + 30, count: nameLength)
            guard String(decoding: localName, as: UTF8.self).replacingOccurrences(of: "\\", with: "/") == entry.name
            else {
                throw .corrupt("'\(entry.name)''s local header names another file")
            }
            entries[i].dataOffset = dataOffset
        }
        let order = entries.indices.sorted { entries[$0].localHeaderOffset < entries[$1].localHeaderOffset }
        for (a, b) in zip(order, order.dropFirst()) {
            guard entries[a].dataOffset + entries[a].compressedSize <= entries[b].localHeaderOffset else {
                throw .corrupt("the data of '\(entries[a].name)' and '\(entries[b].name)' overlap")
            }
        }
    }

    static func checkedInt(_ value: UInt64, _ what: @autoclosure () -> String) throws(ZipError) -> Int {
        guard value <= UInt64(Int.max >> 2) else { throw .corrupt("\(what()) is out of range") }
        return Int(value)
    }
}

/// Positioned, bounds-checked reads from the archive file.
struct ByteReader {
    let file: FileHandle
    let size: Int

    func read(at offset: Int, count: Int) throws(ZipError) -> [UInt8] {
        guard offset >= 0, count >= 0, offset <= size, count <= size - offset else {
            throw .corrupt("a structure at offset \(offset) runs past the end of the file")
        }
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        let fd = file.fileDescriptor
        while done < count {
            let n = bytes.withUnsafeMutableBytes {
                pread(fd, $0.baseAddress! + done, count - done, off_t(offset + done))
            }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { throw .corrupt("cannot read \(count) bytes at offset \(offset)") }
            done += n
        }
        return bytes
    }
}

@inline(__always) func le16(_ b: [UInt8], _ i: Int) -> UInt16 { UInt16(b[i]) | UInt16(b[i + 1]) << 8 }
@inline(__always) func le32(_ b: [UInt8], _ i: Int) -> UInt32 {
    UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
}
@inline(__always) func le64(_ b: [UInt8], _ i: Int) -> UInt64 { UInt64(le32(b, i)) | UInt64(le32(b, i + 4)) << 32 }
