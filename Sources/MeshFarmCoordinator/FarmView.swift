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
        state.withLock {
            var worker =
                $0.workers[event.worker]
                ?? WorkerSighting(
                    name: event.worker, pool: pool, lastSeen: event.at, currentTask: nil, tasksFinished: 0)
            worker.lastSeen = max(worker.lastSeen, event.at)
            switch event.kind {
            case .started:
                worker.currentTask = event.taskID
                worker.progress = 0
                worker.stage = nil
            case .succeeded, .failed:
                worker.tasksFinished += 1
                if event.kind == .failed, event.failure?.handedBack != true { worker.tasksFailed += 1 }
                if worker.currentTask == event.taskID {
                    worker.currentTask = nil
                    worker.progress = nil
                    worker.stage = nil
                }
            case .cancelled:
                if worker.currentTask == event.taskID {
                    worker.currentTask = nil
                    worker.progress = nil
                    worker.stage = nil
                }
            case .progress:
                worker.currentTask = event.taskID
                worker.progress = event.progress
                worker.stage = event.stage
            }
            $0.workers[event.worker] = worker
        }
        changes.record(.worker(event.worker))
    }

    /// A worker's status report (``WorkerStatus``).
    func reported(_ status: WorkerStatus, pool: String) {
        state.withLock {
            var worker =
                $0.workers[status.worker]
                ?? WorkerSighting(
                    name: status.worker, pool: pool, lastSeen: status.at, currentTask: nil, tasksFinished: 0)
            worker.lastSeen = max(worker.lastSeen, status.at)
            worker.reported = status.state
            worker.reportedAt = status.at
            if worker.currentTask.map({ !status.running.contains($0) }) ?? true {
                worker.currentTask = status.running.first
                worker.progress = nil
                worker.stage = nil
            }
            worker.tasksFinished = max(worker.tasksFinished, status.completed)
            $0.workers[status.worker] = worker
        }
        changes.record(.worker(status.worker))
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
