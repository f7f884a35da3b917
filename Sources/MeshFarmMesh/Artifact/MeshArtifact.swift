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
/// The whole file is read with one read; both arrays are then copied out
/// with `memcpy`. The checksum is a 64-bit multiply-xor over 8-byte words:
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
            base.copyMemory(from: magic, byteCount: 8)
            base.storeBytes(of: version.littleEndian, toByteOffset: 8, as: UInt32.self)
            base.storeBytes(of: UInt32(0), toByteOffset: 12, as: UInt32.self)
            base.storeBytes(of: UInt64(mesh.vertexCount).littleEndian, toByteOffset: 16, as: UInt64.self)
            base.storeBytes(of: UInt64(mesh.indices.count).littleEndian, toByteOffset: 24, as: UInt64.self)
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

    /// Writes an artifact file atomically.
    public static func write(_ mesh: Mesh, to path: String) throws {
        try encode(mesh).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// Reads an artifact file with one read.
    public static func read(path: String) throws -> Mesh {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw MeshError.unreadable(path: path, reason: "\(error)")
        }
        return try decode(data)
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
