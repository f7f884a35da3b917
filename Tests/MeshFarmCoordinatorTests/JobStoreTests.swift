import Foundation
import MeshFarmCoordinator
import MeshFarmJobs
import MeshFarmTestSupport
import Testing

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
