import Foundation
import MeshFarmMesh

/// Big test meshes made from small ones, deterministically: every triangle
/// cut into n² (each edge into n segments, points on shared edges shared,
/// so a closed mesh stays closed), then every vertex moved along its normal
/// by a smooth bumpy field, so the reducer has real detail to weigh.
enum Subdivision {
    /// `mesh` with each triangle cut into `n * n`.
    static func subdivided(_ mesh: Mesh, n: Int) -> Mesh {
        precondition(n >= 1)
        var positions = mesh.positions
        let triangleCount = mesh.triangleCount
        positions.reserveCapacity(3 * (mesh.vertexCount + triangleCount * (n * n) / 2 + n))
        // Points inside each edge, stored from its smaller vertex to its larger.
        var edgeBase: [UInt64: UInt32] = [:]
        func edgePoint(_ u: UInt32, _ v: UInt32, _ k: Int) -> UInt32 {
            let (lo, hi) = (min(u, v), max(u, v))
            let key = UInt64(lo) << 32 | UInt64(hi)
            let base: UInt32
            if let existing = edgeBase[key] {
                base = existing
            } else {
                base = UInt32(positions.count / 3)
                edgeBase[key] = base
                let a = mesh.position(Int(lo)), b = mesh.position(Int(hi))
                for step in 1..<n {
                    let p = a + (b - a) * (Float(step) / Float(n))
                    positions += [p.x, p.y, p.z]
                }
            }
            let fromLo = u == lo ? k : n - k
            return base + UInt32(fromLo - 1)
        }
        var indices: [UInt32] = []
        indices.reserveCapacity(triangleCount * n * n * 3)
        var lattice = [UInt32](repeating: 0, count: (n + 1) * (n + 1))
        for t in 0..<triangleCount {
            let a = mesh.indices[3 * t], b = mesh.indices[3 * t + 1], c = mesh.indices[3 * t + 2]
            let pa = mesh.position(Int(a)), pb = mesh.position(Int(b)), pc = mesh.position(Int(c))
            // Lattice point (i, j) = a + i/n (b - a) + j/n (c - a), i + j <= n.
            for i in 0...n {
                for j in 0...(n - i) {
                    let index: UInt32
                    switch (i, j) {
                    case (0, 0): index = a
                    case (n, 0): index = b
                    case (0, n): index = c
                    case (_, 0): index = edgePoint(a, b, i)
                    case (0, _): index = edgePoint(a, c, j)
                    case _ where i + j == n: index = edgePoint(b, c, j)
                    default:
                        index = UInt32(positions.count / 3)
                        let p = pa + (pb - pa) * (Float(i) / Float(n)) + (pc - pa) * (Float(j) / Float(n))
                        positions += [p.x, p.y, p.z]
                    }
                    lattice[i * (n + 1) + j] = index
                }
            }
            for i in 0..<n {
                for j in 0..<(n - i) {
                    let p00 = lattice[i * (n + 1) + j], p10 = lattice[(i + 1) * (n + 1) + j]
                    let p01 = lattice[i * (n + 1) + j + 1]
                    indices += [p00, p10, p01]
                    if i + j < n - 1 { indices += [p10, lattice[(i + 1) * (n + 1) + j + 1], p01] }
                }
            }
        }
        return Mesh(positions: positions, indices: indices)
    }

    /// `mesh` with every vertex moved along its normal by up to
    /// `amplitude` of its bounding-box diagonal: a sum of three sine
    /// products of rising frequency (bumps of about 1/6, 1/17 and 1/43 of
    /// the diagonal).
    static func displaced(_ mesh: Mesh, amplitude: Float = 0.004) -> Mesh {
        guard let bounds = mesh.bounds else { return mesh }
        let normals = mesh.vertexNormals()
        let diagonal = bounds.diagonal
        var moved = mesh
        for v in 0..<mesh.vertexCount {
            let p = (mesh.position(v) - bounds.min) / diagonal * (2 * .pi)
            var field: Float = 0
            for (frequency, weight) in [(Float(6), Float(0.6)), (17, 0.3), (43, 0.1)] {
                let q = p * frequency
                field += weight * sin(q.x) * sin(q.y + 0.5) * sin(q.z + 1)
            }
            for axis in 0..<3 { moved.positions[3 * v + axis] += normals[3 * v + axis] * field * amplitude * diagonal }
        }
        return moved
    }
}
