import Foundation
import Logging
import Synchronization

/// Settings of a worker process.
public struct WorkerConfiguration: Sendable {
    /// The queue to consume (`meshfarm.cpu`, `meshfarm.gpu`).
    public var queue: String
    /// Exchange receiving task events.
    public var eventsExchange: String
    /// The coordinator's control exchange (``ControlMessage``), nil for
    /// none: the worker binds a private queue to it and abandons the tasks
    /// of cancelled jobs.
    public var controlExchange: String?
    /// Tasks run at once; also the broker prefetch, so a busy worker is
    /// never handed more than it can start.
    public var concurrency: Int
    /// Name in events and logs.
    public var workerName: String
    /// Hard limit per task kind, seconds. A task past its limit fails
    /// permanently with the reason; its handler is asked to stop.
    public var timeLimits: [String: Double]
    /// Limit for kinds not in `timeLimits`.
    public var defaultTimeLimit: Double
    /// The broker's `consumer_timeout`, seconds (nil: the broker has none).
    /// A delivery held longer is taken back by the broker and handed to
    /// another worker while the first copy still runs, so every time limit
    /// is kept below it (``timeLimit(for:)``). Default: the shipped broker
    /// configuration's 3 hours.
    public var brokerConsumerTimeout: Double?
    /// After its time limit a task has failed; a handler that has still not
    /// returned this many seconds later ends the process, the only way to
    /// free its thread (``WorkerRuntime/onStuck``).
    public var stuckGrace: Double
    /// On shutdown, how long in-flight tasks may finish before they are
    /// handed back.
    public var shutdownGrace: Double
    /// Minimum seconds between two progress events of one task.
    public var progressInterval: Double
    /// A running task silent this long gets a heartbeat: a `progress` event
    /// repeating its last progress.
    public var heartbeatInterval: Double

    /// Seconds between two ``WorkerStatus`` messages (sent when the state
    /// changes too); only with a control exchange.
    public var statusInterval: Double

    public init(
        queue: String, eventsExchange: String, controlExchange: String? = nil, concurrency: Int = 1,
        workerName: String = "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)",
        timeLimits: [String: Double] = [:], defaultTimeLimit: Double = 4 * 3600,
        brokerConsumerTimeout: Double? = 3 * 3600, stuckGrace: Double = 60, shutdownGrace: Double = 30,
        progressInterval: Double = 0.5, heartbeatInterval: Double = 30, statusInterval: Double = 10
    ) {
        self.statusInterval = statusInterval
        self.queue = queue
        self.eventsExchange = eventsExchange
        self.controlExchange = controlExchange
        self.concurrency = max(1, concurrency)
        self.workerName = workerName
        self.timeLimits = timeLimits
        self.defaultTimeLimit = defaultTimeLimit
        self.brokerConsumerTimeout = brokerConsumerTimeout
        self.stuckGrace = stuckGrace
        self.shutdownGrace = shutdownGrace
        self.progressInterval = progressInterval
        self.heartbeatInterval = heartbeatInterval
    }

    /// The limit a task of `kind` runs under: its configured limit, kept
    /// below the broker's consumer timeout by a margin that leaves time to
    /// report the failure and acknowledge the task.
    public func timeLimit(for kind: String) -> Double {
        let configured = timeLimits[kind] ?? defaultTimeLimit
        guard let timeout = brokerConsumerTimeout else { return configured }
        return min(configured, timeout - Self.margin(beforeBrokerTimeout: timeout))
    }

    /// A quarter of the broker's timeout, at most a minute.
    public static func margin(beforeBrokerTimeout timeout: Double) -> Double { min(60, timeout / 4) }

    /// Why a task of `kind` failed at its limit.
    func timeLimitMessage(for kind: String) -> String {
        let limit = timeLimit(for: kind)
        var text = "the task exceeded its time limit of \(Self.duration(limit))"
        if let timeout = brokerConsumerTimeout, limit < timeLimits[kind] ?? defaultTimeLimit {
            text += " (kept below the broker's consumer timeout of \(Self.duration(timeout)))"
        }
        return text
    }

