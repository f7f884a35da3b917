import Foundation
import GRDB
import MeshFarmCoordinator
import MeshFarmJobs
import MeshFarmMessaging
import MeshFarmTestSupport
import Testing

@Suite struct JobStoreTests {
    func exercise(_ store: any JobStore) async throws {
        var job = JobRecord(id: "j-\(UUID().uuidString.prefix(6))", spec: JobSpec(), model: "abc", fileName: "m.obj")
        try await store.insert(job)
        await #expect(throws: (any Error).self) { try await store.insert(job) }
        var stored = job
        job.start(now: Date())
        try await store.save(job, since: stored)
        stored = job
        #expect(try await store.job(job.id) == job)
        #expect(try await store.activeJobs().contains { $0.id == job.id })
        // A task's change alone, then the job's own fields alone.
        _ = job.dispatch(.analyze(job.id))
        try await store.save(job, since: stored)
        stored = job
        #expect(try await store.job(job.id) == job)
        _ = job.cancel(now: Date())
        try await store.save(job, since: stored)
        #expect(try await store.job(job.id) == job)
        #expect(try await store.activeJobs().allSatisfy { $0.id != job.id })
        #expect(try await store.jobs(status: .cancelled, limit: 10).contains { $0.id == job.id })
        #expect(try await store.job("missing") == nil)
        try await exerciseIdempotencyKeys(store)
        try await exerciseDeletion(store)
        try await exerciseSplit(store)
    }

    /// A big model's analysis grows the graph (partition, parts, stitches):
    /// the store keeps every task of the new graph, in order.
    func exerciseSplit(_ store: any JobStore) async throws {
        var job = JobRecord(
            id: "j-split-\(UUID().uuidString.prefix(6))",
            spec: JobSpec(lodRatios: [1, 0.5], viewsPerLOD: 2, viewsPerTask: 2, splitAbove: 10, partTriangles: 1000),
            model: "abc", fileName: "m.obj")
        try await store.insert(job)
        job.start(now: Date())
        _ = job.dispatch(.analyze(job.id))
        var stored = job
        let task = TaskEnvelope<JSONValue>(
            taskID: "\(job.id).analyze", attempt: 1, kind: "analyze", pool: "cpu", jobID: job.id, payload: .null)
        let analysis = TaskResult.analyze(
            AnalyzeResult(
                analysis: .object([:]), mesh: "m", obj: "o", triangles: 3000,
                bounds: BoundsValue(min: [0, 0, 0], max: [1, 1, 1])))
        _ = job.apply(
            JobTaskEvent(kind: .succeeded, task: task, worker: "w", result: analysis), now: Date(),
            policy: RetryPolicy())
        #expect(job.tasks.count == stored.tasks.count + 4)  // + partition, 3 parts, stitch - reduce
        try await store.save(job, since: stored)
        #expect(try await store.job(job.id) == job)
        stored = job
        _ = job.dispatch(.partition(job.id))
        try await store.save(job, since: stored)
        #expect(try await store.job(job.id) == job)
    }

    /// A job with an analysis, finished: what it names, found by retention,
    /// deleted with its key.
    func exerciseDeletion(_ store: any JobStore) async throws {
        let id = "j-del-\(UUID().uuidString.prefix(6))"
        let (model, mesh, obj) = (String(repeating: "a", count: 64), String(repeating: "b", count: 64), "c")
        var job = JobRecord(id: id, spec: JobSpec(), model: model, fileName: "m.obj", owner: "ann")
        let key = IdempotencyRecord(key: "del-\(id)", requestSHA256: "f", jobID: id, createdAt: Date())
        try await store.insert(job, idempotency: key)
        job.start(now: Date())
        job.tasks[0].state = .succeeded
        job.tasks[0].result = .analyze(
            AnalyzeResult(
                analysis: .object([:]), mesh: mesh, obj: obj, triangles: 1,
                bounds: BoundsValue(min: [0, 0, 0], max: [1, 1, 1])))
        _ = job.cancel(now: Date())
        try await store.save(job, since: nil)
        #expect(job.artifacts == [model, mesh, obj])
        #expect(try await store.artifactReferences()["ann"] == [model, mesh, obj])
        #expect(try await store.finishedJobs(before: Date().addingTimeInterval(60), limit: 1000).contains(id))
        #expect(try await !store.finishedJobs(before: Date().addingTimeInterval(-60), limit: 1000).contains(id))
        #expect(try await store.delete(id))
        #expect(try await !store.delete(id))
        #expect(try await store.job(id) == nil)
        #expect(try await store.artifactReferences()["ann"] == nil)
        #expect(try await store.idempotencyRecord(key.key, now: Date()) == nil)
    }

