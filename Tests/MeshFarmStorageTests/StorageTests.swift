import Foundation
import MeshFarmJobs
import MeshFarmStorage
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

@Suite struct JobStoreTests {
    func exercise(_ store: any JobStore) async throws {
        var job = JobRecord(id: "j-\(UUID().uuidString.prefix(6))", spec: JobSpec(), model: "abc", fileName: "m.obj")
        try await store.insert(job)
        await #expect(throws: (any Error).self) { try await store.insert(job) }
        job.start(now: Date())
        try await store.save(job)
        #expect(try await store.job(job.id) == job)
        #expect(try await store.activeJobs().contains { $0.id == job.id })
        _ = job.cancel(now: Date())
        try await store.save(job)
        #expect(try await store.activeJobs().allSatisfy { $0.id != job.id })
        #expect(try await store.jobs(status: .cancelled, limit: 10).contains { $0.id == job.id })
        #expect(try await store.job("missing") == nil)
    }

    @Test func inMemory() async throws { try await exercise(InMemoryJobStore()) }

    @Test func sqliteSurvivesReopening() async throws {
        let path = TestEnvironment.outputDirectory("sqlite").appendingPathComponent("jobs.sqlite").path
        let store = try SQLiteJobStore(path: path)
        try await exercise(store)
        let reopened = try SQLiteJobStore(path: path)
        #expect(try await reopened.jobs(status: nil, limit: 10).count == 1)
    }
}
