import CAMQP
import Foundation
import Logging
import MeshFarmMessaging

/// The event loop of ``AMQPTransport``'s connection thread. Every property
/// is touched by that thread only; other threads talk to it through the
/// ``Inbox`` (hence `@unchecked Sendable`: it is handed to that thread once).
final class ConnectionLoop: @unchecked Sendable {
    struct Consumer {
        let id: Int
        let queue: String
        let prefetch: Int
        let sink: DeliverySink
        /// Channel and its generation while subscribed on the current connection.
        var channel: UInt16?
        var generation = 0
        var tag: String?
        /// False once cancelled by us or by the broker.
        var active = true
        /// The `consume` call waiting for the first subscription.
        var reply: CheckedContinuation<Int, Error>?
    }

    static let publishChannel: UInt16 = 1
    static let utilityChannel: UInt16 = 2
    static let publishIDHeader = "x-meshfarm-publish-id"

    let configuration: AMQPTransport.Configuration
    let inbox: Inbox
    let stats: Stats
    let logger: Logger

    private var connection: AMQPConnection?
    private var closing = false
    private var closeWaiters: [CheckedContinuation<Void, Never>] = []
    private var reconnectAttempt = 0
    private var nextConnectAttempt = Date.distantPast

    private var topologies: [Topology] = []
    private var waitingDeclares: [(Topology, CheckedContinuation<Void, Error>)] = []
    private var waitingCounts: [(String, CheckedContinuation<Int, Error>)] = []

    private var unsent: [PendingPublish] = []
    private var inflight: [UInt64: PendingPublish] = [:]
    private var nextSequence: UInt64 = 1

