import Foundation
import MeshFarmMesh
import Testing

/// A split reduction's mesh steps: partition, reduce a part with its cuts
/// locked, stitch. Closed and open meshes, checked by their topology.
@Suite struct SplitTests {
    /// Closed and watertight: 36,864 triangles.
    static let torus = Mesh.torus(segments: 192, sides: 96)

    /// The torus with its top band removed: two open borders (a scan's holes).
    static let openTorus: Mesh = {
        var indices: [UInt32] = []
        for t in 0..<torus.triangleCount {
            let (a, b, c) = torus.triangle(t)
            if (a.y + b.y + c.y) / 3 < 0.18 { indices += torus.indices[(3 * t)..<(3 * t + 3)] }
        }
        return Mesh(positions: torus.positions, indices: indices)
    }()

    /// Each triangle as its corners' bits, rotated to start at the smallest
    /// corner (winding kept), counted: equal for the same triangles at the
    /// same positions, whatever the vertex numbering.
    static func triangles(_ mesh: Mesh) -> [[UInt32]: Int] {
        var counts: [[UInt32]: Int] = [:]
        for t in 0..<mesh.triangleCount {
            let (a, b, c) = mesh.triangle(t)
            var corners = [a, b, c].map { [$0.x.bitPattern, $0.y.bitPattern, $0.z.bitPattern] }
            let first = corners.indices.min { corners[$0].lexicographicallyPrecedes(corners[$1]) }!
            corners = Array(corners[first...] + corners[..<first])
            counts[corners.flatMap { $0 }, default: 0] += 1
        }
        return counts
    }

    static func triangles(_ parts: [MeshPart]) -> [[UInt32]: Int] {
        parts.map { triangles($0.mesh) }.reduce(into: [:]) { $0.merge($1, uniquingKeysWith: +) }
    }

    @Test(arguments: [2, 3, 7, 16])
    func partitionCoversEveryTriangleExactlyOnce(parts: Int) {
        let mesh = Self.torus
        let assignment = MeshPartition.assign(mesh, parts: parts)
        var counts = [Int](repeating: 0, count: parts)
        for part in assignment { counts[Int(part)] += 1 }
        #expect(counts.reduce(0, +) == mesh.triangleCount)
        #expect(counts.max()! - counts.min()! <= 1)

        let split = MeshPartition.split(mesh, parts: parts)
        #expect(split.count == parts)
        #expect(Self.triangles(split) == Self.triangles(mesh))
        for part in split {
            // Compact: every vertex is used; cut vertices first.
            #expect(Set(part.mesh.indices).count == part.mesh.vertexCount)
            #expect(part.cutVertexCount > 0 && part.cutVertexCount < part.mesh.vertexCount / 4)
        }
        // Spatial parts: few vertices lie on a cut.
        #expect(split.reduce(0) { $0 + $1.cutVertexCount } < mesh.vertexCount / 5)
    }

    @Test func stitchingUnreducedPartsGivesTheInputBack() {
        let mesh = Self.torus
        let merged = MeshStitcher.merge(MeshPartition.split(mesh, parts: 5))
        #expect(merged.vertexCount == mesh.vertexCount)
        #expect(Self.triangles(merged) == Self.triangles(mesh))
        #expect(MeshAnalysis(mesh: merged).watertight)
    }

    @Test func reducingAPartKeepsItsCutVerticesFirstAndInPlace() throws {
        for part in MeshPartition.split(Self.openTorus, parts: 4) {
            let (reduced, reduction) = try part.reduced(ratio: 0.1)
            #expect(reduction.method == .simplify)
            #expect(reduced.mesh.triangleCount < part.mesh.triangleCount / 2)
            #expect(reduced.cutVertexCount == part.cutVertexCount)
            func cut(_ part: MeshPart) -> Set<SIMD3<Float>> { Set((0..<part.cutVertexCount).map(part.mesh.position)) }
            #expect(cut(reduced) == cut(part))
        }
    }