    static func duration(_ seconds: Double) -> String {
        if seconds >= 3600 { return String(format: "%.1f h", seconds / 3600) }
        if seconds >= 120 { return String(format: "%.0f min", seconds / 60) }
        return String(format: "%.0f s", seconds)
    }
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
/// - a task past its kind's time limit (kept below the broker's consumer
///   timeout, so the broker never hands a running task to a second worker)
///   fails permanently with the reason and is acknowledged; its handler is
///   asked to stop, and one that does not return within the stuck grace
///   ends the process (``onStuck``);
/// - a running task silent for the heartbeat interval gets a heartbeat
///   (a `progress` event), so it is seen alive;
/// - the tasks of a job the coordinator says is cancelled (the control
///   exchange, ``ControlMessage``) are abandoned when running (a
///   `cancelled` event, the ack, and `isCancelled` for the handler, whose
///   result is dropped) and skipped when delivered later;
/// - ``shutdown()`` cancels the consumer, lets in-flight tasks finish for
///   the grace period and hands the rest back (``handBack(_:_:reason:)``);
/// - a handler that throws ``WorkerUnhealthy`` hands its task back, and the
///   worker stops taking tasks and reports itself (``onUnhealthy``).
public final class WorkerRuntime<Payload: TaskContent, Result: TaskContent>: Sendable {
    public typealias Envelope = TaskEnvelope<Payload>
    public typealias Event = TaskEvent<Result>

    public let configuration: WorkerConfiguration
    let transport: any MessageTransport
    let handlers: [String: any TaskHandler<Payload, Result>]
    let logger: Logger
    /// Called when a task's handler has not returned `stuckGrace` seconds
    /// after its time limit (the task has failed and is settled already).
    /// Default: log and `exit(75)`: only a new process frees the thread.
    let onStuck: @Sendable (Envelope) -> Void
    /// Called once when a handler reports the worker broken
    /// (``WorkerUnhealthy``), after consuming stopped. Default: log, let
    /// the other tasks finish within the shutdown grace, and `exit(70)`, so
    /// that the orchestrator starts a healthy replacement.
    let onUnhealthy: (@Sendable (String) -> Void)?
    private let state = Mutex(WorkerState<Envelope>())
    /// One dedicated thread per concurrency slot: prefetch = concurrency, so
    /// a delivery always finds a free thread.
    private let threads: TaskThreadPool
    private let monitor: TaskMonitor<Envelope>

    public init(
        transport: any MessageTransport, configuration: WorkerConfiguration,
        handlers: [String: any TaskHandler<Payload, Result>], logger: Logger = Logger(label: "meshfarm.worker"),
        onStuck: (@Sendable (Envelope) -> Void)? = nil, onUnhealthy: (@Sendable (String) -> Void)? = nil
    ) {
        self.transport = transport
        self.configuration = configuration
        self.handlers = handlers
        self.logger = logger
        threads = TaskThreadPool(size: configuration.concurrency, name: "task")
        self.onStuck =
            onStuck ?? { task in
                logger.critical(
                    "a task's handler did not stop after its time limit; exiting to free its thread",
                    metadata: ["task": "\(task.taskID)", "kind": "\(task.kind)"])
                exit(75)
            }
        monitor = TaskMonitor(heartbeatInterval: configuration.heartbeatInterval)
        self.onUnhealthy = onUnhealthy
        monitor.setHandler { [weak self] event in self?.monitored(event) }
    }

