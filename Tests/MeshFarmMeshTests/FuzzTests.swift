import Foundation
import MeshFarmMesh
import MeshFarmTestSupport
import MeshFarmZip
import Testing

/// Mutated and truncated models in several formats, each imported by
/// `meshfarm-import` (the importer the farm contains, run here without
/// limits) in its own child process: every one must end in a mesh or a
/// typed error. A crash or hang fails the test (the containment would turn
/// it into a failed job, but our own readers must not crash at all) and
/// leaves the input under the test's output directory for reproduction.
///
/// 3MF and zip inputs are mutated two ways: as bytes (hitting the zip
/// structures and compressed data) and as text before packing (hitting
/// the XML and the 3MF rules behind a valid container).
@Suite struct FuzzTests {
    /// Deterministic xorshift generator: the same inputs on every run.
    struct Xorshift: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
    }

    /// A seed mutated as a whole file, or one part of a zip mutated before packing.
    enum Seed {
        case bytes(String, Data)
        case parts(String, [(String, String)], mutable: String)

        var name: String {
            switch self {
            case .bytes(let name, _), .parts(let name, _, _): name
            }
        }
    }

    static func zipSeeds() throws -> [Seed] {
        let cube = Mesh.box(min: .zero, max: SIMD3(2, 2, 2))
        let spot = try MeshImporter().load(
            path: TestEnvironment.modelsDirectory.appendingPathComponent("spot.obj").path
        ).mesh
        let resources =
            "<object id=\"1\">\(ThreeMFBuilder.meshXML(cube))</object><object id=\"2\"><components>"
            + "<component objectid=\"1\" transform=\"1 0 0 0 1 0 0 0 1 5 0 0\"/><component p:path=\"/3D/spot.model\" objectid=\"3\"/>"
            + "</components></object>"
        var threeMF = ThreeMFBuilder(
            model: ThreeMFBuilder.model(
                resources: resources, build: "<item objectid=\"2\" transform=\"0 1 0 -1 0 0 0 0 1 0 0 0\"/>",
                unit: "inch"))
        threeMF.set(
            "3D/spot.model",
            ThreeMFBuilder.model(resources: "<object id=\"3\">\(ThreeMFBuilder.meshXML(spot))</object>", build: ""))
        let small = ThreeMFBuilder(
            model: ThreeMFBuilder.model(
                resources: "<object id=\"1\">\(ThreeMFBuilder.meshXML(cube))</object>", build: "<item objectid=\"1\"/>")
        )

        let glb = MeshExporter.encode(cube, as: .glb)
        let jsonLength = Int(glb[12]) | Int(glb[13]) << 8
        var json = try JSONSerialization.jsonObject(with: glb[20..<(20 + jsonLength)]) as! [String: Any]
        var buffers = json["buffers"] as! [[String: Any]]
        buffers[0]["uri"] = "cube.bin"
        json["buffers"] = buffers
        let gltf = String(decoding: try JSONSerialization.data(withJSONObject: json), as: UTF8.self)
        let obj = "mtllib cube.mtl\nusemtl red\n" + String(decoding: MeshExporter.encode(cube, as: .obj), as: UTF8.self)

        func zip(_ entries: [(String, Data)]) throws -> Data {
            var writer = ZipWriter()
            for (name, data) in entries { try writer.add(name, data) }
            return writer.finish()
        }
        return [
            .bytes("spot.3mf", try threeMF.data()),
            .bytes("cube.3mf", try small.data()),
            .parts("parts.3mf", threeMF.parts, mutable: "3D/3dmodel.model"),
            .parts("rels.3mf", small.parts, mutable: "_rels/.rels"),
            .parts("types.3mf", small.parts, mutable: "[Content_Types].xml"),
            .bytes("gltf.zip", try zip([("cube.gltf", Data(gltf.utf8)), ("cube.bin", glb[(20 + jsonLength + 8)...])])),
            .bytes(
                "obj.zip", try zip([("cube.obj", Data(obj.utf8)), ("cube.mtl", Data("newmtl red\nKd 1 0 0\n".utf8))])),
            .parts("gltf-json.zip", [("m/cube.gltf", gltf)], mutable: "m/cube.gltf"),
        ]
    }

    static func seeds() throws -> [(name: String, data: Data)] {
        let models = TestEnvironment.modelsDirectory
        let suzanne = try Data(contentsOf: models.appendingPathComponent("suzanne.obj"))
        let spot = try MeshImporter().load(path: models.appendingPathComponent("spot.obj").path).mesh
        let small = Mesh.torus(segments: 12, sides: 8)
        var off = "OFF\n\(small.vertexCount) \(small.triangleCount) 0\n"
        for v in 0..<small.vertexCount {
            off += "\(small.position(v).x) \(small.position(v).y) \(small.position(v).z)\n"
        }
        for t in 0..<small.triangleCount {
            off += "3 \(small.indices[3 * t]) \(small.indices[3 * t + 1]) \(small.indices[3 * t + 2])\n"
        }
        return [
            ("suzanne.obj", suzanne),
            ("spot.stl", MeshExporter.encode(spot, as: .stl)),
            ("spot.ply", MeshExporter.encode(spot, as: .ply)),
            ("spot.glb", MeshExporter.encode(spot, as: .glb)),
            ("torus.obj", MeshExporter.encode(small, as: .obj)),
            ("torus.off", Data(off.utf8)),
            ("torus.stl", MeshExporter.encode(small, as: .stl)),
            ("torus.ply", MeshExporter.encode(small, as: .ply)),
        ]
    }

    static func mutate(_ data: Data, _ rng: inout Xorshift) -> Data {
        var bytes = [UInt8](data)
        guard !bytes.isEmpty else { return data }
        switch rng.next() % 6 {
        case 0:  // truncate
            bytes.removeSubrange(Int(rng.next() % UInt64(bytes.count))...)
        case 1:  // flip bytes
            for _ in 0..<(1 + rng.next() % 16) {
                bytes[Int(rng.next() % UInt64(bytes.count))] ^= UInt8(1 + rng.next() % 255)
            }
        case 2:  // extreme 32-bit values: counts, indices, lengths
            let values: [UInt32] = [0, 1, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0x0100_0000]
            let value = values[Int(rng.next() % UInt64(values.count))]
            let at = Int(rng.next() % UInt64(max(1, bytes.count - 4)))
            for k in 0..<min(4, bytes.count - at) { bytes[at + k] = UInt8((value >> (8 * UInt32(k))) & 0xFF) }
        case 3:  // replace a number in text with a hostile one
            let tokens = ["-1", "0", "99999999", "nan", "inf", "1e39", "-2147483648", "", "3.4.5", "4294967296"]
            let token = Array(tokens[Int(rng.next() % UInt64(tokens.count))].utf8)
            let at = Int(rng.next() % UInt64(bytes.count))
            if let start = bytes[at...].firstIndex(where: { (0x30...0x39).contains($0) }) {
                var end = start
                while end < bytes.count, (0x30...0x39).contains(bytes[end]) || bytes[end] == 0x2E { end += 1 }
                bytes.replaceSubrange(start..<end, with: token)
            }
        case 4:  // delete a chunk
            let at = Int(rng.next() % UInt64(bytes.count))
            bytes.removeSubrange(at..<min(bytes.count, at + 1 + Int(rng.next() % 512)))
        default:  // duplicate a chunk somewhere else
            let at = Int(rng.next() % UInt64(bytes.count))
            let chunk = Array(bytes[at..<min(bytes.count, at + 1 + Int(rng.next() % 512))])
            bytes.insert(contentsOf: chunk, at: Int(rng.next() % UInt64(bytes.count)))
        }
        return Data(bytes)
    }

    @Test func thousandMutatedInputsEndInAMeshOrAClearError() throws {
        let seeds = try Self.seeds().map { Seed.bytes($0.name, $0.data) } + Self.zipSeeds()
        let directory = TestEnvironment.outputDirectory("fuzz")
        let executable = TestEnvironment.executable("meshfarm-import")
        // MESHFARM_FUZZ_SEED and MESHFARM_FUZZ_COUNT explore other and more inputs; the defaults keep CI
        // reproducible and short.
        let environment = ProcessInfo.processInfo.environment
        var rng = Xorshift(state: environment["MESHFARM_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0x5EED_F00D_CAFE_1234)
        let count = environment["MESHFARM_FUZZ_COUNT"].flatMap { Int($0) } ?? 1_600
        var inputs: [URL] = []
        for i in 0..<count {
            let seed = seeds[i % seeds.count]
            var data: Data
            switch seed {
            case .bytes(_, let bytes):
                data = bytes
                for _ in 0..<(1 + rng.next() % 3) { data = Self.mutate(data, &rng) }
            case .parts(_, let parts, let mutable):
                var writer = ZipWriter()
                for (name, text) in parts {
                    var content = Data(text.utf8)
                    if name == mutable { for _ in 0..<(1 + rng.next() % 3) { content = Self.mutate(content, &rng) } }
                    try writer.add(name, content, method: rng.next() % 2 == 0 ? .deflate : .stored)
                }
                data = writer.finish()
            }
            let url = directory.appendingPathComponent(String(format: "%04d-", i) + seed.name)
            try data.write(to: url)
            inputs.append(url)
        }

        let files = inputs
        let lock = NSLock()
        nonisolated(unsafe) var meshes = 0
        nonisolated(unsafe) var errors = 0
        nonisolated(unsafe) var failures: [String] = []
        DispatchQueue.concurrentPerform(iterations: files.count) { i in
            let input = files[i]
            let artifact = input.path + ".mfmesh"
            let reportPath = input.path + ".report.json"
            defer {
                try? FileManager.default.removeItem(atPath: artifact)
                try? FileManager.default.removeItem(atPath: reportPath)
            }
            let verdict: String?
            do {
                let outcome = try ChildProcess.run(
                    executable,
                    [input.path, "--artifact", artifact, "--report", reportPath, "--scratch", directory.path],
                    timeout: 60)
                let report = FileManager.default.contents(atPath: reportPath).flatMap {
                    try? JSONSerialization.jsonObject(with: $0) as? [String: Any]
                }
                if outcome.timedOut {
                    verdict = "hang"
                } else if outcome.signaled {
                    verdict = "crash (signal \(outcome.status)): \(outcome.stderrText.prefix(300))"
                } else if outcome.status == 0, report?["success"] != nil,
                    let mesh = try? MeshArtifact.read(path: artifact), mesh.triangleCount > 0
                {
                    verdict = nil
                    lock.withLock { meshes += 1 }
                } else if outcome.status == 1, report?["error"] != nil {
                    verdict = nil
                    lock.withLock { errors += 1 }
                } else {
                    verdict = "exit \(outcome.status) without its report: \(outcome.stderrText.prefix(200))"
                }
            } catch {
                verdict = "could not run: \(error)"
            }
            if let verdict {
                let kept = directory.appendingPathComponent("FAILED-" + input.lastPathComponent)
                try? FileManager.default.copyItem(at: input, to: kept)
                lock.withLock { failures.append("\(kept.path): \(verdict)") }
            } else {
                try? FileManager.default.removeItem(at: input)
            }
        }
        #expect(
            failures.isEmpty,
            "\(failures.count) inputs crashed or hung:\n\(failures.prefix(20).joined(separator: "\n"))")
        #expect(meshes + errors + failures.count == inputs.count)
        #expect(
            meshes > 50 && errors > 50, "mutations should produce both outcomes: \(meshes) meshes, \(errors) errors")
    }
}