    /// A closed mesh stays closed: no cracks where the parts meet, and the
    /// seam pass reaches the target as an unsplit reduction does.
    @Test func aWatertightMeshStaysWatertight() throws {
        let mesh = Self.torus
        let target = mesh.triangleCount / 10
        let parts = try MeshPartition.split(mesh, parts: 6).map { try $0.reduced(ratio: 0.1) }
        let merged = MeshAnalysis(mesh: MeshStitcher.merge(parts.map(\.part)))
        #expect(merged.watertight, "\(merged.boundaryEdges) boundary, \(merged.nonManifoldEdges) non-manifold edges")
        for (count, ratio) in [(6, 0.3), (6, 0.05), (6, 0.01), (16, 0.05), (3, 0.02)] {
            let parts = try MeshPartition.split(mesh, parts: count).map { try $0.reduced(ratio: ratio) }
            let merged = MeshAnalysis(mesh: MeshStitcher.merge(parts.map(\.part)))
            #expect(
                merged.watertight,
                "\(count) parts, \(ratio): \(merged.boundaryEdges) boundary, \(merged.nonManifoldEdges) non-manifold")
            let stitched = try MeshStitcher.stitch(
                parts.map(\.part), targetTriangles: Int(Double(mesh.triangleCount) * ratio), partsErrorAbsolute: 0)
            #expect(MeshAnalysis(mesh: stitched.mesh).watertight, "\(count) parts, \(ratio)")
        }
        let stitched = try MeshStitcher.stitch(
            parts.map(\.part), targetTriangles: target,
            partsErrorAbsolute: parts.map(\.reduction.errorAbsolute).max()!)
        let analysis = MeshAnalysis(mesh: stitched.mesh)
        #expect(
            analysis.watertight, "\(analysis.boundaryEdges) boundary, \(analysis.nonManifoldEdges) non-manifold edges")
        #expect(analysis.components == 1)
        let unsplit = try Simplifier().simplify(mesh, to: .ratio(0.1))
        #expect(stitched.mesh.triangleCount <= target)
        #expect(stitched.mesh.triangleCount >= unsplit.mesh.triangleCount - target / 20)
        #expect(stitched.method == .simplify, "\(stitched.method)")
        #expect(stitched.errorAbsolute > 0)
    }

    /// An open mesh gets no more boundary edges than it had, and its own
    /// borders, frozen while the parts were reduced, simplify again in the
    /// seam pass.
    @Test func anOpenMeshGetsNoCracksAndItsBordersSimplifyAgain() throws {
        let mesh = Self.openTorus
        let before = MeshAnalysis(mesh: mesh).boundaryEdges
        #expect(before > 0)
        let target = mesh.triangleCount / 10
        let parts = try MeshPartition.split(mesh, parts: 4).map { try $0.reduced(ratio: 0.1) }
        let merged = MeshStitcher.merge(parts.map(\.part))
        // Before the seam pass, the parts' borders (cuts and holes) are all there.
        #expect(MeshAnalysis(mesh: merged).boundaryEdges == before)
        let stitched = try MeshStitcher.stitch(parts.map(\.part), targetTriangles: target, partsErrorAbsolute: 0)
        let after = MeshAnalysis(mesh: stitched.mesh).boundaryEdges
        #expect(after <= before)
        #expect(after < before * 3 / 4)  // the holes' borders were simplified too
        #expect(stitched.mesh.triangleCount <= target + target / 20)
    }

    @Test func partArtifactsRoundTripAndBadOnesAreRefused() throws {
        let part = MeshPartition.split(Self.torus, parts: 3)[1]
        let data = PartArtifact.encode(part)
        #expect(try PartArtifact.decode(data) == part)
        #expect(throws: MeshError.self) { try PartArtifact.decode(MeshArtifact.encode(part.mesh)) }
        #expect(throws: MeshError.self) { try PartArtifact.decode(data.prefix(data.count - 1)) }
        var lying = data
        lying.replaceSubrange(
            8..<16, with: withUnsafeBytes(of: UInt64(part.mesh.vertexCount + 1).littleEndian) { Data($0) })
        #expect(throws: MeshError.self) { try PartArtifact.decode(lying) }
    }
}