    /// Why the worker stepped aside, once a handler reported it broken.
    public var unhealthyReason: String? { state.withLock { $0.unhealthy } }

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
                    if let exchange = configuration.controlExchange {
                        let control = try await listenForControl(exchange)
                        state.withLock { $0.control = control }
                        reportStatus(every: configuration.statusInterval)
                    }
                    try await subscribe()
                } catch {
                    state.withLock { $0.end(error) }
                }
            }
        }
    }

    /// Starts consuming the task queue. The consumer's end ends `run()`,
    /// unless the worker is stopping or draining, or a newer consumer
    /// replaced it (a drain, then a resume).
    private func subscribe() async throws {
        let generation = state.withLock { s -> Int in
            s.consumerGeneration += 1
            return s.consumerGeneration
        }
        let consumer = try await transport.consume(
            queue: configuration.queue, prefetch: configuration.concurrency,
            onDelivery: { [self] delivery in threads.run { self.execute(delivery) } },
            // When deliveries stop because of shutdown(), it ends run()
            // itself once the in-flight tasks are settled.
            onEnd: { [self] in
                state.withLock {
                    if !$0.stopping && !$0.draining && $0.consumerGeneration == generation { $0.end() }
                }
            })
        let stopNow = state.withLock { s -> Bool in
            guard s.consumerGeneration == generation, !s.stopping, !s.draining else { return true }
            s.consumer = consumer
            return false
        }
        if stopNow {
            await consumer.cancel()
            if state.withLock({ $0.stopping }) { await state.withLock { $0.control }?.cancel() }
            return
        }
        logger.info(
            "consuming", metadata: ["queue": "\(configuration.queue)", "concurrency": "\(configuration.concurrency)"])
    }

    /// An operator's drain: finish the tasks running, take no more, until
    /// ``resumeTakingTasks()``. The worker keeps its connection, its control
    /// queue and its status reports.
    public func drainTasks() {
        let consumer = state.withLock { s -> MessageConsumer?? in
            guard !s.draining, !s.stopping, s.unhealthy == nil else { return .none }
            s.draining = true
            defer { s.consumer = nil }
            return .some(s.consumer)
        }
        guard case .some(let consumer) = consumer else { return }
        logger.info("draining: finishing the tasks running, taking no more")
        Task {
            await consumer?.cancel()
            publishStatus()
        }
    }

    /// Takes tasks again after ``drainTasks()``.
    public func resumeTakingTasks() {
        let resume = state.withLock { s -> Bool in
            guard s.draining, !s.stopping else { return false }
            s.draining = false
            return true
        }
        guard resume else { return }
        logger.info("resuming: taking tasks again")
        Task {
            do { try await subscribe() } catch { state.withLock { $0.end(error) } }
            publishStatus()
        }
    }

    /// Whether an operator drained the worker.
    public var isDraining: Bool { state.withLock { $0.draining } }

    /// What the worker says of itself (``WorkerStatus``).
    public var status: WorkerStatus {
        state.withLock { s in
            WorkerStatus(
                worker: configuration.workerName, queue: configuration.queue,
                state: s.draining ? .draining : s.running.isEmpty ? .idle : .busy,
                running: s.running.values.map(\.task.taskID).sorted(), completed: s.completed)
        }
    }

    private func publishStatus() {
        guard configuration.controlExchange != nil,
            let message = try? status.message(exchange: configuration.eventsExchange)
        else { return }
        transport.publishInBackground(message)
    }

    /// Publishes the status now and every `interval` seconds until the end.
    private func reportStatus(every interval: Double) {
        Task { [weak self] in
            while let self, !self.state.withLock({ $0.over || $0.stopping }) {
                self.publishStatus()
                try? await Task.sleep(for: .seconds(max(0.1, interval)))
            }
        }
    }

    /// Graceful stop: no new deliveries; in-flight tasks get the grace period
    /// to finish, after which they are handed back
    /// (``handBack(_:_:reason:)``). Returns when every delivery is settled.
    public func shutdown() async {
        await drain()
        state.withLock { $0.end() }
    }

    /// Stops deliveries, gives in-flight tasks the grace period, hands back
    /// the rest.
    private func drain() async {
        let (consumer, control) = state.withLock { s -> (MessageConsumer?, MessageConsumer?) in
            s.stopping = true
            return (s.consumer, s.control)
        }
        await consumer?.cancel()
        await control?.cancel()
        let deadline = Date().addingTimeInterval(configuration.shutdownGrace)
        while inFlight > 0, Date() < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        let abandoned = state.withLock { s -> [(delivery: Delivery, task: Envelope)] in
            s.abandoning = true
            defer { s.running = [:] }
            return Array(s.running.values)
        }
        for (delivery, task) in abandoned {
            logger.warning("handing back a task still running at shutdown", metadata: ["task": "\(task.taskID)"])
            await handBack(delivery, task, reason: "the worker shut down before the task finished")
        }
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
        // Checked in the step that makes the task visible to `heard(_:)`, so
        // a cancellation is never missed between the two.
        let key = state.withLock { s -> Int? in
            if s.cancelledJobs.contains(task.jobID) { return nil }
            s.inFlight += 1
            s.nextKey += 1
            s.running[s.nextKey] = (delivery, task)
            return s.nextKey
        }
        let deliveryCount = delivery.message.deliveryCount
        guard let key else {
            logger.info("skipping a task: its job was cancelled", metadata: ["task": "\(task.taskID)"])
            settle(
                delivery,
                with: Event(
                    kind: .cancelled, task: task, worker: configuration.workerName, deliveryCount: deliveryCount)
            ) {}
            return
        }
        // The task's log metadata is built only for a message that is
        // logged: merged into a handler's metadata it cost every task.
        let log = TaskLogger(logger: logger, task: task)

        let outcome: Swift.Result<Result, TaskFailure>
        let started = Date()
        let taskLog = TaskLog(source: configuration.workerName)
        taskLog.note(
            "started attempt \(task.attempt)"
                + (deliveryCount > 0 ? " (delivered \(deliveryCount + 1) times: an earlier worker stopped)" : ""))
        if let handler = handlers[task.kind] {
            // `started` is informational: published in the background, it
            // costs the task no broker round trip. It may reach the
            // coordinator after the result; the coordinator ignores a
            // `started` for a finished attempt.
            publishInBackground(
                Event(kind: .started, task: task, worker: configuration.workerName, deliveryCount: deliveryCount))
            log.info("started", ["deliveryCount": "\(deliveryCount)"])
            outcome = run(handler, task, key: key, log: taskLog)
        } else {
            outcome = .failure(.permanent("no handler for task kind '\(task.kind)' on \(configuration.queue)"))
        }
        let seconds = Date().timeIntervalSince(started)

        // The delivery is this thread's to settle only if nothing else took
        // it: past its time limit the task failed and was settled already,
        // a cancelled job's task was abandoned, and at shutdown it may have
        // been handed back. A result now would race those, so it is
        // dropped. Claimed in one step, so the delivery is settled exactly
        // once.
        let claimed = state.withLock { s -> Bool in
            if s.abandoned.removeValue(forKey: key) != nil || s.abandoning { return false }
            return s.running.removeValue(forKey: key) != nil
        }
        guard claimed else {
            finish(key, completed: false)
            return
        }
        let event: Event
        switch outcome {
        case .success(let result):
            taskLog.note("succeeded in \(Self.threeDecimals(seconds)) s")
            event = Event(
                kind: .succeeded, task: task, worker: configuration.workerName, result: result,
                deliveryCount: deliveryCount, seconds: seconds, log: taskLog.lines)
            log.info("succeeded", ["seconds": "\(Self.threeDecimals(seconds))"])
        case .failure(let failure):
            let what = failure.handedBack == true ? "handed back" : failure.retryable ? "failed (retryable)" : "failed"
            taskLog.note(
                "\(what) after \(Self.threeDecimals(seconds)) s: \(failure.message)",
                level: failure.handedBack == true ? .warning : .error)
            event = Event(
                kind: .failed, task: task, worker: configuration.workerName,
                failure: .init(message: failure.message, retryable: failure.retryable, handedBack: failure.handedBack),
                deliveryCount: deliveryCount,
                seconds: seconds, log: taskLog.lines)
            log.warning("failed", ["error": "\(failure.message)", "retryable": "\(failure.retryable)"])
        }
        let message: OutgoingMessage
        do { message = try eventMessage(event) } catch {
            log.error("cannot encode the result; requeueing the task", ["error": "\(error)"])
            delivery.settleInBackground(.requeue)
            finish(key, completed: false)
            return
        }
        // Acknowledged only once the result is confirmed. If the ack cannot
        // be sent (the delivery's channel died), the broker redelivers the
        // task and the coordinator drops the duplicate by (task, attempt).
        transport.publish(message, thenAck: delivery) { [self, log] error in
            if let error {
                // Without a confirmed result the task must run again.
                log.error("could not publish the result; requeueing the task", ["error": "\(error)"])
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

    /// Runs the handler on this (task) thread, watched by the monitor
    /// (heartbeats, time limit).
    private func run(_ handler: any TaskHandler<Payload, Result>, _ task: Envelope, key: Int, log: TaskLog)
        -> Swift.Result<
            Result, TaskFailure
        >
    {
        monitor.watch(key, item: task, deadline: Date().addingTimeInterval(configuration.timeLimit(for: task.kind)))
        defer { monitor.stop(key) }
        let progress = ProgressThrottle(interval: configuration.progressInterval)
        let context = TaskContext(
            reportProgress: { [self] fraction, stage in
                guard progress.shouldSend() else { return }
                let fraction = min(max(fraction, 0), 1)
                monitor.heard(key, progress: fraction, stage: stage)
                publishInBackground(
                    Event(
                        kind: .progress, task: task, worker: configuration.workerName, progress: fraction, stage: stage
                    ))
            },
            cancelled: { [self] in state.withLock { $0.abandoned[key] != nil } }, log: log)
        do {
            return .success(try handler.run(task, context: context))
        } catch let failure as TaskFailure {
            return .failure(failure)
        } catch let unhealthy as WorkerUnhealthy {
            becameUnhealthy(unhealthy.reason)
            return .failure(TaskFailure(unhealthy.description, retryable: true, handedBack: true))
        } catch {
            return .failure(.retryable("\(error)"))
        }
    }

    /// The worker found itself broken outside a task (a failed periodic
    /// self-test): as when a handler throws ``WorkerUnhealthy``, it stops
    /// taking tasks and reports itself (``onUnhealthy``).
    public func stepAside(_ reason: String) { becameUnhealthy(reason) }

    /// Stops taking tasks (once) and tells ``onUnhealthy``.
    private func becameUnhealthy(_ reason: String) {
        let consumer = state.withLock { s -> MessageConsumer?? in
            guard s.unhealthy == nil else { return .none }
            s.unhealthy = reason
            s.stopping = true  // the consumer's end is ours, not the end of run()
            return .some(s.consumer)
        }
        guard case .some(let consumer) = consumer else { return }
        Task {
            await consumer?.cancel()
            if let onUnhealthy { return onUnhealthy(reason) }
            logger.critical(
                "the worker is unhealthy; exiting once its other tasks are settled", metadata: ["reason": "\(reason)"])
            await drain()
            exit(70)  // before run() returns: the process must not look like a clean stop
        }
    }

    /// Settles a task that is not done without counting it against the
    /// task: a `failed` event marked `handedBack` (the coordinator publishes
    /// the task again at once, as a new attempt that is not a retry), then
    /// the ack. A requeue would count toward the quorum queue's delivery
    /// limit, which is kept for workers that vanish mid-task; it is the
    /// fallback only when the event cannot be published.
    func handBack(_ delivery: Delivery, _ task: Envelope, reason: String) async {
        let event = Event(
            kind: .failed, task: task, worker: configuration.workerName,
            failure: .init(message: reason, retryable: true, handedBack: true),
            deliveryCount: delivery.message.deliveryCount)
        // Bounded: with the broker away the publish would wait for it, and
        // a shutdown would hang until SIGKILL. Past the bound the delivery
        // is left to the connection's close, which returns it to the queue.
        await firstAnswer(within: Self.handBackBound, else: ()) { answer in
            settle(delivery, with: event) { answer(()) }
        }
    }

    /// Seconds a hand-back waits for its event to be confirmed.
    static var handBackBound: Double { 5 }

    /// What the monitor reports about a running task.
    private func monitored(_ event: TaskMonitor<Envelope>.Event) {
        switch event {
        case .heartbeat(let task, let progress, let stage):
            publishInBackground(
                Event(kind: .progress, task: task, worker: configuration.workerName, progress: progress, stage: stage))
        case .deadline(let key, let task):
            timeLimitReached(key, task)
        }
    }

    /// First deadline: the task fails permanently and is acknowledged once
    /// the failure is confirmed, well before the broker would take it back;
    /// the handler is asked to stop (`isCancelled`). Second deadline (the
    /// stuck grace): the handler never returned.
    private func timeLimitReached(_ key: Int, _ task: Envelope) {
        let delivery = state.withLock { s -> Delivery? in
            guard let delivery = s.running.removeValue(forKey: key)?.delivery else { return nil }
            s.abandoned[key] = .timeLimit
            return delivery
        }
        guard let delivery else {
            if state.withLock({ $0.abandoned[key] == .timeLimit }) { onStuck(task) }
            return
        }
        monitor.rearm(key, deadline: Date().addingTimeInterval(configuration.stuckGrace))
        let reason = configuration.timeLimitMessage(for: task.kind)
        logger.error(
            "task failed: time limit",
            metadata: ["task": "\(task.taskID)", "kind": "\(task.kind)", "reason": "\(reason)"])
        let event = Event(
            kind: .failed, task: task, worker: configuration.workerName,
            failure: .init(message: reason, retryable: false), deliveryCount: delivery.message.deliveryCount,
            seconds: configuration.timeLimit(for: task.kind))
        settle(delivery, with: event) {}
    }

    /// Binds a private queue of this worker to the coordinator's control
    /// exchange (declared by the coordinator with the farm's topology) and
    /// listens. Declared like a topology, so the transport declares it again
    /// after a reconnect.
    private func listenForControl(_ exchange: String) async throws -> MessageConsumer {
        let queue = "\(exchange).\(configuration.workerName).\(RandomID.make().prefix(8))"
        try await transport.declare(
            Topology(
                exchanges: [],
                queues: [.init(name: queue, quorum: false, transient: true)],
                bindings: [.init(queue: queue, exchange: exchange, pattern: "#")]))
        return try await transport.consume(
            queue: queue, prefetch: 16,
            onDelivery: { [self] delivery in
                delivery.settleInBackground(.ack)
                do { heard(try ControlMessage.decode(delivery.message.body)) } catch {
                    logger.error("ignoring an unreadable control message", metadata: ["error": "\(error)"])
                }
            }, onEnd: {})
    }

    /// A control message: remembers the cancelled jobs and abandons their
    /// running tasks: a `cancelled` event, then the ack; the handler sees
    /// `isCancelled`, and what it returns is dropped. The handler's thread
    /// stays taken until it returns, so handlers look at `isCancelled`
    /// between steps (and the importer kills its child).
    func heard(_ control: ControlMessage) {
        if control.drainWorkers?.contains(configuration.workerName) == true { drainTasks() }
        if control.resumeWorkers?.contains(configuration.workerName) == true { resumeTakingTasks() }
        let abandoned = state.withLock { s -> [(key: Int, delivery: Delivery, task: Envelope)] in
            s.cancelledJobs.heard(control.cancelledJobs, now: Date())
            s.cancelledJobs.forget(control.resumedJobs ?? [])
            let hit = s.running.filter { s.cancelledJobs.contains($0.value.task.jobID) }
            for key in hit.keys {
                s.running[key] = nil
                s.abandoned[key] = .jobCancelled
            }
            return hit.map { ($0.key, $0.value.delivery, $0.value.task) }
        }
        for (key, delivery, task) in abandoned {
            monitor.stop(key)  // no more heartbeats, no time limit: it is settled
            logger.info("abandoning a running task: its job was cancelled", metadata: ["task": "\(task.taskID)"])
            settle(
                delivery,
                with: Event(
                    kind: .cancelled, task: task, worker: configuration.workerName,
                    deliveryCount: delivery.message.deliveryCount)
            ) {}
        }
    }

    /// Publishes `event` and acknowledges `delivery` once it is confirmed;
    /// when it cannot be published, requeues the delivery instead (the task
    /// must run again). `done` runs either way.
    private func settle(_ delivery: Delivery, with event: Event, done: @escaping @Sendable () -> Void) {
        guard let message = try? eventMessage(event) else {
            delivery.settleInBackground(.requeue)
            return done()
        }
        transport.publish(message, thenAck: delivery) { [logger] error in
            if let error {
                logger.error(
                    "could not publish a task's \(event.kind.rawValue) event; requeueing the task",
                    metadata: ["task": "\(event.taskID)", "error": "\(error)"])
                delivery.settleInBackground(.requeue)
            }
            done()
        }
    }

    private func publishInBackground(_ event: Event) {
        guard let message = try? eventMessage(event) else { return }
        transport.publishInBackground(message)
    }

    /// `seconds` to the nearest thousandth ("0.042"), as `%.3f` writes it
    /// but for exact ties (rounded away from zero here), without
    /// `String(format:)`'s cost on every task.
    package static func threeDecimals(_ seconds: Double) -> String {
        guard seconds >= 0, seconds < 1e12 else { return String(format: "%.3f", seconds) }
        let thousandths = Int((seconds * 1000).rounded())
        let fraction = String(thousandths % 1000)
        return "\(thousandths / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }

    func eventMessage(_ event: Event) throws -> OutgoingMessage {
        OutgoingMessage(
            exchange: configuration.eventsExchange, routingKey: "\(event.kind.rawValue).\(event.jobID)",
            body: try MessageCoding.encode(event), messageID: event.eventID)
    }
}

/// The runtime's mutable state (kept in a `Mutex`).
struct WorkerState<Envelope>: ~Copyable {
    var inFlight = 0
    var completed = 0
    var stopping = false
    var abandoning = false
    /// An operator drained the worker: no consumer until resumed.
    var draining = false
    /// Which consumer is the current one (a drain and a resume replace it).
    var consumerGeneration = 0
    var consumer: MessageConsumer?
    /// The consumer of this worker's control queue.
    var control: MessageConsumer?
    /// Jobs the coordinator says are cancelled.
    var cancelledJobs = CancelledJobs()
    /// Deliveries not yet settled, with their tasks.
    var running: [Int: (delivery: Delivery, task: Envelope)] = [:]
    /// Why the worker stepped aside (``WorkerUnhealthy``), once it has.
    var unhealthy: String?
    /// Tasks settled by someone else than their handler (failed at the
    /// time limit, or abandoned with their cancelled job) whose handlers
    /// have not returned: they see `isCancelled`.
    var abandoned: [Int: Abandonment] = [:]
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

/// Why a running task was settled behind its handler's back.
enum Abandonment: Equatable {
    /// Failed at its time limit: a handler that never returns ends the
    /// process (``WorkerRuntime/onStuck``).
    case timeLimit
    /// Its job was cancelled: the handler finishes in its own time.
    case jobCancelled
}

/// A logger for one task: the task's identity joins a message's metadata
/// only when the message is logged.
struct TaskLogger<Payload: TaskContent>: Sendable {
    let logger: Logger
    let task: TaskEnvelope<Payload>

    func info(
        _ message: @autoclosure () -> Logger.Message, _ extra: @autoclosure () -> Logger.Metadata = [:],
        file: String = #fileID, function: String = #function, line: UInt = #line
    ) {
        logger.log(
            level: .info, message(), metadata: metadata(extra()), file: file, function: function, line: line)
    }

    func warning(
        _ message: @autoclosure () -> Logger.Message, _ extra: @autoclosure () -> Logger.Metadata = [:],
        file: String = #fileID, function: String = #function, line: UInt = #line
    ) {
        logger.log(
            level: .warning, message(), metadata: metadata(extra()), file: file, function: function, line: line)
    }

    func error(
        _ message: @autoclosure () -> Logger.Message, _ extra: @autoclosure () -> Logger.Metadata = [:],
        file: String = #fileID, function: String = #function, line: UInt = #line
    ) {
        logger.log(
            level: .error, message(), metadata: metadata(extra()), file: file, function: function, line: line)
    }

    private func metadata(_ extra: Logger.Metadata) -> Logger.Metadata {
        extra.merging(
            [
                "task": "\(task.taskID)", "attempt": "\(task.attempt)", "kind": "\(task.kind)",
                "trace": "\(task.traceID)",
            ]
        ) { mine, _ in mine }
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

/// The answer `start` gives (through the closure it is passed), or
/// `fallback` once `seconds` have passed, whichever comes first; a later
/// answer is dropped. For waits on the broker that must stay bounded (a
/// hand-back at shutdown, a queue depth asked by the coordinator's loop).
package func firstAnswer<Value: Sendable>(
    within seconds: Double, else fallback: Value,
    _ start: (@escaping @Sendable (Value) -> Void) -> Void
) async -> Value {
    await withCheckedContinuation { (continuation: CheckedContinuation<Value, Never>) in
        let pending = PendingAnswer(continuation)
        start { pending.give($0) }
        Task {
            try? await Task.sleep(for: .seconds(seconds))
            pending.give(fallback)
        }
    }
}

/// A continuation resumed with the first value given.
private final class PendingAnswer<Value: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<Value, Never>?>

    init(_ continuation: CheckedContinuation<Value, Never>) { self.continuation = Mutex(continuation) }

    func give(_ value: Value) { continuation.withLock { $0.take() }?.resume(returning: value) }
}
