import CAMQP
import Foundation
import Logging
import MeshFarmMessaging
import Synchronization

/// ``MessageTransport`` over RabbitMQ through librabbitmq.
///
/// **Threading.** One dedicated thread owns the ``AMQPConnection`` and all
/// its channels (librabbitmq is not thread-safe) and runs an event loop:
/// it executes commands posted by any thread (publish, settle, consume...),
/// reads frames whenever the socket is readable (`poll()` on the socket and
/// a wake-up pipe), and lets librabbitmq send heartbeats at least every
/// quarter interval. Task code never runs on it, so a two-hour task neither
/// starves heartbeats nor loses its delivery.
///
/// **Channels.** 1 publishes in confirm mode; 2 runs declarations and queue
/// inspections; each consumer gets its own channel (with its own
/// `basic.qos`), so a broker error on one channel never stops the others.
///
/// **Publishing.** Every publish gets a sequence number on channel 1 and
/// waits for the broker's `basic.ack`; many concurrent publishes are in
/// flight at once and the broker confirms them in batches (`multiple`).
/// A `basic.nack`, a `basic.return` of a mandatory message, or the channel
/// closing (404 for a missing exchange) fails the publish.
///
/// **Recovery.** When the connection drops, the loop reconnects with
/// exponential backoff and jitter, re-declares the topology, re-opens the
/// consumers and re-publishes every message that was not confirmed (the
/// broker may see a duplicate: delivery is at least once). Deliveries from
/// the dead connection cannot be acknowledged any more; settling one is
/// refused with ``AMQPError/staleDelivery`` and the broker redelivers it.
public final class AMQPTransport: MessageTransport, @unchecked Sendable {
    /// Connection settings.
    public struct Configuration: Sendable {
        public var url: AMQPURL
        /// Heartbeat interval in seconds (the URL's `heartbeat` wins).
        public var heartbeat: Int
        public var connectTimeout: Double
        public var reconnect: Backoff
        /// Give up on a publish not confirmed after this many seconds
        /// (nil: keep retrying across reconnects for as long as it takes).
        public var publishTimeout: Double?

        public init(
            url: AMQPURL, heartbeat: Int = 30, connectTimeout: Double = 10, reconnect: Backoff = .reconnect,
            publishTimeout: Double? = nil
        ) {
            self.url = url
            self.heartbeat = heartbeat
            self.connectTimeout = connectTimeout
            self.reconnect = reconnect
            self.publishTimeout = publishTimeout
        }
    }

    public let configuration: Configuration
    let logger: Logger
    private let inbox = Inbox()
    private let stats = Stats()
    private var thread: Thread!

    /// Starts the connection thread. The first connection is attempted at
    /// once; operations issued before it is up wait for it.
    public init(configuration: Configuration, logger: Logger = Logger(label: "meshfarm.amqp")) {
        self.configuration = configuration
        self.logger = logger
        let loop = ConnectionLoop(configuration: configuration, inbox: inbox, stats: stats, logger: logger)
        thread = Thread {
            nameThisThread("amqp-connection")
            loop.run()
        }
        thread.start()
    }

    /// Connects with default settings to `url`.
    public convenience init(url: String, heartbeat: Int = 30, logger: Logger = Logger(label: "meshfarm.amqp")) throws {
        self.init(configuration: Configuration(url: try AMQPURL(url), heartbeat: heartbeat), logger: logger)
    }

    /// Successful connections so far (1 + reconnects).
    public var connectionCount: Int { stats.read { $0.connections } }
    /// Whether the connection is currently up.
    public var isConnected: Bool { stats.read { $0.connected } }

    /// Waits until connected or until `timeout` seconds pass.
    public func waitUntilConnected(timeout: Double) async -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if isConnected { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return isConnected
    }

