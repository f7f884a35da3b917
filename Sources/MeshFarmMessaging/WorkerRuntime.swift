import Foundation
import Logging
import Synchronization

/// Settings of a worker process.
public struct WorkerConfiguration: Sendable {
    /// The queue to consume (`meshfarm.cpu`, `meshfarm.gpu`).
    public var queue: String
    /// Exchange receiving task events.
    public var eventsExchange: String
    /// Tasks run at once; also the broker prefetch, so a busy worker is
    /// never handed more than it can start.
    public var concurrency: Int
    /// Name in events and logs.
    public var workerName: String
    /// Hard limit per task kind, seconds. Past it the process exits: the
    /// task returns to the queue and a task that always overruns reaches
    /// the delivery limit instead of occupying workers forever.
    public var timeLimits: [String: Double]
    /// Limit for kinds not in `timeLimits`.
    public var defaultTimeLimit: Double
    /// On shutdown, how long in-flight tasks may finish before they are
    /// requeued.
    public var shutdownGrace: Double
    /// Minimum seconds between two progress events of one task.
    public var progressInterval: Double

    public init(
        queue: String, eventsExchange: String, concurrency: Int = 1,
        workerName: String = "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)",
        timeLimits: [String: Double] = [:], defaultTimeLimit: Double = 4 * 3600, shutdownGrace: Double = 30,
        progressInterval: Double = 0.5
    ) {
        self.queue = queue
        self.eventsExchange = eventsExchange
        self.concurrency = max(1, concurrency)
        self.workerName = workerName
        self.timeLimits = timeLimits
        self.defaultTimeLimit = defaultTimeLimit
        self.shutdownGrace = shutdownGrace
        self.progressInterval = progressInterval
    }

    func timeLimit(for kind: String) -> Double { timeLimits[kind] ?? defaultTimeLimit }
}

/// Consumes tasks and runs them with their handlers, with the delivery
/// guarantees of docs/architecture.md:
///
/// - each task runs on a dedicated thread (one per concurrency slot), never
///   on the cooperative pool or a connection thread; deliveries go from the
///   transport straight to those threads and results straight back, with no
///   async hop on the way (it was half the runtime's cost per task);
/// - the result event (`succeeded`, or `failed` with its retry
///   classification) is published and confirmed *before* the task is
///   acknowledged, so a crash at any point leaves the task unacknowledged
///   and the broker redelivers it;
/// - a message that does not decode is rejected without requeue, so it is
///   dead-lettered, and the consumer keeps going;
/// - a task past its kind's time limit ends the process
///   (``onTimeLimitExceeded``), which returns it to the queue;
/// - ``shutdown()`` cancels the consumer, lets in-flight tasks finish for
///   the grace period and requeues the rest.
public final class WorkerRuntime<Payload: TaskContent, Result: TaskContent>: Sendable {
    public typealias Envelope = TaskEnvelope<Payload>
    public typealias Event = TaskEvent<Result>

    public let configuration: WorkerConfiguration
    let transport: any MessageTransport
    let handlers: [String: any TaskHandler<Payload, Result>]
    let logger: Logger
    /// Called when a task exceeds its time limit. Default: log and `exit(75)`.
    let onTimeLimitExceeded: @Sendable (Envelope) -> Void
    private let state = Mutex(WorkerState())
    /// One dedicated thread per concurrency slot: prefetch = concurrency, so
    /// a delivery always finds a free thread.
    private let threads: TaskThreadPool
    private let watchdog: Watchdog<Envelope>

    public init(
        transport: any MessageTransport, configuration: WorkerConfiguration,
        handlers: [String: any TaskHandler<Payload, Result>], logger: Logger = Logger(label: "meshfarm.worker"),
        onTimeLimitExceeded: (@Sendable (Envelope) -> Void)? = nil
    ) {
        self.transport = transport
        self.configuration = configuration
        self.handlers = handlers
        self.logger = logger
        threads = TaskThreadPool(size: configuration.concurrency, name: "task")
        let onExceeded: @Sendable (Envelope) -> Void =
            onTimeLimitExceeded ?? { task in
                logger.critical(
                    "task exceeded its time limit; exiting so the broker redelivers it",
                    metadata: ["task": "\(task.taskID)", "kind": "\(task.kind)"])
                exit(75)
            }
        self.onTimeLimitExceeded = onExceeded
        watchdog = Watchdog(onExpired: onExceeded)
    }

    /// Tasks currently running.
    public var inFlight: Int { state.withLock { $0.inFlight } }
    /// Tasks finished (succeeded or failed) since start.
    public var completed: Int { state.withLock { $0.completed } }

