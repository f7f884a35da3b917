import Foundation
import Logging
import MeshFarmArtifacts
import MeshFarmJobs
import MeshFarmMessaging
import Synchronization

/// Drives jobs through their task graphs: publishes a task when its
/// dependencies have succeeded, applies worker events, retries with
/// backoff, turns dead letters into failures, cancels (telling the workers
/// to stop the job's tasks), and resumes from the store after a restart.
///
/// Every change goes through one mailbox processed by one loop, each
/// command completing (store write, publications) before the next starts:
/// no two changes to a job interleave, and an event is acknowledged only
/// after its effect is stored, so a crash replays it. Replays are harmless:
/// the state machine ignores duplicates (see `JobRecord+Transitions`).
public final class Coordinator: Sendable {
    public struct Configuration: Sendable {
        public var farm: FarmTopology
        public var retryPolicy: RetryPolicy
        /// How many runnable tasks may wait in each pool's queue; the rest
        /// are held and released by job priority.
        public var dispatchPolicy: DispatchPolicy
        /// Unacknowledged events in flight from the broker.
        public var eventPrefetch: Int
        /// When a task the broker should hold is taken as lost.
        public var reconciler: Reconciler
        /// Seconds a submission waits for the loop to take it (nil: no
        /// bound). The loop never waits for the broker, so only a
        /// coordinator that has not started (its broker unreachable at
        /// start-up) or a stalled store keeps it longer; the caller then
        /// gets ``CoordinatorUnavailable`` and nothing is created.
        public var submitWait: Double?
        /// Why no task should start now (the disk is full: results could not
        /// be stored), or nil. While it says so, runnable tasks wait in the
        /// coordinator; they go out once it no longer does.
        public var holdDispatch: @Sendable () -> String?

        public init(
            farm: FarmTopology = FarmTopology(), retryPolicy: RetryPolicy = RetryPolicy(),
            dispatchPolicy: DispatchPolicy = DispatchPolicy(), eventPrefetch: Int = 64,
            reconciler: Reconciler = Reconciler(), submitWait: Double? = 10,
            holdDispatch: @escaping @Sendable () -> String? = { nil }
        ) {
            self.holdDispatch = holdDispatch
            self.farm = farm
            self.retryPolicy = retryPolicy
            self.dispatchPolicy = dispatchPolicy
            self.eventPrefetch = eventPrefetch
            self.reconciler = reconciler
            self.submitWait = submitWait
        }
    }

    enum Command: Sendable {
        case submit(JobRecord, IdempotencyClaim?, Int?, Ticket, CheckedContinuation<Submitted, Error>)
        case cancel(String, CheckedContinuation<JobRecord?, Error>)
        case delete(String, CheckedContinuation<Deletion, Error>)
        case retry(String, Int?, CheckedContinuation<JobRecord?, Error>)
        case reprioritize(String, Int, CheckedContinuation<JobRecord?, Error>)
        case event(Delivery)
        case deadLetter(Delivery)
        case retryDue(job: String, task: TaskID)
        /// Storing the job failed: load it again from the store.
        case reload(job: String)
        /// Publishing failed; try again (`tries` so far).
        case republish(job: String, task: TaskID, attempt: Int, tries: Int)
        /// The broker confirmed (error nil) or refused a task's publication.
        case published(job: String, task: TaskID, attempt: Int, tries: Int, error: String?)
        /// Look for lost tasks (``Reconciler``).
        case reconcile
        /// Tell the workers again which finished jobs still have tasks with
        /// the broker (``ControlMessage``).
        case announceCancellations
        /// An operator drains a worker (true) or lets it take tasks again.
        case drain(worker: String, Bool)
        /// A job's callback accepted its notice.
        case notified(String, Date)
    }