    func exerciseIdempotencyKeys(_ store: any JobStore) async throws {
        let then = Date(timeIntervalSince1970: 2_000_000_000)
        let key = "key-\(UUID().uuidString)"
        let record = IdempotencyRecord(key: key, requestSHA256: "f", jobID: "j-key", createdAt: then)
        try await store.insert(
            JobRecord(id: "j-key", spec: JobSpec(), model: "abc", fileName: "m.obj"), idempotency: record)
        #expect(try await store.idempotencyRecord(key, now: then.addingTimeInterval(23 * 3600)) == record)
        #expect(try await store.idempotencyRecord(key, now: then.addingTimeInterval(25 * 3600)) == nil)
        #expect(try await store.idempotencyRecord("other", now: then) == nil)
        // One key, one job: a second insert with it fails and stores nothing.
        await #expect(throws: (any Error).self) {
            try await store.insert(
                JobRecord(id: "j-key2", spec: JobSpec(), model: "abc", fileName: "m.obj"), idempotency: record)
        }
        #expect(try await store.job("j-key2") == nil)
        // An expired key is forgotten when a later one is stored.
        let later = IdempotencyRecord(
            key: key + "-later", requestSHA256: "g", jobID: "j-key3", createdAt: then.addingTimeInterval(25 * 3600))
        try await store.insert(
            JobRecord(id: "j-key3", spec: JobSpec(), model: "abc", fileName: "m.obj"), idempotency: later)
        #expect(try await store.idempotencyRecord(key, now: then) == nil)
    }

    @Test func inMemory() async throws { try await exercise(InMemoryJobStore()) }

    @Test func sqliteSurvivesReopening() async throws {
        let path = TestEnvironment.outputDirectory("sqlite").appendingPathComponent("jobs.sqlite").path
        let store = try SQLiteJobStore(path: path)
        try await exercise(store)
        let reopened = try SQLiteJobStore(path: path)
        #expect(try await reopened.jobs(status: nil, limit: 10).count == 4)
    }

    @Test func changesNameOnlyWhatDiffers() {
        var job = JobRecord(
            id: "j", spec: JobSpec(lodRatios: [1], viewsPerLOD: 2, viewsPerTask: 1), model: "m",
            fileName: "a.obj")
        #expect(job.changes(since: nil) == JobChanges(header: true, tasks: [0, 1, 2, 3]))
        let before = job
        #expect(job.changes(since: before).isEmpty)
        job.start(now: Date())  // the analysis becomes ready: one task
        #expect(job.changes(since: before) == JobChanges(header: false, tasks: [0]))
        let ready = job
        _ = job.cancel(now: Date())  // the job's status, and its waiting tasks
        #expect(job.changes(since: ready) == JobChanges(header: true, tasks: [0, 1, 2, 3]))
    }

    @Test func aVersionOneDatabaseIsMigratedToTaskRows() async throws {
        // The v1 layout: one JSON document per job, tasks inside it.
        let path = TestEnvironment.outputDirectory("sqlite-v1").appendingPathComponent("jobs.sqlite").path
        var old = JobRecord(id: "j-old", spec: JobSpec(), model: "abc", fileName: "old.obj")
        old.start(now: Date(timeIntervalSinceReferenceDate: 1_000))
        let job = old
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .deferredToDate
        do {
            let queue = try DatabaseQueue(path: path)
            try SQLiteJobStore.migrator(encoder: encoder, decoder: JSONDecoder()).migrate(queue, upTo: "v1-jobs")
            try await queue.write { db in
                try db.execute(
                    sql: "INSERT INTO job (id, status, createdAt, updatedAt, document) VALUES (?, ?, ?, ?, ?)",
                    arguments: [job.id, job.status.rawValue, 1.0, 1.0, try encoder.encode(job)])
            }
        }
        let store = try SQLiteJobStore(path: path)
        #expect(try await store.job("j-old") == job)
        #expect(try await store.activeJobs().map(\.id) == ["j-old"])
    }
}
