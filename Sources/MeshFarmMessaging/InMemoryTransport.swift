import Foundation

/// A broker in memory with RabbitMQ's semantics where MeshFarm relies on
/// them: topic, fanout and default-exchange routing, publisher errors for
/// missing exchanges and unroutable mandatory messages, per-consumer
/// prefetch, requeue and redelivery with `x-delivery-count`, a delivery
/// limit and dead-lettering with `x-first-death-reason`.
///
/// Several ``InMemoryTransport`` connections can share one broker; closing
/// one returns its unsettled deliveries to their queues, as a broker does
/// when a worker's TCP connection dies.
public actor InMemoryBroker {
    struct Stored {
        var message: OutgoingMessage
        var deliveryCount = 0
        var redelivered = false
    }

    struct QueueState {
        var spec: Topology.Queue
        var ready: [Stored] = []
        var consumers: [Int] = []
        var nextConsumer = 0
    }

    struct Consumer {
        var queue: String
        var prefetch: Int
        var connection: Int
        var unacked: [UInt64: Stored] = [:]
        var deliver: @Sendable (Delivery) -> Void
        var end: @Sendable () -> Void
        var cancelled = false
    }

    /// Which delivery a ``Delivery`` is, for settling it with a publish.
    struct DeliveryToken: Sendable {
        let consumer: Int
        let tag: UInt64
    }

    private var exchanges: [String: String] = [:]
    private var bindings: [Topology.Binding] = []
    private var queues: [String: QueueState] = [:]
    private var consumers: [Int: Consumer] = [:]
    private var nextID = 0
    private var nextTag: UInt64 = 0

    public init() {}

    func declare(_ topology: Topology) {
        for exchange in topology.exchanges { exchanges[exchange.name] = exchange.type }
        for queue in topology.queues where queues[queue.name] == nil { queues[queue.name] = QueueState(spec: queue) }
        for binding in topology.bindings where !bindings.contains(binding) { bindings.append(binding) }
    }

    func publish(_ message: OutgoingMessage) throws {
        let targets: [String]
        if message.exchange.isEmpty {
            targets = queues[message.routingKey] == nil ? [] : [message.routingKey]
        } else {
            guard let type = exchanges[message.exchange] else { throw MessagingError.noSuchExchange(message.exchange) }
            targets = bindings.filter {
                $0.exchange == message.exchange
                    && (type == "fanout" || TopicPattern.matches($0.pattern, message.routingKey))
            }.map(\.queue)
        }
        if targets.isEmpty {
            if message.mandatory {
                throw MessagingError.unroutable(exchange: message.exchange, routingKey: message.routingKey)
            }
            return
        }
        for queue in Set(targets) {
            queues[queue]?.ready.append(Stored(message: message))
            dispatch(queue)
        }
    }

    func messageCount(_ queue: String) throws -> Int {
        guard let state = queues[queue] else { throw MessagingError.noSuchQueue(queue) }
        return state.ready.count
    }

    func newConnection() -> Int {
        nextID += 1
        return nextID
    }

    func consume(
        queue: String, prefetch: Int, connection: Int, deliver: @escaping @Sendable (Delivery) -> Void,
        end: @escaping @Sendable () -> Void
    ) throws -> Int {
        guard queues[queue] != nil else { throw MessagingError.noSuchQueue(queue) }
        nextID += 1
        consumers[nextID] = Consumer(
            queue: queue, prefetch: max(1, prefetch), connection: connection, deliver: deliver, end: end)
        queues[queue]!.consumers.append(nextID)
        dispatch(queue)
        return nextID
    }

    func cancel(consumer id: Int) {
        guard var consumer = consumers[id], !consumer.cancelled else { return }
        consumer.cancelled = true
        consumer.end()
        consumers[id] = consumer
        queues[consumer.queue]?.consumers.removeAll { $0 == id }
        if consumer.unacked.isEmpty { consumers[id] = nil }
    }

    /// Closes a connection: its consumers stop and their unsettled
    /// deliveries go back to the front of their queues.
    func close(connection: Int) {
        for (id, consumer) in consumers where consumer.connection == connection {
            cancel(consumer: id)
            for tag in consumer.unacked.keys.sorted().reversed() { returnToQueue(consumer: id, tag: tag) }
            consumers[id] = nil
        }
    }

    /// Publishes `message`, then (only once it is stored, as a broker's
    /// confirm) acknowledges the delivery `token` names. An ack for a
    /// delivery already gone (its connection closed) is dropped: the message
    /// was redelivered.
    func publish(_ message: OutgoingMessage, thenAck token: DeliveryToken?) throws {
        try publish(message)
        if let token { try? settle(consumer: token.consumer, tag: token.tag, .ack) }
    }

    func settle(consumer id: Int, tag: UInt64, _ settlement: Settlement) throws {
        guard let consumer = consumers[id], let stored = consumer.unacked[tag] else {
            throw MessagingError.closed  // already settled, or its connection closed
        }
        switch settlement {
        case .ack:
            consumers[id]!.unacked[tag] = nil
        case .requeue:
            returnToQueue(consumer: id, tag: tag)
        case .reject:
            consumers[id]!.unacked[tag] = nil
            deadLetter(stored, from: consumer.queue, reason: "rejected")
        }
        if consumers[id]!.cancelled && consumers[id]!.unacked.isEmpty { consumers[id] = nil }
        dispatch(consumer.queue)
    }

    private func returnToQueue(consumer id: Int, tag: UInt64) {
        guard var stored = consumers[id]?.unacked.removeValue(forKey: tag), let queue = consumers[id]?.queue else {
            return
        }
        stored.deliveryCount += 1
        stored.redelivered = true
        if let limit = queues[queue]?.spec.deliveryLimit, stored.deliveryCount > limit {
            deadLetter(stored, from: queue, reason: "delivery_limit")
        } else {
            queues[queue]?.ready.insert(stored, at: 0)
        }
        dispatch(queue)
    }

    private func deadLetter(_ stored: Stored, from queue: String, reason: String) {
        guard let exchange = queues[queue]?.spec.deadLetterExchange else { return }
        var message = stored.message
        message.exchange = exchange
        message.mandatory = false
        message.headers["x-first-death-reason"] = .string(reason)
        message.headers["x-first-death-queue"] = .string(queue)
        message.headers["x-delivery-count"] = .int(Int64(stored.deliveryCount))
        try? publish(message)
    }

    /// Hands ready messages to consumers with room under their prefetch,
    /// round robin.
    private func dispatch(_ queue: String) {
        guard var state = queues[queue] else { return }
        defer { queues[queue] = state }
        while !state.ready.isEmpty {
            let candidates = state.consumers.filter {
                if let c = consumers[$0] { return !c.cancelled && c.unacked.count < c.prefetch }
                return false
            }
            guard !candidates.isEmpty else { return }
            let id = candidates[state.nextConsumer % candidates.count]
            state.nextConsumer += 1
            let stored = state.ready.removeFirst()
            nextTag += 1
            let tag = nextTag
            consumers[id]!.unacked[tag] = stored
            var headers = stored.message.headers
            if state.spec.quorum, stored.deliveryCount > 0 {
                headers["x-delivery-count"] = .int(Int64(stored.deliveryCount))
            }
            let received = ReceivedMessage(
                body: stored.message.body, exchange: stored.message.exchange, routingKey: stored.message.routingKey,
                messageID: stored.message.messageID, headers: headers, redelivered: stored.redelivered)
            let delivery = Delivery(message: received, token: DeliveryToken(consumer: id, tag: tag)) {
                [weak self] settlement in
                guard let self else { throw MessagingError.closed }
                try await self.settle(consumer: id, tag: tag, settlement)
            }
            consumers[id]!.deliver(delivery)
        }
    }
}

