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

/// The collector's and the disk guard's decisions, and the store's side
/// of them: retaining and conditional removal.
@Suite struct StorageLifecycleDecisionTests {
    let now = Date(timeIntervalSince1970: 2_000_000_000)

    func artifact(_ name: String, age: Double) -> StoredArtifact {
        StoredArtifact(name: name, bytes: 10, lastUsed: now.addingTimeInterval(-age))
    }

    @Test func theSweepKeepsWhatJobsNameAndWhatWasUsedRecently() {
        let sweep = ArtifactSweep(grace: 86_400, recentUse: 600)
        let stored = [
            artifact("named-old", age: 10 * 86_400),  // a job names it: kept, however old
            artifact("upload-young", age: 3600),  // never attached, within the grace: kept
            artifact("upload-old", age: 2 * 86_400),  // never attached, past the grace: removed
            artifact("released-old", age: 3600),  // its job was deleted, unused for an hour: removed
            artifact("released-recent", age: 60),  // its job was deleted, but used a minute ago: kept
        ]
        let removals = sweep.removals(
            of: stored, marked: ["named-old"], released: ["released-old", "released-recent"], now: now)
        #expect(removals.map(\.name) == ["upload-old", "released-old"])
        // Each removal names the time the store checks again as it removes.
        #expect(removals[0].unusedSince == now.addingTimeInterval(-86_400))
        #expect(removals[1].unusedSince == now.addingTimeInterval(-600))
        #expect(
            sweep.stalePartials([artifact("p1", age: 90_000), artifact("p2", age: 10)], now: now).map(\.name) == ["p1"])
        #expect(ArtifactSweep(grace: 60, recentUse: 600).grace == 600)
    }

    @Test func bytesPerOwnerCountAnArtifactOncePerOwner() {
        let sizes = ["a": 100, "b": 10, "c": 1]
        let usage = storedBytes(perOwner: ["ann": ["a", "b"], "bob": ["a", "c", "gone"]]) { sizes[$0] }
        #expect(usage == ["ann": 110, "bob": 101])
    }

    @Test func theDiskGuardRefusesNewWorkThenResults() {
        let guardian = DiskGuard(minimumFree: 1000, floor: 100)
        #expect(guardian.verdict(free: 5000) == .accepting)
        #expect(guardian.verdict(free: 999) == .refusingNewWork)
        #expect(guardian.verdict(free: 99) == .full)
        #expect(guardian.refusal(of: .newWork, bytes: 4000, free: 5000) == nil)
        #expect(guardian.refusal(of: .newWork, bytes: 4001, free: 5000)?.contains("new uploads and jobs") == true)
        #expect(guardian.refusal(of: .result, bytes: 800, free: 999) == nil)
        #expect(guardian.refusal(of: .result, bytes: 900, free: 999)?.contains("workers keep them") == true)
        #expect(guardian.holdReason(free: 999) == nil)
        #expect(guardian.holdReason(free: 99)?.contains("tasks wait for space") == true)
        #expect(DiskGuard(minimumFree: 10, floor: 100).minimumFree == 100)
    }

    @Test func aRetainedArtifactIsNotRemovedAndAnUnusedOneIs() throws {
        let store = try DiskArtifactStore(root: TestEnvironment.outputDirectory("artifacts-lifecycle"))
        let kept = try store.put(data: Data("kept".utf8))
        let dropped = try store.put(data: Data("dropped".utf8))
        try FileManager.default.createDirectory(
            at: store.root.appendingPathComponent("tmp"), withIntermediateDirectories: true)
        try Data("partial".utf8).write(to: store.root.appendingPathComponent("tmp/partial-upload"))
        let long = Date().addingTimeInterval(-7200)
        for info in [kept, dropped] {
            try FileManager.default.setAttributes(
                [.modificationDate: long], ofItemAtPath: try #require(try store.file(for: info.sha256)).path)
        }
        let inventory = try store.inventory()
        #expect(Set(inventory.artifacts.map(\.name)) == [kept.sha256, dropped.sha256])
        #expect(inventory.artifacts.allSatisfy { $0.lastUsed < Date().addingTimeInterval(-7000) })
        #expect(inventory.partial.map(\.name) == ["partial-upload"])
        // A job names `kept` now: it counts as used, and a removal planned
        // before that spares it.
        #expect(try store.retain(kept.sha256))
        #expect(try !store.retain(String(repeating: "0", count: 64)))
        let cutoff = Date().addingTimeInterval(-3600)
        #expect(store.remove(kept.sha256, unlessUsedSince: cutoff) == nil)
        #expect(store.remove(dropped.sha256, unlessUsedSince: cutoff) == 7)
        #expect(try store.file(for: kept.sha256) != nil && store.file(for: dropped.sha256) == nil)
        #expect(store.size(of: kept.sha256) == 4)
        // Storing the same bytes again counts as a use too.
        try FileManager.default.setAttributes(
            [.modificationDate: long], ofItemAtPath: try #require(try store.file(for: kept.sha256)).path)
        _ = try store.put(data: Data("kept".utf8))
        #expect(store.remove(kept.sha256, unlessUsedSince: cutoff) == nil)
        store.removePartial("partial-upload")
        #expect(try store.inventory().partial.isEmpty)
    }
}
