import Foundation
import MeshFarmMesh
import MeshFarmTestSupport
import MeshFarmZip
import Testing

/// Size claims checked before allocating (GLB, glTF, OBJ, STL), PLY
/// triangle strips, multi-file zip uploads and the confinement of side files.
@Suite struct ImportClaimsTests {
    let directory = TestEnvironment.outputDirectory("claims")

    func write(_ name: String, _ data: Data) throws -> String {
        let path = directory.appendingPathComponent(name).path
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    func error(_ path: String, limits: ImportLimits = ImportLimits()) -> String {
        do {
            _ = try MeshImporter(limits: limits).load(path: path)
            return "no error"
        } catch { return "\(error)" }
    }

    // MARK: - PLY triangle strips

    @Test func plyTriangleStripsBecomeTrianglesWithAlternatingWinding() throws {
        // A 2 x 1 grid of quads as one strip: 0 3 1 4 2 5 (top row 0 1 2, bottom 3 4 5), then a
        // restart and a second strip that starts with degenerate joining triangles.
        let ply = """
            ply
            format ascii 1.0
            element vertex 6
            property float x
            property float y
            property float z
            element tristrips 1
            property list int int vertex_indices
            end_header
            0 1 0
            1 1 0
            2 1 0
            0 0 0
            1 0 0
            2 0 0
            12 0 3 1 4 2 5 -1 0 0 0 3 1

            """
        let model = try MeshImporter().load(path: try write("strips.ply", Data(ply.utf8)))
        let a = MeshAnalysis(mesh: model.mesh)
        // First strip: 4 triangles; second: two degenerate joins, then (0 3 1): 5 in all, area 2 + 0.5.
        #expect(a.triangles == 5)
        #expect(abs(a.surfaceArea - 2.5) < 1e-6)
        // Alternating winding keeps every triangle facing the same way: all normals +z.
        for t in 0..<model.mesh.triangleCount {
            let (p, q, r) = model.mesh.triangle(t)
            let n = cross(q - p, r - p)
            #expect(n.z > 0, "triangle \(t) faces away")
        }
    }

    func cross(_ a: SIMD3<Float>, _ b: SIMD3<Float>) -> SIMD3<Float> {
        SIMD3(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x)
    }

    @Test func binaryTriStripsOfAClosedMeshStayWatertight() throws {
        // The cube as 12 one-triangle strips in a big-endian binary file (restarts between them).
        let box = Mesh.box()
        var strip: [Int32] = []
        for t in 0..<12 {
            strip += [Int32(box.indices[3 * t]), Int32(box.indices[3 * t + 1]), Int32(box.indices[3 * t + 2]), -1]
        }
        var ply = Data(
            "ply\nformat binary_big_endian 1.0\nelement vertex 8\nproperty float x\nproperty float y\nproperty float z\nelement tristrips 1\nproperty list int int vertex_indices\nend_header\n"
                .utf8)
        for value in box.positions { withUnsafeBytes(of: value.bitPattern.bigEndian) { ply.append(contentsOf: $0) } }
        withUnsafeBytes(of: Int32(strip.count).bigEndian) { ply.append(contentsOf: $0) }
        for index in strip { withUnsafeBytes(of: index.bigEndian) { ply.append(contentsOf: $0) } }
        let a = MeshAnalysis(mesh: try MeshImporter().load(path: try write("cube-strips.ply", ply)).mesh)
        #expect(a.triangles == 12 && a.watertight && a.windingConsistent && abs(a.volume - 1) < 1e-6)
    }

    // MARK: - GLB and glTF claims

    static let mesh = Mesh.box()

    /// A GLB of `mesh`, then `edit` applied to its JSON before packing.
    func glb(_ edit: (inout [String: Any]) -> Void = { _ in }) throws -> Data {
        let original = MeshExporter.encode(Self.mesh, as: .glb)
        let jsonLength = Int(original[12]) | Int(original[13]) << 8 | Int(original[14]) << 16 | Int(original[15]) << 24
        var json = try JSONSerialization.jsonObject(with: original[20..<(20 + jsonLength)]) as! [String: Any]
        edit(&json)
        var jsonData = try JSONSerialization.data(withJSONObject: json)
        while jsonData.count % 4 != 0 { jsonData.append(0x20) }
        let binary = original[(20 + jsonLength)...]
        var out = Data("glTF".utf8)
        func le32(_ v: Int) -> Data { withUnsafeBytes(of: UInt32(v).littleEndian) { Data($0) } }
        out += le32(2) + le32(12 + 8 + jsonData.count + binary.count) + le32(jsonData.count) + Data("JSON".utf8)
        out += jsonData + binary
        return out
    }

    @Test func honestGLBImports() throws {
        #expect(try MeshImporter().load(path: try write("ok.glb", try glb())).mesh.triangleCount == 12)
        #expect(try MeshImporter().load(path: try write("ok.glb", try glb())).unit == .meter)
    }

    @Test func glbLengthsAndAccessorsBeyondTheirBytesAreRefused() throws {
        var wrongTotal = try glb()
        wrongTotal[8] &+= 4
        #expect(error(try write("total.glb", wrongTotal)).contains("declares"))

        let hugeBuffer = try glb { json in
            var buffers = json["buffers"] as! [[String: Any]]
            buffers[0]["byteLength"] = 1_000_000_000
            json["buffers"] = buffers
        }
        #expect(error(try write("buffer.glb", hugeBuffer)).contains("declares 1000000000 bytes"))

        let hugeAccessor = try glb { json in
            var accessors = json["accessors"] as! [[String: Any]]
            accessors[0]["count"] = 400_000_000
            json["accessors"] = accessors
        }
        #expect(error(try write("accessor.glb", hugeAccessor)).contains("claims 400000000 elements"))
    }

    @Test func glbTrianglesCountAgainstTheLimitBeforeImport() throws {
        // 12 triangles placed by 3 nodes: 36.
        let instanced = try glb { json in
            json["nodes"] = [["mesh": 0], ["mesh": 0], ["mesh": 0]]
            json["scenes"] = [["nodes": [0, 1, 2]]]
        }
        #expect(
            error(try write("instanced.glb", instanced), limits: ImportLimits(maxTriangles: 30)).contains(
                "36 triangles"))
        let cyclic = try glb { json in
            json["nodes"] = [["mesh": 0, "children": [1]], ["children": [0]]]
        }
        let cycleError = error(try write("cyclic.glb", cyclic))
        #expect(cycleError.contains("cycle"), "\(cycleError)")
    }