    private var consumers: [Int: Consumer] = [:]
    private var nextConsumerID = 0
    /// Unique across connections, so a tag from a dead channel never matches.
    private var channelGeneration: [UInt16: Int] = [:]
    private var generationCounter = 0
    private var utilityChannelOpen = false

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
                try pump(connection)
                waitForSocket(connection)
                try pump(connection)
                expirePublishes()
            } catch {
                connectionLost(error)
            }
        }
    }

    /// Handles commands in order; when one fails with a connection error, the
    /// rest go back to the head of the inbox for after the reconnect.
    private func handleBatch(_ commands: [Command]) throws {
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
    }

    private func waitForWake(until date: Date) {
        guard inbox.prepareToSleep() else { return }
        let milliseconds = max(0, min(1000, Int32(date.timeIntervalSinceNow * 1000)))
        var fd = pollfd(fd: inbox.readFD, events: Int16(POLLIN), revents: 0)
        _ = poll(&fd, 1, milliseconds)
        inbox.awake()
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
            let declares = waitingDeclares.map { Command.declare($0.0, $0.1) }
            let counts = waitingCounts.map { Command.messageCount($0.0, $0.1) }
            waitingDeclares = []
            waitingCounts = []
            for id in consumers.keys.sorted() where consumers[id]!.active { try subscribe(id) }
            try handleBatch(declares + counts)
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
        // Unconfirmed publishes go out again after reconnecting, in order.
        unsent = inflight.keys.sorted().map { inflight[$0]! } + unsent
        inflight = [:]
        for id in consumers.keys {
            consumers[id]!.channel = nil
            consumers[id]!.tag = nil
        }
        channelGeneration = [:]
    }

    private func shutDown() {
        if let connection {
            for (_, consumer) in consumers where consumer.active {
                if let channel = consumer.channel, let tag = consumer.tag {
                    try? connection.cancel(channel: channel, consumerTag: tag)
                }
            }
            connection.close()
        }
        connection = nil
        stats.update { $0.connected = false }
        for publish in inflight.values { publish.fail(AMQPError.shutdown) }
        for publish in unsent { publish.fail(AMQPError.shutdown) }
        inflight = [:]
        unsent = []
        for (_, reply) in waitingDeclares { reply.resume(throwing: AMQPError.shutdown) }
        for (_, reply) in waitingCounts { reply.resume(throwing: AMQPError.shutdown) }
        for (_, consumer) in consumers {
            consumer.reply?.resume(throwing: AMQPError.shutdown)
            consumer.sink.finish()
        }
        consumers = [:]
        // Commands posted while closing, and any posted from now on, fail.
        for command in inbox.close() { command.fail(AMQPError.shutdown) }
        for waiter in closeWaiters { waiter.resume() }
    }

    private func openChannel(_ connection: AMQPConnection, _ channel: UInt16) throws {
        try connection.openChannel(channel)
        generationCounter += 1
        channelGeneration[channel] = generationCounter
    }

    private func openPublishChannel(_ connection: AMQPConnection) throws {
        try openChannel(connection, Self.publishChannel)
        try connection.confirmSelect(channel: Self.publishChannel)
        nextSequence = 1
    }

    private func openUtilityChannel(_ connection: AMQPConnection) throws {
        try openChannel(connection, Self.utilityChannel)
        utilityChannelOpen = true
    }

    /// Runs a utility-channel RPC; a channel-level failure (the broker closed
    /// channel 2) is returned, and the channel reopened for the next call.
    private func utility<T>(_ connection: AMQPConnection, _ body: () throws -> T) throws -> Result<T, AMQPError> {
        if !utilityChannelOpen { try openUtilityChannel(connection) }
        do {
            return .success(try body())
        } catch let error as AMQPError {
            if case .channelClosed = error {
                utilityChannelOpen = false
                return .failure(error)
            }
            throw error
        }
    }

    // MARK: - Commands

    private func handle(_ command: Command) throws {
        switch command {
        case .declare(let topology, let reply):
            guard let connection else {
                waitingDeclares.append((topology, reply))
                return
            }
            let outcome: Result<Void, AMQPError>
            do { outcome = try utility(connection, { try declare(topology, on: connection) }) } catch {
                waitingDeclares.append((topology, reply))  // retried after the reconnect
                throw error
            }
            switch outcome {
            case .success:
                if !topologies.contains(topology) { topologies.append(topology) }
                reply.resume()
            case .failure(let error):
                reply.resume(throwing: error)
            }

        case .publish(let publish):
            if connection == nil || !unsent.isEmpty {
                unsent.append(publish)
                if let connection { try flushUnsent(connection) }
            } else {
                try send(publish)
            }

        case .consume(let queue, let prefetch, let sink, let reply):
            nextConsumerID += 1
            let id = nextConsumerID
            consumers[id] = Consumer(id: id, queue: queue, prefetch: prefetch, sink: sink, reply: reply)
            if connection != nil { try subscribe(id) }

        case .cancel(let id, let reply):
            guard var consumer = consumers[id], consumer.active else {
                reply?.resume()
                return
            }
            // Inactive from now on, whatever happens: it is not re-subscribed
            // after a reconnect.
            consumer.active = false
            consumers[id] = consumer
            consumer.sink.finish()
            reply?.resume()
            if let connection, let channel = consumer.channel, let tag = consumer.tag {
                // Keep the channel open: deliveries already handed out must
                // still be acknowledged on it.
                _ = try utilityFree { try connection.cancel(channel: channel, consumerTag: tag) }
            }

        case .settle(let id, let channel, let generation, let tag, let settlement, let reply):
            guard let connection, channelGeneration[channel] == generation, consumers[id] != nil else {
                if let reply {
                    reply.resume(throwing: AMQPError.staleDelivery)
                } else {
                    logger.debug("dropping an ack for a delivery from a closed channel; the broker redelivers it")
                }
                return
            }
            do {
                switch settlement {
                case .ack: try connection.ack(channel: channel, deliveryTag: tag)
                case .requeue: try connection.nack(channel: channel, deliveryTag: tag, requeue: true)
                case .reject: try connection.reject(channel: channel, deliveryTag: tag, requeue: false)
                }
                reply?.resume()
            } catch {
                reply?.resume(throwing: error)
                throw error
            }

        case .messageCount(let queue, let reply):
            guard let connection else {
                waitingCounts.append((queue, reply))
                return
            }
            let outcome: Result<(messages: Int, consumers: Int), AMQPError>
            do {
                outcome = try utility(connection) {
                    try connection.declareQueue(channel: Self.utilityChannel, name: queue, passive: true)
                }
            } catch {
                waitingCounts.append((queue, reply))
                throw error
            }
            switch outcome {
            case .success(let counts): reply.resume(returning: counts.messages)
            case .failure(.channelClosed(404, _)): reply.resume(throwing: MessagingError.noSuchQueue(queue))
            case .failure(let error): reply.resume(throwing: error)
            }

        case .close(let reply):
            closing = true
            closeWaiters.append(reply)
        }
    }

    /// Runs a channel RPC whose channel-level failure only needs logging.
    private func utilityFree(_ body: () throws -> Void) throws -> Bool {
        do {
            try body()
            return true
        } catch let error as AMQPError {
            if case .channelClosed = error { return false }
            throw error
        }
    }

    private func declare(_ topology: Topology, on connection: AMQPConnection) throws {
        let channel = Self.utilityChannel
        for exchange in topology.exchanges {
            try connection.declareExchange(channel: channel, name: exchange.name, type: exchange.type)
        }
        for queue in topology.queues {
            var arguments: [String: HeaderValue] = [:]
            if queue.quorum { arguments["x-queue-type"] = .string("quorum") }
            if let limit = queue.deliveryLimit { arguments["x-delivery-limit"] = .int(Int64(limit)) }
            if let dlx = queue.deadLetterExchange {
                arguments["x-dead-letter-exchange"] = .string(dlx)
                if queue.quorum {
                    // At-least-once dead-lettering: the dead letter is only
                    // dropped here once the target queue confirmed it.
                    arguments["x-dead-letter-strategy"] = .string("at-least-once")
                    arguments["x-overflow"] = .string("reject-publish")
                }
            }
            try connection.declareQueue(channel: channel, name: queue.name, durable: true, arguments: arguments)
        }
        for binding in topology.bindings {
            try connection.bindQueue(
                channel: channel, queue: binding.queue, exchange: binding.exchange, routingKey: binding.pattern)
        }
    }

    private func subscribe(_ id: Int) throws {
        guard let connection, var consumer = consumers[id] else { return }
        let channel = consumer.channel ?? freeChannel()
        do {
            try openChannel(connection, channel)
            try connection.qos(channel: channel, prefetch: consumer.prefetch)
            consumer.tag = try connection.consume(channel: channel, queue: consumer.queue)
            consumer.channel = channel
            consumer.generation = channelGeneration[channel]!
            consumer.reply?.resume(returning: id)
            consumer.reply = nil
            consumers[id] = consumer
        } catch let error as AMQPError {
            guard case .channelClosed = error else { throw error }
            logger.error("cannot consume", metadata: ["queue": "\(consumer.queue)", "error": "\(error)"])
            consumer.reply?.resume(throwing: error)
            consumer.sink.finish()
            consumers[id] = nil
        }
    }

    private func freeChannel() -> UInt16 {
        let used = Set(consumers.values.compactMap(\.channel))
        var channel: UInt16 = 3
        while used.contains(channel) { channel += 1 }
        return channel
    }

    // MARK: - Publishing

    private func send(_ publish: PendingPublish) throws {
        guard let connection else {
            unsent.append(publish)
            return
        }
        var message = publish.message
        message.headers[Self.publishIDHeader] = .string(publish.publishID)
        do {
            try connection.publish(channel: Self.publishChannel, message)
        } catch {
            unsent.insert(publish, at: 0)
            throw error
        }
        inflight[nextSequence] = publish
        nextSequence += 1
    }

    private func flushUnsent(_ connection: AMQPConnection? = nil) throws {
        guard self.connection != nil else { return }
        while !unsent.isEmpty {
            let publish = unsent.removeFirst()
            try send(publish)
        }
    }

    private func expirePublishes() {
        guard let timeout = configuration.publishTimeout else { return }
        let cutoff = Date().addingTimeInterval(-timeout)
        let expired = unsent.filter { $0.created < cutoff }
        unsent.removeAll { $0.created < cutoff }
        for publish in expired {
            publish.fail(AMQPError.connectionClosed("publish not confirmed within \(Int(timeout)) s"), logger)
        }
        for (sequence, publish) in inflight where publish.created < cutoff {
            inflight[sequence] = nil
            publish.fail(AMQPError.connectionClosed("publish not confirmed within \(Int(timeout)) s"), logger)
        }
    }

    // MARK: - Events

    private func handle(_ event: AMQPConnection.Event) throws {
        switch event {
        case .delivery(let channel, let tag, _, let message):
            guard let consumer = consumers.values.first(where: { $0.channel == channel }), consumer.active else {
                // Cancelled consumer: hand the message straight back.
                try connection?.nack(channel: channel, deliveryTag: tag, requeue: true)
                return
            }
            let inbox = self.inbox
            let (id, generation) = (consumer.id, consumer.generation)
            var received = message
            received.headers[Self.publishIDHeader] = nil
            let token = DeliveryToken(consumer: id, channel: channel, generation: generation, tag: tag)
            let delivery = Delivery(
                message: received, token: token,
                settleInBackground: { settlement in
                    inbox.post(
                        .settle(consumer: id, channel: channel, generation: generation, tag: tag, settlement, nil))
                }
            ) { settlement in
                if settlement == .ack {
                    // Queue the ack and return: a consumer acking thousands of
                    // events need not wait for each to be written.
                    inbox.post(.settle(consumer: id, channel: channel, generation: generation, tag: tag, .ack, nil))
                    return
                }
                try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
                    inbox.post(.settle(consumer: id, channel: channel, generation: generation, tag: tag, settlement, c))
                }
            }
            consumer.sink.deliver(delivery)

        case .confirm(let channel, let tag, let multiple, let ack):
            guard channel == Self.publishChannel else { return }
            let sequences = multiple ? inflight.keys.filter { $0 <= tag }.sorted() : (inflight[tag] == nil ? [] : [tag])
            for sequence in sequences {
                let publish = inflight.removeValue(forKey: sequence)!
                if !ack {
                    publish.fail(AMQPError.nacked, logger)
                } else if let returned = publish.returned {
                    publish.fail(
                        AMQPError.unroutable(
                            exchange: publish.message.exchange, routingKey: publish.message.routingKey,
                            reason: "\(returned.code) \(returned.reason)"), logger)
                } else {
                    // The result is confirmed whatever happens to the ack: if
                    // the connection fails now, the broker redelivers the task.
                    var ackError: Error?
                    if let token = publish.ackAfterConfirm {
                        do { try ackConfirmed(token) } catch { ackError = error }
                    }
                    publish.succeed()
                    if let ackError { throw ackError }
                }
            }

        case .returned(_, let message, let code, let reason):
            let id = message.headers[Self.publishIDHeader]?.stringValue
            if let publish = inflight.values.first(where: { $0.publishID == id }) {
                publish.returned = (code, reason)
            }

        case .channelClosed(let channel, let code, let reason):
            try channelClosed(channel, code: code, reason: reason)

        case .consumerCancelled(let channel, _):
            if let id = consumers.values.first(where: { $0.channel == channel })?.id {
                logger.warning("the broker cancelled a consumer", metadata: ["queue": "\(consumers[id]!.queue)"])
                consumers[id]!.active = false
                consumers[id]!.sink.finish()
            }

        case .blocked(let reason):
            logger.warning("the broker blocked publishing", metadata: ["reason": "\(reason)"])

        case .unblocked:
            logger.info("the broker unblocked publishing")
        }
    }

    /// Acknowledges a delivery whose result was just confirmed, unless its
    /// channel is gone (then the broker redelivers it).
    private func ackConfirmed(_ token: DeliveryToken) throws {
        guard let connection, channelGeneration[token.channel] == token.generation, consumers[token.consumer] != nil
        else {
            logger.warning("result confirmed but the delivery's channel is gone; the task will be redelivered")
            return
        }
        try connection.ack(channel: token.channel, deliveryTag: token.tag)
    }

    private func channelClosed(_ channel: UInt16, code: Int, reason: String) throws {
        guard let connection else { return }
        channelGeneration[channel] = nil
        switch channel {
        case Self.publishChannel:
            // The publish that caused it (404: missing exchange) fails; every
            // other unconfirmed publish is sent again on a new channel.
            let pending = inflight.keys.sorted().map { inflight[$0]! }
            inflight = [:]
            var retry: [PendingPublish] = []
            for publish in pending {
                if code == 404 || code == 403, reason.contains("exchange '\(publish.message.exchange)'") {
                    publish.fail(AMQPError.channelClosed(code: code, reason: reason), logger)
                } else {
                    retry.append(publish)
                }
            }
            if retry.count == pending.count, let first = retry.first, code != 404 || pending.count == 1 {
                // Could not tell which publish caused it: fail the oldest.
                retry.removeFirst()
                first.fail(AMQPError.channelClosed(code: code, reason: reason), logger)
            }
            unsent = retry + unsent
            logger.warning(
                "publish channel closed by the broker", metadata: ["code": "\(code)", "reason": "\(reason)"])
            try openPublishChannel(connection)
            try flushUnsent()
        case Self.utilityChannel:
            utilityChannelOpen = false
        default:
            guard let id = consumers.values.first(where: { $0.channel == channel })?.id else { return }
            // e.g. consumer_timeout (406): the broker requeued the channel's
            // deliveries; subscribe again on a fresh channel.
            logger.warning(
                "consumer channel closed by the broker; resubscribing",
                metadata: ["queue": "\(consumers[id]!.queue)", "code": "\(code)", "reason": "\(reason)"])
            if consumers[id]!.active { try subscribe(id) }
        }
    }
}
