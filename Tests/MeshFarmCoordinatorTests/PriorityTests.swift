import Foundation
import MeshFarmArtifacts
import MeshFarmCoordinator
import MeshFarmJobs
import MeshFarmMessaging
import Testing

/// The coordinator over the in-memory broker, with the test playing the
/// CPU worker by hand: which task the queue holds next is the coordinator's
/// priority decision.
@Suite struct PriorityTests {
    let farm = FarmTopology(prefix: "prio")

    func job(_ id: String, priority: Int, at offset: Double) -> JobRecord {
        JobRecord(
            id: id, spec: JobSpec(lodRatios: [1], viewsPerLOD: 1, viewsPerTask: 1, priority: priority),
            model: String(repeating: "a", count: 64), fileName: "m.obj",
            createdAt: Date(timeIntervalSince1970: 1_000_000 + offset))
    }

    @Test(.timeLimit(.minutes(1))) func aHighPriorityJobOvertakesWaitingWork() async throws {
        let broker = InMemoryBroker()
        let coordinator = Coordinator(
            transport: await InMemoryTransport(broker: broker), store: InMemoryJobStore(),
            configuration: .init(farm: farm, dispatchPolicy: DispatchPolicy(minimumWindow: 1)))
        try await coordinator.start()
        let loop = Task { await coordinator.run() }
        defer { loop.cancel() }

        // Three jobs; a window of one lets only the first analysis into the
        // queue, the others wait in the coordinator.
        _ = try await coordinator.submit(job("low-1", priority: 0, at: 0))
        _ = try await coordinator.submit(job("low-2", priority: 0, at: 1))
        _ = try await coordinator.submit(job("high", priority: 9, at: 2))
        #expect(coordinator.poolLoads()["cpu"] == .init(queued: 1, running: 0, ready: 2))

        let worker = await InMemoryTransport(broker: broker)
        var deliveries = try await worker.consume(queue: farm.cpuQueue, prefetch: 1).makeAsyncIterator()
        var order: [String] = []
        for _ in 0..<3 {
            guard let delivery = await deliveries.next() else { break }
            let task = try MessageCoding.decodeTask(delivery.message.body, as: JobTask.self)
            order.append(task.taskID)
            // `started` frees the queue's one place: the next task goes out.
            let started = JobTaskEvent(kind: .started, task: task, worker: "hand")
            try await worker.publish(
                OutgoingMessage(
                    exchange: farm.eventsExchange, routingKey: "started.\(task.jobID)",
                    body: try MessageCoding.encode(started),
                    messageID: started.eventID))
            try await delivery.ack()
        }
        #expect(order == ["low-1.analyze", "high.analyze", "low-2.analyze"])
        #expect(try await coordinator.job("high")?.task("high.analyze")?.state == .running)
        await coordinator.stop()
    }
}

/// The farm's numbered changes behind `GET /v1/events`.
@Suite struct FarmChangesTests {
    @Test func aReconnectingClientGetsWhatItMissedEachThingOnceOrIsToldToReload() async {
        let changes = FarmChanges()
        let first = changes.subscribe(after: nil)
        #expect(first.missed.isEmpty && first.complete)
        changes.record(.job("a"))
        changes.record(.worker("w"))
        changes.record(.job("a"))
        changes.record(.job("b"))
        var live = first.live.makeAsyncIterator()
        let seen = await live.next()
        #expect(seen?.id == "\(changes.epoch)-1" && seen?.change == .job("a"))
        // Back after the first event: the rest, each thing once at its latest id.
        let back = changes.subscribe(after: "\(changes.epoch)-1")
        #expect(back.complete)
        #expect(back.missed.map(\.change) == [.worker("w"), .job("a"), .job("b")])
        #expect(back.missed.map(\.id) == ["\(changes.epoch)-2", "\(changes.epoch)-3", "\(changes.epoch)-4"])
        #expect(changes.subscribe(after: "\(changes.epoch)-4").missed.isEmpty)
        // Another process's ids, or a garbled one: reload.
        #expect(!changes.subscribe(after: "elsewhere-2").complete)
        #expect(!changes.subscribe(after: "garbage").complete)
        // Too far behind: reload.
        for index in 0..<FarmChanges.memory { changes.record(.job("j\(index)")) }
        #expect(!changes.subscribe(after: "\(changes.epoch)-1").complete)
        #expect(changes.subscribe(after: "\(changes.epoch)-\(FarmChanges.memory)").complete)
    }
}
