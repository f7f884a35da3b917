import CAssimp
import Foundation
import MeshFarmMesh
import MeshFarmTestSupport
import Testing

/// Every supported format imports with the right counts. Files in formats
/// MeshFarm does not write itself come from assimp's exporter (a separate
/// code path from its importers) or are written by hand below.
@Suite struct FormatTests {
    static let source = TestEnvironment.modelsDirectory.appendingPathComponent("spot.obj").path

    /// Exports `source` through assimp in `formatID` to a fresh file.
    static func assimpExport(_ formatID: String, extension ext: String) throws -> String {
        let directory = TestEnvironment.outputDirectory("formats")
        let path = directory.appendingPathComponent("spot.\(ext)").path
        guard let scene = aiImportFile(source, aiProcess_Triangulate.rawValue) else {
            throw MeshError.malformed(format: "obj", reason: String(cString: aiGetErrorString()))
        }
        defer { aiReleaseImport(scene) }
        let status = aiExportScene(scene, formatID, path, 0)
        #expect(status == aiReturn_SUCCESS, "assimp export to \(formatID)")
        return path
    }

    @Test(arguments: [
        // assimp 5.2's *binary* FBX exporter writes files its own importer
        // rejects ("block offset is out of range"), so only ASCII FBX is
        // generated here; binary FBX detection is covered by FormatDetector.
        ("collada", "dae", ModelFormat.collada), ("fbxa", "fbx", .fbx), ("3mf", "3mf", .threeMF),
        ("gltf2", "gltf", .gltf), ("glb2", "glb", .glb), ("ply", "ply", .plyASCII),
        ("plyb", "ply", .plyBinaryLittleEndian),
        ("stl", "stl", .stlASCII), ("stlb", "stl", .stlBinary),
    ])
    func assimpExportedFormatsImport(formatID: String, ext: String, format: ModelFormat) throws {
        var path = try Self.assimpExport(formatID, extension: ext)
        if let zip = try ModelPackage.pack(path) {  // glTF writes its buffer beside it: one upload, as a zip
            path += ".zip"
            try zip.write(to: URL(fileURLWithPath: path))
        }
        let reference = try MeshImporter().load(path: Self.source).mesh
        let model = try MeshImporter().load(path: path)
        #expect(model.format == format)
        #expect(model.mesh.triangleCount == reference.triangleCount)
        #expect(model.mesh.vertexCount == reference.vertexCount)
        // Same surface, whatever the format did to vertex order.
        let area = MeshAnalysis(mesh: model.mesh).surfaceArea
        #expect(abs(area - MeshAnalysis(mesh: reference).surfaceArea) < 1e-4 * area)
    }

    @Test(arguments: MeshExporter.Format.allCases)
    func ownExportReimportsWithSameTriangleCount(format: MeshExporter.Format) throws {
        let mesh = try MeshImporter().load(path: Self.source).mesh
        let path = TestEnvironment.outputDirectory("export").appendingPathComponent("spot.\(format.rawValue)").path
        try MeshExporter.write(mesh, to: path)
        let back = try MeshImporter().load(path: path).mesh
        #expect(back.triangleCount == mesh.triangleCount)
        #expect(back.vertexCount == mesh.vertexCount)
        #expect(MeshAnalysis(mesh: back).watertight)
    }

    @Test func objTextIsShortestRoundTripFloatsAndOneBasedFaces() throws {
        let mesh = Mesh(
            positions: [0, -0.1, 1e-7, 123456.79, 1, -2.5, 0.3, 0, 1e20], indices: [0, 1, 2, 2, 1, 0])
        #expect(
            String(decoding: MeshExporter.encode(mesh, as: .obj), as: UTF8.self)
                == "# MeshFarm\nv 0.0 -0.1 1e-07\nv 123456.79 1.0 -2.5\nv 0.3 0.0 1e+20\nf 1 2 3\nf 3 2 1\n")
    }

    @Test func offAndBigEndianPLYWrittenByHand() throws {
        let directory = TestEnvironment.outputDirectory("handwritten")
        let box = Mesh.box()
        var off = "OFF\n# a unit cube\n8 12 0\n"
        for v in 0..<8 { off += "\(box.position(v).x) \(box.position(v).y) \(box.position(v).z)\n" }
        for t in 0..<12 { off += "3 \(box.indices[3 * t]) \(box.indices[3 * t + 1]) \(box.indices[3 * t + 2])\n" }
        let offPath = directory.appendingPathComponent("cube.off").path
        try off.write(toFile: offPath, atomically: true, encoding: .utf8)
        let offModel = try MeshImporter().load(path: offPath)
        #expect(offModel.format == .off && offModel.mesh.triangleCount == 12 && offModel.mesh.vertexCount == 8)

        var ply = Data(
            """
            ply
            format binary_big_endian 1.0
            element vertex 8
            property float x
            property float y
            property float z
            element face 12
            property list uchar int vertex_indices
            end_header

            """.utf8)
        for value in box.positions { withUnsafeBytes(of: value.bitPattern.bigEndian) { ply.append(contentsOf: $0) } }
        for t in 0..<12 {
            ply.append(3)
            for k in 0..<3 {
                withUnsafeBytes(of: Int32(box.indices[3 * t + k]).bigEndian) { ply.append(contentsOf: $0) }
            }
        }
        let plyPath = directory.appendingPathComponent("cube.ply").path
        try ply.write(to: URL(fileURLWithPath: plyPath))
        let plyModel = try MeshImporter().load(path: plyPath)
        #expect(plyModel.format == .plyBinaryBigEndian && plyModel.mesh.triangleCount == 12)
        #expect(abs(MeshAnalysis(mesh: plyModel.mesh).volume - 1) < 1e-6)
    }

    @Test func formatIsDetectedFromContentNotExtension() throws {
        let directory = TestEnvironment.outputDirectory("misnamed")
        let mesh = Mesh.box()
        // A binary STL named .obj and an OBJ named .stl.
        let stlAsObj = directory.appendingPathComponent("really-stl.obj").path
        try MeshExporter.encode(mesh, as: .stl).write(to: URL(fileURLWithPath: stlAsObj))
        let objAsStl = directory.appendingPathComponent("really-obj.stl").path
        try MeshExporter.encode(mesh, as: .obj).write(to: URL(fileURLWithPath: objAsStl))
        let glbNoExtension = directory.appendingPathComponent("model").path
        try MeshExporter.encode(mesh, as: .glb).write(to: URL(fileURLWithPath: glbNoExtension))
        #expect(try MeshImporter().load(path: stlAsObj).format == .stlBinary)
        #expect(try MeshImporter().load(path: objAsStl).format == .obj)
        #expect(try MeshImporter().load(path: glbNoExtension).format == .glb)
        for path in [stlAsObj, objAsStl, glbNoExtension] {
            #expect(try MeshImporter().load(path: path).mesh.triangleCount == 12)
        }
    }
}
