import CMeshOptimizer

/// Polygon reduction with meshoptimizer 0.18.
///
/// `meshopt_simplify` collapses edges in order of quadric error and keeps the
/// topology; on meshes cut into many pieces by seams it can stall well above
/// the target, because collapses across a border are forbidden. When it ends
/// more than 1.5x over the target, `meshopt_simplifySloppy` (vertex
/// clustering, topology not preserved) takes over, as the meshoptimizer
/// documentation recommends for aggressive LODs.
public struct Simplifier: Sendable {
    /// What to reduce to.
    public enum Target: Sendable, Equatable, Codable {
        /// Keep this fraction of the triangles, in (0, 1].
        case ratio(Double)
        /// Stop when the next collapse would exceed this error, relative to
        /// the mesh's largest bounding-box side (meshoptimizer's convention).
        case error(Double)
        /// Keep this many triangles (the stitch's seam pass aims at the
        /// whole model's count this way); at or above the mesh's count,
        /// the mesh is kept as it is.
        case triangles(Int)
    }

    /// Which algorithm produced the result.
    public enum Method: String, Sendable, Codable {
        case simplify
        case sloppy
        /// Ratio 1: the input, untouched.
        case none
    }

    /// A reduced mesh and how it was reached.
    public struct Result: Sendable {
        public var mesh: Mesh
        /// Triangles asked for (for an error target: the input's count).
        public var targetTriangles: Int
        /// meshoptimizer's error, relative to the largest bounding-box side.
        public var error: Double
        /// The same error in model units (`error * meshopt_simplifyScale`).
        public var errorAbsolute: Double
        public var method: Method
    }

    /// Keep triangles on open borders in place (for partitions that will be
    /// stitched back together).
    public var lockBorder: Bool
    /// Fall back to sloppy simplification when `simplify` ends above this
    /// multiple of the target.
    public var sloppyThreshold: Double

    public init(lockBorder: Bool = false, sloppyThreshold: Double = 1.5) {
        self.lockBorder = lockBorder
        self.sloppyThreshold = sloppyThreshold
    }

    /// What the reduction kept, as triangles over the input's vertices
    /// (before unused vertices are dropped), and how it was reached.
    public struct Reduction: Sendable {
        public var indices: [UInt32]
        public var targetTriangles: Int
        public var error: Double
        public var errorAbsolute: Double
        public var method: Method
    }

    /// Reduces `mesh` to `target`. The result has no unused vertices.
    /// Blocking and CPU-heavy: run it on a dedicated thread.
    public func simplify(_ mesh: Mesh, to target: Target) throws(MeshError) -> Result {
        let reduction = try reduce(mesh, to: target)
        if reduction.method == .none {
            return Result(mesh: mesh, targetTriangles: mesh.triangleCount, error: 0, errorAbsolute: 0, method: .none)
        }
        return Result(
            mesh: Self.compact(positions: mesh.positions, indices: reduction.indices),
            targetTriangles: reduction.targetTriangles, error: reduction.error,
            errorAbsolute: reduction.errorAbsolute, method: reduction.method)
    }

