import Foundation

/// Watches the running tasks of a worker from one thread, four times a
/// second, instead of a timer per task:
///
/// - a task silent for the heartbeat interval gets a heartbeat (its last
///   progress and stage again), so the coordinator and the dashboard see it
///   alive however long its handler stays quiet;
/// - a task whose deadline passed is reported once: first its time limit,
///   then, re-armed by the runtime, the grace its handler has to return.
final class TaskMonitor<Item: Sendable>: @unchecked Sendable {
    enum Event {
        case heartbeat(Item, progress: Double, stage: String?)
        case deadline(key: Int, Item)
    }

    private struct Entry {
        var item: Item
        var deadline: Date
        var lastHeard: Date
        var progress: Double = 0
        var stage: String?
    }

    private let lock = NSLock()
    private var entries: [Int: Entry] = [:]
    private var thread: Thread?
    private let heartbeatInterval: Double
    private var handler: (@Sendable (Event) -> Void)?

    init(heartbeatInterval: Double) { self.heartbeatInterval = heartbeatInterval }

    /// Where events go; set once, before the first ``watch(_:item:deadline:)``.
    func setHandler(_ handler: @escaping @Sendable (Event) -> Void) { lock.withLock { self.handler = handler } }

    /// Starts watching a task that just started (it was heard: its
    /// `started` event went out).
    func watch(_ key: Int, item: Item, deadline: Date) {
        lock.withLock {
            entries[key] = Entry(item: item, deadline: deadline, lastHeard: Date())
            if thread == nil {
                let thread = Thread { [weak self] in
                    nameThisThread("task-monitor")
                    while let self {
                        self.check(now: Date())
                        Thread.sleep(forTimeInterval: 0.25)
                    }
                }
                thread.start()
                self.thread = thread
            }
        }
    }

    /// A progress event of the task went out: no heartbeat is due before
    /// another interval, and heartbeats repeat this progress.
    func heard(_ key: Int, progress: Double, stage: String?) {
        lock.withLock {
            entries[key]?.lastHeard = Date()
            entries[key]?.progress = progress
            entries[key]?.stage = stage
        }
    }

    /// Sets a new deadline (after the first one was reported).
    func rearm(_ key: Int, deadline: Date) { lock.withLock { entries[key]?.deadline = deadline } }

    func stop(_ key: Int) { _ = lock.withLock { entries.removeValue(forKey: key) } }

    func check(now: Date) {
        let (events, deliver) = lock.withLock { () -> ([Event], (@Sendable (Event) -> Void)?) in
            var events: [Event] = []
            for (key, entry) in entries {
                if entry.deadline <= now {
                    events.append(.deadline(key: key, entry.item))
                    entries[key]?.deadline = .distantFuture  // once, until re-armed
                } else if now.timeIntervalSince(entry.lastHeard) >= heartbeatInterval {
                    events.append(.heartbeat(entry.item, progress: entry.progress, stage: entry.stage))
                    entries[key]?.lastHeard = now
                }
            }
            return (events, handler)
        }
        for event in events { deliver?(event) }
    }
}
