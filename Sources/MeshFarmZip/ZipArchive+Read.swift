import CZlib
import Foundation

extension ZipArchive {
    /// Streams `entry`'s uncompressed bytes to `chunk` in pieces of up to
    /// 64 KiB. Fails as soon as the data would exceed the declared size, and
    /// at the end unless the length and CRC-32 match the directory. Errors
    /// thrown by `chunk` stop the read and are passed on unchanged.
    public func read(_ entry: ZipEntry, chunk: (UnsafeRawBufferPointer) throws -> Void) throws {
        var crc = crc32(0, nil, 0)
        var produced = 0
        func deliver(_ piece: UnsafeRawBufferPointer) throws {
            guard piece.count <= entry.uncompressedSize - produced else {
                throw ZipError.corrupt(
                    "'\(entry.name)' inflates to more than its declared \(entry.uncompressedSize) bytes")
            }
            produced += piece.count
            crc = crc32(crc, piece.baseAddress?.assumingMemoryBound(to: Bytef.self), uInt(piece.count))
            try chunk(piece)
        }
        let reader = ByteReader(file: file, size: fileSize)
        let step = 1 << 16
        if entry.method == 0 {
            var offset = 0
            while offset < entry.compressedSize {
                let piece = try reader.read(
                    at: entry.dataOffset + offset, count: min(step, entry.compressedSize - offset))
                try piece.withUnsafeBytes { try deliver($0) }
                offset += piece.count
            }
        } else {
            try inflate(entry, reader: reader, step: step, deliver: deliver)
        }
        guard produced == entry.uncompressedSize else {
            throw ZipError.corrupt(
                "'\(entry.name)' inflates to \(produced) bytes, not the declared \(entry.uncompressedSize)")
        }
        guard UInt32(crc) == entry.crc32 else { throw ZipError.corrupt("'\(entry.name)' fails its CRC-32 check") }
    }

    /// The whole entry in memory; for small parts (at most `limit` bytes).
    public func data(of entry: ZipEntry, limit: Int) throws -> Data {
        guard entry.uncompressedSize <= limit else {
            throw ZipError.overLimit(
                "'\(entry.name)' is \(entry.uncompressedSize) bytes, over the \(limit) allowed for it")
        }
        var data = Data(capacity: entry.uncompressedSize)
        try read(entry) { data.append($0.assumingMemoryBound(to: UInt8.self)) }
        return data
    }

    /// Writes `entry` to `url` (created; must not exist).
    public func extract(_ entry: ZipEntry, to url: URL) throws {
        guard FileManager.default.createFile(atPath: url.path, contents: nil),
            let handle = FileHandle(forWritingAtPath: url.path)
        else { throw ZipError.corrupt("cannot create \(url.path)") }
        defer { try? handle.close() }
        try read(entry) { try handle.write(contentsOf: $0) }
    }

    private func inflate(
        _ entry: ZipEntry, reader: ByteReader, step: Int, deliver: (UnsafeRawBufferPointer) throws -> Void
    ) throws {
        var stream = z_stream()
        guard meshfarm_inflate_init_raw(&stream) == Z_OK else { throw ZipError.corrupt("zlib could not start") }
        defer { inflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: step)
        var consumed = 0
        var finished = false
        while !finished {
            let input = try reader.read(
                at: entry.dataOffset + consumed, count: min(step, entry.compressedSize - consumed))
            consumed += input.count
            let atEnd = consumed == entry.compressedSize
            try input.withUnsafeBufferPointer { source in
                stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
                stream.avail_in = uInt(source.count)
                repeat {
                    let status = output.withUnsafeMutableBufferPointer { out in
                        stream.next_out = out.baseAddress
                        stream.avail_out = uInt(out.count)
                        return CZlib.inflate(&stream, Z_NO_FLUSH)
                    }
                    let produced = step - Int(stream.avail_out)
                    if produced > 0 {
                        try output.withUnsafeBytes { try deliver(UnsafeRawBufferPointer(rebasing: $0[..<produced])) }
                    }
                    switch status {
                    case Z_STREAM_END: finished = true
                    case Z_OK: break
                    case Z_BUF_ERROR where stream.avail_in == 0: break  // needs more input
                    default:
                        let message = stream.msg.map { String(cString: $0) } ?? "status \(status)"
                        throw ZipError.corrupt("'\(entry.name)' does not inflate: \(message)")
                    }
                } while !finished && (stream.avail_in > 0 || stream.avail_out == 0)
            }
            if atEnd && !finished {
                throw ZipError.corrupt("'\(entry.name)''s compressed data ends early")
            }
        }
    }
}
