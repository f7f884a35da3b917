import Foundation
import MeshFarmMessaging

/// A task message of a MeshFarm job, with its typed payload.
public typealias JobTask = TaskEnvelope<TaskPayload>
/// A worker's event about a MeshFarm task, with its typed result.
public typealias JobTaskEvent = TaskEvent<TaskResult>

/// Where a job stands.
public enum JobStatus: String, Sendable, Codable, CaseIterable {
    case queued, running, succeeded, failed, cancelled

    public var isTerminal: Bool { self == .succeeded || self == .failed || self == .cancelled }
}

/// Where one task stands.
public enum TaskState: String, Sendable, Codable {
    /// Waiting for its dependencies.
    case pending
    /// Runnable (dependencies met, or a retry's backoff over), held by the
    /// coordinator until its pool's queue has room: the coordinator, not
    /// the broker, decides the order of waiting work (see `Dispatcher`).
    case ready
    /// Published (or about to be); waiting for a worker.
    case queued
    /// A worker reported `started`.
    case running
    /// Failed with a retryable error; republished at `retryAt`.
    case retrying
    case succeeded
    case failed
    /// Never ran: its job was cancelled or failed first.
    case cancelled

    public var isTerminal: Bool { self == .succeeded || self == .failed || self == .cancelled }
}

/// One task of a job, with its history.
public struct TaskRecord: Sendable, Equatable, Codable {
    public var task: PlannedTask
    public var state: TaskState
    /// Publications so far (the current attempt's number); 0 before the first.
    public var attempt: Int
    /// The current attempt's message was confirmed by the broker. A restarted
    /// coordinator republishes queued tasks that were not.
    public var published: Bool
    public var worker: String?
    /// When the current attempt became runnable (it may then wait, `ready`,
    /// for room in its pool's queue).
    public var queuedAt: Date?
    public var startedAt: Date?
    public var finishedAt: Date?
    public var retryAt: Date?
    public var progress: Double?
    public var stage: String?
    public var result: TaskResult?
    public var error: String?
    /// Handler seconds over every attempt that reported them.
    public var computeSeconds: Double
    /// Broker redeliveries seen (crashed or killed workers).
    public var redeliveries: Int
    /// Attempts published again because the previous one was lost (its
    /// message, or its worker, went silent: ``Reconciler``); they are not
    /// retries and do not count against the retry policy.
    public var republished: Int
    /// Attempts made before an operator's retry (``JobRecord/retry(now:)``):
    /// they no longer count against the retry policy.
    public var resetAttempts: Int
    /// What happened to the task, oldest first: the coordinator's notes
    /// (queued, retried, lost, dead-lettered) and each attempt's lines from
    /// its worker. The newest ``logLimit`` lines are kept.
    public var log: [TaskLogLine]

    public static let logLimit = 200

    public init(task: PlannedTask) {
        self.task = task
        state = .pending
        attempt = 0
        published = false
        computeSeconds = 0
        redeliveries = 0
        republished = 0
        resetAttempts = 0
        log = []
    }

    /// Adds lines to the log, keeping the newest ``logLimit``.
    mutating func note(_ lines: [TaskLogLine]) {
        // Bounded here too: lines from a worker's event are decoded, not built.
        log.append(
            contentsOf: lines.suffix(Self.logLimit).map {
                TaskLogLine(at: $0.at, source: String($0.source.prefix(100)), level: $0.level, text: $0.text)
            })
        if log.count > Self.logLimit { log.removeFirst(log.count - Self.logLimit) }
    }

    /// Adds one line of the coordinator's.
    mutating func note(_ text: String, level: TaskLogLine.Level = .info, at: Date) {
        note([TaskLogLine(at: at, source: "coordinator", level: level, text: text)])
    }

    /// Attempts that count against the retry policy.
    public var retryAttempts: Int { attempt - republished - resetAttempts }

    public var id: TaskID { task.id }

