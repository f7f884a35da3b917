import Foundation
import MeshFarmAMQP
import MeshFarmMessaging
import MeshFarmTestSupport
import Testing

/// The worker runtime against the real broker that `scripts/test` starts.
@Suite struct ReliabilityTests {
    @Test func fairDispatchBusyWorkerGetsNothingElse() async throws {
        let fixture = try await FarmFixture()
        let workers = ["A", "B"].map { fixture.makeWorker(name: $0, handlers: ["sleep": sleepHandler]) }
        let runs = workers.map { worker in Task { try await worker.1.run() } }
        try await Task.sleep(for: .milliseconds(300))  // both consumers registered
        try await fixture.publishTask("long", kind: "sleep", payload: seconds(10))
        try await Task.sleep(for: .milliseconds(200))  // the long task reached a worker first
        for i in 0..<20 { try await fixture.publishTask("short-\(i)", kind: "sleep", payload: seconds(0.05)) }
        #expect(await fixture.wait(timeout: 60) { events in events.filter { $0.kind == .succeeded }.count == 21 })

        let events = fixture.allEvents
        let long = try #require(events.first { $0.taskID == "long" && $0.kind == .started })
        let longDone = try #require(events.first { $0.taskID == "long" && $0.kind == .succeeded })
        // While the long task ran, its worker started nothing else.
        let overlapping = events.filter {
            $0.kind == .started && $0.worker == long.worker && $0.taskID != "long" && $0.at < longDone.at
        }
        #expect(overlapping.isEmpty, "\(long.worker) started \(overlapping.map(\.taskID)) while busy")
        #expect(events.filter { $0.kind == .started && $0.worker != long.worker }.count == 20)
        for (transport, runtime) in workers {
            await runtime.shutdown()
            await transport.close()
        }
        runs.forEach { $0.cancel() }
        await fixture.close()
    }