    /// Consumes until ``shutdown()``, until the transport closes, or until
    /// the calling task is cancelled (which shuts down gracefully).
    public func run() async throws {
        try await withTaskCancellationHandler {
            try await consumeUntilEnd()
        } onCancel: {
            Task { await self.shutdown() }
        }
    }

    private func consumeUntilEnd() async throws {
        try await withCheckedThrowingContinuation { (ended: CheckedContinuation<Void, Error>) in
            let over = state.withLock { s -> Bool in
                if s.over { return true }
                s.ended = ended
                return false
            }
            if over { return ended.resume() }
            Task {
                do {
                    let consumer = try await transport.consume(
                        queue: configuration.queue, prefetch: configuration.concurrency,
                        onDelivery: { [self] delivery in threads.run { self.execute(delivery) } },
                        // When deliveries stop because of shutdown(), it ends run()
                        // itself once the in-flight tasks are settled.
                        onEnd: { [self] in state.withLock { if !$0.stopping { $0.end() } } })
                    let stopNow = state.withLock { s -> Bool in
                        s.consumer = consumer
                        return s.stopping
                    }
                    if stopNow { await consumer.cancel() }
                    logger.info(
                        "consuming",
                        metadata: ["queue": "\(configuration.queue)", "concurrency": "\(configuration.concurrency)"])
                } catch {
                    state.withLock { $0.end(error) }
                }
            }
        }
    }

    /// Graceful stop: no new deliveries; in-flight tasks get the grace period
    /// to finish, after which their deliveries are requeued. Returns when
    /// every delivery is settled.
    public func shutdown() async {
        let consumer = state.withLock { s -> MessageConsumer? in
            s.stopping = true
            return s.consumer
        }
        await consumer?.cancel()
        let deadline = Date().addingTimeInterval(configuration.shutdownGrace)
        while inFlight > 0, Date() < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        let abandoned = state.withLock { s -> [Delivery] in
            s.abandoning = true
            return Array(s.running.values)
        }
        for delivery in abandoned {
            logger.warning("requeueing a task still running at shutdown")
            try? await delivery.requeue()
        }
        state.withLock { $0.end() }
    }

    // MARK: - One delivery, on a task thread

    func execute(_ delivery: Delivery) {
        let task: Envelope
        do {
            task = try MessageCoding.decodeTask(delivery.message.body, as: Envelope.self)
        } catch {
            logger.error(
                "rejecting a message that is not a task envelope; it goes to the dead-letter queue",
                metadata: ["reason": "\(error)", "messageID": "\(delivery.message.messageID ?? "-")"])
            delivery.settleInBackground(.reject)
            return
        }
        let key = state.withLock {
            $0.inFlight += 1
            $0.nextKey += 1
            $0.running[$0.nextKey] = delivery
            return $0.nextKey
        }
        let deliveryCount = delivery.message.deliveryCount
        var log = logger
        log.handler.metadata.merge(
            [
                "task": "\(task.taskID)", "attempt": "\(task.attempt)", "kind": "\(task.kind)",
                "trace": "\(task.traceID)",
            ]
        ) { $1 }  // one merge instead of four metadata-subscript copies

        let outcome: Swift.Result<Result, TaskFailure>
        let started = Date()
        if let handler = handlers[task.kind] {
            // `started` is informational: published in the background, it
            // costs the task no broker round trip. It may reach the
            // coordinator after the result; the coordinator ignores a
            // `started` for a finished attempt.
            publishInBackground(
                Event(kind: .started, task: task, worker: configuration.workerName, deliveryCount: deliveryCount))
            log.info("started", metadata: ["deliveryCount": "\(deliveryCount)"])
            outcome = run(handler, task, key: key)
        } else {
            outcome = .failure(.permanent("no handler for task kind '\(task.kind)' on \(configuration.queue)"))
        }
        let seconds = Date().timeIntervalSince(started)

        // Shutdown may have requeued this delivery already: then publishing a
        // result would race the redelivery, so drop it.
        if state.withLock({ $0.abandoning }) {
            finish(key, completed: false)
            return
        }
        let event: Event
        switch outcome {
        case .success(let result):
            event = Event(
                kind: .succeeded, task: task, worker: configuration.workerName, result: result,
                deliveryCount: deliveryCount, seconds: seconds)
            log.info("succeeded", metadata: ["seconds": "\(String(format: "%.3f", seconds))"])
        case .failure(let failure):
            event = Event(
                kind: .failed, task: task, worker: configuration.workerName,
                failure: .init(message: failure.message, retryable: failure.retryable), deliveryCount: deliveryCount,
                seconds: seconds)
            log.warning("failed", metadata: ["error": "\(failure.message)", "retryable": "\(failure.retryable)"])
        }
        let message: OutgoingMessage
        do { message = try eventMessage(event) } catch {
            log.error("cannot encode the result; requeueing the task", metadata: ["error": "\(error)"])
            delivery.settleInBackground(.requeue)
            finish(key, completed: false)
            return
        }
        // From here the delivery is settled by the ack after the confirm (or
        // a requeue on failure), never by shutdown(): no double settlement.
        state.withLock { $0.running[key] = nil }
        // Acknowledged only once the result is confirmed. If the ack cannot
        // be sent (the delivery's channel died), the broker redelivers the
        // task and the coordinator drops the duplicate by (task, attempt).
        transport.publish(message, thenAck: delivery) { [self, log] error in
            if let error {
                // Without a confirmed result the task must run again.
                log.error("could not publish the result; requeueing the task", metadata: ["error": "\(error)"])
                delivery.settleInBackground(.requeue)
            }
            finish(key, completed: error == nil)
        }
    }

