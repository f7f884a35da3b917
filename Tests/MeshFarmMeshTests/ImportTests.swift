import Foundation
import MeshFarmMesh
import MeshFarmTestSupport
import Testing

@Suite struct ImportTests {
    static let models = TestEnvironment.sharedModels

    @Test func sharedModelsArePresent() {
        #expect(Self.models.count >= 5, "expected the shared models in \(TestEnvironment.modelsDirectory.path)")
    }

    @Test(arguments: models)
    func importCountsMatchTheFile(model: URL) throws {
        let reference = try ReferenceOBJ(contentsOf: model)
        let imported = try MeshImporter().load(path: model.path)
        #expect(imported.format == .obj)
        #expect(imported.mesh.triangleCount == reference.triangles.count)
        // Welding merges exactly identical positions, so the vertex count is
        // the number of distinct `v` positions (teapot and suzanne repeat some).
        #expect(imported.mesh.vertexCount == reference.distinctPositionCount)
        #expect(reference.vertexLines >= reference.distinctPositionCount)
        try imported.mesh.validate()
    }
}
