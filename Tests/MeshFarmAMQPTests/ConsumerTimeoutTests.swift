import Foundation
import MeshFarmAMQP
import MeshFarmMessaging
import MeshFarmTestSupport
import Synchronization
import Testing

/// A broker of its own whose `consumer_timeout` is 20 s (checked on the
/// shipped 10 s channel tick), and a 45 s task.
@Suite(.serialized) struct ConsumerTimeoutTests {
    /// Counts a handler's executions and sleeps through them, deaf to
    /// cancellation (the worst case: a handler that cannot stop early).
    final class Sleeper: Sendable {
        let executions = Atomic<Int>(0)
        var handler: JSONTaskHandler {
            JSONTaskHandler { [self] _, _ in
                executions.add(1, ordering: .relaxed)
                Thread.sleep(forTimeInterval: 45)
                return .string("done")
            }
        }
        var count: Int { executions.load(ordering: .relaxed) }
    }

    @Test func aTaskLongerThanTheBrokersTimeoutRunsOnceAndFailsWithTheReason() async throws {
        let node = BrokerNode(
            port: Int(ProcessInfo.processInfo.environment["MESHFARM_TIMEOUT_AMQP_PORT"] ?? "") ?? 5696,
            extraConfig: "consumer_timeout = 20000")
        try node.start()
        defer { try? node.stop() }

        // Unguarded (a worker that believes the broker has no timeout): the
        // broker takes the task back and hands it out again while the first
        // copy still runs. This shows the broker's timeout really fires here.
        let unguarded = try await FarmFixture(broker: node)
        let unguardedSleeper = Sleeper()
        let (unguardedTransport, unguardedWorker) = unguarded.makeWorker(
            name: "unguarded", concurrency: 2, timeLimit: 120, brokerConsumerTimeout: nil,
            handlers: ["sleep": unguardedSleeper.handler])
        // Guarded (told the broker's timeout): its limit stays below it.
        let guarded = try await FarmFixture(broker: node)
        let guardedSleeper = Sleeper()
        let (guardedTransport, guardedWorker) = guarded.makeWorker(
            name: "guarded", concurrency: 2, timeLimit: 120, brokerConsumerTimeout: 20,
            handlers: ["sleep": guardedSleeper.handler])
        let runs = [Task { try await unguardedWorker.run() }, Task { try await guardedWorker.run() }]
        try await unguarded.publishTask("long", kind: "sleep")
        try await guarded.publishTask("long", kind: "sleep")

        // The guarded task fails at its 15 s limit, permanently, with the reason.
        #expect(await guarded.wait(timeout: 40) { $0.contains { $0.kind == .failed } })
        let failure = guarded.allEvents.first { $0.kind == .failed }?.failure
        #expect(failure?.retryable == false)
        #expect(
            failure?.message
                == "the task exceeded its time limit of 15 s (kept below the broker's consumer timeout of 20 s)")

        // The unguarded one runs twice once the broker's timeout fires.
        let deadline = Date().addingTimeInterval(45)
        while unguardedSleeper.count < 2, Date() < deadline { try await Task.sleep(for: .milliseconds(200)) }
        #expect(unguardedSleeper.count == 2, "the broker's consumer timeout never fired")
        // By now the broker would have taken the guarded task back too, had
        // it not been acknowledged with its failure.
        try await Task.sleep(for: .seconds(12))
        #expect(guardedSleeper.count == 1)
        #expect(!guarded.allEvents.contains { $0.kind == .succeeded })
        #expect(guarded.allEvents.filter { $0.kind == .started }.count == 1)
        #expect(try await guarded.publisher.messageCount(queue: guarded.farm.cpuQueue) == 0)

        for (transport, worker) in [(unguardedTransport, unguardedWorker), (guardedTransport, guardedWorker)] {
            await worker.shutdown()
            await transport.close()
        }
        runs.forEach { $0.cancel() }
        await unguarded.close()
        await guarded.close()
    }
}
