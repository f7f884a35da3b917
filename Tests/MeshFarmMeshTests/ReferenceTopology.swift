import MeshFarmMesh

/// Straightforward re-computations of the analysis, written independently of
/// the library (dictionaries and BFS instead of sorting and union-find).
struct ReferenceTopology {
    var boundary = 0
    var nonManifold = 0
    var consistent = true
    var components = 0
    var area = 0.0
    var signedVolume = 0.0

    init(mesh: Mesh) {
        var edgeUses: [[UInt32]: [(triangle: Int, forward: Bool)]] = [:]
        for t in 0..<mesh.triangleCount {
            let corners = [mesh.indices[3 * t], mesh.indices[3 * t + 1], mesh.indices[3 * t + 2]]
            for k in 0..<3 {
                let a = corners[k], b = corners[(k + 1) % 3]
                if a == b { continue }
                edgeUses[[min(a, b), max(a, b)], default: []].append((t, a < b))
            }
            let (p, q, r) = mesh.triangle(t)
            let a = SIMD3<Double>(Double(p.x), Double(p.y), Double(p.z))
            let b = SIMD3<Double>(Double(q.x), Double(q.y), Double(q.z))
            let c = SIMD3<Double>(Double(r.x), Double(r.y), Double(r.z))
            let u = b - a, v = c - a
            let n = SIMD3(u.y * v.z - u.z * v.y, u.z * v.x - u.x * v.z, u.x * v.y - u.y * v.x)
            area += 0.5 * (n * n).sum().squareRoot()
            let bc = SIMD3(b.y * c.z - b.z * c.y, b.z * c.x - b.x * c.z, b.x * c.y - b.y * c.x)
            signedVolume += (a * bc).sum() / 6
        }
        var neighbors = [[Int]](repeating: [], count: mesh.triangleCount)
        for uses in edgeUses.values {
            if uses.count == 1 { boundary += 1 }
            if uses.count > 2 { nonManifold += 1 }
            if uses.count == 2, uses[0].forward == uses[1].forward { consistent = false }
            for x in uses { for y in uses where x.triangle != y.triangle { neighbors[x.triangle].append(y.triangle) } }
        }
        var seen = [Bool](repeating: false, count: mesh.triangleCount)
        for start in 0..<mesh.triangleCount where !seen[start] {
            components += 1
            var stack = [start]
            seen[start] = true
            while let t = stack.popLast() {
                for n in neighbors[t] where !seen[n] {
                    seen[n] = true
                    stack.append(n)
                }
            }
        }
    }
}
