import Foundation
import MeshFarmAMQP
import MeshFarmMessaging
import MeshFarmTestSupport
import Testing

/// The farm's least-privilege broker users (`scripts/rabbitmq` creates them
/// with `deploy/rabbitmq/permissions.sh`): a worker's user consumes task
/// queues and publishes events, and the broker refuses it the rest.
@Suite struct BrokerPermissionTests {
    @Test func aWorkerUserCanNeitherPublishTasksNorReadTheCoordinatorsEvents() async throws {
        let fixture = try await FarmFixture()  // declares the topology as guest
        let farm = fixture.farm
        let worker = AMQPTransport(configuration: .init(url: try AMQPURL(try fixture.broker.url(user: "worker"))))
        defer { Task { await worker.close() } }

        // Allowed: its task queue and the events exchange.
        #expect(try await worker.messageCount(queue: farm.cpuQueue) == 0)
        try await worker.publish(
            OutgoingMessage(exchange: farm.eventsExchange, routingKey: "progress.job", body: Data("{}".utf8)))

        // Refused, with the broker's reason.
        await #expect {
            try await worker.publish(
                OutgoingMessage(exchange: farm.tasksExchange, routingKey: "cpu.analyze", body: Data("{}".utf8)))
        } throws: { error in
            "\(error)".contains("ACCESS_REFUSED") && "\(error)".contains(farm.tasksExchange)
        }
        await #expect {
            let stream = try await worker.consume(queue: farm.coordinatorQueue, prefetch: 1)
            for await _ in stream { break }
        } throws: { error in
            "\(error)".contains("ACCESS_REFUSED") && "\(error)".contains(farm.coordinatorQueue)
        }
        // Still connected and useful after the refusals.
        #expect(try await worker.messageCount(queue: farm.gpuQueue) == 0)
        await fixture.close()
    }
}
