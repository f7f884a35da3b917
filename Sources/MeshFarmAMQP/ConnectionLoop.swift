import CAMQP
import Foundation
import Logging
import MeshFarmMessaging

/// The event loop of ``AMQPTransport``'s connection thread: it polls
/// librabbitmq and applies what the ``PublishLedger`` and the
/// ``ConsumerTable`` decide. Every property is touched by that thread only;
/// other threads talk to it through the ``Inbox`` (hence `@unchecked
/// Sendable`: it is handed to that thread once).
final class ConnectionLoop: @unchecked Sendable {
    static let publishChannel: UInt16 = 1
    static let utilityChannel: UInt16 = 2

    let configuration: AMQPTransport.Configuration
    let inbox: Inbox
    let stats: Stats
    let logger: Logger

    var connection: AMQPConnection?
    private var closing = false
    private var closeWaiters: [CheckedContinuation<Void, Never>] = []
    private var reconnectAttempt = 0
    private var nextConnectAttempt = Date.distantPast

    var topologies: [Topology] = []
    /// Declarations and queue inspections waiting for a connection.
    var waiting: [Command] = []
    var ledger = PublishLedger<PendingPublish>()
    var consumers = ConsumerTable<DeliverySink>(firstConsumerChannel: 3)
    /// Acknowledgements asked for since the last flush, sent coalesced.
    var acks = AckCoalescer()
    /// `consume` calls waiting for their consumer's first subscription.
    var subscribeReplies: [Int: CheckedContinuation<Int, Error>] = [:]
    var utilityChannelOpen = false

    init(configuration: AMQPTransport.Configuration, inbox: Inbox, stats: Stats, logger: Logger) {
        self.configuration = configuration
        self.inbox = inbox
        self.stats = stats
        self.logger = logger
    }

    // MARK: - Loop

    func run() {
        while true {
            do {
                try handleBatch(inbox.take())
                try flushAcks()
                if closing {
                    shutDown()
                    return
                }
                guard let connection else {
                    if Date() >= nextConnectAttempt { connect() }
                    if self.connection == nil {
                        expirePublishes()
                        waitForWake(until: nextConnectAttempt)
                    }
                    continue
                }
                // What arrived while commands ran makes `poll()` return at
                // once, so one read pass per turn, after the wait, is enough.
                waitForSocket(connection)
                try pump(connection)
                try flushAcks()
                expirePublishes()
            } catch {
                connectionLost(error)
            }
        }
    }

    /// Handles commands in order; when one fails with a connection error, the
    /// rest go back to the head of the inbox for after the reconnect.
    func handleBatch(_ commands: [Command]) throws {
        var rest = commands[...]
        while let command = rest.popFirst() {
            do { try handle(command) } catch {
                inbox.pushFront(Array(rest))
                throw error
            }
        }
    }

    /// Reads every complete frame already available; also lets librabbitmq
    /// send a heartbeat when one is due.
    private func pump(_ connection: AMQPConnection) throws {
        while let event = try connection.nextEvent(timeout: 0) { try handle(event) }
    }

    private func waitForSocket(_ connection: AMQPConnection) {
        if connection.hasBufferedFrames || !inbox.prepareToSleep() { return }
        let heartbeat = Double(configuration.url.heartbeat ?? configuration.heartbeat)
        let timeout = heartbeat > 0 ? min(max(heartbeat / 4, 0.05), 1) : 1
        var fds = [
            pollfd(fd: connection.socketFD, events: Int16(POLLIN), revents: 0),
            pollfd(fd: inbox.readFD, events: Int16(POLLIN), revents: 0),
        ]
        _ = poll(&fds, 2, Int32(timeout * 1000))
        inbox.awake()
        if fds[1].revents & Int16(POLLIN) != 0 { inbox.drainWakeups() }
    }

    private func waitForWake(until date: Date) {
        guard inbox.prepareToSleep() else { return }
        let milliseconds = max(0, min(1000, Int32(date.timeIntervalSinceNow * 1000)))
        var fd = pollfd(fd: inbox.readFD, events: Int16(POLLIN), revents: 0)
        _ = poll(&fd, 1, milliseconds)
        inbox.awake()
        if fd.revents & Int16(POLLIN) != 0 { inbox.drainWakeups() }
    }

    // MARK: - Connection lifecycle

    private func connect() {
        do {
            let connection = try AMQPConnection(
                url: configuration.url, heartbeat: configuration.heartbeat, connectTimeout: configuration.connectTimeout
            )
            self.connection = connection
            try openPublishChannel(connection)
            try openUtilityChannel(connection)
            for topology in topologies { try declare(topology, on: connection) }
            reconnectAttempt = 0
            stats.update {
                $0.connections += 1
                $0.connected = true
            }
            logger.info("connected", metadata: ["broker": "\(configuration.url)"])
            for id in consumers.activeIDs { try subscribe(id) }
            let held = waiting
            waiting = []
            try handleBatch(held)
            try flushUnsent()
        } catch {
            connectionLost(error)
        }
    }

