import Foundation
import MeshFarmArtifacts
import MeshFarmTestSupport
import Testing

@Suite struct SHA256Tests {
    @Test func knownDigests() {
        #expect(SHA256Hasher.hex(Data()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(
            SHA256Hasher.hex(Data("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256Hasher.isValid(SHA256Hasher.hex(Data("x".utf8))) && !SHA256Hasher.isValid("../etc/passwd"))
    }
}

@Suite struct ArtifactStoreTests {
    @Test func contentAddressedRoundTrip() async throws {
        let store = try DiskArtifactStore(root: TestEnvironment.outputDirectory("artifacts"))
        let data = Data((0..<100_000).map { UInt8($0 % 251) })
        let chunks = AsyncStream<Data> { c in
            for offset in stride(from: 0, to: data.count, by: 4096) {
                c.yield(data[offset..<min(data.count, offset + 4096)])
            }
            c.finish()
        }
        let info = try await store.put(chunks: chunks, limit: nil)
        #expect(info == ArtifactInfo(sha256: SHA256Hasher.hex(data), bytes: data.count))
        let stored = try #require(try store.file(for: info.sha256))
        #expect(try Data(contentsOf: stored) == data)
        #expect(try store.put(data: data) == info)  // same content, same address
        #expect(try store.file(for: String(repeating: "0", count: 64)) == nil)
        #expect(throws: StorageError.self) { try store.file(for: "not-a-hash") }
    }

    @Test func uploadsOverTheLimitAreRefusedAndLeaveNothing() async throws {
        let root = TestEnvironment.outputDirectory("artifacts-limit")
        let store = try DiskArtifactStore(root: root)
        let chunks = AsyncStream<Data> { c in
            for _ in 0..<10 { c.yield(Data(count: 1000)) }
            c.finish()
        }
        await #expect(throws: StorageError.tooLarge(limit: 5000)) { try await store.put(chunks: chunks, limit: 5000) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("tmp").path).isEmpty)
    }
}
