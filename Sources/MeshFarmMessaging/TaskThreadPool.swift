import Dispatch
import Foundation

/// A fixed set of dedicated threads that run task handlers.
///
/// Handlers block (meshoptimizer, Vulkan waits) and may run for hours, so
/// they never run on Swift's cooperative pool. One thread per concurrency
/// slot is started once and reused: creating a thread per task cost a
/// `clone` and a fresh 16 MiB stack each time, a measurable share of a
/// short task's overhead.
///
/// **Hand-off.** A job goes straight to an idle thread's own slot and that
/// thread alone is woken (one futex wake, no shared lock for it to fight
/// over on waking). A shared condition variable woke a thread that then
/// blocked on the mutex the caller still held: about five futex calls per
/// task instead of two, the largest share of the runtime's overhead on
/// no-op tasks. Idle threads are kept as a stack, so the most recently
/// used (cache-warm) thread runs the next job. Jobs that find no idle
/// thread wait in a queue that finishing threads drain.
package final class TaskThreadPool: @unchecked Sendable {
    /// One thread's slot: the job handed to it and what wakes it.
    private final class Slot: @unchecked Sendable {
        let wake = DispatchSemaphore(value: 0)
        /// Written before `wake.signal()`, read after `wake.wait()`.
        var job: (@Sendable () -> Void)?
    }

    private let lock = NSLock()
    private var idle: [Slot] = []
    private var queued: [@Sendable () -> Void] = []
    private var threads: [Thread] = []

    package init(size: Int, name: String, stackSize: Int = 16 << 20) {
        for index in 0..<max(1, size) {
            let slot = Slot()
            idle.append(slot)
            let thread = Thread { [self] in
                nameThisThread("\(name)-\(index)")
                serve(slot)
            }
            thread.stackSize = stackSize
            thread.start()
            threads.append(thread)
        }
    }

    /// Queues `job`; it runs on the next free thread.
    package func run(_ job: @escaping @Sendable () -> Void) {
        lock.lock()
        guard let slot = idle.popLast() else {
            queued.append(job)
            lock.unlock()
            return
        }
        slot.job = job
        lock.unlock()
        slot.wake.signal()
    }

    private func serve(_ slot: Slot) {
        while true {
            slot.wake.wait()
            var next = slot.job
            slot.job = nil
            while let job = next {
                job()
                next = lock.withLock { () -> (@Sendable () -> Void)? in
                    if queued.isEmpty {
                        idle.append(slot)
                        return nil
                    }
                    return queued.removeFirst()
                }
            }
        }
    }
}

/// Names the calling thread for the OS (what `perf`, `gdb` and `top -H`
/// show; at most 15 bytes), through `/proc/thread-self/comm`. Called from
/// inside the thread: Foundation's `Thread.name` reaches the OS thread only
/// when the creating thread has already recorded the new thread's handle,
/// a race a thread that starts at once can lose (it then keeps the name it
/// inherited from its creator, often a dispatch queue's).
package func nameThisThread(_ name: String) {
    let fd = open("/proc/thread-self/comm", O_WRONLY)
    guard fd >= 0 else { return }
    defer { close(fd) }
    let bytes = Array(name.utf8.prefix(15))
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
}

/// The calling thread's OS name.
package func currentThreadName() -> String {
    (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8))?
        .trimmingCharacters(in: .newlines) ?? ""
}