    private func connectionLost(_ error: Error) {
        reconnectAttempt += 1
        let delay = configuration.reconnect.delay(retry: reconnectAttempt)
        nextConnectAttempt = Date().addingTimeInterval(delay)
        if connection != nil || reconnectAttempt == 1 {
            logger.warning(
                "broker connection lost; reconnecting",
                metadata: ["error": "\(error)", "retryIn": "\(String(format: "%.2f", delay))s"])
        } else {
            logger.debug("reconnect failed", metadata: ["error": "\(error)", "attempt": "\(reconnectAttempt)"])
        }
        connection?.close()
        connection = nil
        utilityChannelOpen = false
        stats.update { $0.connected = false }
        ledger.connectionLost()
        consumers.connectionLost()
        acks.connectionLost()
    }

    private func shutDown() {
        if let connection {
            for id in consumers.activeIDs {
                if let channel = consumers[id]?.channel, let tag = consumers[id]?.tag {
                    try? connection.cancel(channel: channel, consumerTag: tag)
                }
            }
            connection.close()
        }
        connection = nil
        stats.update { $0.connected = false }
        apply(ledger.shutDown(.shutdown))
        for command in waiting { command.fail(AMQPError.shutdown) }
        waiting = []
        for (_, reply) in subscribeReplies { reply.resume(throwing: AMQPError.shutdown) }
        subscribeReplies = [:]
        for consumer in consumers.removeAll() { consumer.sink.finish() }
        // Commands posted while closing, and any posted from now on, fail.
        for command in inbox.close() { command.fail(AMQPError.shutdown) }
        for waiter in closeWaiters { waiter.resume() }
    }

    func beginClose(_ waiter: CheckedContinuation<Void, Never>) {
        closing = true
        closeWaiters.append(waiter)
    }

    private func openPublishChannel(_ connection: AMQPConnection) throws {
        try connection.openChannel(Self.publishChannel)
        consumers.opened(Self.publishChannel)
        try connection.confirmSelect(channel: Self.publishChannel)
    }

    func openUtilityChannel(_ connection: AMQPConnection) throws {
        try connection.openChannel(Self.utilityChannel)
        consumers.opened(Self.utilityChannel)
        utilityChannelOpen = true
    }

    /// Subscribes consumer `id` on its channel (opened afresh).
    func subscribe(_ id: Int) throws {
        guard let connection, let consumer = consumers[id] else { return }
        let channel = consumers.channel(for: id)
        do {
            try connection.openChannel(channel)
            consumers.opened(channel)
            try connection.qos(channel: channel, prefetch: consumer.prefetch)
            consumers.subscribed(
                id, channel: channel, tag: try connection.consume(channel: channel, queue: consumer.queue))
            subscribeReplies.removeValue(forKey: id)?.resume(returning: id)
        } catch let error as AMQPError {
            guard case .channelClosed = error else { throw error }
            logger.error("cannot consume", metadata: ["queue": "\(consumer.queue)", "error": "\(error)"])
            subscribeReplies.removeValue(forKey: id)?.resume(throwing: error)
            consumer.sink.finish()
            consumers.remove(id)
        }
    }

    // MARK: - Publishing

    /// Writes every unsent publish, in order.
    func flushUnsent() throws {
        guard let connection else { return }
        while let record = ledger.nextUnsent() {
            do {
                try connection.publish(channel: Self.publishChannel, record.entry.message)
            } catch {
                ledger.unsendable(record)
                throw error
            }
            ledger.written(record)
        }
    }

    private func expirePublishes() {
        guard let timeout = configuration.publishTimeout else { return }
        let cutoff = Date().addingTimeInterval(-timeout)
        apply(
            ledger.expire(
                where: { $0.created < cutoff },
                error: AMQPError.connectionClosed("publish not confirmed within \(Int(timeout)) s")))
    }

    /// Answers the callers of finished publishes. The deliveries of
    /// successful results are acknowledged first, in one flush (coalesced
    /// when one confirm covers several): a caller told "done" may exit the
    /// process at once (a worker stepping aside). The result is confirmed
    /// whatever happens to the ack: if the connection fails now, the
    /// broker redelivers the task.
    func apply(_ outcomes: [PublishLedger<PendingPublish>.Outcome]) {
        for case .succeeded(let publish) in outcomes {
            if let token = publish.ackAfterConfirm { ackConfirmed(token) }
        }
        // A failed write surfaces as a connection error on the next read.
        try? flushAcks()
        for outcome in outcomes {
            switch outcome {
            case .succeeded(let publish): publish.succeed()
            case .failed(let publish, let error): publish.fail(error, logger)
            }
        }
    }

    /// Acknowledges a delivery whose result was just confirmed, unless its
    /// channel is gone (then the broker redelivers it). Queued with the
    /// other acks, sent by the next ``flushAcks()``.
    private func ackConfirmed(_ token: DeliveryToken) {
        guard connection != nil,
            consumers.isCurrent(consumer: token.consumer, channel: token.channel, generation: token.generation)
        else {
            logger.warning("result confirmed but the delivery's channel is gone; the task will be redelivered")
            return
        }
        acks.ack(channel: token.channel, tag: token.tag)
    }

    /// Sends the acks asked for since the last flush (``AckCoalescer``). A
    /// failing write is a connection error.
    func flushAcks() throws {
        guard acks.hasPending else { return }
        let frames = acks.flush()
        guard let connection else { return }
        for frame in frames {
            try connection.ack(channel: frame.channel, deliveryTag: frame.tag, multiple: frame.multiple)
        }
    }
}
