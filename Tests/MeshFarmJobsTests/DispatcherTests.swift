import Foundation
import MeshFarmJobs
import Testing

/// Which ready tasks the coordinator publishes, and in what order.
@Suite struct DispatcherTests {
    let t0 = Date(timeIntervalSince1970: 1_000_000)

    /// A job whose analysis is ready (nothing dispatched yet).
    func job(_ id: String, priority: Int = 0, createdAt offset: Double = 0, views: Int = 1) -> JobRecord {
        var job = JobRecord(
            id: id, spec: JobSpec(lodRatios: [1], viewsPerLOD: views, viewsPerTask: 1, priority: priority),
            model: "abc", fileName: "m.obj", createdAt: t0.addingTimeInterval(offset))
        job.start(now: t0)
        return job
    }

    /// `job` after its analysis succeeded: every render (gpu) task ready.
    func rendering(_ id: String, priority: Int = 0, createdAt offset: Double = 0, views: Int) -> JobRecord {
        var job = job(id, priority: priority, createdAt: offset, views: views)
        job.tasks[0].state = .succeeded
        for i in job.tasks.indices where job.tasks[i].task.kind == .render { job.tasks[i].state = .ready }
        return job
    }

    func ids(_ picks: [Dispatcher.Pick]) -> [String] { picks.map(\.task.description) }

    @Test func higherPriorityFirstThenOlderJobs() {
        let jobs = [
            job("a", priority: 0, createdAt: 0), job("b", priority: 5, createdAt: 1),
            job("c", priority: 0, createdAt: 2),
            job("d", priority: 5, createdAt: 3),
        ]
        #expect(
            ids(Dispatcher.picks(jobs, policy: DispatchPolicy(minimumWindow: 10)))
                == ["b.analyze", "d.analyze", "a.analyze", "c.analyze"])
        // A window of 2 holds back the low-priority work, whatever the
        // order jobs are given in.
        #expect(
            ids(Dispatcher.picks(jobs.reversed(), policy: DispatchPolicy(minimumWindow: 2)))
                == ["b.analyze", "d.analyze"])
    }

    @Test func queuedTasksUseTheWindowAndRunningOnesWidenIt() {
        var busy = rendering("busy", views: 8)
        let renders = busy.tasks.indices.filter { busy.tasks[$0].task.kind == .render }
        for i in renders.prefix(3) { busy.tasks[i].state = .running }
        busy.tasks[renders[3]].state = .queued
        // 3 running widen the window of 2 to 3; one is queued: room for 2.
        let picks = Dispatcher.picks([busy], policy: DispatchPolicy(minimumWindow: 2))
        #expect(ids(picks) == ["busy.render-0-4", "busy.render-0-5"])
        #expect(Dispatcher.loads([busy]) == ["gpu": .init(queued: 1, running: 3, ready: 4)])
    }

    @Test func poolsHaveSeparateWindows() {
        let gpuHeavy = rendering("r", priority: 9, views: 6)
        let fresh = job("n", priority: 0, createdAt: 5)
        // The gpu backlog of a priority-9 job does not hold back the
        // priority-0 job's cpu task.
        let picks = Dispatcher.picks([gpuHeavy, fresh], policy: DispatchPolicy(minimumWindow: 2))
        #expect(ids(picks) == ["r.render-0-0", "r.render-0-1", "n.analyze"])
    }

    @Test func finishedJobsAreIgnored() {
        var cancelled = job("x", priority: 9)
        _ = cancelled.cancel(now: t0)
        #expect(cancelled.task("x.analyze")?.state == .cancelled)
        #expect(
            ids(Dispatcher.picks([cancelled, job("y")], policy: DispatchPolicy(minimumWindow: 1))) == ["y.analyze"])
        #expect(Dispatcher.loads([cancelled]).isEmpty)
    }

    @Test func aHigherPriorityJobOvertakesHeldWorkButNotQueuedWork() {
        // A low-priority job fills the gpu window; a high-priority job
        // arrives: its renders go out as soon as the window has room, before
        // the low job's remaining ones.
        var low = rendering("low", priority: 0, createdAt: 0, views: 6)
        for pick in Dispatcher.picks([low], policy: DispatchPolicy(minimumWindow: 2)) { _ = low.dispatch(pick.task) }
        #expect(low.tasks.filter { $0.state == .queued }.map(\.id) == ["low.render-0-0", "low.render-0-1"])
        let high = rendering("high", priority: 7, createdAt: 10, views: 2)
        #expect(Dispatcher.picks([low, high], policy: DispatchPolicy(minimumWindow: 2)).isEmpty)
        low.tasks[low.tasks.firstIndex { $0.id == "low.render-0-0" }!].state = .running
        // One running, one queued: the window (2) has room for one.
        #expect(ids(Dispatcher.picks([low, high], policy: DispatchPolicy(minimumWindow: 2))) == ["high.render-0-0"])
    }
}
