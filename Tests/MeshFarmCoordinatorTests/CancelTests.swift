import Foundation
import MeshFarmCoordinator
import MeshFarmJobs
import MeshFarmMessaging
import Synchronization
import Testing

/// Cancel means stop: the coordinator and a real worker runtime over the
/// in-memory broker. The worker takes one task at a time and its handler
/// runs until it is told to stop.
@Suite struct CancelTests {
    let farm = FarmTopology(prefix: "cancel")

    func job(_ id: String, at offset: Double) -> JobRecord {
        JobRecord(
            id: id, spec: JobSpec(lodRatios: [1], viewsPerLOD: 1, viewsPerTask: 1),
            model: String(repeating: "a", count: 64), fileName: "m.obj",
            createdAt: Date(timeIntervalSince1970: 1_000_000 + offset))
    }

    @Test(.timeLimit(.minutes(1))) func cancellingStopsARunningTaskAndAQueuedOneNeverStarts() async throws {
        let broker = InMemoryBroker()
        let coordinator = Coordinator(
            transport: await InMemoryTransport(broker: broker), store: InMemoryJobStore(),
            configuration: .init(farm: farm, dispatchPolicy: DispatchPolicy(minimumWindow: 2)))
        try await coordinator.start()
        let loop = Task { await coordinator.run() }
        defer { loop.cancel() }

        let ran = Mutex<[String]>([])
        let stoppedAfter = Mutex<Double?>(nil)
        let handler = ClosureTaskHandler<TaskPayload, TaskResult> { task, context in
            ran.withLock { $0.append(task.taskID) }
            let start = Date()
            while !context.isCancelled, Date().timeIntervalSince(start) < 30 { Thread.sleep(forTimeInterval: 0.01) }
            stoppedAfter.withLock { $0 = Date().timeIntervalSince(start) }
            throw TaskFailure.permanent("stopped")
        }
        let worker = WorkerRuntime<TaskPayload, TaskResult>(
            transport: await InMemoryTransport(broker: broker),
            configuration: WorkerConfiguration(
                queue: farm.cpuQueue, eventsExchange: farm.eventsExchange, controlExchange: farm.controlExchange,
                concurrency: 1, workerName: "w1", shutdownGrace: 0.2),
            handlers: [TaskKind.analyze.rawValue: handler])
        let running = Task { try await worker.run() }

        // Both analyses go to the queue (a window of two); the worker takes
        // the first, the second waits in the queue behind it.
        _ = try await coordinator.submit(job("first", at: 0))
        _ = try await coordinator.submit(job("second", at: 1))
        try await waitUntil { try await coordinator.job("first")?.task("first.analyze")?.state == .running }
        #expect(try await coordinator.job("second")?.task("second.analyze")?.state == .queued)

        _ = try await coordinator.cancel("second")  // queued: must never start
        let cancelled = Date()
        _ = try await coordinator.cancel("first")  // running: must stop
        try await waitUntil {
            let first = try await coordinator.job("first")?.task("first.analyze")?.state
            let second = try await coordinator.job("second")?.task("second.analyze")?.state
            return first == .cancelled && second == .cancelled
        }
        #expect(Date().timeIntervalSince(cancelled) < 10)
        #expect(ran.withLock { $0 } == ["first.analyze"])
        #expect((stoppedAfter.withLock { $0 } ?? 99) < 10)
        #expect(try await coordinator.job("first")?.task("first.analyze")?.worker == "w1")
        #expect(worker.inFlight == 0 && worker.completed == 0)
        #expect(try await InMemoryTransport(broker: broker).messageCount(queue: farm.cpuQueue) == 0)
        await worker.shutdown()
        running.cancel()
        await coordinator.stop()
    }

    @Test(.timeLimit(.minutes(1))) func aSubmissionTheLoopDoesNotTakeInTimeFailsAndCreatesNothing() async throws {
        let store = InMemoryJobStore()
        let coordinator = Coordinator(
            transport: await InMemoryTransport(), store: store, configuration: .init(farm: farm, submitWait: 0.3))
        try await coordinator.start()
        // The loop is not running (as while the broker was unreachable at start-up).
        let asked = Date()
        await #expect(throws: CoordinatorUnavailable.self) { try await coordinator.submit(job("late", at: 0)) }
        #expect(Date().timeIntervalSince(asked) < 5)
        let loop = Task { await coordinator.run() }
        defer { loop.cancel() }
        // The loop reaches the abandoned submission and drops it; the next one is created.
        _ = try await coordinator.submit(job("next", at: 1))
        #expect(try await store.job("late") == nil)
        #expect(try await store.job("next") != nil)
        await coordinator.stop()
    }

    func waitUntil(_ condition: () async throws -> Bool) async throws {
        while try await !condition() { try await Task.sleep(for: .milliseconds(20)) }
    }
}