    @Test func aCancelledJobsTasksStopOverTheControlExchange() async throws {
        let fixture = try await FarmFixture()
        let worker = try fixture.spawnWorker(name: "w")
        try await fixture.publishTask("long", kind: "wait", payload: seconds(60), jobID: "doomed")
        #expect(await fixture.wait(timeout: 20) { $0.contains { $0.taskID == "long" && $0.kind == .started } })
        let sent = Date()
        try await fixture.publisher.publish(
            try ControlMessage(cancelledJobs: ["doomed"]).message(exchange: fixture.farm.controlExchange))
        #expect(await fixture.wait(timeout: 10) { $0.contains { $0.taskID == "long" && $0.kind == .cancelled } })
        #expect(Date().timeIntervalSince(sent) < 5)
        // One slot: the next job's task runs only if the abandoned one freed
        // it; a task of the cancelled job delivered now never starts.
        try await fixture.publishTask("later", kind: "wait", payload: seconds(60), jobID: "doomed")
        try await fixture.publishTask("other", kind: "echo", payload: .number(1), jobID: "alive")
        #expect(
            await fixture.wait(timeout: 20) { events in
                events.contains { $0.taskID == "later" && $0.kind == .cancelled }
                    && events.contains { $0.taskID == "other" && $0.kind == .succeeded }
            })
        #expect(!fixture.allEvents.contains { $0.taskID == "later" && $0.kind == .started })
        #expect(!fixture.allEvents.contains { $0.taskID == "long" && $0.kind == .succeeded })
        #expect(try await fixture.publisher.messageCount(queue: fixture.farm.cpuQueue) == 0)
        worker.terminate()
        await fixture.close()
    }

    @Test func killedWorkerTaskIsRedeliveredAndCompletesOnce() async throws {
        let fixture = try await FarmFixture()
        let first = try fixture.spawnWorker(name: "doomed")
        try await fixture.publishTask("victim", kind: "sleep", payload: seconds(3))
        #expect(await fixture.wait(timeout: 20) { $0.contains { $0.taskID == "victim" && $0.kind == .started } })
        first.kill()  // SIGKILL mid-task: nothing acknowledged
        let second = try fixture.spawnWorker(name: "survivor")
        #expect(await fixture.wait(timeout: 30) { $0.contains { $0.taskID == "victim" && $0.kind == .succeeded } })
        try await Task.sleep(for: .seconds(1))
        let results = fixture.allEvents.filter { $0.taskID == "victim" && $0.kind == .succeeded }
        #expect(results.count == 1)
        #expect(results.first?.worker == "survivor")
        #expect(results.first?.deliveryCount == 1)
        #expect(try await fixture.publisher.messageCount(queue: fixture.farm.cpuQueue) == 0)
        second.terminate()
        await fixture.close()
    }

    @Test func thirtySecondComputeKeepsTheConnectionWithTwoSecondHeartbeats() async throws {
        let fixture = try await FarmFixture()
        let compute = JSONTaskHandler { _, _ in
            let end = Date().addingTimeInterval(30)
            var x: UInt64 = 1
            while Date() < end { for _ in 0..<100_000 { x = x &* 6_364_136_223_846_793_005 &+ 1 } }
            return .number(Double(x % 7))
        }
        let (transport, runtime) = fixture.makeWorker(name: "cruncher", heartbeat: 2, handlers: ["compute": compute])
        let run = Task { try await runtime.run() }
        #expect(await transport.waitUntilConnected(timeout: 10))
        try await fixture.publishTask("crunch", kind: "compute")
        #expect(await fixture.wait(timeout: 90) { $0.contains { $0.taskID == "crunch" && $0.kind == .succeeded } })
        try await Task.sleep(for: .seconds(3))  // a late redelivery would show up here
        #expect(transport.connectionCount == 1, "the connection dropped during the task")
        #expect(fixture.allEvents.filter { $0.taskID == "crunch" && $0.kind == .started }.count == 1)
        #expect(try await fixture.publisher.messageCount(queue: fixture.farm.cpuQueue) == 0)
        await runtime.shutdown()
        await transport.close()
        run.cancel()
        await fixture.close()
    }

    @Test func poisonTaskIsDeadLetteredWhileOthersComplete() async throws {
        let fixture = try await FarmFixture(deliveryLimit: 3)
        // A supervisor that restarts the worker whenever it dies, as Kubernetes would.
        let supervisor = Task.detached {
            var worker = try? fixture.spawnWorker(name: "w0")
            var restarts = 0
            while !Task.isCancelled {
                if worker?.isRunning != true {
                    restarts += 1
                    worker = try? fixture.spawnWorker(name: "w\(restarts)")
                }
                try? await Task.sleep(for: .milliseconds(100))
            }
            worker?.terminate()
            return restarts
        }
        try await fixture.publishTask("poison", kind: "crash")
        for i in 0..<10 { try await fixture.publishTask("ok-\(i)", kind: "sleep", payload: seconds(0.05)) }
        let deadLettered = await waitUntil(timeout: 120) {
            (try? await fixture.publisher.messageCount(queue: fixture.farm.deadLetterQueue)) == 1
        }
        #expect(deadLettered)
        #expect(await fixture.wait(timeout: 60) { _ in fixture.succeededTasks.count == 10 })
        supervisor.cancel()
        let restarts = await supervisor.value
        // Limit 3: delivered 4 times, each killing its worker.
        #expect(restarts >= 4)
        #expect(!fixture.succeededTasks.contains("poison"))
        #expect(try await fixture.publisher.messageCount(queue: fixture.farm.cpuQueue) == 0)
        await fixture.close()
    }

    @Test func malformedMessageIsDeadLetteredAndTheConsumerKeepsGoing() async throws {
        let fixture = try await FarmFixture()
        let (transport, runtime) = fixture.makeWorker(name: "strict", handlers: ["sleep": sleepHandler])
        let run = Task { try await runtime.run() }
        try await fixture.publisher.publish(
            OutgoingMessage(exchange: fixture.farm.tasksExchange, routingKey: "cpu.sleep", body: Data("not json".utf8)))
        try await fixture.publishTask("after", kind: "sleep")
        #expect(await fixture.wait(timeout: 20) { $0.contains { $0.taskID == "after" && $0.kind == .succeeded } })
        #expect(try await fixture.publisher.messageCount(queue: fixture.farm.deadLetterQueue) == 1)
        await runtime.shutdown()
        await transport.close()
        run.cancel()
        await fixture.close()
    }

    @Test func publishToAMissingExchangeOrUnroutableIsAnError() async throws {
        let fixture = try await FarmFixture()
        await #expect(throws: AMQPError.self) {
            try await fixture.publisher.publish(
                OutgoingMessage(exchange: TestEnvironment.uniqueName("missing"), routingKey: "x", body: Data()))
        }
        await #expect(throws: AMQPError.self) {
            try await fixture.publisher.publish(
                OutgoingMessage(exchange: fixture.farm.tasksExchange, routingKey: "nobody.listens", body: Data()))
        }
        // The transport recovered its publish channel.
        try await fixture.publishTask("fine", kind: "sleep")
        #expect(try await fixture.publisher.messageCount(queue: fixture.farm.cpuQueue) == 1)
        await fixture.close()
    }

    /// The broker's returns name no publish: the ledger tells them from
    /// their exchange, routing key and message id. With 90 publishes in
    /// flight at once, every third one unroutable and all of those with the
    /// same message id, exactly the unroutable ones fail.
    @Test func amongManyPublishesInFlightExactlyTheUnroutableOnesFail() async throws {
        let fixture = try await FarmFixture()
        let publisher = fixture.publisher
        let exchange = fixture.farm.tasksExchange
        let failed = await withTaskGroup(of: Int?.self) { group in
            for i in 0..<90 {
                group.addTask {
                    let unroutable = i % 3 == 2
                    do {
                        try await publisher.publish(
                            OutgoingMessage(
                                exchange: exchange, routingKey: unroutable ? "nobody.listens" : "cpu.sleep",
                                body: Data("\(i)".utf8), messageID: unroutable ? "same" : "m-\(i)"))
                        return nil
                    } catch AMQPError.unroutable(exchange, "nobody.listens", _) {
                        return i
                    } catch {
                        Issue.record("publish \(i): \(error)")
                        return -1
                    }
                }
            }
            var failed: [Int] = []
            for await i in group { if let i { failed.append(i) } }
            return failed.sorted()
        }
        #expect(failed == Array(stride(from: 2, to: 90, by: 3)))
        #expect(try await publisher.messageCount(queue: fixture.farm.cpuQueue) == 60)
        await fixture.close()
    }
}

func waitUntil(timeout: Double, _ condition: () async -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(100))
    }
    return await condition()
}
