import Foundation
import MeshFarmMesh
import Testing

@Suite struct ArtifactTests {
    @Test func roundTripIsExact() throws {
        let mesh = Mesh.torus(segments: 40, sides: 17)
        let data = MeshArtifact.encode(mesh)
        #expect(data.count == 32 + mesh.positions.count * 4 + mesh.indices.count * 4 + 8)
        #expect(try MeshArtifact.decode(data) == mesh)
    }

    @Test func corruptionTruncationAndGarbageAreErrors() throws {
        let data = MeshArtifact.encode(.box())
        var flipped = data
        flipped[40] ^= 0x01
        #expect(throws: MeshError.self) { try MeshArtifact.decode(flipped) }
        #expect(throws: MeshError.self) { try MeshArtifact.decode(data.prefix(data.count - 1)) }
        #expect(throws: MeshError.self) {
            try MeshArtifact.decode(Data("MFMESH\r\n garbage garbage garbage garbage".utf8))
        }
        #expect(throws: MeshError.self) { try MeshArtifact.decode(Data(count: 3)) }
        var wrongVersion = data
        wrongVersion[8] = 9
        #expect(throws: MeshError.badArtifact("unsupported version 9")) { try MeshArtifact.decode(wrongVersion) }
    }
}