/// One connection to an ``InMemoryBroker``.
///
/// Publishes go through one queue per connection, processed in order by one
/// task, so messages published one after another (a `started` event, then
/// the result) reach the broker in that order, as on an AMQP channel; a
/// publish that acknowledges a delivery does so in the broker's own step
/// right after storing the message, never before.
public final class InMemoryTransport: MessageTransport {
    public let broker: InMemoryBroker
    private let connection: Int
    private let requests: AsyncStream<PublishRequest>.Continuation
    private let drained: Task<Void, Never>

    struct PublishRequest: Sendable {
        let message: OutgoingMessage
        let delivery: Delivery?
        let completion: (@Sendable (Error?) -> Void)?
    }

    /// Connects to `broker` (a new private broker by default).
    public init(broker: InMemoryBroker = InMemoryBroker()) async {
        self.broker = broker
        connection = await broker.newConnection()
        let (stream, continuation) = AsyncStream<PublishRequest>.makeStream()
        requests = continuation
        drained = Task {
            for await request in stream {
                let token = request.delivery?.token as? InMemoryBroker.DeliveryToken
                do {
                    try await broker.publish(request.message, thenAck: token)
                    if let delivery = request.delivery, token == nil { try? await delivery.ack() }
                    request.completion?(nil)
                } catch {
                    request.completion?(error)
                }
            }
        }
    }

    public func declare(_ topology: Topology) async throws { await broker.declare(topology) }

    public func publish(
        _ message: OutgoingMessage, thenAck delivery: Delivery?, completion: (@Sendable (Error?) -> Void)?
    ) {
        let request = PublishRequest(message: message, delivery: delivery, completion: completion)
        if case .terminated = requests.yield(request) { completion?(MessagingError.closed) }
    }

    public func consume(
        queue: String, prefetch: Int, onDelivery: @escaping @Sendable (Delivery) -> Void,
        onEnd: @escaping @Sendable () -> Void
    ) async throws -> MessageConsumer {
        let id = try await broker.consume(
            queue: queue, prefetch: prefetch, connection: connection, deliver: onDelivery, end: onEnd)
        let broker = self.broker
        return MessageConsumer { await broker.cancel(consumer: id) }
    }

    public func messageCount(queue: String) async throws -> Int { try await broker.messageCount(queue) }

    /// Sends what was published so far, then closes: unsettled deliveries
    /// return to their queues.
    public func close() async {
        requests.finish()
        await drained.value
        await broker.close(connection: connection)
    }
}
