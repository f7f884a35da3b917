import CVulkan
import MeshFarmMesh

/// A mesh resident on the device, split into chunks that each fit the
/// device's storage-buffer range.
///
/// lavapipe limits one storage-buffer binding to 128 MiB (11.1 million
/// triangles of indices). A mesh within the limits is one chunk sharing the
/// whole vertex buffer. A larger one is cut into runs of triangles; each
/// chunk carries its own compacted vertices when the shared vertex buffer
/// would also exceed the range. Triangle ids stay global (chunk base + local
/// index), so the visibility buffer is the same however the mesh was split.
public final class GPUMesh: @unchecked Sendable {
    struct Chunk {
        var positions: VulkanBuffer
        var normals: VulkanBuffer
        var indices: VulkanBuffer
        var triangleBase: Int
        var triangleCount: Int
    }

    let chunks: [Chunk]
    public let triangleCount: Int
    public let vertexCount: Int
    public let bounds: Bounds
    /// Bytes held on the device.
    public let deviceBytes: Int
    /// Number of chunks (1 unless the mesh exceeds a buffer limit).
    public var chunkCount: Int { chunks.count }
    /// Triangles in the largest chunk.
    var largestChunk: Int { chunks.map(\.triangleCount).max() ?? 1 }

    /// Uploads `mesh`; `maxBufferBytes` caps one buffer binding (the device
    /// limit by default; tests lower it to force splitting).
    init(context: VulkanContext, mesh: Mesh, maxBufferBytes: Int) throws {
        try mesh.validate()
        triangleCount = mesh.triangleCount
        vertexCount = mesh.vertexCount
        bounds = mesh.bounds!
        let normals = PackedNormal.pack(mesh.vertexNormals())
        let trianglesPerChunk = max(1, maxBufferBytes / 12)
        var chunks: [Chunk] = []
        var bytes = 0
        func buffer<T>(_ values: [T]) throws -> VulkanBuffer {
            let b = try VulkanBuffer(context: context, size: values.count * MemoryLayout<T>.stride)
            b.upload(values)
            bytes += b.size
            return b
        }
        if mesh.positions.count * 4 <= maxBufferBytes {
            let positions = try buffer(mesh.positions)
            let normalBuffer = try buffer(normals)
            for start in stride(from: 0, to: mesh.triangleCount, by: trianglesPerChunk) {
                let count = min(trianglesPerChunk, mesh.triangleCount - start)
                let indices = try buffer(Array(mesh.indices[(3 * start)..<(3 * (start + count))]))
                chunks.append(
                    Chunk(
                        positions: positions, normals: normalBuffer, indices: indices, triangleBase: start,
                        triangleCount: count))
            }
        } else {
            // Each chunk gets only the vertices its triangles use; bound the
            // chunk so its vertices (at most 3 per triangle) fit too.
            let perChunk = min(trianglesPerChunk, max(1, maxBufferBytes / 36))
            var localIndex = [Int32](repeating: -1, count: mesh.vertexCount)
            for start in stride(from: 0, to: mesh.triangleCount, by: perChunk) {
                let count = min(perChunk, mesh.triangleCount - start)
                var used: [UInt32] = []
                var indices = [UInt32](repeating: 0, count: count * 3)
                for k in 0..<(count * 3) {
                    let global = Int(mesh.indices[3 * start + k])
                    if localIndex[global] < 0 {
                        localIndex[global] = Int32(used.count)
                        used.append(UInt32(global))
                    }
                    indices[k] = UInt32(localIndex[global])
                }
                var positions = [Float](repeating: 0, count: used.count * 3)
                var chunkNormals = [UInt32](repeating: 0, count: used.count)
                for (local, global) in used.enumerated() {
                    for axis in 0..<3 {
                        positions[3 * local + axis] = mesh.positions[3 * Int(global) + axis]
                    }
                    chunkNormals[local] = normals[Int(global)]
                    localIndex[Int(global)] = -1
                }
                chunks.append(
                    Chunk(
                        positions: try buffer(positions), normals: try buffer(chunkNormals),
                        indices: try buffer(indices),
                        triangleBase: start, triangleCount: count))
            }
        }
        self.chunks = chunks
        deviceBytes = bytes
    }
}
