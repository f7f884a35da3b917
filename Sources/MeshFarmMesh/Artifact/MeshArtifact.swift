import Foundation

/// The compact binary mesh format tasks pass between each other instead of
/// re-importing user files.
///
/// Layout (all little-endian):
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 8 | magic `MFMESH\r\n` (the CR LF catches text-mode mangling) |
/// | 8 | 4 | version (1) |
/// | 12 | 4 | flags (0) |
/// | 16 | 8 | vertex count V |
/// | 24 | 8 | index count I (multiple of 3) |
/// | 32 | 12 V | positions, float32 x y z |
/// | 32 + 12 V | 4 I | indices, uint32 |
/// | end - 8 | 8 | checksum of everything before it |
///
/// Files are written from and read into the mesh's arrays directly (the
/// header first, so its counts are checked against the file's size before
/// anything is allocated); `encode`/`decode` do the same in memory. The checksum is a 64-bit multiply-xor over 8-byte words:
/// it is there to catch truncation and bit rot, not tampering (artifacts
/// are content-addressed by SHA-256 in the store).
public enum MeshArtifact {
    public static let magic: [UInt8] = Array("MFMESH\r\n".utf8)
    public static let version: UInt32 = 1
    static let headerSize = 32

    /// Serializes `mesh`.
    public static func encode(_ mesh: Mesh) -> Data {
        let positionBytes = mesh.positions.count * 4
        let indexBytes = mesh.indices.count * 4
        var data = Data(count: headerSize + positionBytes + indexBytes + 8)
        data.withUnsafeMutableBytes { raw in
            let base = raw.baseAddress!
            base.copyMemory(from: header(mesh), byteCount: headerSize)
            // x86-64 and arm64 are little-endian: the arrays are copied as is.
            mesh.positions.withUnsafeBytes {
                base.advanced(by: headerSize).copyMemory(from: $0.baseAddress!, byteCount: positionBytes)
            }
            mesh.indices.withUnsafeBytes {
                base.advanced(by: headerSize + positionBytes).copyMemory(from: $0.baseAddress!, byteCount: indexBytes)
            }
            let sum = checksum(UnsafeRawBufferPointer(start: base, count: raw.count - 8))
            base.storeBytes(of: sum.littleEndian, toByteOffset: raw.count - 8, as: UInt64.self)
        }
        return data
    }

    /// The 32-byte header of `mesh`'s artifact.
    static func header(_ mesh: Mesh) -> [UInt8] {
        var bytes = magic
        withUnsafeBytes(of: version.littleEndian) { bytes += $0 }
        withUnsafeBytes(of: UInt32(0)) { bytes += $0 }
        withUnsafeBytes(of: UInt64(mesh.vertexCount).littleEndian) { bytes += $0 }
        withUnsafeBytes(of: UInt64(mesh.indices.count).littleEndian) { bytes += $0 }
        return bytes
    }

    /// Parses and validates an artifact.
    public static func decode(_ data: Data) throws(MeshError) -> Mesh {
        guard data.count >= headerSize + 8 else { throw .badArtifact("\(data.count) bytes is shorter than the header") }
        guard Array(data.prefix(8)) == magic else { throw .badArtifact("not a MeshFarm mesh artifact (bad magic)") }
        let result = data.withUnsafeBytes { raw in Result { () throws(MeshError) -> Mesh in try decode(raw) } }
        return try result.get()
    }

