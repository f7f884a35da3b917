import CAMQP
import Foundation
import MeshFarmMessaging

/// One AMQP 0-9-1 connection through librabbitmq.
///
/// librabbitmq connections are not thread-safe and service heartbeats only
/// inside library calls, so an `AMQPConnection` belongs to exactly one thread
/// for its whole life: the ``AMQPTransport`` connection thread in production, a
/// test's own thread in low-level tests. Nothing here blocks longer than the
/// timeout it is given, except connecting and the synchronous RPCs (declare,
/// bind, qos), which the broker answers promptly.
public final class AMQPConnection {
    /// Something that arrived from the broker outside an RPC.
    public enum Event {
        /// A message for one of our consumers.
        case delivery(channel: UInt16, deliveryTag: UInt64, consumerTag: String, message: ReceivedMessage)
        /// Publisher confirm: the broker took (`ack`) or refused messages up to
        /// and including `tag` (all of them when `multiple`).
        case confirm(channel: UInt16, tag: UInt64, multiple: Bool, ack: Bool)
        /// A mandatory message could not be routed. Its confirm follows.
        case returned(channel: UInt16, message: ReceivedMessage, code: Int, reason: String)
        /// The broker closed a channel; it is unusable until reopened.
        case channelClosed(channel: UInt16, code: Int, reason: String)
        /// The broker cancelled a consumer (its queue was deleted, ...).
        case consumerCancelled(channel: UInt16, consumerTag: String)
        /// The broker stopped (or resumed) reading our publishes: resource alarm.
        case blocked(String)
        case unblocked
    }

    let state: amqp_connection_state_t
    public let url: AMQPURL
    private var closed = false

    /// Connects and logs in. `heartbeat` in seconds (0 disables: never do
    /// that in production, a dead peer would go unnoticed).
    public init(url: AMQPURL, heartbeat: Int = 30, connectTimeout: Double = 10) throws {
        self.url = url
        guard let state = amqp_new_connection() else { throw AMQPError.library("amqp_new_connection failed") }
        self.state = state
        do {
            try open(heartbeat: url.heartbeat ?? heartbeat, timeout: url.connectionTimeout ?? connectTimeout)
        } catch {
            amqp_destroy_connection(state)
            closed = true
            throw error
        }
    }

    deinit {
        if !closed {
            close()
        }
    }

    private func open(heartbeat: Int, timeout: Double) throws {
        let socket: OpaquePointer?
        if url.tls {
            socket = amqp_ssl_socket_new(state)
            guard let socket else { throw AMQPError.library("amqp_ssl_socket_new failed") }
            if let ca = url.caCertFile, amqp_ssl_socket_set_cacert(socket, ca) != AMQP_STATUS_OK.rawValue {
                throw AMQPError.connectionFailed("cannot load CA certificate \(ca)")
            }
            if let cert = url.certFile, let key = url.keyFile,
                amqp_ssl_socket_set_key(socket, cert, key) != AMQP_STATUS_OK.rawValue
            {
                throw AMQPError.connectionFailed("cannot load client certificate \(cert) / key \(key)")
            }
            amqp_ssl_socket_set_verify_peer(socket, url.verifyPeer ? 1 : 0)
            amqp_ssl_socket_set_verify_hostname(socket, url.verifyPeer ? 1 : 0)
        } else {
            socket = amqp_tcp_socket_new(state)
            guard socket != nil else { throw AMQPError.library("amqp_tcp_socket_new failed") }
        }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
        let status = amqp_socket_open_noblock(socket, url.host, Int32(url.port), &tv)
        guard status == AMQP_STATUS_OK.rawValue else {
            throw AMQPError.connectionFailed("\(url.host):\(url.port): \(String(cString: amqp_error_string2(status)))")
        }
        let reply = meshfarm_amqp_login_plain(
            state, url.vhost, 2047, 131_072, Int32(heartbeat), url.user, url.password)
        try check(reply, "login as \(url.user) to vhost \(url.vhost)", connectionLevel: true)
    }

    /// Closes the connection politely (when still possible) and frees it.
    public func close() {
        guard !closed else { return }
        closed = true
        _ = amqp_connection_close(state, AMQP_REPLY_SUCCESS)
        amqp_destroy_connection(state)
    }

    /// The socket, for `poll()` in an event loop.
    public var socketFD: Int32 { amqp_get_sockfd(state) }

    /// Whether frames are already buffered, so a read will not block.
    public var hasBufferedFrames: Bool {
        amqp_frames_enqueued(state) != 0 || amqp_data_in_buffer(state) != 0
    }

