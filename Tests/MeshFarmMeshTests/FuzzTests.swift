import Foundation
import MeshFarmMesh
import MeshFarmTestSupport
import Testing

/// Mutated and truncated models in several formats, each imported by
/// `meshfarm analyze` in its own child process: every one must end in an
/// analysis or a one-line error. A crash or hang fails the test and leaves
/// the input under the test's output directory for reproduction.
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
        let seeds = try Self.seeds()
        let directory = TestEnvironment.outputDirectory("fuzz")
        let executable = TestEnvironment.executable("meshfarm")
        // MESHFARM_FUZZ_SEED explores other inputs; the default keeps CI reproducible.
        let seed = ProcessInfo.processInfo.environment["MESHFARM_FUZZ_SEED"].flatMap { UInt64($0) }
        var rng = Xorshift(state: seed ?? 0x5EED_F00D_CAFE_1234)
        var inputs: [URL] = []
        for i in 0..<1_040 {
            let seed = seeds[i % seeds.count]
            var data = seed.data
            for _ in 0..<(1 + rng.next() % 3) { data = Self.mutate(data, &rng) }
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
            let verdict: String?
            do {
                let outcome = try ChildProcess.run(executable, ["analyze", input.path], timeout: 60)
                if outcome.timedOut {
                    verdict = "hang"
                } else if outcome.signaled {
                    verdict = "crash (signal \(outcome.status))"
                } else if outcome.status == 0 {
                    let json = try? JSONSerialization.jsonObject(with: outcome.stdout) as? [String: Any]
                    verdict = (json?["triangles"] as? Int ?? 0) > 0 ? nil : "exit 0 without an analysis"
                    if verdict == nil { lock.withLock { meshes += 1 } }
                } else if outcome.status == 1, outcome.stderrText.hasPrefix("error: "),
                    outcome.stderrText.split(separator: "\n").count == 1
                {
                    verdict = nil
                    lock.withLock { errors += 1 }
                } else {
                    verdict = "exit \(outcome.status): \(outcome.stderrText.prefix(200))"
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
