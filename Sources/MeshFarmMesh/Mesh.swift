/// An indexed triangle mesh: positions and triangles, nothing else.
///
/// Positions are stored flat (`x0 y0 z0 x1 y1 z1 ...`, 12 bytes a vertex) so
/// they can be handed to meshoptimizer, written to an artifact and uploaded to
/// the GPU without conversion. Every index is `< vertexCount` and
/// `indices.count` is a multiple of 3 (``Mesh/validate()`` checks both).
public struct Mesh: Sendable, Equatable {
    /// Vertex positions, three floats per vertex.
    public var positions: [Float]
    /// Triangle corner indices, three per triangle.
    public var indices: [UInt32]

    public init(positions: [Float], indices: [UInt32]) {
        self.positions = positions
        self.indices = indices
    }

    public var vertexCount: Int { positions.count / 3 }
    public var triangleCount: Int { indices.count / 3 }

    /// The position of vertex `i`.
    @inlinable
    public func position(_ i: Int) -> SIMD3<Float> {
        SIMD3(positions[3 * i], positions[3 * i + 1], positions[3 * i + 2])
    }

    /// The three corner positions of triangle `t`.
    @inlinable
    public func triangle(_ t: Int) -> (SIMD3<Float>, SIMD3<Float>, SIMD3<Float>) {
        (
            position(Int(indices[3 * t])), position(Int(indices[3 * t + 1])),
            position(Int(indices[3 * t + 2]))
        )
    }

    /// Axis-aligned bounds of the vertices referenced by triangles; `nil` for
    /// a mesh without triangles.
    public var bounds: Bounds? {
        guard !indices.isEmpty else { return nil }
        var lo = SIMD3<Float>(repeating: .infinity)
        var hi = SIMD3<Float>(repeating: -.infinity)
        for index in indices {
            let p = position(Int(index))
            lo = pointwiseMin(lo, p)
            hi = pointwiseMax(hi, p)
        }
        return Bounds(min: lo, max: hi)
    }

    /// Checks the structural invariants: index count a multiple of 3, every
    /// index in range, every coordinate finite.
    public func validate() throws(MeshError) {
        guard positions.count % 3 == 0 else {
            throw .invalidMesh("position count \(positions.count) is not a multiple of 3")
        }
        guard indices.count % 3 == 0 else { throw .invalidMesh("index count \(indices.count) is not a multiple of 3") }
        guard !indices.isEmpty else { throw .noTriangles }
        let count = UInt32(clamping: vertexCount)
        if let bad = indices.firstIndex(where: { $0 >= count }) {
            throw .indexOutOfRange(triangle: bad / 3, index: Int(indices[bad]), vertexCount: vertexCount)
        }
        if let bad = positions.firstIndex(where: { !$0.isFinite }) {
            throw .nonFiniteCoordinate(vertex: bad / 3)
        }
    }
}

/// An axis-aligned bounding box.
public struct Bounds: Sendable, Equatable, Codable {
    public var min: SIMD3<Float>
    public var max: SIMD3<Float>

    public init(min: SIMD3<Float>, max: SIMD3<Float>) {
        self.min = min
        self.max = max
    }

    public var center: SIMD3<Float> { (min + max) * 0.5 }
    public var size: SIMD3<Float> { max - min }
    /// Length of the box diagonal.
    public var diagonal: Float { (max - min).length }
    /// Largest side, the scale meshoptimizer's relative error refers to.
    public var largestSide: Float { (max - min).max() }
}

extension SIMD3 where Scalar == Float {
    /// Euclidean length.
    @inlinable public var length: Float { (self * self).sum().squareRoot() }
}

/// Cross product.
@inlinable
public func cross(_ a: SIMD3<Float>, _ b: SIMD3<Float>) -> SIMD3<Float> {
    SIMD3(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x)
}

/// Dot product.
@inlinable
public func dot(_ a: SIMD3<Float>, _ b: SIMD3<Float>) -> Float { (a * b).sum() }
