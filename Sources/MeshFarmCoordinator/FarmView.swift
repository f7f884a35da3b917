import Foundation
import MeshFarmJobs
import MeshFarmMessaging
import Synchronization

/// A worker as seen through its events.
public struct WorkerSighting: Sendable, Equatable, Codable {
    public var name: String
    public var pool: String
    public var lastSeen: Date
    /// The task it last started and has not finished.
    public var currentTask: String?
    public var tasksFinished: Int
    /// Of those, the ones that failed.
    public var tasksFailed: Int = 0
    /// The current task's last reported progress (0...1) and stage.
    public var progress: Double?
    public var stage: String?
    /// What its last status report said (idle, busy, draining), when it
    /// sends them.
    public var reported: WorkerStatus.State?
    /// When it last reported its status.
    public var reportedAt: Date?

    /// Now running `task` (nil: nothing), at `progress`.
    mutating func working(on task: String?, progress: Double? = nil, stage: String? = nil) {
        currentTask = task
        self.progress = task == nil ? nil : progress
        self.stage = task == nil ? nil : stage
    }
}

/// What readers (API calls, live subscriptions) see of the farm, written
/// by the coordinator's loop and read from any thread: the latest record of
/// each unfinished job and its subscribers, the workers seen through their
/// events, and each pool's load.
final class FarmView: Sendable {
    private struct State: ~Copyable {
        var snapshots: [String: JobRecord] = [:]
        var subscribers: [String: [UUID: AsyncStream<JobRecord>.Continuation]] = [:]
        var workers: [String: WorkerSighting] = [:]
        var loads: [String: Dispatcher.PoolLoad] = [:]
        var storeProblem: String?
    }

    private let state = Mutex(State())
    /// Every change, numbered, for the farm-wide event stream.
    let changes = FarmChanges()

    // MARK: Written by the loop

    /// The job as just stored: kept while it runs, sent to its subscribers.
    func publishSnapshot(_ job: JobRecord) {
        let subscribers = state.withLock { s -> [AsyncStream<JobRecord>.Continuation] in
            if job.status.isTerminal { s.snapshots[job.id] = nil } else { s.snapshots[job.id] = job }
            return Array((s.subscribers[job.id] ?? [:]).values)
        }
        for subscriber in subscribers {
            subscriber.yield(job)
            if job.status.isTerminal { subscriber.finish() }
        }
        changes.record(.job(job.id))
    }

    /// A job was deleted.
    func publishDeleted(_ id: String) { changes.record(.job(id)) }

    func publishLoads(_ loads: [String: Dispatcher.PoolLoad]) { state.withLock { $0.loads = loads } }

    func publishStoreProblem(_ problem: String?) { state.withLock { $0.storeProblem = problem } }

    func sighted(_ event: JobTaskEvent, pool: String) {
        updateWorker(event.worker, pool: pool, at: event.at) { worker in
            switch event.kind {
            case .started: worker.working(on: event.taskID, progress: 0)
            case .progress: worker.working(on: event.taskID, progress: event.progress, stage: event.stage)
            case .succeeded, .failed, .cancelled:
                if event.kind != .cancelled { worker.tasksFinished += 1 }
                if event.kind == .failed, event.failure?.handedBack != true { worker.tasksFailed += 1 }
                if worker.currentTask == event.taskID { worker.working(on: nil) }
            }
        }
    }

    /// A worker's status report (``WorkerStatus``).
    func reported(_ status: WorkerStatus, pool: String) {
        updateWorker(status.worker, pool: pool, at: status.at) { worker in
            worker.reported = status.state
            worker.reportedAt = status.at
            if worker.currentTask.map({ !status.running.contains($0) }) ?? true {
                worker.working(on: status.running.first)
            }
            worker.tasksFinished = max(worker.tasksFinished, status.completed)
        }
    }

    /// Applies `change` to the worker named (seen now at the latest), and
    /// numbers the change for the farm's event stream.
    private func updateWorker(_ name: String, pool: String, at: Date, _ change: (inout WorkerSighting) -> Void) {
        state.withLock {
            var worker =
                $0.workers[name]
                ?? WorkerSighting(name: name, pool: pool, lastSeen: at, currentTask: nil, tasksFinished: 0)
            worker.lastSeen = max(worker.lastSeen, at)
            change(&worker)
            $0.workers[name] = worker
        }
        changes.record(.worker(name))
    }

    // MARK: Read anywhere

    func snapshot(_ id: String) -> JobRecord? { state.withLock { $0.snapshots[id] } }

    /// Sends every later snapshot of job `id` to `continuation` until it is
    /// finished or the stream ends.
    func subscribe(_ id: String, _ continuation: AsyncStream<JobRecord>.Continuation) {
        let key = UUID()
        state.withLock { $0.subscribers[id, default: [:]][key] = continuation }
        continuation.onTermination = { [weak self] _ in self?.state.withLock { $0.subscribers[id]?[key] = nil } }
    }

    func workers(seenSince cutoff: Date) -> [WorkerSighting] {
        state.withLock { $0.workers.values.filter { $0.lastSeen >= cutoff } }.sorted { $0.lastSeen > $1.lastSeen }
    }

    var loads: [String: Dispatcher.PoolLoad] { state.withLock { $0.loads } }

    var storeProblem: String? { state.withLock { $0.storeProblem } }
}
