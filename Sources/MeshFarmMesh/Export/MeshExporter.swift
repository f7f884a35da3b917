import Foundation

/// Writes meshes in the formats users download: OBJ (text, universal),
/// binary PLY, binary STL (what slicers expect) and GLB (glTF 2.0 binary,
/// for the web).
///
/// Writers are hand-rolled rather than assimp's exporter: positions and
/// indices are all MeshFarm keeps, and each format needs a few dozen lines.
public enum MeshExporter {
    /// An output format, chosen from a file extension.
    public enum Format: String, Sendable, CaseIterable, Codable {
        case obj, ply, stl, glb

        /// The format for `path`'s extension; throws for anything else.
        public init(path: String) throws(MeshError) {
            let ext = (path as NSString).pathExtension.lowercased()
            guard let format = Format(rawValue: ext) else {
                throw .invalidRequest("cannot export to '.\(ext)': use .obj, .ply, .stl or .glb")
            }
            self = format
        }
    }

    /// Encodes `mesh` in `format`.
    public static func encode(_ mesh: Mesh, as format: Format) -> Data {
        switch format {
        case .obj: obj(mesh)
        case .ply: ply(mesh)
        case .stl: stl(mesh)
        case .glb: glb(mesh)
        }
    }

    /// Writes `mesh` to `path` in the format its extension names.
    public static func write(_ mesh: Mesh, to path: String) throws {
        let format = try Format(path: path)
        try encode(mesh, as: format).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    // MARK: - OBJ

    /// Written byte by byte: an interpolated line per vertex and face took
    /// 0.22 s for 800k triangles (most of a split's stitch after its seam
    /// pass), this 0.14 s, for the same text.
    static func obj(_ mesh: Mesh) -> Data {
        var bytes: [UInt8] = Array("# MeshFarm\n".utf8)
        bytes.reserveCapacity(mesh.vertexCount * 36 + mesh.triangleCount * 24)
        func append(_ value: Float) {
            // Swift's shortest round-trip formatting: re-import is exact.
            var text = value.description
            text.withUTF8 { bytes.append(contentsOf: $0) }
        }
        func append(_ value: UInt32) {
            var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            var count = 0
            var rest = value
            withUnsafeMutableBytes(of: &digits) { buffer in
                repeat {
                    buffer[count] = UInt8(ascii: "0") + UInt8(rest % 10)
                    rest /= 10
                    count += 1
                } while rest > 0
                for i in stride(from: count - 1, through: 0, by: -1) { bytes.append(buffer[i]) }
            }
        }
        for v in 0..<mesh.vertexCount {
            bytes += [UInt8(ascii: "v"), UInt8(ascii: " ")]
            append(mesh.positions[3 * v])
            bytes.append(UInt8(ascii: " "))
            append(mesh.positions[3 * v + 1])
            bytes.append(UInt8(ascii: " "))
            append(mesh.positions[3 * v + 2])
            bytes.append(UInt8(ascii: "\n"))
        }
        for t in 0..<mesh.triangleCount {
            bytes += [UInt8(ascii: "f"), UInt8(ascii: " ")]
            append(mesh.indices[3 * t] + 1)
            bytes.append(UInt8(ascii: " "))
            append(mesh.indices[3 * t + 1] + 1)
            bytes.append(UInt8(ascii: " "))
            append(mesh.indices[3 * t + 2] + 1)
            bytes.append(UInt8(ascii: "\n"))
        }
        return Data(bytes)
    }

    // MARK: - PLY

    static func ply(_ mesh: Mesh) -> Data {
        let header = """
            ply
            format binary_little_endian 1.0
            comment MeshFarm
            element vertex \(mesh.vertexCount)
            property float x
            property float y
            property float z
            element face \(mesh.triangleCount)
            property list uchar uint vertex_indices
            end_header

            """
        var data = Data(header.utf8)
        data.reserveCapacity(data.count + mesh.positions.count * 4 + mesh.triangleCount * 13)
        mesh.positions.withUnsafeBytes { data.append(contentsOf: $0) }
        var face = [UInt8](repeating: 3, count: 13)
        for t in 0..<mesh.triangleCount {
            for corner in 0..<3 {
                withUnsafeBytes(of: mesh.indices[3 * t + corner].littleEndian) { bytes in
                    for k in 0..<4 { face[1 + corner * 4 + k] = bytes[k] }
                }
            }
            data.append(contentsOf: face)
        }
        return data
    }

    // MARK: - STL

    static func stl(_ mesh: Mesh) -> Data {
        var data = Data(count: 84 + 50 * mesh.triangleCount)
        data.withUnsafeMutableBytes { raw in
            let base = raw.baseAddress!
            let title = Array("MeshFarm binary STL".utf8)
            base.copyMemory(from: title, byteCount: title.count)
            base.storeBytes(of: UInt32(mesh.triangleCount).littleEndian, toByteOffset: 80, as: UInt32.self)
            for t in 0..<mesh.triangleCount {
                let (a, b, c) = mesh.triangle(t)
                let n = cross(b - a, c - a)
                let length = n.length
                let normal = length > 0 ? n / length : .zero
                let offset = 84 + 50 * t
                for (k, value) in [normal, a, b, c].enumerated() {
                    base.storeBytes(of: value.x, toByteOffset: offset + 12 * k, as: Float.self)
                    base.storeBytes(of: value.y, toByteOffset: offset + 12 * k + 4, as: Float.self)
                    base.storeBytes(of: value.z, toByteOffset: offset + 12 * k + 8, as: Float.self)
                }
                // The 2-byte attribute count stays 0.
            }
        }
        return data
    }

    // MARK: - GLB

    /// glTF 2.0 binary: one JSON chunk describing a single triangle mesh and
    /// one BIN chunk with the positions followed by the indices.
    static func glb(_ mesh: Mesh) -> Data {
        let positionBytes = mesh.positions.count * 4
        let indexBytes = mesh.indices.count * 4
        let box = mesh.bounds ?? Bounds(min: .zero, max: .zero)
        let json = """
            {"asset":{"version":"2.0","generator":"MeshFarm"},"scene":0,"scenes":[{"nodes":[0]}],\
            "nodes":[{"mesh":0}],"meshes":[{"primitives":[{"attributes":{"POSITION":0},"indices":1,"mode":4}]}],\
            "buffers":[{"byteLength":\(positionBytes + indexBytes)}],\
            "bufferViews":[{"buffer":0,"byteOffset":0,"byteLength":\(positionBytes),"target":34962},\
            {"buffer":0,"byteOffset":\(positionBytes),"byteLength":\(indexBytes),"target":34963}],\
            "accessors":[{"bufferView":0,"componentType":5126,"count":\(mesh.vertexCount),"type":"VEC3",\
            "min":[\(box.min.x),\(box.min.y),\(box.min.z)],"max":[\(box.max.x),\(box.max.y),\(box.max.z)]},\
            {"bufferView":1,"componentType":5125,"count":\(mesh.indices.count),"type":"SCALAR"}]}
            """
        var jsonChunk = Array(json.utf8)
        while jsonChunk.count % 4 != 0 { jsonChunk.append(0x20) }  // chunks are 4-byte aligned, JSON pads with spaces
        let binLength = positionBytes + indexBytes
        let total = 12 + 8 + jsonChunk.count + 8 + binLength

        var data = Data()
        data.reserveCapacity(total)
        func append32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) } }
        data.append(contentsOf: Array("glTF".utf8))
        append32(2)
        append32(UInt32(total))
        append32(UInt32(jsonChunk.count))
        data.append(contentsOf: Array("JSON".utf8))
        data.append(contentsOf: jsonChunk)
        append32(UInt32(binLength))
        data.append(contentsOf: Array("BIN\0".utf8))
        mesh.positions.withUnsafeBytes { data.append(contentsOf: $0) }
        mesh.indices.withUnsafeBytes { data.append(contentsOf: $0) }
        return data
    }
}
