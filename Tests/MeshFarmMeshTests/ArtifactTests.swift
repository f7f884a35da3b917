import Foundation
import MeshFarmMesh
import MeshFarmTestSupport
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

    @Test(arguments: [(3, 3), (7, 5), (40, 17)])
    func filesWrittenAndReadPieceByPieceMatchTheInMemoryForm(segments: Int, sides: Int) throws {
        // Odd vertex counts put the checksum's 8-byte words across the header, positions and indices.
        let mesh = Mesh.torus(segments: segments, sides: sides)
        let path = TestEnvironment.outputDirectory("artifact").appendingPathComponent("m.mfmesh").path
        try MeshArtifact.write(mesh, to: path)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == MeshArtifact.encode(mesh))
        #expect(try MeshArtifact.read(path: path) == mesh)

        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count / 2] ^= 0x10
        try bytes.write(to: URL(fileURLWithPath: path))
        #expect(throws: MeshError.badArtifact("checksum mismatch (truncated or corrupted)")) {
            try MeshArtifact.read(path: path)
        }
        try bytes.prefix(bytes.count - 4).write(to: URL(fileURLWithPath: path))
        #expect(throws: MeshError.self) { try MeshArtifact.read(path: path) }
    }
}