    private static func decode(_ raw: UnsafeRawBufferPointer) throws(MeshError) -> Mesh {
        let base = raw.baseAddress!
        let version = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        guard version == Self.version else { throw .badArtifact("unsupported version \(version)") }
        let vertexCount = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        let indexCount = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        guard vertexCount <= UInt64(raw.count) / 12, indexCount <= UInt64(raw.count) / 4,
            headerSize + 12 * Int(vertexCount) + 4 * Int(indexCount) + 8 == raw.count
        else {
            throw .badArtifact("size \(raw.count) does not match \(vertexCount) vertices and \(indexCount) indices")
        }
        let stored = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: raw.count - 8, as: UInt64.self))
        guard checksum(UnsafeRawBufferPointer(rebasing: raw[..<(raw.count - 8)])) == stored else {
            throw .badArtifact("checksum mismatch (truncated or corrupted)")
        }
        let positions = [Float](unsafeUninitializedCapacity: Int(vertexCount) * 3) { buffer, count in
            UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(
                from: base.advanced(by: headerSize), byteCount: Int(vertexCount) * 12)
            count = Int(vertexCount) * 3
        }
        let indices = [UInt32](unsafeUninitializedCapacity: Int(indexCount)) { buffer, count in
            UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(
                from: base.advanced(by: headerSize + Int(vertexCount) * 12), byteCount: Int(indexCount) * 4)
            count = Int(indexCount)
        }
        let mesh = Mesh(positions: positions, indices: indices)
        do { try mesh.validate() } catch { throw .badArtifact("invalid content: \(error)") }
        return mesh
    }

    /// Writes an artifact file atomically, straight from the mesh's arrays
    /// (no copy of the whole artifact in memory).
    public static func write(_ mesh: Mesh, to path: String) throws {
        let temporary = path + ".\(UInt32.random(in: 0...UInt32.max)).part"
        guard FileManager.default.createFile(atPath: temporary, contents: nil),
            let handle = FileHandle(forWritingAtPath: temporary)
        else { throw MeshError.unreadable(path: temporary, reason: "cannot create the file") }
        do {
            defer { try? handle.close() }
            let head = header(mesh)
            var sum = Checksum(totalBytes: headerSize + 4 * (mesh.positions.count + mesh.indices.count))
            try head.withUnsafeBytes { bytes in
                sum.update(bytes)
                try handle.write(contentsOf: bytes)
            }
            try mesh.positions.withUnsafeBytes { bytes in
                sum.update(bytes)
                try handle.write(contentsOf: bytes)
            }
            try mesh.indices.withUnsafeBytes { bytes in
                sum.update(bytes)
                try handle.write(contentsOf: bytes)
            }
            try withUnsafeBytes(of: sum.finish().littleEndian) { try handle.write(contentsOf: $0) }
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            try? FileManager.default.removeItem(atPath: temporary)
            throw MeshError.unreadable(path: path, reason: "cannot rename into place: errno \(errno)")
        }
    }

    /// Reads an artifact file: the header first, then positions and indices
    /// straight into the mesh's arrays, checked against the size the header
    /// implies, the checksum and the mesh invariants.
    public static func read(path: String) throws -> Mesh {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw MeshError.unreadable(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw MeshError.unreadable(path: path, reason: "cannot stat") }
        let size = Int(info.st_size)
        guard size >= headerSize + 8 else { throw MeshError.badArtifact("\(size) bytes is shorter than the header") }
        var head = [UInt8](repeating: 0, count: headerSize)
        try head.withUnsafeMutableBytes { try readFully(fd, $0, at: 0, path: path) }
        guard Array(head.prefix(8)) == magic else {
            throw MeshError.badArtifact("not a MeshFarm mesh artifact (bad magic)")
        }
        let version = head.withUnsafeBytes {
            UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        }
        guard version == Self.version else { throw MeshError.badArtifact("unsupported version \(version)") }
        let vertexCount = head.withUnsafeBytes {
            UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        }
        let indexCount = head.withUnsafeBytes {
            UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        }
        guard vertexCount <= UInt64(size) / 12, indexCount <= UInt64(size) / 4,
            headerSize + 12 * Int(vertexCount) + 4 * Int(indexCount) + 8 == size
        else {
            throw MeshError.badArtifact("size \(size) does not match \(vertexCount) vertices and \(indexCount) indices")
        }
        var sum = Checksum(totalBytes: size - 8)
        head.withUnsafeBytes { sum.update($0) }
        let positions = try [Float](unsafeUninitializedCapacity: Int(vertexCount) * 3) { buffer, count in
            let bytes = UnsafeMutableRawBufferPointer(buffer)
            try readFully(fd, bytes, at: headerSize, path: path)
            sum.update(UnsafeRawBufferPointer(bytes))
            count = buffer.count
        }
        let indices = try [UInt32](unsafeUninitializedCapacity: Int(indexCount)) { buffer, count in
            let bytes = UnsafeMutableRawBufferPointer(buffer)
            try readFully(fd, bytes, at: headerSize + positions.count * 4, path: path)
            sum.update(UnsafeRawBufferPointer(bytes))
            count = buffer.count
        }
        var stored: UInt64 = 0
        try withUnsafeMutableBytes(of: &stored) { try readFully(fd, $0, at: size - 8, path: path) }
        guard sum.finish() == UInt64(littleEndian: stored) else {
            throw MeshError.badArtifact("checksum mismatch (truncated or corrupted)")
        }
        let mesh = Mesh(positions: positions, indices: indices)
        do { try mesh.validate() } catch { throw MeshError.badArtifact("invalid content: \(error)") }
        return mesh
    }

    private static func readFully(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, at offset: Int, path: String)
        throws
    {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { throw MeshError.unreadable(path: path, reason: "the file ends early") }
            done += n
        }
    }

    /// ``checksum(_:)`` computed over pieces delivered in order.
    struct Checksum {
        private var h: UInt64
        private let wordBytes: Int
        private var seen = 0
        private var carry: UInt64 = 0
        private var carried = 0

        init(totalBytes: Int) {
            h = 0x9E37_79B9_7F4A_7C15 ^ UInt64(totalBytes)
            wordBytes = totalBytes / 8 * 8
        }

        mutating func update(_ bytes: UnsafeRawBufferPointer) {
            var i = 0
            // Finish a word started in an earlier piece, byte by byte.
            while carried > 0, i < bytes.count, seen < wordBytes {
                carry |= UInt64(bytes[i]) << (8 * UInt64(carried))
                carried += 1
                i += 1
                seen += 1
                if carried == 8 {
                    mix(carry)
                    carry = 0
                    carried = 0
                }
            }
            let base = bytes.baseAddress
            while i + 8 <= bytes.count, seen + 8 <= wordBytes {
                mix(base!.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                i += 8
                seen += 8
            }
            while i < bytes.count {
                if seen < wordBytes {
                    carry |= UInt64(bytes[i]) << (8 * UInt64(carried))
                    carried += 1
                } else {
                    h = (h ^ UInt64(bytes[i])) &* 0x0000_0100_0000_01B3  // the tail after the last word
                }
                i += 1
                seen += 1
            }
        }

        @inline(__always)
        private mutating func mix(_ word: UInt64) {
            h = (h ^ word) &* 0x0000_0100_0000_01B3
            h ^= h >> 29
        }

        func finish() -> UInt64 { h ^ (h >> 32) }
    }

    /// 64-bit multiply-xor over little-endian words, tail bytes folded in.
    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(bytes.count)
        let words = bytes.count / 8
        let base = bytes.baseAddress!
        for i in 0..<words {
            let w = base.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)
            h = (h ^ w) &* 0x0000_0100_0000_01B3
            h ^= h >> 29
        }
        for i in (words * 8)..<bytes.count {
            h = (h ^ UInt64(bytes[i])) &* 0x0000_0100_0000_01B3
        }
        return h ^ (h >> 32)
    }
}
