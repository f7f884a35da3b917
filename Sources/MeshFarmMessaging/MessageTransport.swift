/// How a consumer settles a delivery.
public enum Settlement: Sendable, Equatable {
    /// Done: remove the message.
    case ack
    /// Put it back for another delivery (counts toward the delivery limit).
    case requeue
    /// Refuse it: it is dead-lettered (or dropped when the queue has no
    /// dead-letter exchange).
    case reject
}

/// One message handed to a consumer, to be settled exactly once.
public struct Delivery: Sendable {
    public let message: ReceivedMessage
    /// Transport-specific identity of the delivery (channel, tag...), for
    /// the transport to settle it itself after a publish
    /// (``MessageTransport/publish(_:thenAck:completion:)``).
    public let token: (any Sendable)?
    private let settle: @Sendable (Settlement) async throws -> Void
    private let settleNow: (@Sendable (Settlement) -> Void)?

    /// `settleInBackground`, when given, must queue the settlement without
    /// blocking; otherwise one is derived from `settle`.
    public init(
        message: ReceivedMessage, token: (any Sendable)? = nil,
        settleInBackground: (@Sendable (Settlement) -> Void)? = nil,
        settle: @escaping @Sendable (Settlement) async throws -> Void
    ) {
        self.message = message
        self.token = token
        self.settle = settle
        self.settleNow = settleInBackground
    }

    /// Settles from synchronous code (a task thread) without waiting; if the
    /// settlement cannot be sent, the broker redelivers the message.
    public func settleInBackground(_ settlement: Settlement) {
        if let settleNow {
            settleNow(settlement)
        } else {
            let settle = self.settle
            Task { try? await settle(settlement) }
        }
    }

    /// Acknowledges the delivery. A transport may return once the ack is
    /// queued for sending: if it can no longer be sent, the broker
    /// redelivers the message, which consumers must tolerate anyway.
    public func ack() async throws { try await settle(.ack) }
    public func requeue() async throws { try await settle(.requeue) }
    public func reject() async throws { try await settle(.reject) }
    public func settle(_ settlement: Settlement) async throws { try await settle(settlement) }
}

/// The deliveries of one consumer, until it is cancelled or its transport
/// closes.
public struct MessageStream: AsyncSequence, Sendable {
    public typealias Element = Delivery
    let stream: AsyncStream<Delivery>
    private let onCancel: @Sendable () async -> Void

    public init(stream: AsyncStream<Delivery>, onCancel: @escaping @Sendable () async -> Void) {
        self.stream = stream
        self.onCancel = onCancel
    }

    public func makeAsyncIterator() -> AsyncStream<Delivery>.AsyncIterator { stream.makeAsyncIterator() }

    /// Stops further deliveries (`basic.cancel`). Deliveries already handed
    /// out must still be settled.
    public func cancel() async { await onCancel() }
}

/// A consumer fed through callbacks (see
/// ``MessageTransport/consume(queue:prefetch:onDelivery:onEnd:)``).
public struct MessageConsumer: Sendable {
    private let onCancel: @Sendable () async -> Void

    public init(onCancel: @escaping @Sendable () async -> Void) { self.onCancel = onCancel }

    /// Stops further deliveries; those handed out must still be settled.
    public func cancel() async { await onCancel() }
}

/// A message broker connection: the seam between MeshFarm and RabbitMQ.
///
/// Two implementations share these semantics and run the same paths:
/// `AMQPTransport` (librabbitmq, production) and ``InMemoryTransport``
/// (unit tests and `meshfarm run`). A publish is done once the broker has
/// confirmed it; a consumer receives at most `prefetch` unsettled
/// deliveries; a delivery not acknowledged before its consumer's connection
/// goes away is redelivered; a message redelivered more often than its
/// queue's delivery limit, or rejected, is dead-lettered.
///
/// The requirements are the operations the worker runtime and the
/// coordinator need; the rest (async publish, a consumer as an
/// `AsyncSequence`) are extensions over them.
public protocol MessageTransport: Sendable {
    /// Declares exchanges, queues and bindings (idempotent; re-applied after
    /// reconnects).
    func declare(_ topology: Topology) async throws
    /// Publishes `message` and returns at once. Once the broker has
    /// confirmed it, acknowledges `delivery` when one is given (a worker's
    /// "result, then ack": the ack is never sent before the confirm) and
    /// calls `completion` with nil. A refused, unroutable (mandatory) or
    /// misaddressed message calls `completion` with the error and
    /// acknowledges nothing. An ack that can no longer be sent (the
    /// delivery's channel died) is not an error: the broker redelivers the
    /// message. Without a `completion`, failures are only logged.
    func publish(
        _ message: OutgoingMessage, thenAck delivery: Delivery?, completion: (@Sendable (Error?) -> Void)?)
    /// Consumes `queue` with at most `prefetch` unsettled deliveries,
    /// calling `onDelivery` for each on a thread of the transport's choosing
    /// (AMQP: its connection thread), so it must return quickly; `onEnd`
    /// runs once when deliveries stop for good (cancelled, or the transport
    /// closed).
    func consume(
        queue: String, prefetch: Int, onDelivery: @escaping @Sendable (Delivery) -> Void,
        onEnd: @escaping @Sendable () -> Void
    ) async throws -> MessageConsumer
    /// Messages ready for delivery in `queue`.
    func messageCount(queue: String) async throws -> Int
    /// Closes the connection; unsettled deliveries return to their queues.
    func close() async
}

extension MessageTransport {
    /// Publishes and returns once the broker has confirmed the message.
    public func publish(_ message: OutgoingMessage) async throws {
        try await publish(message, thenAck: nil)
    }

    /// Publishes, then acknowledges `delivery` once the message is confirmed.
    public func publish(_ message: OutgoingMessage, thenAck delivery: Delivery?) async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
            publish(message, thenAck: delivery) { error in
                if let error { c.resume(throwing: error) } else { c.resume() }
            }
        }
    }

    /// Publishes without waiting: confirmed and retried like any other, but
    /// failures are only logged. For informational messages (`started`,
    /// `progress` events).
    public func publishInBackground(_ message: OutgoingMessage) {
        publish(message, thenAck: nil, completion: nil)
    }

    /// Consumes `queue` as an `AsyncSequence`. Dropping the stream cancels
    /// the consumer.
    public func consume(queue: String, prefetch: Int) async throws -> MessageStream {
        let (stream, continuation) = AsyncStream<Delivery>.makeStream()
        let consumer = try await consume(
            queue: queue, prefetch: prefetch, onDelivery: { continuation.yield($0) },
            onEnd: { continuation.finish() })
        continuation.onTermination = { _ in Task { await consumer.cancel() } }
        return MessageStream(stream: stream) { await consumer.cancel() }
    }
}
