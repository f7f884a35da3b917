/// How much runnable work the coordinator lets wait in a pool's queue.
///
/// RabbitMQ 3.10 quorum queues deliver in publication order (they have no
/// message priorities), so once a task is published, everything published
/// after it waits behind it. The coordinator therefore publishes only a
/// window of runnable tasks per pool and keeps the rest `ready`, releasing
/// them by priority as workers start tasks. The window grows with the
/// pool's running tasks, so busy workers always find their next task
/// already waiting (and queue-depth autoscaling sees the pool is busy),
/// while a high-priority job waits behind at most about one round of the
/// pool's work.
public struct DispatchPolicy: Sendable, Equatable {
    /// Tasks a pool's queue may hold however few are running.
    public var minimumWindow: Int

    public init(minimumWindow: Int = 8) { self.minimumWindow = max(1, minimumWindow) }

    /// Published tasks a pool may have waiting for a worker while `running`
    /// of its tasks run.
    public func window(running: Int) -> Int { max(minimumWindow, running) }
}

/// Chooses which `ready` tasks to publish now: a pure function of the
/// active jobs, unit-tested without a broker.
public enum Dispatcher {
    /// One task to hand to the broker.
    public struct Pick: Sendable, Equatable {
        public var job: String
        public var task: TaskID

        public init(job: String, task: TaskID) {
            self.job = job
            self.task = task
        }
    }

    /// Where a pool stands: tasks waiting in its queue, running, held back.
    public struct PoolLoad: Sendable, Equatable, Codable {
        public var queued = 0
        public var running = 0
        public var ready = 0

        public init(queued: Int = 0, running: Int = 0, ready: Int = 0) {
            self.queued = queued
            self.running = running
            self.ready = ready
        }
    }

    /// The `ready` tasks to publish, in publication order: per pool, as
    /// many as the window leaves room for, highest job priority first, then
    /// the oldest job, then the job's own task order (the planner's order:
    /// earlier stages first).
    public static func picks(_ jobs: some Sequence<JobRecord>, policy: DispatchPolicy) -> [Pick] {
        var room: [String: Int] = [:]
        for (pool, load) in loads(jobs) { room[pool] = policy.window(running: load.running) - load.queued }
        var candidates: [(job: JobRecord, index: Int)] = []
        for job in jobs where !job.status.isTerminal {
            for (i, task) in job.tasks.enumerated() where task.state == .ready { candidates.append((job, i)) }
        }
        candidates.sort { a, b in
            if a.job.spec.priority != b.job.spec.priority { return a.job.spec.priority > b.job.spec.priority }
            if a.job.createdAt != b.job.createdAt { return a.job.createdAt < b.job.createdAt }
            if a.job.id != b.job.id { return a.job.id < b.job.id }
            return a.index < b.index
        }
        var picks: [Pick] = []
        for (job, i) in candidates {
            let pool = job.tasks[i].task.pool
            guard let left = room[pool], left > 0 else { continue }
            room[pool] = left - 1
            picks.append(Pick(job: job.id, task: job.tasks[i].id))
        }
        return picks
    }

    /// Queued, running and ready tasks per pool over unfinished jobs.
    /// (Tasks of a cancelled or failed job that are still with a worker are
    /// not counted: the job no longer waits for them.)
    public static func loads(_ jobs: some Sequence<JobRecord>) -> [String: PoolLoad] {
        var loads: [String: PoolLoad] = [:]
        for job in jobs where !job.status.isTerminal {
            for task in job.tasks {
                switch task.state {
                case .queued: loads[task.task.pool, default: PoolLoad()].queued += 1
                case .running: loads[task.task.pool, default: PoolLoad()].running += 1
                case .ready: loads[task.task.pool, default: PoolLoad()].ready += 1
                default: break
                }
            }
        }
        return loads
    }
}
