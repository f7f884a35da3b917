import Foundation

/// Closed, consistently wound meshes built in code: known area and volume
/// for tests, any size for benchmarks and render stress tests.
extension Mesh {
    /// An axis-aligned box from `min` to `max`, 8 vertices and 12 triangles,
    /// wound counter-clockwise seen from outside.
    public static func box(min lo: SIMD3<Float> = .zero, max hi: SIMD3<Float> = .one) -> Mesh {
        var positions: [Float] = []
        for i in 0..<8 {
            positions += [i & 1 == 0 ? lo.x : hi.x, i & 2 == 0 ? lo.y : hi.y, i & 4 == 0 ? lo.z : hi.z]
        }
        let indices: [UInt32] = [
            0, 2, 3, 0, 3, 1,  // -z
            4, 5, 7, 4, 7, 6,  // +z
            0, 1, 5, 0, 5, 4,  // -y
            2, 6, 7, 2, 7, 3,  // +y
            0, 4, 6, 0, 6, 2,  // -x
            1, 3, 7, 1, 7, 5,  // +x
        ]
        return Mesh(positions: positions, indices: indices)
    }

    /// A torus around the +Y axis with ring radius `major` and tube radius
    /// `minor`, `segments` steps around the ring and `sides` around the tube:
    /// `segments * sides` vertices, twice as many triangles.
    public static func torus(major: Float = 1, minor: Float = 0.25, segments: Int = 64, sides: Int = 32) -> Mesh {
        precondition(segments >= 3 && sides >= 3)
        var positions: [Float] = []
        positions.reserveCapacity(segments * sides * 3)
        for i in 0..<segments {
            let u = Float(i) / Float(segments) * 2 * .pi
            for j in 0..<sides {
                let v = Float(j) / Float(sides) * 2 * .pi
                let r = major + minor * cos(v)
                positions += [r * cos(u), minor * sin(v), -r * sin(u)]
            }
        }
        var indices: [UInt32] = []
        indices.reserveCapacity(segments * sides * 6)
        for i in 0..<segments {
            for j in 0..<sides {
                let a = UInt32(i * sides + j)
                let b = UInt32(((i + 1) % segments) * sides + j)
                let c = UInt32(((i + 1) % segments) * sides + (j + 1) % sides)
                let d = UInt32(i * sides + (j + 1) % sides)
                indices += [a, b, c, a, c, d]
            }
        }
        return Mesh(positions: positions, indices: indices)
    }

    /// A closed "height-field slab": a `cells x cells` grid displaced by a
    /// smooth bump function on top, a flat bottom and four side walls:
    /// `4 * cells^2 + 8 * cells` triangles, so `cells: 708` gives ~2 million.
    /// Used for large-mesh benchmarks and render tests; written with
    /// preallocated buffers because it builds tens of millions of indices.
    public static func slab(cells: Int, size: Float = 2, height: Float = 0.3) -> Mesh {
        precondition(cells >= 1)
        let n = cells + 1
        let vertexCount = 2 * n * n
        let positions = [Float](unsafeUninitializedCapacity: vertexCount * 3) { buffer, count in
            var k = 0
            for layer in 0..<2 {
                for i in 0..<n {
                    for j in 0..<n {
                        let x = (Float(j) / Float(cells) - 0.5) * size
                        let z = (Float(i) / Float(cells) - 0.5) * size
                        buffer[k] = x
                        buffer[k + 1] = layer == 0 ? height * (1 + 0.5 * sin(3 * x) * cos(4 * z)) : 0
                        buffer[k + 2] = z
                        k += 3
                    }
                }
            }
            count = k
        }
        let triangleCount = 4 * cells * cells + 8 * cells
        let indices = [UInt32](unsafeUninitializedCapacity: triangleCount * 3) { buffer, count in
            var k = 0
            func tri(_ a: Int, _ b: Int, _ c: Int) {
                buffer[k] = UInt32(a)
                buffer[k + 1] = UInt32(b)
                buffer[k + 2] = UInt32(c)
                k += 3
            }
            let top = { (i: Int, j: Int) in i * n + j }
            let bottom = { (i: Int, j: Int) in n * n + i * n + j }
            for i in 0..<cells {
                for j in 0..<cells {
                    // Top faces up (+y), bottom faces down.
                    tri(top(i, j), top(i + 1, j), top(i + 1, j + 1))
                    tri(top(i, j), top(i + 1, j + 1), top(i, j + 1))
                    tri(bottom(i, j), bottom(i + 1, j + 1), bottom(i + 1, j))
                    tri(bottom(i, j), bottom(i, j + 1), bottom(i + 1, j + 1))
                }
            }
            for s in 0..<cells {
                // Walls, each wound to face outward.
                tri(top(0, s), top(0, s + 1), bottom(0, s + 1))
                tri(top(0, s), bottom(0, s + 1), bottom(0, s))
                tri(top(cells, s), bottom(cells, s + 1), top(cells, s + 1))
                tri(top(cells, s), bottom(cells, s), bottom(cells, s + 1))
                tri(top(s, 0), bottom(s + 1, 0), top(s + 1, 0))
                tri(top(s, 0), bottom(s, 0), bottom(s + 1, 0))
                tri(top(s, cells), top(s + 1, cells), bottom(s + 1, cells))
                tri(top(s, cells), bottom(s + 1, cells), bottom(s, cells))
            }
            count = k
        }
        return Mesh(positions: positions, indices: indices)
    }
}
