import CMeshOptimizer

/// Merging of vertices whose positions are exactly equal.
///
/// Importers emit one vertex per face corner (or split vertices at UV and
/// normal seams); analysis and simplification need shared vertices to see
/// shared edges. Equality is bitwise after mapping -0 to +0, the same rule
/// meshoptimizer's remap uses, so it is fast (hashing in C) and exact: no
/// tolerance means no accidental merging of close but distinct vertices.
public enum Welding {
    /// Returns the mesh with duplicate positions merged and unused vertices
    /// dropped; triangle order and count are unchanged.
    public static func weld(_ mesh: Mesh) -> Mesh {
        var positions = mesh.positions
        // -0 -> +0, copying the array only when a -0 is there (rare: most files have none).
        if positions.contains(where: { $0 == 0 && $0.sign == .minus }) {
            for i in positions.indices where positions[i] == 0 { positions[i] = 0 }
        }
        let vertexCount = positions.count / 3
        guard vertexCount > 0, !mesh.indices.isEmpty else { return Mesh(positions: [], indices: mesh.indices) }
        var remap = [UInt32](repeating: 0, count: vertexCount)
        let unique = mesh.indices.withUnsafeBufferPointer { indices in
            positions.withUnsafeBytes { vertices in
                meshopt_generateVertexRemap(
                    &remap, indices.baseAddress, indices.count, vertices.baseAddress, vertexCount, 12)
            }
        }
        var welded = [Float](repeating: 0, count: unique * 3)
        positions.withUnsafeBytes { source in
            welded.withUnsafeMutableBytes { destination in
                meshopt_remapVertexBuffer(destination.baseAddress, source.baseAddress, vertexCount, 12, remap)
            }
        }
        var indices = [UInt32](repeating: 0, count: mesh.indices.count)
        mesh.indices.withUnsafeBufferPointer { source in
            meshopt_remapIndexBuffer(&indices, source.baseAddress, source.count, remap)
        }
        return Mesh(positions: welded, indices: indices)
    }
}
