import CAMQP
import Foundation
import MeshFarmMessaging

extension ConnectionLoop {
    /// Applies something the broker sent outside an RPC.
    func handle(_ event: AMQPConnection.Event) throws {
        switch event {
        case .delivery(let channel, let tag, _, let message):
            guard let consumer = consumers.consumer(on: channel) else {
                // Cancelled consumer: hand the message straight back.
                try connection?.nack(channel: channel, deliveryTag: tag, requeue: true)
                return
            }
            acks.delivered(channel: channel, tag: tag)
            let token = DeliveryToken(
                consumer: consumer.id, channel: channel, generation: consumer.generation, tag: tag)
            consumer.sink.deliver(delivery(message, token))

        case .confirm(let channel, let tag, let multiple, let ack):
            guard channel == Self.publishChannel else { return }
            apply(ledger.confirm(tag: tag, multiple: multiple, ack: ack))

        case .returned(_, let message, let code, let reason):
            ledger.returned(
                exchange: message.exchange, routingKey: message.routingKey, messageID: message.messageID, code: code,
                reason: reason)

        case .channelClosed(let channel, let code, let reason):
            try channelClosed(channel, code: code, reason: reason)

        case .consumerCancelled(let channel, _):
            if let consumer = consumers.brokerCancelled(channel: channel) {
                logger.warning("the broker cancelled a consumer", metadata: ["queue": "\(consumer.queue)"])
                consumer.sink.finish()
            }

        case .blocked(let reason):
            logger.warning("the broker blocked publishing", metadata: ["reason": "\(reason)"])

        case .unblocked:
            logger.info("the broker unblocked publishing")
        }
    }

    /// A delivery settled through the inbox: plain acks are queued without
    /// waiting (a consumer acking thousands of events need not wait for each
    /// to be written); requeues and rejects wait for the write.
    private func delivery(_ message: ReceivedMessage, _ token: DeliveryToken) -> Delivery {
        let inbox = self.inbox
        return Delivery(
            message: message, token: token,
            settleInBackground: { settlement in inbox.post(.settle(token, settlement, nil)) }
        ) { settlement in
            if settlement == .ack { return inbox.post(.settle(token, .ack, nil)) }
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
                inbox.post(.settle(token, settlement, c))
            }
        }
    }

    private func channelClosed(_ channel: UInt16, code: Int, reason: String) throws {
        guard let connection else { return }
        let consumerOnIt = consumers.channelClosed(channel)
        acks.channelGone(channel)
        switch channel {
        case Self.publishChannel:
            logger.warning(
                "publish channel closed by the broker", metadata: ["code": "\(code)", "reason": "\(reason)"])
            apply(ledger.channelClosed(code: code, reason: reason))
            try connection.openChannel(Self.publishChannel)
            consumers.opened(Self.publishChannel)
            try connection.confirmSelect(channel: Self.publishChannel)
            try flushUnsent()
        case Self.utilityChannel:
            utilityChannelOpen = false
        default:
            guard let id = consumerOnIt else { return }
            // e.g. consumer_timeout (406): the broker requeued the channel's
            // deliveries; subscribe again on a fresh channel.
            logger.warning(
                "consumer channel closed by the broker; resubscribing",
                metadata: ["queue": "\(consumers[id]?.queue ?? "")", "code": "\(code)", "reason": "\(reason)"])
            try subscribe(id)
        }
    }
}