    /// A .gltf whose buffer is the file `bin` (relative or not).
    func gltf(uri: String) throws -> String {
        let original = try glb()
        let jsonLength = Int(original[12]) | Int(original[13]) << 8
        var json = try JSONSerialization.jsonObject(with: original[20..<(20 + jsonLength)]) as! [String: Any]
        var buffers = json["buffers"] as! [[String: Any]]
        buffers[0]["uri"] = uri
        json["buffers"] = buffers
        return String(decoding: try JSONSerialization.data(withJSONObject: json), as: UTF8.self)
    }

    var binary: Data {
        get throws {
            let original = try glb()
            let jsonLength = Int(original[12]) | Int(original[13]) << 8
            return original[(20 + jsonLength + 8)...]
        }
    }

    @Test func gltfBuffersOutsideTheUploadAreRefused() throws {
        // A file elsewhere on the worker's disk that a hostile glTF names as its buffer.
        let secret = try write("secret/other-customer.bin", try binary)
        for uri in [secret, "../secret/other-customer.bin", "file://\(secret)"] {
            let model = try write("escape-\(UUID().uuidString.prefix(6)).gltf", Data(try gltf(uri: uri).utf8))
            let message = error(model)
            #expect(message.contains("outside the upload") || message.contains("not uploaded"), "\(uri): \(message)")
        }
        // Alone, even a relative buffer is refused with advice: the side file was not uploaded.
        let alone = try write("alone/model.gltf", Data(try gltf(uri: "model.bin").utf8))
        _ = try write("alone/model.bin", try binary)
        #expect(error(alone).contains("upload a .zip"))
    }

    // MARK: - Zip uploads of a model and its side files

    func zip(_ entries: [(String, Data)]) throws -> String {
        var writer = ZipWriter()
        for (name, data) in entries { try writer.add(name, data) }
        return try write("upload-\(UUID().uuidString.prefix(6)).zip", writer.finish())
    }

    @Test func zipOfGLTFWithBufferAndTextureImports() throws {
        let path = try zip([
            ("scene/model.gltf", Data(try gltf(uri: "buffers/model.bin").utf8)),
            ("scene/buffers/model.bin", try binary), ("scene/textures/albedo.png", Data([0x89, 0x50, 0x4E, 0x47])),
            ("__MACOSX/scene/._model.gltf", Data("resource fork".utf8)),
        ])
        let model = try MeshImporter().load(path: path)
        #expect(model.format == .gltf && model.packagePath == "scene/model.gltf" && model.unit == .meter)
        #expect(model.mesh.triangleCount == 12 && MeshAnalysis(mesh: model.mesh).watertight)
    }

    @Test func zipOfOBJWithMaterialsImports() throws {
        let obj =
            "mtllib materials/cube.mtl\nusemtl red\n"
            + String(decoding: MeshExporter.encode(Self.mesh, as: .obj), as: UTF8.self)
        let path = try zip([
            ("cube.obj", Data(obj.utf8)), ("materials/cube.mtl", Data("newmtl red\nKd 1 0 0\n".utf8)),
        ])
        let model = try MeshImporter().load(path: path)
        #expect(model.format == .obj && model.packagePath == "cube.obj" && model.mesh.triangleCount == 12)
    }

