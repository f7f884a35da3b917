import Foundation
import MeshFarmMessaging
import Testing

@Suite struct InMemoryTransportTests {
    let farm = FarmTopology(prefix: "t", deliveryLimit: 2)

    func message(_ key: String, _ body: String = "x", mandatory: Bool = true) -> OutgoingMessage {
        OutgoingMessage(exchange: farm.tasksExchange, routingKey: key, body: Data(body.utf8), mandatory: mandatory)
    }

    @Test func routingAndPublisherErrors() async throws {
        let transport = await InMemoryTransport()
        try await transport.declare(farm.topology)
        try await transport.publish(message("cpu.analyze"))
        try await transport.publish(message("gpu.render"))
        #expect(try await transport.messageCount(queue: farm.cpuQueue) == 1)
        #expect(try await transport.messageCount(queue: farm.gpuQueue) == 1)
        await #expect(throws: MessagingError.unroutable(exchange: farm.tasksExchange, routingKey: "tpu.x")) {
            try await transport.publish(message("tpu.x"))
        }
        try await transport.publish(message("tpu.x", mandatory: false))  // silently dropped, as AMQP does
        await #expect(throws: MessagingError.noSuchExchange("missing")) {
            try await transport.publish(OutgoingMessage(exchange: "missing", routingKey: "k", body: Data()))
        }
    }

    @Test func prefetchLimitsUnsettledDeliveries() async throws {
        let transport = await InMemoryTransport()
        try await transport.declare(farm.topology)
        for i in 0..<5 { try await transport.publish(message("cpu.a", "\(i)")) }
        let stream = try await transport.consume(queue: farm.cpuQueue, prefetch: 2)
        var iterator = stream.makeAsyncIterator()
        let first = await iterator.next()!
        _ = await iterator.next()!
        #expect(try await transport.messageCount(queue: farm.cpuQueue) == 3)
        try await first.ack()
        _ = await iterator.next()!
        #expect(try await transport.messageCount(queue: farm.cpuQueue) == 2)
    }

    @Test func redeliveryCountsAndTheDeliveryLimitDeadLetters() async throws {
        let transport = await InMemoryTransport()
        try await transport.declare(farm.topology)
        try await transport.publish(message("cpu.a", "poison"))
        let stream = try await transport.consume(queue: farm.cpuQueue, prefetch: 1)
        var iterator = stream.makeAsyncIterator()
        var counts: [Int] = []
        // Limit 2: delivered 3 times (counts 0, 1, 2), then dead-lettered.
        for _ in 0..<3 {
            let delivery = await iterator.next()!
            counts.append(delivery.message.deliveryCount)
            #expect(delivery.message.redelivered == (counts.count > 1))
            try await delivery.requeue()
        }
        #expect(counts == [0, 1, 2])
        #expect(try await transport.messageCount(queue: farm.cpuQueue) == 0)
        #expect(try await transport.messageCount(queue: farm.deadLetterQueue) == 1)
        let dead = try await transport.consume(queue: farm.deadLetterQueue, prefetch: 1)
        var deadIterator = dead.makeAsyncIterator()
        let letter = await deadIterator.next()!
        #expect(letter.message.headers["x-first-death-reason"] == .string("delivery_limit"))
        #expect(String(decoding: letter.message.body, as: UTF8.self) == "poison")
    }

    @Test func closingAConnectionRequeuesItsDeliveries() async throws {
        let broker = InMemoryBroker()
        let worker = await InMemoryTransport(broker: broker)
        let other = await InMemoryTransport(broker: broker)
        try await worker.declare(farm.topology)
        try await worker.publish(message("cpu.a"))
        let stream = try await worker.consume(queue: farm.cpuQueue, prefetch: 1)
        var iterator = stream.makeAsyncIterator()
        let delivery = await iterator.next()!
        await worker.close()  // the worker "crashes" holding the delivery
        await #expect(throws: MessagingError.self) { try await delivery.ack() }
        let again = try await other.consume(queue: farm.cpuQueue, prefetch: 1)
        var againIterator = again.makeAsyncIterator()
        let redelivered = await againIterator.next()!
        #expect(redelivered.message.redelivered && redelivered.message.deliveryCount == 1)
    }

    @Test func rejectDeadLetters() async throws {
        let transport = await InMemoryTransport()
        try await transport.declare(farm.topology)
        try await transport.publish(message("gpu.r"))
        let stream = try await transport.consume(queue: farm.gpuQueue, prefetch: 1)
        var iterator = stream.makeAsyncIterator()
        try await iterator.next()!.reject()
        #expect(try await transport.messageCount(queue: farm.deadLetterQueue) == 1)
    }
}
