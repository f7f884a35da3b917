import Foundation
import MeshFarmMessaging
import Synchronization
import Testing

@Suite struct TaskThreadPoolTests {
    /// More jobs than threads: every job runs exactly once, never more than
    /// `size` at a time, and the ones that found no idle thread run when
    /// threads free up.
    @Test func runsEveryJobOnceWithAtMostSizeAtATime() async {
        let pool = TaskThreadPool(size: 3, name: "test")
        let counts = Mutex((running: 0, most: 0, ran: [Int]()))
        let done = DispatchSemaphore(value: 0)
        for job in 0..<40 {
            pool.run {
                counts.withLock {
                    $0.running += 1
                    $0.most = max($0.most, $0.running)
                }
                Thread.sleep(forTimeInterval: 0.002)
                counts.withLock {
                    $0.running -= 1
                    $0.ran.append(job)
                }
                done.signal()
            }
        }
        for _ in 0..<40 { done.wait() }
        let final = counts.withLock { $0 }
        #expect(final.ran.sorted() == Array(0..<40))
        #expect(final.most <= 3)
        #expect(final.running == 0)
    }

    /// Jobs run off the calling thread, on the pool's named threads.
    @Test func runsOnItsOwnThreads() {
        let pool = TaskThreadPool(size: 1, name: "own")
        let name = Mutex<String?>(nil)
        let done = DispatchSemaphore(value: 0)
        pool.run {
            name.withLock { $0 = currentThreadName() }
            done.signal()
        }
        done.wait()
        #expect(name.withLock { $0 } == "own-0")
    }
}
