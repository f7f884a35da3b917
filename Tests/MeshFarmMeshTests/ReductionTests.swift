import Foundation
import MeshFarmMesh
import MeshFarmTestSupport
import Testing

@Suite struct ReductionTests {
    @Test(arguments: TestEnvironment.sharedModels)
    func reduceSharedModel(model: URL) throws {
        let mesh = try MeshImporter().load(path: model.path).mesh
        var errors: [Double] = []
        for ratio in [0.5, 0.1, 0.01] {
            let result = try Simplifier().simplify(mesh, to: .ratio(ratio))
            let target = max(1, Int((Double(mesh.triangleCount) * ratio).rounded()))
            #expect(result.targetTriangles == target)
            // simplify stops at or below the target when it can; otherwise the
            // sloppy fallback takes over beyond 1.5x. Sloppy's clustering
            // lands near, not exactly on, the target: allow 1.5x either way.
            #expect(result.mesh.triangleCount > 0)
            #expect(Double(result.mesh.triangleCount) <= Double(target) * 1.5, "\(model.lastPathComponent) at \(ratio)")
            if result.method == .simplify { #expect(result.mesh.triangleCount <= target) }
            try result.mesh.validate()
            #expect(Set(result.mesh.indices).count == result.mesh.vertexCount, "unused vertices remain")
            #expect(result.error >= 0 && result.errorAbsolute >= 0)
            let scale = Double(mesh.bounds!.largestSide)
            #expect(abs(result.errorAbsolute - result.error * scale) <= 1e-6 * max(1, result.errorAbsolute))
            errors.append(result.error)
        }
        #expect(errors[0] <= errors[1] && errors[1] <= errors[2], "error not monotonic: \(errors)")
        #expect(errors[2] > 0)
    }

    @Test func errorTargetBoundsTheError() throws {
        let mesh = Mesh.torus(segments: 128, sides: 64)
        let loose = try Simplifier().simplify(mesh, to: .error(0.01))
        let tight = try Simplifier().simplify(mesh, to: .error(0.001))
        #expect(loose.error <= 0.01 && tight.error <= 0.001)
        #expect(loose.mesh.triangleCount < tight.mesh.triangleCount)
        #expect(tight.mesh.triangleCount < mesh.triangleCount)
    }

    @Test func lockBorderKeepsOpenBordersInPlace() throws {
        // An open grid (the top of a slab): reducing with locked borders keeps
        // every border vertex.
        let slab = Mesh.slab(cells: 40)
        var top = Mesh(positions: slab.positions, indices: Array(slab.indices.prefix(40 * 40 * 6)))
        top = Welding.weld(top)
        let before = MeshAnalysis(mesh: top).boundaryEdges
        let locked = try Simplifier(lockBorder: true).simplify(top, to: .ratio(0.1))
        #expect(MeshAnalysis(mesh: locked.mesh).boundaryEdges == before)
        let free = try Simplifier().simplify(top, to: .ratio(0.1))
        #expect(MeshAnalysis(mesh: free.mesh).boundaryEdges < before)
    }

    @Test func ratioOneIsTheInput() throws {
        let mesh = Mesh.box()
        let result = try Simplifier().simplify(mesh, to: .ratio(1))
        #expect(result.mesh == mesh && result.method == .none && result.error == 0)
    }

    @Test(arguments: [0.0, -0.5, 1.5, Double.nan])
    func invalidRatiosAreErrors(ratio: Double) {
        #expect(throws: MeshError.self) { try Simplifier().simplify(.box(), to: .ratio(ratio)) }
    }
}
