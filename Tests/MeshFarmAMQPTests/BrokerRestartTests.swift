import Foundation
import MeshFarmAMQP
import MeshFarmMessaging
import MeshFarmTestSupport
import Testing

/// Restarts a broker of its own (port 5692) so other suites keep theirs.
@Suite(.serialized) struct BrokerRestartTests {
    @Test func everyTaskCompletesAcrossABrokerRestart() async throws {
        let node = BrokerNode(
            port: Int(ProcessInfo.processInfo.environment["MESHFARM_RESTART_AMQP_PORT"] ?? "") ?? 5692)
        try node.start()
        defer { try? node.stop() }
        let fixture = try await FarmFixture(broker: node)
        let handler = JSONTaskHandler { _, _ in
            Thread.sleep(forTimeInterval: 0.01)
            return .null
        }
        let workers = (0..<2).map { fixture.makeWorker(name: "w\($0)", concurrency: 4, handlers: ["work": handler]) }
        let runs = workers.map { worker in Task { try await worker.1.run() } }

        let total = 1000
        let publishing = Task {
            for i in 0..<total {
                try await fixture.publishTask("task-\(i)", kind: "work")
                if i % 50 == 0 { try await Task.sleep(for: .milliseconds(100)) }
            }
        }
        #expect(await fixture.wait(timeout: 60) { _ in fixture.succeededTasks.count >= 150 })
        try node.restart()  // mid-stream
        try await publishing.value
        #expect(await fixture.wait(timeout: 180) { _ in fixture.succeededTasks.count == total })
        #expect(fixture.succeededTasks.count == total, "lost \(total - fixture.succeededTasks.count) tasks")
        // A worker whose backoff reached its cap may reconnect up to ~10 s
        // after the broker is back, once the other finished the work.
        for (transport, _) in workers { _ = await transport.waitUntilConnected(timeout: 30) }
        #expect(
            workers.allSatisfy { $0.0.connectionCount >= 2 },
            "workers should have reconnected: \(workers.map { $0.0.connectionCount })")
        #expect(try await fixture.publisher.messageCount(queue: fixture.farm.cpuQueue) == 0)
        for (transport, runtime) in workers {
            await runtime.shutdown()
            await transport.close()
        }
        runs.forEach { $0.cancel() }
        await fixture.close()
    }
}
