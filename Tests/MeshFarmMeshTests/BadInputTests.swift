import Foundation
import MeshFarmMesh
import MeshFarmTestSupport
import Testing

/// Each bad input ends in a typed error whose message names the problem.
@Suite struct BadInputTests {
    let directory = TestEnvironment.outputDirectory("bad-inputs")

    func write(_ name: String, _ data: Data) throws -> String {
        let path = directory.appendingPathComponent(name).path
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    func error(loading path: String, limits: ImportLimits = ImportLimits()) -> MeshError? {
        do {
            _ = try MeshImporter(limits: limits).load(path: path)
            return nil
        } catch { return error }
    }

    @Test func emptyFile() throws {
        #expect(error(loading: try write("empty.obj", Data())) == .emptyFile)
    }

    @Test func truncatedBinarySTL() throws {
        let full = MeshExporter.encode(.torus(segments: 8, sides: 8), as: .stl)
        let e = error(loading: try write("truncated.stl", full.prefix(full.count - 17)))
        #expect(e?.code == "malformed")
        #expect(e?.description.contains("truncated") == true)
    }

    @Test func objWithIndexZero() throws {
        let e = error(loading: try write("zero.obj", Data("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 0 1 2\n".utf8)))
        #expect(e?.code == "malformed")
        #expect(e?.description.contains("index") == true)
    }

    @Test func objWithIndexPastTheEnd() throws {
        let e = error(loading: try write("past.obj", Data("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 4\n".utf8)))
        #expect(e?.code == "malformed")
        #expect(e?.description.contains("out of range") == true)
    }

    @Test func nanVertex() throws {
        let e = error(loading: try write("nan.obj", Data("v 0 0 0\nv nan 0 0\nv 0 1 0\nf 1 2 3\n".utf8)))
        #expect(e == .nonFiniteCoordinate(vertex: 1))
    }

    @Test func smallFileClaimingABillionTriangles() throws {
        var stl = Data(count: 80)
        withUnsafeBytes(of: UInt32(1_000_000_000).littleEndian) { stl.append(contentsOf: $0) }
        stl.append(Data(count: 1024 - 84))
        let stlError = error(loading: try write("billion.stl", stl))
        #expect(stlError?.description.contains("1000000000") == true)

        let ply =
            Data(
                "ply\nformat binary_little_endian 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\nelement face 1000000000\nproperty list uchar uint vertex_indices\nend_header\n"
                    .utf8) + Data(count: 900)
        #expect(
            error(loading: try write("billion.ply", ply)) == .tooManyTriangles(count: 1_000_000_000, limit: 50_000_000))
        // Under a generous limit the claim is still checked against the file size.
        let generous = ImportLimits(maxTriangles: 2_000_000_000)
        #expect(error(loading: try write("billion2.ply", ply), limits: generous)?.code == "malformed")
    }

    @Test func randomBytes() throws {
        var generator = SystemRandomNumberGenerator()
        let bytes = Data((0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) })
        #expect(error(loading: try write("random.bin", bytes))?.code == "unsupported-format")
    }

    @Test func aDirectory() {
        #expect(error(loading: directory.path) == .isDirectory(path: directory.path))
    }

    @Test func missingFile() {
        #expect(error(loading: directory.appendingPathComponent("nope.obj").path)?.code == "unreadable")
    }

    @Test func fileOverTheSizeLimit() throws {
        let path = try write("big.obj", Data(repeating: 0x20, count: 2000))
        #expect(
            error(loading: path, limits: ImportLimits(maxFileBytes: 1000)) == .fileTooLarge(bytes: 2000, limit: 1000))
    }

    @Test func pointsAndLinesOnly() throws {
        let e = error(loading: try write("lines.obj", Data("v 0 0 0\nv 1 0 0\nv 0 1 0\nl 1 2\nl 2 3\n".utf8)))
        #expect(e == .noTriangles || e?.code == "malformed")
    }
}