    // MARK: - Channels and topology

    public func openChannel(_ channel: UInt16) throws {
        amqp_channel_open(state, channel)
        try check(amqp_get_rpc_reply(state), "open channel \(channel)", channel: channel)
    }

    public func declareExchange(
        channel: UInt16, name: String, type: String, durable: Bool = true, isInternal: Bool = false,
        arguments: [String: HeaderValue] = [:]
    ) throws {
        let arena = CArena()
        amqp_exchange_declare(
            state, channel, arena.bytes(name), arena.bytes(type), 0, durable ? 1 : 0, 0, isInternal ? 1 : 0,
            arena.table(arguments))
        try check(amqp_get_rpc_reply(state), "declare exchange \(name)", channel: channel)
    }

    /// Declares a topology's exchanges, queues (with ``Topology/Queue/arguments``)
    /// and bindings on `channel`.
    public func declare(_ topology: Topology, channel: UInt16) throws {
        for exchange in topology.exchanges {
            try declareExchange(channel: channel, name: exchange.name, type: exchange.type)
        }
        for queue in topology.queues {
            try declareQueue(
                channel: channel, name: queue.name, durable: !queue.transient, autoDelete: queue.transient,
                arguments: queue.arguments)
        }
        for binding in topology.bindings {
            try bindQueue(
                channel: channel, queue: binding.queue, exchange: binding.exchange, routingKey: binding.pattern)
        }
    }

    /// Declares a queue; returns its (ready) message count and consumer count.
    @discardableResult
    public func declareQueue(
        channel: UInt16, name: String, durable: Bool = true, exclusive: Bool = false, autoDelete: Bool = false,
        passive: Bool = false, arguments: [String: HeaderValue] = [:]
    ) throws -> (messages: Int, consumers: Int) {
        let arena = CArena()
        let ok = amqp_queue_declare(
            state, channel, arena.bytes(name), passive ? 1 : 0, durable ? 1 : 0, exclusive ? 1 : 0,
            autoDelete ? 1 : 0, arena.table(arguments))
        try check(amqp_get_rpc_reply(state), "declare queue \(name)", channel: channel)
        guard let ok else { throw AMQPError.library("queue.declare-ok missing") }
        return (Int(ok.pointee.message_count), Int(ok.pointee.consumer_count))
    }

    public func bindQueue(channel: UInt16, queue: String, exchange: String, routingKey: String) throws {
        let arena = CArena()
        amqp_queue_bind(
            state, channel, arena.bytes(queue), arena.bytes(exchange), arena.bytes(routingKey), amqp_empty_table)
        try check(amqp_get_rpc_reply(state), "bind \(queue) to \(exchange) with \(routingKey)", channel: channel)
    }

    public func deleteQueue(channel: UInt16, name: String) throws {
        let arena = CArena()
        amqp_queue_delete(state, channel, arena.bytes(name), 0, 0)
        try check(amqp_get_rpc_reply(state), "delete queue \(name)", channel: channel)
    }

    // MARK: - Publishing

    /// Puts the channel in publisher-confirm mode: from now on the broker acks
    /// or nacks every publish on it, numbered 1, 2, 3...
    public func confirmSelect(channel: UInt16) throws {
        amqp_confirm_select(state, channel)
        try check(amqp_get_rpc_reply(state), "confirm.select", channel: channel)
    }

    /// Sends a message. Does not wait for the confirm; it arrives later as an
    /// ``Event/confirm(channel:tag:multiple:ack:)``.
    public func publish(channel: UInt16, _ message: OutgoingMessage) throws {
        let arena = CArena()
        var properties = amqp_basic_properties_t()
        var flags: UInt32 = 0
        if message.persistent {
            properties.delivery_mode = 2
            flags |= UInt32(AMQP_BASIC_DELIVERY_MODE_FLAG)
        }
        if let contentType = message.contentType {
            properties.content_type = arena.bytes(contentType)
            flags |= UInt32(AMQP_BASIC_CONTENT_TYPE_FLAG)
        }
        if let id = message.messageID {
            properties.message_id = arena.bytes(id)
            flags |= UInt32(AMQP_BASIC_MESSAGE_ID_FLAG)
        }
        if !message.headers.isEmpty {
            properties.headers = arena.table(message.headers)
            flags |= UInt32(AMQP_BASIC_HEADERS_FLAG)
        }
        properties._flags = flags
        let status = amqp_basic_publish(
            state, channel, arena.bytes(message.exchange), arena.bytes(message.routingKey),
            message.mandatory ? 1 : 0, 0, &properties, arena.bytes(message.body))
        guard status == AMQP_STATUS_OK.rawValue else { throw statusError(status, "publish") }
    }

