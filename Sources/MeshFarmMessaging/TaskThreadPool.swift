import Foundation

/// A fixed set of dedicated threads that run task handlers.
///
/// Handlers block (meshoptimizer, Vulkan waits) and may run for hours, so
/// they never run on Swift's cooperative pool. One thread per concurrency
/// slot is started once and reused: creating a thread per task cost a
/// `clone` and a fresh 16 MiB stack each time, a measurable share of a
/// short task's overhead.
final class TaskThreadPool: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var threads: [Thread] = []

    init(size: Int, name: String, stackSize: Int = 16 << 20) {
        for index in 0..<max(1, size) {
            let thread = Thread { [condition] in
                while true {
                    condition.lock()
                    while self.jobs.isEmpty { condition.wait() }
                    let job = self.jobs.removeFirst()
                    condition.unlock()
                    job()
                }
            }
            thread.name = "\(name)-\(index)"
            thread.stackSize = stackSize
            thread.start()
            threads.append(thread)
        }
    }

    /// Queues `job`; it runs on the next free thread.
    func run(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }
}