    public let configuration: Configuration
    let transport: any MessageTransport
    let store: any JobStore
    let logger: Logger
    private let mailbox: AsyncStream<Command>
    private let post: AsyncStream<Command>.Continuation
    private let view = FarmView()
    private let streams = Mutex<[MessageStream]>([])
    /// Finished jobs with a callback not yet notified (``notices``).
    private let finishedJobs: AsyncStream<JobRecord>
    private let finishing: AsyncStream<JobRecord>.Continuation

    public init(
        transport: any MessageTransport, store: any JobStore, configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "meshfarm.coordinator")
    ) {
        self.transport = transport
        self.store = store
        self.configuration = configuration
        self.logger = logger
        (mailbox, post) = AsyncStream<Command>.makeStream()
        (finishedJobs, finishing) = AsyncStream<JobRecord>.makeStream()
    }

    /// Jobs that finished with a callback to notify: each as it finishes,
    /// and after a restart those of the last day not yet notified. One
    /// reader (the submit service's notifier), which reports back with
    /// ``notified(_:at:)``.
    public var notices: AsyncStream<JobRecord> { finishedJobs }

    /// Records that a job's callback accepted its notice.
    public func notified(_ id: String, at date: Date) { post.yield(.notified(id, date)) }

    /// Declares the topology, resumes unfinished jobs and consumes events
    /// and dead letters. Returns once running; ``run()`` processes commands.
    public func start() async throws {
        let farm = configuration.farm
        try await transport.declare(farm.topology)
        let events = try await transport.consume(queue: farm.coordinatorQueue, prefetch: configuration.eventPrefetch)
        let deadLetters = try await transport.consume(queue: farm.deadLetterQueue, prefetch: 16)
        let post = self.post
        Task { for await delivery in events { post.yield(.event(delivery)) } }
        Task { for await delivery in deadLetters { post.yield(.deadLetter(delivery)) } }
        streams.withLock { $0 = [events, deadLetters] }
    }

    /// Processes commands until ``stop()``. Resumes stored jobs first.
    public func run() async {
        var loop = Loop(
            store: store, transport: transport, configuration: configuration, logger: logger, view: view,
            timers: Timers(post: post), finishing: finishing)
        await loop.resume()
        for await command in mailbox { await loop.handle(command) }
    }

    /// Stops consuming; the loop ends after the commands already posted.
    public func stop() async {
        for stream in streams.withLock({ $0 }) { await stream.cancel() }
        post.finish()
        finishing.finish()
    }

    // MARK: - API

    /// Stores a new job and publishes its first task.
    public func submit(_ job: JobRecord) async throws -> JobRecord {
        try await submit(job, idempotency: nil).job
    }

    /// A client's idempotency key and the fingerprint of its request.
    public struct IdempotencyClaim: Sendable, Equatable {
        public var key: String
        public var requestSHA256: String

        public init(key: String, requestSHA256: String) {
            self.key = key
            self.requestSHA256 = requestSHA256
        }
    }

    /// What a submission did: created `job`, or found it created earlier
    /// with the same key and request (`replayed`).
    public struct Submitted: Sendable {
        public var job: JobRecord
        public var replayed: Bool
    }

    /// Stores a new job and publishes its first task, unless `idempotency`'s
    /// key created a job in the last 24 hours: then that job, when the
    /// request is the same, or ``IdempotencyConflict`` when it is not.
    /// With `maxUnfinished`, a job whose owner already has that many
    /// unfinished jobs is refused (``QuotaExceeded``); counted in the loop,
    /// so concurrent submissions cannot pass the limit together.
    /// Submissions run one at a time in the loop, so two with one key never
    /// both create. Throws ``CoordinatorUnavailable`` when the loop has not
    /// taken the submission within ``Configuration/submitWait``; the loop
    /// then drops it when it gets there, so nothing is created.
    public func submit(_ job: JobRecord, idempotency: IdempotencyClaim?, maxUnfinished: Int? = nil) async throws
        -> Submitted
    {
        let ticket = Ticket()
        let wait = configuration.submitWait
        return try await withCheckedThrowingContinuation { continuation in
            post.yield(.submit(job, idempotency, maxUnfinished, ticket, continuation))
            guard let wait else { return }
            Task {
                try? await Task.sleep(for: .seconds(wait))
                if ticket.abandon() { continuation.resume(throwing: CoordinatorUnavailable(seconds: wait)) }
            }
        }
    }

    /// Cancels a job; nil when there is no such job.
    public func cancel(_ id: String) async throws -> JobRecord? {
        try await withCheckedThrowingContinuation { post.yield(.cancel(id, $0)) }
    }

    /// Retries a failed or cancelled job (``JobRecord/retry(now:)``): its
    /// failed and cancelled tasks run again, what succeeded is kept, and
    /// the workers forget that it was cancelled. Nil when there is no such
    /// job; throws ``RetryRefusal`` when it cannot be retried, and
    /// ``QuotaExceeded`` when its owner has `maxUnfinished` unfinished jobs.
    public func retry(_ id: String, maxUnfinished: Int? = nil) async throws -> JobRecord? {
        try await withCheckedThrowingContinuation { post.yield(.retry(id, maxUnfinished, $0)) }
    }

    /// Sets a job's priority (0...9, checked by the caller): its tasks not
    /// yet published go out in the new order. Nil when there is no such job.
    public func setPriority(_ id: String, _ priority: Int) async throws -> JobRecord? {
        try await withCheckedThrowingContinuation { post.yield(.reprioritize(id, priority, $0)) }
    }

    /// Drains a worker (it finishes what it runs and takes no more) or
    /// resumes it, over the control exchange; the coordinator repeats it
    /// while the worker's status says otherwise (a worker that was away
    /// hears it when it reports again).
    public func setDraining(_ worker: String, _ draining: Bool) {
        post.yield(.drain(worker: worker, draining))
    }

    /// What deleting a job did.
    public enum Deletion: Sendable, Equatable {
        /// Deleted: the job as it was. Its artifacts are free for the
        /// storage collector unless another job names them.
        case deleted(JobRecord)
        case notFound
        /// Still queued or running: cancel it first.
        case unfinished(JobStatus)
    }

    /// Deletes a finished (succeeded, failed or cancelled) job from the
    /// store, in the loop: no event of the job is half applied meanwhile.
    public func delete(_ id: String) async throws -> Deletion {
        try await withCheckedThrowingContinuation { post.yield(.delete(id, $0)) }
    }

    /// The job as last stored.
    public func job(_ id: String) async throws -> JobRecord? {
        if let job = view.snapshot(id) { return job }
        return try await store.job(id)
    }

    public func jobs(status: JobStatus?, limit: Int) async throws -> [JobRecord] {
        try await store.jobs(status: status, limit: limit)
    }

    /// Finished jobs last changed before `date`, oldest first (retention).
    public func finishedJobs(before date: Date, limit: Int) async throws -> [String] {
        try await store.finishedJobs(before: date, limit: limit)
    }

    /// The artifacts every stored job names, per owner: the collector's mark.
    public func artifactReferences() async throws -> [String: Set<String>] {
        try await store.artifactReferences()
    }

    /// The job now, then after every change, until it is finished.
    public func updates(for id: String) async throws -> AsyncStream<JobRecord>? {
        // Subscribe first, then read: a change in between is then either in
        // what we read or delivered to the subscription, never lost.
        let (stream, continuation) = AsyncStream<JobRecord>.makeStream(bufferingPolicy: .bufferingNewest(16))
        view.subscribe(id, continuation)
        guard let current = try await job(id) else {
            continuation.finish()
            return nil
        }
        continuation.yield(current)
        if current.status.isTerminal { continuation.finish() }
        return stream
    }

    /// The farm's changes (jobs, workers) from now on, and those missed
    /// since the event id `lastID` (``FarmChanges``).
    public func changes(after lastID: String?) -> FarmChanges.Subscription { view.changes.subscribe(after: lastID) }

    /// A worker as last seen, nil when not seen in the last `window` seconds.
    public func worker(_ name: String, seenWithin window: Double = 600) -> WorkerSighting? {
        workers(seenWithin: window).first { $0.name == name }
    }

    /// Workers seen in the last `window` seconds, most recent first.
    public func workers(seenWithin window: Double = 600) -> [WorkerSighting] {
        let cutoff = Date().addingTimeInterval(-window)
        return view.workers(seenSince: cutoff)
    }

    /// Why the job store cannot be used right now (it failed the last
    /// time; the loop is backing off), for `/readyz`; nil while it works.
    public var storeProblem: String? { view.storeProblem }

    /// Tasks per pool of unfinished jobs: waiting in the pool's queue,
    /// running, and held back by the coordinator until the queue has room.
    public func poolLoads() -> [String: Dispatcher.PoolLoad] { view.loads }

    /// Ready messages per MeshFarm queue.
    public func queueDepths() async -> [String: Int] {
        let farm = configuration.farm
        var depths: [String: Int] = [:]
        for queue in [farm.cpuQueue, farm.gpuQueue, farm.coordinatorQueue, farm.deadLetterQueue] {
            depths[queue] = try? await transport.messageCount(queue: queue)
        }
        return depths
    }

}

