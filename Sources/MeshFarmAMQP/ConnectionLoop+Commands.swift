import CAMQP
import Foundation
import MeshFarmMessaging

extension ConnectionLoop {
    /// Runs a command posted by another thread.
    func handle(_ command: Command) throws {
        switch command {
        case .declare(let topology, let reply):
            guard let connection else { return waiting.append(command) }
            let outcome: Result<Void, AMQPError>
            do { outcome = try utility(connection) { try declare(topology, on: connection) } } catch {
                waiting.append(command)  // retried after the reconnect
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
            ledger.enqueue(
                publish, exchange: publish.message.exchange, routingKey: publish.message.routingKey,
                messageID: publish.message.messageID)
            try flushUnsent()

        case .consume(let queue, let prefetch, let sink, let reply):
            let id = consumers.add(queue: queue, prefetch: prefetch, sink: sink)
            subscribeReplies[id] = reply
            if connection != nil { try subscribe(id) }

        case .cancel(let id, let reply):
            // Inactive from now on, whatever happens: it is not subscribed again after a reconnect.
            guard let consumer = consumers.cancel(id) else {
                reply?.resume()
                return
            }
            consumer.sink.finish()
            reply?.resume()
            if let connection, let channel = consumer.channel, let tag = consumer.tag {
                // Keep the channel open: deliveries already handed out must still be settled on it.
                // Runs on the consumer's own channel: if the broker closed that one, there is nothing to cancel.
                do { try connection.cancel(channel: channel, consumerTag: tag) } catch AMQPError.channelClosed {
                    // Its deliveries went back to the queue with the channel: none may be settled any more.
                    _ = consumers.channelClosed(channel)
                    acks.channelGone(channel)
                }
            }

        case .settle(let token, let settlement, let reply):
            guard let connection,
                consumers.isCurrent(consumer: token.consumer, channel: token.channel, generation: token.generation)
            else {
                if let reply {
                    reply.resume(throwing: AMQPError.staleDelivery)
                } else {
                    logger.debug("dropping an ack for a delivery from a closed channel; the broker redelivers it")
                }
                return
            }
            if settlement == .ack {
                // Sent with the other acks of this turn, coalesced.
                acks.ack(channel: token.channel, tag: token.tag)
                reply?.resume()
                return
            }
            acks.settledOtherwise(channel: token.channel, tag: token.tag)
            do {
                if settlement == .requeue {
                    try connection.nack(channel: token.channel, deliveryTag: token.tag, requeue: true)
                } else {
                    try connection.reject(channel: token.channel, deliveryTag: token.tag, requeue: false)
                }
                reply?.resume()
            } catch {
                reply?.resume(throwing: error)
                throw error
            }

        case .messageCount(let queue, let reply):
            guard let connection else { return waiting.append(command) }
            let outcome: Result<(messages: Int, consumers: Int), AMQPError>
            do {
                outcome = try utility(connection) {
                    try connection.declareQueue(channel: Self.utilityChannel, name: queue, passive: true)
                }
            } catch {
                waiting.append(command)
                throw error
            }
            switch outcome {
            case .success(let counts): reply.resume(returning: counts.messages)
            case .failure(.channelClosed(404, _)): reply.resume(throwing: MessagingError.noSuchQueue(queue))
            case .failure(let error): reply.resume(throwing: error)
            }

        case .close(let reply):
            beginClose(reply)
        }
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

    func declare(_ topology: Topology, on connection: AMQPConnection) throws {
        try connection.declare(topology, channel: Self.utilityChannel)
    }
}