    // MARK: - Consuming

    /// Limits unacknowledged deliveries on the channel to `prefetch`.
    public func qos(channel: UInt16, prefetch: Int) throws {
        amqp_basic_qos(state, channel, 0, UInt16(clamping: prefetch), 0)
        try check(amqp_get_rpc_reply(state), "basic.qos", channel: channel)
    }

    /// Starts a manual-ack consumer; returns the consumer tag.
    public func consume(channel: UInt16, queue: String, consumerTag: String = "") throws -> String {
        let arena = CArena()
        let ok = amqp_basic_consume(
            state, channel, arena.bytes(queue), arena.bytes(consumerTag), 0, 0, 0, amqp_empty_table)
        try check(amqp_get_rpc_reply(state), "consume from \(queue)", channel: channel)
        guard let ok else { throw AMQPError.library("basic.consume-ok missing") }
        return CValues.string(ok.pointee.consumer_tag)
    }

    public func cancel(channel: UInt16, consumerTag: String) throws {
        let arena = CArena()
        amqp_basic_cancel(state, channel, arena.bytes(consumerTag))
        try check(amqp_get_rpc_reply(state), "cancel consumer \(consumerTag)", channel: channel)
    }

    public func ack(channel: UInt16, deliveryTag: UInt64, multiple: Bool = false) throws {
        let status = amqp_basic_ack(state, channel, deliveryTag, multiple ? 1 : 0)
        guard status == AMQP_STATUS_OK.rawValue else { throw statusError(status, "basic.ack") }
    }

    public func nack(channel: UInt16, deliveryTag: UInt64, requeue: Bool, multiple: Bool = false) throws {
        let status = amqp_basic_nack(state, channel, deliveryTag, multiple ? 1 : 0, requeue ? 1 : 0)
        guard status == AMQP_STATUS_OK.rawValue else { throw statusError(status, "basic.nack") }
    }

    public func reject(channel: UInt16, deliveryTag: UInt64, requeue: Bool) throws {
        let status = amqp_basic_reject(state, channel, deliveryTag, requeue ? 1 : 0)
        guard status == AMQP_STATUS_OK.rawValue else { throw statusError(status, "basic.reject") }
    }

    // MARK: - Reading

    /// Reads the next event, waiting at most `timeout` seconds (0 polls).
    /// Returns `nil` on timeout. Also sends a heartbeat when one is due and
    /// throws ``AMQPError/connectionClosed(_:)`` when the broker's heartbeats
    /// stop or the socket fails.
    public func nextEvent(timeout: Double) throws -> Event? {
        while true {
            var frame = amqp_frame_t()
            var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
            let status = amqp_simple_wait_frame_noblock(state, &frame, &tv)
            if status == AMQP_STATUS_TIMEOUT.rawValue { return nil }
            guard status == AMQP_STATUS_OK.rawValue else { throw connectionLost(status) }
            defer { amqp_maybe_release_buffers_on_channel(state, frame.channel) }
            guard frame.frame_type == UInt8(AMQP_FRAME_METHOD) else { continue }  // stray header/body
            if let event = try handle(method: frame.payload.method, channel: frame.channel) { return event }
        }
    }

