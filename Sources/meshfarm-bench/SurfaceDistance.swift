import Foundation
import MeshFarmMesh

/// How far one surface is from another: the symmetric Hausdorff distance,
/// estimated from sample points on each surface (vertices of the
/// original; two points inside each sampled triangle of the reduced
/// mesh, whose vertices are the original's), each measured to the nearest
/// point of the other surface. The RMS pools both directions.
struct SurfaceDeviation {
    /// Root mean square and largest distance over all samples, as a
    /// fraction of the original's bounding-box diagonal.
    var rms: Double
    var max: Double

    /// Deviation of `reduced` from `original`, both ways: about `samples`
    /// vertices of the original and `samples` triangles of the reduced mesh.
    static func between(_ original: Mesh, _ reduced: Mesh, samples: Int) -> SurfaceDeviation {
        let diagonal = Double(original.bounds?.diagonal ?? 1)
        let toReduced = TriangleGrid(reduced)
        let toOriginal = TriangleGrid(original)
        var squares = 0.0
        var largest = 0.0
        var count = 0
        func add(_ distance: Float) {
            squares += Double(distance) * Double(distance)
            largest = Swift.max(largest, Double(distance))
            count += 1
        }
        // The original's vertices, to the reduced surface.
        let vertexStep = Swift.max(1, (original.vertexCount + samples - 1) / samples)
        for v in stride(from: 0, to: original.vertexCount, by: vertexStep) {
            add(toReduced.distance(from: original.position(v)))
        }
        // Points on the reduced triangles (its vertices are the original's), to the original surface.
        let triangleStep = Swift.max(1, (reduced.triangleCount + samples - 1) / samples)
        for t in stride(from: 0, to: reduced.triangleCount, by: triangleStep) {
            let (a, b, c) = reduced.triangle(t)
            add(toOriginal.distance(from: (a + b + c) / 3))
            add(toOriginal.distance(from: (a * 4 + b + c) / 6))
        }
        return SurfaceDeviation(rms: (squares / Double(count)).squareRoot() / diagonal, max: largest / diagonal)
    }
}

/// Triangles binned into a uniform grid of cubes (a hash of occupied
/// cells), for nearest-surface queries.
struct TriangleGrid {
    private let mesh: Mesh
    private let origin: SIMD3<Float>
    private let cell: Float
    /// Triangles sorted by cell, and each occupied cell's range.
    private let triangles: [UInt32]
    private let ranges: [Int64: Range<Int>]

    init(_ mesh: Mesh) {
        self.mesh = mesh
        let bounds = mesh.bounds ?? Bounds(min: .zero, max: .one)
        origin = bounds.min
        // Cells about 1.5 times as wide as an average triangle (a few triangles each).
        let area = (0..<mesh.triangleCount).reduce(Float(0)) { sum, t in
            let (a, b, c) = mesh.triangle(t)
            return sum + cross(b - a, c - a).length / 2
        }
        cell = Swift.max((2 * area / Float(Swift.max(1, mesh.triangleCount))).squareRoot() * 1.5, 1e-6)
        var pairs: [(key: Int64, triangle: UInt32)] = []
        pairs.reserveCapacity(mesh.triangleCount * 2)
        for t in 0..<mesh.triangleCount {
            let (a, b, c) = mesh.triangle(t)
            let lo = Self.cellOf(pointwiseMin(a, pointwiseMin(b, c)), origin, cell)
            let hi = Self.cellOf(pointwiseMax(a, pointwiseMax(b, c)), origin, cell)
            for x in lo.x...hi.x {
                for y in lo.y...hi.y {
                    for z in lo.z...hi.z { pairs.append((Self.key(x, y, z), UInt32(t))) }
                }
            }
        }
        pairs.sort { $0.key < $1.key }
        triangles = pairs.map(\.triangle)
        var ranges: [Int64: Range<Int>] = [:]
        var start = 0
        while start < pairs.count {
            var end = start + 1
            while end < pairs.count, pairs[end].key == pairs[start].key { end += 1 }
            ranges[pairs[start].key] = start..<end
            start = end
        }
        self.ranges = ranges
    }

    /// Distance from `p` to the nearest triangle: cells in growing shells
    /// around `p`'s cell, until no farther shell can hold anything closer.
    func distance(from p: SIMD3<Float>) -> Float {
        guard mesh.triangleCount > 0 else { return .infinity }
        let center = Self.cellOf(p, origin, cell)
        var best = Float.infinity
        for radius in 0...4096 {
            for x in (center.x - radius)...(center.x + radius) {
                for y in (center.y - radius)...(center.y + radius) {
                    let onShell = abs(x - center.x) == radius || abs(y - center.y) == radius
                    for z in stride(
                        from: center.z - radius, through: center.z + radius, by: onShell ? 1 : Swift.max(1, 2 * radius))
                    {
                        guard let range = ranges[Self.key(x, y, z)] else { continue }
                        for t in triangles[range] {
                            let (a, b, c) = mesh.triangle(Int(t))
                            best = Swift.min(best, Self.distance(p, a, b, c))
                        }
                    }
                }
            }
            // Everything in shells beyond this one is at least `radius` cells away.
            if best <= Float(radius) * cell { break }
        }
        return best
    }

    private static func cellOf(_ p: SIMD3<Float>, _ origin: SIMD3<Float>, _ cell: Float) -> SIMD3<Int> {
        let c = (p - origin) / cell
        return SIMD3(Int(c.x.rounded(.down)), Int(c.y.rounded(.down)), Int(c.z.rounded(.down)))
    }

    private static func key(_ x: Int, _ y: Int, _ z: Int) -> Int64 {
        (Int64(x) & 0x1F_FFFF) << 42 | (Int64(y) & 0x1F_FFFF) << 21 | (Int64(z) & 0x1F_FFFF)
    }

    /// Distance from `p` to triangle (a, b, c) (Ericson, Real-Time Collision
    /// Detection, 5.1.5: the closest point by Voronoi region).
    static func distance(_ p: SIMD3<Float>, _ a: SIMD3<Float>, _ b: SIMD3<Float>, _ c: SIMD3<Float>) -> Float {
        let ab = b - a, ac = c - a, ap = p - a
        let d1 = dot(ab, ap), d2 = dot(ac, ap)
        if d1 <= 0, d2 <= 0 { return (p - a).length }
        let bp = p - b
        let d3 = dot(ab, bp), d4 = dot(ac, bp)
        if d3 >= 0, d4 <= d3 { return bp.length }
        let vc = d1 * d4 - d3 * d2
        if vc <= 0, d1 >= 0, d3 <= 0 {
            let v = d1 / (d1 - d3)
            return (p - (a + ab * v)).length
        }
        let cp = p - c
        let d5 = dot(ab, cp), d6 = dot(ac, cp)
        if d6 >= 0, d5 <= d6 { return cp.length }
        let vb = d5 * d2 - d1 * d6
        if vb <= 0, d2 >= 0, d6 <= 0 {
            let w = d2 / (d2 - d6)
            return (p - (a + ac * w)).length
        }
        let va = d3 * d6 - d5 * d4
        if va <= 0, d4 - d3 >= 0, d5 - d6 >= 0 {
            let w = (d4 - d3) / ((d4 - d3) + (d5 - d6))
            return (p - (b + (c - b) * w)).length
        }
        let denominator = 1 / (va + vb + vc)
        let v = vb * denominator, w = vc * denominator
        return (p - (a + ab * v + ac * w)).length
    }
}