    @Test func zipUploadsWithoutOneModelAreRefusedClearly() throws {
        #expect(error(try zip([("readme.txt", Data("no model".utf8))])).contains("holds no model file"))
        let two = try zip([
            ("a.obj", MeshExporter.encode(Self.mesh, as: .obj)), ("b.stl", MeshExporter.encode(Self.mesh, as: .stl)),
        ])
        #expect(error(two).contains("2 model files (a.obj, b.stl)"))
        let traversal = try zip([
            ("../../etc/cron.d/evil", Data("x".utf8)), ("a.obj", MeshExporter.encode(Self.mesh, as: .obj)),
        ])
        #expect(error(traversal).contains("climbs out of the archive"))
        var inner = ZipWriter()
        try inner.add("a.obj", MeshExporter.encode(Self.mesh, as: .obj))
        let nested = try zip([("inner.zip", inner.finish())])
        #expect(error(nested).contains("holds no model file"))
    }

    @Test func zipUploadsAreCheckedAgainstTheLimits() throws {
        let path = try zip([("a.obj", MeshExporter.encode(Mesh.torus(), as: .obj))])
        #expect(error(path, limits: ImportLimits(maxUncompressedBytes: 10_000)).contains("over the limit of 10000"))
    }

    // MARK: - Text formats

    @Test func objAndASCIISTLFaceCountsAreCheckedBeforeImport() throws {
        // An OBJ whose faces need more triangles than allowed, found by counting before assimp runs.
        var obj = "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 1 1 0\n"
        obj += String(repeating: "f 1 2 3 4\n", count: 200)  // 400 triangles
        let limits = ImportLimits(maxTriangles: 300)
        #expect(error(try write("many.obj", Data(obj.utf8)), limits: limits).contains("400 triangles"))

        var stl = "solid x\n"
        stl += String(
            repeating: "facet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nvertex 0 1 0\nendloop\nendfacet\n",
            count: 40)
        stl += "endsolid x\n"
        #expect(
            error(try write("many.stl", Data(stl.utf8)), limits: ImportLimits(maxTriangles: 30)).contains(
                "40 triangles"))
    }

    // MARK: - Packing a multi-file model on the client side

    @Test func aGLTFWithItsFilesIsPackedIntoOneZip() throws {
        let folder = directory.appendingPathComponent("scene-\(UUID().uuidString.prefix(6))")
        var gltfText = try gltf(uri: "buffers/cube.bin")
        gltfText = gltfText.replacingOccurrences(
            of: "\"buffers\":",
            with: "\"images\":[{\"uri\":\"images/albedo%20map.png\"},{\"uri\":\"../secret.png\"}],\"buffers\":")
        let model = try write(folder.lastPathComponent + "/cube.gltf", Data(gltfText.utf8))
        _ = try write(folder.lastPathComponent + "/buffers/cube.bin", try binary)
        _ = try write(folder.lastPathComponent + "/images/albedo map.png", Data([0x89, 0x50]))
        _ = try write("secret.png", Data([1]))
        #expect(ModelPackage.sideFiles(of: model) == ["buffers/cube.bin", "images/albedo map.png"])
        let zip = try write("packed-\(UUID().uuidString.prefix(6)).zip", try #require(try ModelPackage.pack(model)))
        let imported = try MeshImporter().load(path: zip)
        #expect(imported.packagePath == "cube.gltf" && imported.mesh.triangleCount == 12)
        // The client commands do the same: `meshfarm analyze` reads the .gltf with its buffer.
        let analyze = try ChildProcess.run(TestEnvironment.executable("meshfarm"), ["analyze", model])
        #expect(analyze.status == 0, "\(analyze.stderrText)")
        let json = try JSONSerialization.jsonObject(with: analyze.stdout) as? [String: Any]
        #expect(json?["triangles"] as? Int == 12 && json?["unit"] as? String == "meter")
    }

    @Test func anOBJWithMaterialsAndTexturesIsPacked() throws {
        let folder = "obj-\(UUID().uuidString.prefix(6))"
        let obj =
            "mtllib cube.mtl\nusemtl red\n" + String(decoding: MeshExporter.encode(Self.mesh, as: .obj), as: UTF8.self)
        let model = try write(folder + "/cube.obj", Data(obj.utf8))
        _ = try write(
            folder + "/cube.mtl", Data("newmtl red\nmap_Kd -s 1 1 1 textures/red.png\nbump /etc/passwd\n".utf8))
        _ = try write(folder + "/textures/red.png", Data([0x89]))
        #expect(ModelPackage.sideFiles(of: model) == ["cube.mtl", "textures/red.png"])
        #expect(try ModelPackage.pack(TestEnvironment.modelsDirectory.appendingPathComponent("spot.obj").path) == nil)
    }
}
