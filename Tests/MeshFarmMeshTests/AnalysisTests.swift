import Foundation
import MeshFarmMesh
import MeshFarmTestSupport
import Testing

@Suite struct AnalysisTests {
    @Test(arguments: TestEnvironment.sharedModels)
    func sharedModelMatchesIndependentComputation(model: URL) throws {
        let reference = try ReferenceOBJ(contentsOf: model)
        let imported = try MeshImporter().load(path: model.path)
        let analysis = MeshAnalysis(mesh: imported.mesh, format: imported.format)
        let topology = ReferenceTopology(mesh: imported.mesh)

        #expect(analysis.format == "obj")
        #expect(analysis.triangles == reference.triangles.count)
        #expect(analysis.vertices == reference.distinctPositionCount)
        #expect(abs(analysis.surfaceArea - topology.area) <= 1e-7 * topology.area)
        if reference.allFacesAreTriangles {
            // Area straight from the file's `v`/`f` lines, no importer involved.
            // (Quads have two triangulations with different areas when not planar.)
            #expect(abs(analysis.surfaceArea - reference.surfaceArea) <= 1e-7 * reference.surfaceArea)
        }
        if analysis.watertight {
            #expect(abs(analysis.volume - abs(topology.signedVolume)) <= 1e-7 * abs(topology.signedVolume))
        }
        let used = Set(reference.triangles.flatMap { [$0.0, $0.1, $0.2] }).map { reference.positions[$0] }
        let lo = used.reduce(SIMD3<Float>(repeating: .infinity)) { pointwiseMin($0, $1) }
        let hi = used.reduce(SIMD3<Float>(repeating: -.infinity)) { pointwiseMax($0, $1) }
        #expect(analysis.bounds.min == [Double(lo.x), Double(lo.y), Double(lo.z)])
        #expect(analysis.bounds.max == [Double(hi.x), Double(hi.y), Double(hi.z)])
        #expect(analysis.boundaryEdges == topology.boundary)
        #expect(analysis.nonManifoldEdges == topology.nonManifold)
        #expect(analysis.windingConsistent == topology.consistent)
        #expect(analysis.components == topology.components)
        #expect(analysis.watertight == (topology.boundary == 0 && topology.nonManifold == 0))
        #expect(analysis.degenerateTriangles == 0)
    }

    @Test func sharedModelsWatertightnessMatchesTheirDocumentation() throws {
        // ../shared/models/README.md: spot, cow and fandisk are closed; teapot and suzanne are not.
        let expected = [
            "spot.obj": true, "cow.obj": true, "fandisk.obj": true, "teapot.obj": false, "suzanne.obj": false,
        ]
        for (name, watertight) in expected {
            let path = TestEnvironment.modelsDirectory.appendingPathComponent(name).path
            #expect(MeshAnalysis(mesh: try MeshImporter().load(path: path).mesh).watertight == watertight, "\(name)")
        }
    }

    @Test func unitCube() {
        let a = MeshAnalysis(mesh: .box())
        #expect(a.vertices == 8 && a.triangles == 12)
        #expect(abs(a.surfaceArea - 6) < 1e-12)
        #expect(abs(a.volume - 1) < 1e-12)
        #expect(a.watertight && a.windingConsistent && a.components == 1)
        #expect(a.boundaryEdges == 0 && a.nonManifoldEdges == 0 && a.degenerateTriangles == 0)
        #expect(a.bounds == AnalysisBounds(min: [0, 0, 0], max: [1, 1, 1]))
    }

    @Test func torusApproachesAnalyticAreaAndVolume() {
        let (major, minor) = (2.0, 0.5)
        let mesh = Mesh.torus(major: Float(major), minor: Float(minor), segments: 256, sides: 128)
        let a = MeshAnalysis(mesh: mesh)
        // A polyhedral torus inscribed in the smooth one: both quantities
        // converge from below as O(1/n^2); at 256x128 they are within 0.1%.
        let area = 4 * Double.pi * Double.pi * major * minor
        let volume = 2 * Double.pi * Double.pi * major * minor * minor
        #expect(a.surfaceArea < area && a.surfaceArea > area * 0.999)
        #expect(a.volume < volume && a.volume > volume * 0.999)
        #expect(a.vertices == 256 * 128 && a.triangles == 2 * 256 * 128)
        #expect(a.watertight && a.windingConsistent && a.components == 1)
    }

    @Test func twoSeparateBoxesAreTwoComponents() {
        var mesh = Mesh.box()
        let second = Mesh.box(min: [3, 0, 0], max: [5, 2, 2])
        mesh.indices += second.indices.map { $0 + UInt32(mesh.vertexCount) }
        mesh.positions += second.positions
        let a = MeshAnalysis(mesh: mesh)
        #expect(a.components == 2)
        #expect(abs(a.volume - 9) < 1e-9)
        #expect(a.watertight)
    }

    @Test func openAndFlippedAndNonManifoldAndDegenerate() {
        var open = Mesh.box()
        open.indices.removeLast(3)
        let openAnalysis = MeshAnalysis(mesh: open)
        #expect(!openAnalysis.watertight && openAnalysis.boundaryEdges == 3)

        var flipped = Mesh.box()
        flipped.indices.swapAt(0, 1)
        let flippedAnalysis = MeshAnalysis(mesh: flipped)
        #expect(flippedAnalysis.watertight && !flippedAnalysis.windingConsistent)

        // Three triangles sharing edge 0-1.
        let fan = Mesh(
            positions: [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, -1, 0, 0, 0, 1], indices: [0, 1, 2, 1, 0, 3, 0, 1, 4])
        let fanAnalysis = MeshAnalysis(mesh: fan)
        #expect(fanAnalysis.nonManifoldEdges == 1 && fanAnalysis.boundaryEdges == 6 && fanAnalysis.components == 1)

        var degenerate = Mesh.box()
        // One triangle with a repeated vertex (zero area), one duplicate of a real face.
        degenerate.indices += [0, 0, 1, 0, 1, 3]
        let degenerateAnalysis = MeshAnalysis(mesh: degenerate)
        #expect(degenerateAnalysis.degenerateTriangles == 1)
        #expect(degenerateAnalysis.triangles == 14)
    }
}
