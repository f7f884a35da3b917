import Foundation
import MeshFarmAMQP
import MeshFarmMessaging
import MeshFarmTestSupport
import Testing

/// Low-level tests of the librabbitmq wrapper against the real broker that
/// `scripts/test` starts.
@Suite struct AMQPConnectionTests {
    @Test func publishConfirmConsumeAckInOrder() throws {
        let url = try AMQPURL(TestEnvironment.amqpURL)
        let connection = try AMQPConnection(url: url, heartbeat: 10)
        defer { connection.close() }
        let queue = TestEnvironment.uniqueName("test.roundtrip")
        try connection.openChannel(1)
        try connection.declareQueue(channel: 1, name: queue, durable: true)
        defer { try? connection.deleteQueue(channel: 1, name: queue) }
        try connection.confirmSelect(channel: 1)

        // Publish 100 persistent messages through the default exchange and
        // collect the broker's confirms (acks may cover several with `multiple`).
        for i in 0..<100 {
            try connection.publish(
                channel: 1,
                OutgoingMessage(
                    exchange: "", routingKey: queue, body: Data("message \(i)".utf8), messageID: "m\(i)",
                    headers: ["index": .int(Int64(i))]))
        }
        var confirmed: UInt64 = 0
        let deadline = Date().addingTimeInterval(20)
        while confirmed < 100, Date() < deadline {
            guard let event = try connection.nextEvent(timeout: 1) else { continue }
            if case .confirm(_, let tag, let multiple, let ack) = event {
                #expect(ack, "broker nacked message \(tag)")
                confirmed = multiple ? max(confirmed, tag) : confirmed + 1
            }
        }
        #expect(confirmed == 100)
        #expect(try connection.declareQueue(channel: 1, name: queue, passive: true).messages == 100)

        // Consume with manual ack and prefetch 10.
        try connection.openChannel(2)
        try connection.qos(channel: 2, prefetch: 10)
        let tag = try connection.consume(channel: 2, queue: queue)
        #expect(!tag.isEmpty)
        var received: [ReceivedMessage] = []
        while received.count < 100, Date() < deadline.addingTimeInterval(20) {
            guard let event = try connection.nextEvent(timeout: 1) else { continue }
            if case .delivery(let channel, let deliveryTag, _, let message) = event {
                #expect(channel == 2)
                received.append(message)
                try connection.ack(channel: 2, deliveryTag: deliveryTag)
            }
        }
        #expect(received.count == 100)
        for (i, message) in received.enumerated() {
            #expect(String(decoding: message.body, as: UTF8.self) == "message \(i)")
            #expect(message.messageID == "m\(i)")
            #expect(message.headers["index"] == .int(Int64(i)))
            #expect(!message.redelivered)
        }
        try connection.cancel(channel: 2, consumerTag: tag)
        // Everything was acked: nothing left in the queue.
        #expect(try connection.declareQueue(channel: 1, name: queue, passive: true).messages == 0)
    }

    @Test func publishToMissingExchangeClosesTheChannelWithAnError() throws {
        let connection = try AMQPConnection(url: try AMQPURL(TestEnvironment.amqpURL))
        defer { connection.close() }
        try connection.openChannel(1)
        try connection.confirmSelect(channel: 1)
        try connection.publish(
            channel: 1, OutgoingMessage(exchange: TestEnvironment.uniqueName("missing"), routingKey: "x", body: Data()))
        var closed: (Int, String)?
        let deadline = Date().addingTimeInterval(10)
        while closed == nil, Date() < deadline {
            if case .channelClosed(_, let code, let reason) = try connection.nextEvent(timeout: 1) {
                closed = (code, reason)
            }
        }
        #expect(closed?.0 == 404)
        // The channel number can be reused after the broker closed it.
        try connection.openChannel(1)
    }

    @Test func wrongCredentialsAreAConnectionError() throws {
        var url = try AMQPURL(TestEnvironment.amqpURL)
        url.password = "wrong-\(UUID().uuidString)"
        #expect(throws: AMQPError.self) { try AMQPConnection(url: url) }
    }
}