    public func declare(_ topology: Topology) async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
            inbox.post(.declare(topology, c))
        }
    }

    /// The confirm-then-ack happens on the connection thread; `completion`
    /// runs there too, so it must be quick.
    public func publish(
        _ message: OutgoingMessage, thenAck delivery: Delivery?, completion: (@Sendable (Error?) -> Void)?
    ) {
        let token = delivery?.token as? DeliveryToken
        var completion = completion
        if let delivery, token == nil {
            // Not one of this transport's deliveries: acknowledge it through its own settle.
            let done = completion
            completion = { error in
                if error == nil { delivery.settleInBackground(.ack) }
                done?(error)
            }
        }
        inbox.post(.publish(PendingPublish(message: message, ackAfterConfirm: token, completion: completion)))
    }

    /// `onDelivery` runs on the connection thread: it must only hand the
    /// delivery on (the worker runtime queues it for a task thread).
    public func consume(
        queue: String, prefetch: Int, onDelivery: @escaping @Sendable (Delivery) -> Void,
        onEnd: @escaping @Sendable () -> Void
    ) async throws -> MessageConsumer {
        let inbox = self.inbox
        let sink = DeliverySink(deliver: onDelivery, finish: onEnd)
        let id = try await withCheckedThrowingContinuation { (c: CheckedContinuation<Int, Error>) in
            inbox.post(.consume(queue: queue, prefetch: max(1, prefetch), sink: sink, c))
        }
        return MessageConsumer {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in inbox.post(.cancel(id, c)) }
        }
    }

    public func messageCount(queue: String) async throws -> Int {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Int, Error>) in
            inbox.post(.messageCount(queue, c))
        }
    }

    /// Closes the connection and stops the thread. Pending publishes fail
    /// with ``AMQPError/shutdown``; unsettled deliveries return to their
    /// queues (the broker requeues them when the connection closes).
    public func close() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in inbox.post(.close(c)) }
    }
}

// MARK: - Commands

/// A publish waiting to be sent or confirmed.
final class PendingPublish: @unchecked Sendable {
    let message: OutgoingMessage
    let created = Date()
    /// A delivery the connection thread acknowledges as soon as this
    /// publish is confirmed.
    let ackAfterConfirm: DeliveryToken?
    /// Called on the connection thread when done; nil for background
    /// publishes (nobody waits, failures are logged).
    let completion: (@Sendable (Error?) -> Void)?

    init(
        message: OutgoingMessage, ackAfterConfirm: DeliveryToken? = nil,
        completion: (@Sendable (Error?) -> Void)? = nil
    ) {
        self.message = message
        self.ackAfterConfirm = ackAfterConfirm
        self.completion = completion
    }

    func succeed() { completion?(nil) }

    /// Fails the waiting caller, or logs when nobody waits.
    func fail(_ error: Error, _ logger: Logger? = nil) {
        if let completion {
            completion(error)
        } else {
            logger?.warning(
                "background publish failed",
                metadata: [
                    "exchange": "\(message.exchange)", "routingKey": "\(message.routingKey)", "error": "\(error)",
                ])
        }
    }
}

/// Where a consumer's deliveries go: an `AsyncStream` or callbacks.
struct DeliverySink: Sendable {
    let deliver: @Sendable (Delivery) -> Void
    let finish: @Sendable () -> Void
}

/// Where a delivery came from: enough to settle it on the connection
/// thread, and to refuse it once its channel is gone.
struct DeliveryToken: Sendable {
    let consumer: Int
    let channel: UInt16
    let generation: Int
    let tag: UInt64
}

enum Command: @unchecked Sendable {
    case declare(Topology, CheckedContinuation<Void, Error>)
    case publish(PendingPublish)
    case consume(queue: String, prefetch: Int, sink: DeliverySink, CheckedContinuation<Int, Error>)
    case cancel(Int, CheckedContinuation<Void, Never>?)
    /// Without a continuation (plain acks) the caller does not wait.
    case settle(DeliveryToken, Settlement, CheckedContinuation<Void, Error>?)
    case messageCount(String, CheckedContinuation<Int, Error>)
    case close(CheckedContinuation<Void, Never>)
}