    /// Reduces `mesh` to `target`, leaving the vertex buffer as it is.
    public func reduce(_ mesh: Mesh, to target: Target) throws(MeshError) -> Reduction {
        try mesh.validate()
        let (targetIndexCount, targetError): (Int, Float)
        switch target {
        case .ratio(let ratio):
            guard ratio > 0, ratio <= 1, ratio.isFinite else {
                throw .invalidRequest("reduction ratio must be in (0, 1], got \(ratio)")
            }
            if ratio == 1 { return .unchanged(mesh) }
            let triangles = max(1, Int((Double(mesh.triangleCount) * ratio).rounded()))
            // Without an error bound, only the count stops the collapse.
            (targetIndexCount, targetError) = (triangles * 3, Float.greatestFiniteMagnitude)
        case .error(let error):
            guard error >= 0, error.isFinite else {
                throw .invalidRequest("target error must be a non-negative number, got \(error)")
            }
            (targetIndexCount, targetError) = (0, Float(error))
        case .triangles(let triangles):
            guard triangles > 0 else {
                throw .invalidRequest("target triangle count must be positive, got \(triangles)")
            }
            if triangles >= mesh.triangleCount { return .unchanged(mesh) }
            (targetIndexCount, targetError) = (triangles * 3, Float.greatestFiniteMagnitude)
        }
        let targetTriangles = target.countsTriangles ? targetIndexCount / 3 : mesh.triangleCount
        let options: UInt32 = lockBorder ? UInt32(meshopt_SimplifyLockBorder) : 0

        var destination = [UInt32](repeating: 0, count: mesh.indices.count)
        var resultError: Float = 0
        var count = Self.run(mesh) { indices, positions in
            meshopt_simplify(
                &destination, indices, mesh.indices.count, positions, mesh.vertexCount, 12, targetIndexCount,
                targetError, options, &resultError)
        }
        var method = Method.simplify
        if target.countsTriangles, Double(count) > Double(targetIndexCount) * sloppyThreshold, !lockBorder {
            var sloppyError: Float = 0
            let sloppyCount = Self.run(mesh) { indices, positions in
                meshopt_simplifySloppy(
                    &destination, indices, mesh.indices.count, positions, mesh.vertexCount, 12, targetIndexCount,
                    Float.greatestFiniteMagnitude, &sloppyError)
            }
            if sloppyCount > 0 {
                count = sloppyCount
                resultError = sloppyError
                method = .sloppy
            } else {
                // Sloppy collapsed everything (tiny targets): keep simplify's result.
                count = Self.run(mesh) { indices, positions in
                    meshopt_simplify(
                        &destination, indices, mesh.indices.count, positions, mesh.vertexCount, 12, targetIndexCount,
                        targetError, options, &resultError)
                }
            }
        }
        destination.removeSubrange(count...)
        let scale = mesh.positions.withUnsafeBufferPointer {
            meshopt_simplifyScale($0.baseAddress, mesh.vertexCount, 12)
        }
        return Reduction(
            indices: destination, targetTriangles: targetTriangles, error: Double(resultError),
            errorAbsolute: Double(resultError) * Double(scale), method: method)
    }

    private static func run(
        _ mesh: Mesh, _ body: (UnsafePointer<UInt32>, UnsafePointer<Float>) -> Int
    ) -> Int {
        mesh.indices.withUnsafeBufferPointer { indices in
            mesh.positions.withUnsafeBufferPointer { positions in body(indices.baseAddress!, positions.baseAddress!) }
        }
    }

    /// Drops vertices no triangle uses and renumbers the rest in first-use
    /// order (which also helps vertex fetch locality).
    static func compact(positions: [Float], indices: [UInt32]) -> Mesh {
        let vertexCount = positions.count / 3
        var remap = [UInt32](repeating: 0, count: vertexCount)
        var compacted = indices
        let unique = indices.withUnsafeBufferPointer { source in
            meshopt_optimizeVertexFetchRemap(&remap, source.baseAddress, source.count, vertexCount)
        }
        var newPositions = [Float](repeating: 0, count: unique * 3)
        positions.withUnsafeBytes { source in
            newPositions.withUnsafeMutableBytes { destination in
                meshopt_remapVertexBuffer(destination.baseAddress, source.baseAddress, vertexCount, 12, remap)
            }
        }
        indices.withUnsafeBufferPointer { source in
            meshopt_remapIndexBuffer(&compacted, source.baseAddress, source.count, remap)
        }
        return Mesh(positions: newPositions, indices: compacted)
    }
}

extension Simplifier.Target {
    /// A target in triangles (a ratio or a count): only the count stops the collapse.
    var countsTriangles: Bool {
        switch self {
        case .ratio, .triangles: true
        case .error: false
        }
    }
}

extension Simplifier.Reduction {
    static func unchanged(_ mesh: Mesh) -> Self {
        Self(indices: mesh.indices, targetTriangles: mesh.triangleCount, error: 0, errorAbsolute: 0, method: .none)
    }
}