    private func finish(_ key: Int, completed: Bool) {
        state.withLock {
            $0.inFlight -= 1
            $0.running[key] = nil
            if completed { $0.completed += 1 }
        }
    }

    /// Runs the handler on this (task) thread under the time-limit watchdog.
    private func run(_ handler: any TaskHandler<Payload, Result>, _ task: Envelope, key: Int)
        -> Swift.Result<
            Result, TaskFailure
        >
    {
        watchdog.arm(key, task: task, deadline: Date().addingTimeInterval(configuration.timeLimit(for: task.kind)))
        defer { watchdog.disarm(key) }
        let progress = ProgressThrottle(interval: configuration.progressInterval)
        let context = TaskContext(
            reportProgress: { [self] fraction, stage in
                guard progress.shouldSend() else { return }
                publishInBackground(
                    Event(
                        kind: .progress, task: task, worker: configuration.workerName,
                        progress: min(max(fraction, 0), 1), stage: stage))
            },
            cancelled: { [self] in state.withLock { $0.stopping } })
        do {
            return .success(try handler.run(task, context: context))
        } catch let failure as TaskFailure {
            return .failure(failure)
        } catch {
            return .failure(.retryable("\(error)"))
        }
    }

    private func publishInBackground(_ event: Event) {
        guard let message = try? eventMessage(event) else { return }
        transport.publishInBackground(message)
    }

    func eventMessage(_ event: Event) throws -> OutgoingMessage {
        OutgoingMessage(
            exchange: configuration.eventsExchange, routingKey: "\(event.kind.rawValue).\(event.jobID)",
            body: try MessageCoding.encode(event), messageID: event.eventID)
    }
}

/// Ends processes whose tasks overrun: one thread checks the deadlines of
/// running tasks four times a second, instead of a timer per task.
final class Watchdog<Item: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var deadlines: [Int: (Item, Date)] = [:]
    private let onExpired: @Sendable (Item) -> Void
    private var thread: Thread?

    init(onExpired: @escaping @Sendable (Item) -> Void) { self.onExpired = onExpired }

    func arm(_ key: Int, task: Item, deadline: Date) {
        lock.withLock {
            deadlines[key] = (task, deadline)
            if thread == nil {
                let thread = Thread { [weak self] in
                    Thread.current.name = "task-watchdog"  // named from inside, see TaskThreadPool
                    while let self {
                        self.check()
                        Thread.sleep(forTimeInterval: 0.25)
                    }
                }
                thread.start()
                self.thread = thread
            }
        }
    }

    func disarm(_ key: Int) { lock.withLock { deadlines[key] = nil } }

    private func check() {
        let now = Date()
        let expired = lock.withLock { () -> [Item] in
            let keys = deadlines.filter { $0.value.1 <= now }.map(\.key)
            return keys.map { deadlines.removeValue(forKey: $0)!.0 }
        }
        for task in expired { onExpired(task) }
    }
}

/// The runtime's mutable state (kept in a `Mutex`).
struct WorkerState: ~Copyable {
    var inFlight = 0
    var completed = 0
    var stopping = false
    var abandoning = false
    var consumer: MessageConsumer?
    var running: [Int: Delivery] = [:]
    var nextKey = 0
    /// `run()` waiting for the end.
    var ended: CheckedContinuation<Void, Error>?
    /// The end came (perhaps before `run()` started waiting for it).
    var over = false

    /// Resumes `run()` once.
    mutating func end(_ error: Error? = nil) {
        over = true
        if let error { ended?.resume(throwing: error) } else { ended?.resume() }
        ended = nil
    }
}

/// Lets one progress event through per interval.
final class ProgressThrottle: @unchecked Sendable {
    private let lock = NSLock()
    private let interval: Double
    private var last = Date.distantPast

    init(interval: Double) { self.interval = interval }

    func shouldSend() -> Bool {
        lock.withLock {
            let now = Date()
            guard now.timeIntervalSince(last) >= interval else { return false }
            last = now
            return true
        }
    }
}
