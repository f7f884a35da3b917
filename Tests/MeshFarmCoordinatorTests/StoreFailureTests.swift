import Foundation
import MeshFarmCoordinator
import MeshFarmJobs
import MeshFarmMessaging
import Synchronization
import Testing

/// A job store that refuses every write while `failing` is set, counting
/// the attempts.
final class FlakyJobStore: JobStore {
    let inner = InMemoryJobStore()
    let failing = Atomic<Bool>(false)
    let failedWrites = Atomic<Int>(0)

    struct DiskFull: Error, CustomStringConvertible {
        var description: String { "disk full" }
    }

    func insert(_ job: JobRecord, idempotency: IdempotencyRecord?) async throws {
        try await inner.insert(job, idempotency: idempotency)
    }
    func idempotencyRecord(_ key: String, now: Date) async throws -> IdempotencyRecord? {
        await inner.idempotencyRecord(key, now: now)
    }
    func save(_ job: JobRecord, since previous: JobRecord?) async throws {
        if failing.load(ordering: .relaxed) {
            failedWrites.add(1, ordering: .relaxed)
            throw DiskFull()
        }
        await inner.save(job, since: previous)
    }
    func job(_ id: String) async throws -> JobRecord? { await inner.job(id) }
    func jobs(status: JobStatus?, limit: Int) async throws -> [JobRecord] {
        await inner.jobs(status: status, limit: limit)
    }
    func activeJobs() async throws -> [JobRecord] { await inner.activeJobs() }
    func delete(_ id: String) async throws -> Bool { await inner.delete(id) }
    func finishedJobs(before date: Date, limit: Int) async throws -> [String] {
        await inner.finishedJobs(before: date, limit: limit)
    }
    func artifactReferences() async throws -> [String: Set<String>] { await inner.artifactReferences() }
}

@Suite struct StoreFailureTests {
    let farm = FarmTopology(prefix: "store")

    @Test func healthBacksOffWithJitterAndRecovers() {
        var health = StoreHealth()
        #expect(health.problem == nil)
        let delays = (0..<8).map { _ in health.failed(FlakyJobStore.DiskFull(), random: 0) }
        // Jitter 0 takes the lower half: 0.05, 0.1, 0.2 ... capped at 10 / 2.
        #expect(delays == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5])
        #expect(health.problem == "the job store is failing (8 times in a row): disk full")
        #expect(health.failed(FlakyJobStore.DiskFull(), random: 0.999_999) <= 10)
        health.succeeded()
        #expect(health.problem == nil && health.consecutiveFailures == 0)
    }

    @Test(.timeLimit(.minutes(1))) func aFailingStoreIsRetriedWithBackoffNotInAHotLoop() async throws {
        let broker = InMemoryBroker()
        let store = FlakyJobStore()
        let coordinator = Coordinator(
            transport: await InMemoryTransport(broker: broker), store: store,
            configuration: .init(farm: farm, dispatchPolicy: DispatchPolicy(minimumWindow: 1)))
        try await coordinator.start()
        let loop = Task { await coordinator.run() }
        defer { loop.cancel() }
        let job = try await coordinator.submit(
            JobRecord(
                id: "j", spec: JobSpec(lodRatios: [1], viewsPerLOD: 1, viewsPerTask: 1),
                model: String(repeating: "a", count: 64), fileName: "m.obj"))

        // The worker takes the analysis and says it started, while every
        // write fails.
        let worker = await InMemoryTransport(broker: broker)
        var deliveries = try await worker.consume(queue: farm.cpuQueue, prefetch: 1).makeAsyncIterator()
        let delivery = try #require(await deliveries.next())
        let task = try MessageCoding.decodeTask(delivery.message.body, as: JobTask.self)
        store.failing.store(true, ordering: .relaxed)
        let started = JobTaskEvent(kind: .started, task: task, worker: "hand")
        try await worker.publish(
            OutgoingMessage(
                exchange: farm.eventsExchange, routingKey: "started.\(job.id)",
                body: try MessageCoding.encode(started), messageID: started.eventID))

        try await Task.sleep(for: .seconds(2))
        // 0.05-0.1, 0.1-0.2, 0.2-0.4, 0.4-0.8 s ... : a handful of tries in
        // two seconds, where an immediate requeue made thousands.
        let attempts = store.failedWrites.load(ordering: .relaxed)
        #expect(attempts >= 2 && attempts <= 8, "\(attempts) writes in 2 s")
        #expect(coordinator.storeProblem?.contains("disk full") == true)

        // The store heals: the event is applied, and readiness clears.
        store.failing.store(false, ordering: .relaxed)
        let id = try #require(TaskID(task.taskID))
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, try await store.job("j")?.task(id)?.state != .running {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(try await store.job("j")?.task(id)?.state == .running)
        #expect(coordinator.storeProblem == nil)
        await coordinator.stop()
    }
}
