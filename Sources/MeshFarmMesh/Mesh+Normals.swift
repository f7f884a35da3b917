extension Mesh {
    /// Area-weighted vertex normals, three floats per vertex, unit length
    /// (zero for vertices used only by degenerate triangles).
    ///
    /// Summing unnormalized face normals weights each face by its area, so
    /// slivers from scans do not tilt the shading. Seams are not split: the
    /// renderer offers flat shading for hard-edged CAD parts.
    public func vertexNormals() -> [Float] {
        var sums = [Float](repeating: 0, count: positions.count)
        positions.withUnsafeBufferPointer { p in
            indices.withUnsafeBufferPointer { idx in
                sums.withUnsafeMutableBufferPointer { n in
                    for t in 0..<(idx.count / 3) {
                        let a = Int(idx[3 * t]) * 3, b = Int(idx[3 * t + 1]) * 3, c = Int(idx[3 * t + 2]) * 3
                        let ux = p[b] - p[a], uy = p[b + 1] - p[a + 1], uz = p[b + 2] - p[a + 2]
                        let vx = p[c] - p[a], vy = p[c + 1] - p[a + 1], vz = p[c + 2] - p[a + 2]
                        let nx = uy * vz - uz * vy, ny = uz * vx - ux * vz, nz = ux * vy - uy * vx
                        n[a] += nx
                        n[a + 1] += ny
                        n[a + 2] += nz
                        n[b] += nx
                        n[b + 1] += ny
                        n[b + 2] += nz
                        n[c] += nx
                        n[c + 1] += ny
                        n[c + 2] += nz
                    }
                    for v in stride(from: 0, to: n.count, by: 3) {
                        let length = (n[v] * n[v] + n[v + 1] * n[v + 1] + n[v + 2] * n[v + 2]).squareRoot()
                        if length > 0 {
                            n[v] /= length
                            n[v + 1] /= length
                            n[v + 2] /= length
                        }
                    }
                }
            }
        }
        return sums
    }
}