    enum CodingKeys: String, CodingKey {
        case task, state, attempt, published, worker, queuedAt, startedAt, finishedAt, retryAt, progress, stage
        case result, error, computeSeconds, redeliveries, republished, resetAttempts, log
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        task = try c.decode(PlannedTask.self, forKey: .task)
        state = try c.decode(TaskState.self, forKey: .state)
        attempt = try c.decode(Int.self, forKey: .attempt)
        published = try c.decode(Bool.self, forKey: .published)
        worker = try c.decodeIfPresent(String.self, forKey: .worker)
        queuedAt = try c.decodeIfPresent(Date.self, forKey: .queuedAt)
        startedAt = try c.decodeIfPresent(Date.self, forKey: .startedAt)
        finishedAt = try c.decodeIfPresent(Date.self, forKey: .finishedAt)
        retryAt = try c.decodeIfPresent(Date.self, forKey: .retryAt)
        progress = try c.decodeIfPresent(Double.self, forKey: .progress)
        stage = try c.decodeIfPresent(String.self, forKey: .stage)
        if c.contains(.result), try !c.decodeNil(forKey: .result) {
            result = try TaskResult(
                kind: task.kind.rawValue, taskID: task.id.description, from: try c.superDecoder(forKey: .result))
        }
        error = try c.decodeIfPresent(String.self, forKey: .error)
        computeSeconds = try c.decode(Double.self, forKey: .computeSeconds)
        redeliveries = try c.decode(Int.self, forKey: .redeliveries)
        republished = try c.decodeIfPresent(Int.self, forKey: .republished) ?? 0  // added in v3 of the store
        resetAttempts = try c.decodeIfPresent(Int.self, forKey: .resetAttempts) ?? 0  // added with operator retries
        log = try c.decodeIfPresent([TaskLogLine].self, forKey: .log) ?? []  // added with task logs
    }
}

/// A job: its spec, input and task graph with every task's state. Stored
/// as one document; the coordinator's transitions are methods on it
/// (`JobRecord+Transitions.swift`), pure and unit-tested.
public struct JobRecord: Sendable, Equatable, Codable {
    public var id: String
    public var spec: JobSpec
    /// SHA-256 of the uploaded model.
    public var model: String
    public var fileName: String
    public var status: JobStatus
    /// Why the job failed or was cancelled.
    public var error: String?
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    public var tasks: [TaskRecord]
    public var traceID: String
    /// The name of the token that submitted it (nil: submitted without
    /// authentication, or before jobs had owners).
    public var owner: String?
    /// Where to send a signed notice when the job ends (an http or https
    /// URL), and when one was accepted there.
    public var callback: String?
    public var notifiedAt: Date?

    /// A new job with its planned tasks, all pending.
    public init(
        id: String, spec: JobSpec, model: String, fileName: String, createdAt: Date = Date(), owner: String? = nil
    ) {
        self.id = id
        self.owner = owner
        self.spec = spec
        self.model = model
        self.fileName = fileName
        status = .queued
        self.createdAt = createdAt
        tasks = Planner.plan(jobID: id, spec: spec).map(TaskRecord.init)
        traceID = RandomID.make()
    }

    public func task(_ id: TaskID) -> TaskRecord? { tasks.first { $0.id == id } }

    func index(of id: TaskID) -> Int? { tasks.firstIndex { $0.id == id } }

    /// The result of a succeeded task.
    public func result(_ id: TaskID) -> TaskResult? {
        guard let task = task(id), task.state == .succeeded else { return nil }
        return task.result
    }

    /// Tasks finished / total, per pool: the client's progress bar.
    public func progress(pool: String) -> (done: Int, total: Int) {
        let mine = tasks.filter { $0.task.pool == pool }
        return (mine.filter { $0.state.isTerminal }.count, mine.count)
    }

    /// A human label for what is happening now.
    public var stage: String {
        if status.isTerminal { return status.rawValue }
        let running = tasks.filter { [.ready, .queued, .running, .retrying].contains($0.state) }
        let kinds = Set(running.map(\.task.kind))
        for kind in TaskKind.allCases where kinds.contains(kind) { return kind.rawValue }
        return status.rawValue
    }
}

/// What differs between two versions of a job: what a store must write.
public struct JobChanges: Sendable, Equatable {
    /// The job's own fields (status, error, times...) changed.
    public var header: Bool
    /// Positions of the tasks that changed.
    public var tasks: [Int]

    public var isEmpty: Bool { !header && tasks.isEmpty }

    public init(header: Bool, tasks: [Int]) {
        self.header = header
        self.tasks = tasks
    }
}

extension JobRecord {
    /// The changes from `previous` (the version a store holds) to this one;
    /// everything when there is no previous version or its task graph differs.
    public func changes(since previous: JobRecord?) -> JobChanges {
        guard let previous, previous.id == id, previous.tasks.count == tasks.count else {
            return JobChanges(header: true, tasks: Array(tasks.indices))
        }
        var header = self
        header.tasks = previous.tasks
        return JobChanges(header: header != previous, tasks: tasks.indices.filter { tasks[$0] != previous.tasks[$0] })
    }

    /// The job without its tasks: what a store keeps in the job's own row.
    public var withoutTasks: JobRecord {
        var header = self
        header.tasks = []
        return header
    }
}