/// Posts commands to the coordinator's mailbox later (retry timers, reloads).
struct Timers: Sendable {
    let post: AsyncStream<Coordinator.Command>.Continuation

    func schedule(_ job: String, _ task: TaskID, at date: Date) {
        schedule(.retryDue(job: job, task: task), at: date)
    }

    /// Posts `command` now.
    func now(_ command: Coordinator.Command) { post.yield(command) }

    /// Posts `command` at `date`.
    func schedule(_ command: Coordinator.Command, at date: Date) {
        let post = self.post
        Task {
            let delay = date.timeIntervalSinceNow
            if delay > 0 { try? await Task.sleep(for: .seconds(delay)) }
            post.yield(command)
        }
    }
}

/// A submission's place in the mailbox: taken by the loop, or given up by
/// its caller after the wait; never both.
final class Ticket: Sendable {
    private enum State { case waiting, taken, abandoned }
    private let state = Mutex(State.waiting)

    /// The loop takes the submission: false when its caller gave up.
    func take() -> Bool { transition(to: .taken) }
    /// The caller gives up: false when the loop took it already.
    func abandon() -> Bool { transition(to: .abandoned) }

    private func transition(to next: State) -> Bool {
        state.withLock {
            guard $0 == .waiting else { return false }
            $0 = next
            return true
        }
    }
}

/// The coordinator did not take a submission in time: it has not started
/// (its broker was unreachable at start-up) or its store stalls. Nothing
/// was created; the request may be sent again (with the same idempotency
/// key).
public struct CoordinatorUnavailable: Error, Sendable, CustomStringConvertible {
    public var seconds: Double

    public var description: String {
        "the coordinator did not take the job within \(Int(seconds)) s (it is starting, or cannot reach the broker "
            + "or its store); nothing was created: send the request again, with the same Idempotency-Key"
    }
}

/// An owner has as many unfinished jobs as it may.
public struct QuotaExceeded: Error, Sendable, CustomStringConvertible {
    public var owner: String
    public var unfinished: Int
    public var limit: Int

    public var description: String {
        "\(owner) has \(unfinished) unfinished jobs, the most it may have at once (\(limit)): wait for one to "
            + "finish or cancel one"
    }
}

/// An idempotency key reused for a different request.
public struct IdempotencyConflict: Error, Sendable, CustomStringConvertible {
    public var key: String
    /// The job the key created.
    public var jobID: String

    public var description: String {
        "Idempotency-Key '\(key)' was used for a different request (it created job \(jobID))"
    }
}
