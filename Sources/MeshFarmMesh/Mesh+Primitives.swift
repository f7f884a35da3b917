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
    /// smooth bump function on top, a flat bottom and four side walls. About
    /// `4 * cells^2` triangles, so `cells: 708` gives ~2 million. Used for
    /// large-mesh benchmarks and render tests.
    public static func slab(cells: Int, size: Float = 2, height: Float = 0.3) -> Mesh {
        precondition(cells >= 1)
        let n = cells + 1
        var positions = [Float]()
        positions.reserveCapacity(n * n * 6)
        for layer in 0..<2 {
            for i in 0..<n {
                for j in 0..<n {
                    let x = (Float(j) / Float(cells) - 0.5) * size
                    let z = (Float(i) / Float(cells) - 0.5) * size
                    let y: Float =
                        layer == 0
                        ? height * (1 + 0.5 * sin(3 * x) * cos(4 * z)) : 0
                    positions += [x, y, z]
                }
            }
        }
        let top = { (i: Int, j: Int) in UInt32(i * n + j) }
        let bottom = { (i: Int, j: Int) in UInt32(n * n + i * n + j) }
        var indices = [UInt32]()
        indices.reserveCapacity(cells * cells * 12 + cells * 24)
        for i in 0..<cells {
            for j in 0..<cells {
                // Top faces up (+y), bottom faces down.
                indices += [top(i, j), top(i + 1, j), top(i + 1, j + 1), top(i, j), top(i + 1, j + 1), top(i, j + 1)]
                indices += [
                    bottom(i, j), bottom(i + 1, j + 1), bottom(i + 1, j), bottom(i, j), bottom(i, j + 1),
                    bottom(i + 1, j + 1),
                ]
            }
        }
        for k in 0..<cells {
            // Walls, each wound to face outward.
            indices += [top(0, k), top(0, k + 1), bottom(0, k + 1), top(0, k), bottom(0, k + 1), bottom(0, k)]
            indices += [
                top(cells, k), bottom(cells, k + 1), top(cells, k + 1), top(cells, k), bottom(cells, k),
                bottom(cells, k + 1),
            ]
            indices += [top(k, 0), bottom(k + 1, 0), top(k + 1, 0), top(k, 0), bottom(k, 0), bottom(k + 1, 0)]
            indices += [
                top(k, cells), top(k + 1, cells), bottom(k + 1, cells), top(k, cells), bottom(k + 1, cells),
                bottom(k, cells),
            ]
        }
        return Mesh(positions: positions, indices: indices)
    }
}