extension Command {
    /// Answers the command's caller with `error` (a command that cannot run).
    func fail(_ error: Error) {
        switch self {
        case .declare(_, let c): c.resume(throwing: error)
        case .publish(let p): p.fail(error)
        case .consume(_, _, let sink, let c):
            sink.finish()
            c.resume(throwing: error)
        case .cancel(_, let c): c?.resume()
        case .settle(_, _, let c): c?.resume(throwing: error)
        case .messageCount(_, let c): c.resume(throwing: error)
        case .close(let c): c.resume()
        }
    }
}

/// Commands from any thread to the connection thread, with a pipe that
/// wakes its `poll()`.
final class Inbox: @unchecked Sendable {
    private let lock = NSLock()
    private var commands: [Command] = []
    let readFD: Int32
    let writeFD: Int32

    init() {
        var fds: [Int32] = [0, 0]
        precondition(pipe(&fds) == 0, "pipe() failed")
        readFD = fds[0]
        writeFD = fds[1]
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
    }

    deinit {
        Glibc.close(readFD)
        Glibc.close(writeFD)
    }

    /// The connection thread is (about to be) blocked in `poll()`: only then
    /// does a post need to write to the pipe. Posts that arrive while it
    /// works are picked up by its next `take()`, saving a syscall and a
    /// wake-up each.
    private var sleeping = false

    /// Set once the connection thread has exited: later posts fail at once
    /// instead of waiting for a loop that will never run again.
    private var closed = false

    func post(_ command: Command) {
        let wake = lock.withLock { () -> Bool? in
            if closed { return nil }
            commands.append(command)
            defer { sleeping = false }
            return sleeping
        }
        guard let wake else {
            command.fail(AMQPError.shutdown)
            return
        }
        if wake {
            var byte: UInt8 = 1
            _ = write(writeFD, &byte, 1)  // a full pipe already means "wake up"
        }
    }

    /// Everything posted so far.
    func take() -> [Command] {
        lock.withLock {
            defer { commands.removeAll(keepingCapacity: true) }
            return commands
        }
    }

    /// Reads the wake-up bytes back; called when `poll()` found the pipe
    /// readable (and only then: an empty read per loop turn was a syscall
    /// for nothing).
    func drainWakeups() {
        var buffer = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        while withUnsafeMutableBytes(of: &buffer, { read(readFD, $0.baseAddress, $0.count) }) > 0 {}
    }

    /// Puts commands back at the head of the queue (the rest of a batch
    /// interrupted by a connection failure).
    func pushFront(_ rest: [Command]) {
        guard !rest.isEmpty else { return }
        lock.withLock { commands.insert(contentsOf: rest, at: 0) }
    }

    /// Marks the inbox closed and returns what was still queued.
    func close() -> [Command] {
        lock.withLock {
            closed = true
            defer { commands.removeAll() }
            return commands
        }
    }

    /// Called after `poll()` returns.
    func awake() { lock.withLock { sleeping = false } }

    /// Called right before `poll()`: returns false (do not sleep) when
    /// commands are already waiting; otherwise posts from now on wake it.
    func prepareToSleep() -> Bool {
        lock.withLock {
            if !commands.isEmpty { return false }
            sleeping = true
            return true
        }
    }
}

/// Connection statistics, written by the connection thread, read anywhere.
final class Stats: Sendable {
    struct Values {
        var connections = 0
        var connected = false
    }

    private let values = Mutex(Values())

    func read<T>(_ body: (Values) -> T) -> T { values.withLock { body($0) } }
    func update(_ body: (inout Values) -> Void) { values.withLock { body(&$0) } }
}

extension AMQPError {
    /// A delivery from a channel or connection that no longer exists.
    public static let staleDelivery = AMQPError.library(
        "the delivery's channel is gone; the broker redelivers the message")
}