    private func handle(method: amqp_method_t, channel: UInt16) throws -> Event? {
        switch method.id {
        case MESHFARM_BASIC_DELIVER:
            let deliver = method.decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
            let tag = deliver.delivery_tag
            let consumerTag = CValues.string(deliver.consumer_tag)
            let exchange = CValues.string(deliver.exchange)
            let routingKey = CValues.string(deliver.routing_key)
            let redelivered = deliver.redelivered != 0
            var message = try readContent(channel: channel, exchange: exchange, routingKey: routingKey)
            message.redelivered = redelivered
            return .delivery(channel: channel, deliveryTag: tag, consumerTag: consumerTag, message: message)
        case MESHFARM_BASIC_ACK:
            let ack = method.decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            return .confirm(channel: channel, tag: ack.delivery_tag, multiple: ack.multiple != 0, ack: true)
        case MESHFARM_BASIC_NACK:
            let nack = method.decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            return .confirm(channel: channel, tag: nack.delivery_tag, multiple: nack.multiple != 0, ack: false)
        case MESHFARM_BASIC_RETURN:
            let returned = method.decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            let code = Int(returned.reply_code)
            let reason = CValues.string(returned.reply_text)
            let message = try readContent(
                channel: channel, exchange: CValues.string(returned.exchange),
                routingKey: CValues.string(returned.routing_key))
            return .returned(channel: channel, message: message, code: code, reason: reason)
        case MESHFARM_CHANNEL_CLOSE:
            let close = method.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            let event = Event.channelClosed(
                channel: channel, code: Int(close.reply_code), reason: CValues.string(close.reply_text))
            var ok = amqp_channel_close_ok_t()
            _ = amqp_send_method(state, channel, MESHFARM_CHANNEL_CLOSE_OK, &ok)
            return event
        case MESHFARM_CONNECTION_CLOSE:
            let close = method.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            let reason = "\(close.reply_code) \(CValues.string(close.reply_text))"
            var ok = amqp_connection_close_ok_t()
            _ = amqp_send_method(state, 0, MESHFARM_CONNECTION_CLOSE_OK, &ok)
            throw AMQPError.connectionClosed("broker closed the connection: \(reason)")
        case MESHFARM_BASIC_CANCEL:
            let cancel = method.decoded.assumingMemoryBound(to: amqp_basic_cancel_t.self).pointee
            return .consumerCancelled(channel: channel, consumerTag: CValues.string(cancel.consumer_tag))
        case MESHFARM_CONNECTION_BLOCKED:
            let blocked = method.decoded.assumingMemoryBound(to: amqp_connection_blocked_t.self).pointee
            return .blocked(CValues.string(blocked.reason))
        case MESHFARM_CONNECTION_UNBLOCKED:
            return .unblocked
        default:
            return nil  // e.g. a late cancel-ok: nothing to do
        }
    }

    /// Reads the header and body frames that follow a deliver or return.
    private func readContent(channel: UInt16, exchange: String, routingKey: String) throws -> ReceivedMessage {
        var message = amqp_message_t()
        let reply = amqp_read_message(state, channel, &message, 0)
        try check(reply, "read message content", channel: channel)
        defer { amqp_destroy_message(&message) }
        let properties = message.properties
        let flags = properties._flags
        return ReceivedMessage(
            body: CValues.data(message.body), exchange: exchange, routingKey: routingKey,
            messageID: flags & UInt32(AMQP_BASIC_MESSAGE_ID_FLAG) != 0 ? CValues.string(properties.message_id) : nil,
            headers: flags & UInt32(AMQP_BASIC_HEADERS_FLAG) != 0 ? CValues.table(properties.headers) : [:])
    }

    // MARK: - Errors

    /// Turns an RPC reply into an error. On a server channel exception the
    /// close is acknowledged so the channel number can be reopened.
    private func check(
        _ reply: amqp_rpc_reply_t, _ what: String, channel: UInt16 = 0, connectionLevel: Bool = false
    ) throws {
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            return
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            let message = String(cString: amqp_error_string2(reply.library_error))
            if connectionLevel { throw AMQPError.connectionFailed("\(what): \(message)") }
            throw connectionLost(reply.library_error, context: what)
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            switch reply.reply.id {
            case MESHFARM_CHANNEL_CLOSE:
                let close = reply.reply.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
                var ok = amqp_channel_close_ok_t()
                _ = amqp_send_method(state, channel, MESHFARM_CHANNEL_CLOSE_OK, &ok)
                throw AMQPError.channelClosed(
                    code: Int(close.reply_code), reason: "\(what): \(CValues.string(close.reply_text))")
            case MESHFARM_CONNECTION_CLOSE:
                let close = reply.reply.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                var ok = amqp_connection_close_ok_t()
                _ = amqp_send_method(state, 0, MESHFARM_CONNECTION_CLOSE_OK, &ok)
                let text = "\(what): \(close.reply_code) \(CValues.string(close.reply_text))"
                if connectionLevel { throw AMQPError.connectionFailed(text) }
                throw AMQPError.connectionClosed(text)
            default:
                throw AMQPError.library("\(what): unexpected server method \(reply.reply.id)")
            }
        default:
            throw AMQPError.connectionClosed("\(what): no reply from the broker")
        }
    }

    private func statusError(_ status: Int32, _ what: String) -> AMQPError {
        connectionLost(status, context: what)
    }

    private func connectionLost(_ status: Int32, context: String = "read") -> AMQPError {
        .connectionClosed("\(context): \(String(cString: amqp_error_string2(status)))")
    }
}
