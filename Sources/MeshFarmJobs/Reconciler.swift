import Foundation

/// Finds tasks the coordinator believes are with the broker but that
/// nothing will finish, so that they are published again instead of
/// staying `queued` or `running` forever and holding their pool's
/// dispatch window (a purged queue, a lost broker volume, an event that
/// could not be read, a worker gone without a trace). Pure: the loop
/// supplies what it heard and when, and which pool queues are empty.
///
/// - A **running** task with no event (started, progress, heartbeat) for
///   `lostAfter` seconds: workers send a heartbeat every 30 s while a task
///   runs, so its worker or its events are gone.
/// - A **queued** task published `lostAfter` seconds ago and still not
///   started, while its pool's queue holds no message at all: its message
///   is not there to be delivered. (A full queue just means busy workers.)
///
/// A republished task is a new attempt of the same task: results stay
/// idempotent by (task, attempt), a late success of the lost attempt is
/// still taken, and the republication is not one of its retries.
public struct Reconciler: Sendable, Equatable {
    /// Seconds of silence after which a task is taken as lost.
    public var lostAfter: Double

    public init(lostAfter: Double = 300) { self.lostAfter = lostAfter }

    /// How often the loop should look.
    public var interval: Double { min(30, max(0.5, lostAfter / 4)) }

    public struct Lost: Sendable, Equatable {
        public var job: String
        public var task: TaskID
        public var reason: String
    }

    /// Tasks of `jobs` to publish again. `heard` is when the loop last heard
    /// of each task (its publication confirmed, or an event); a task it has
    /// not heard of since it (re)started counts from `since`.
    public func lostTasks(
        _ jobs: some Sequence<JobRecord>, heard: [TaskID: Date], since: Date, emptyQueues: Set<String>, now: Date
    ) -> [Lost] {
        var lost: [Lost] = []
        for job in jobs where !job.status.isTerminal {
            for task in job.tasks where task.isWithBroker && task.published {
                let silent = now.timeIntervalSince(heard[task.id] ?? since)
                guard silent > lostAfter else { continue }
                if task.state == .running {
                    lost.append(
                        Lost(
                            job: job.id, task: task.id,
                            reason: "no word from worker \(task.worker ?? "?") for \(Int(silent)) s"))
                } else if emptyQueues.contains(task.task.pool) {
                    lost.append(
                        Lost(
                            job: job.id, task: task.id,
                            reason:
                                "not started \(Int(silent)) s after publication and not in the \(task.task.pool) queue")
                    )
                }
            }
        }
        return lost
    }

    /// Pools whose queue must be inspected: those holding a queued task
    /// silent for longer than `lostAfter`.
    public func poolsToInspect(
        _ jobs: some Sequence<JobRecord>, heard: [TaskID: Date], since: Date, now: Date
    ) -> Set<String> {
        var pools: Set<String> = []
        for job in jobs where !job.status.isTerminal {
            for task in job.tasks where task.state == .queued && task.published {
                if now.timeIntervalSince(heard[task.id] ?? since) > lostAfter { pools.insert(task.task.pool) }
            }
        }
        return pools
    }
}
