import Foundation
import MeshFarmJobs
import MeshFarmMessaging
import Testing

/// Lost tasks: found from what the coordinator heard and when, published
/// again as new attempts that are not retries.
@Suite struct ReconcilerTests {
    let t0 = Date(timeIntervalSince1970: 1_000_000)
    let reconciler = Reconciler(lostAfter: 60)
    let policy = RetryPolicy(backoff: Backoff(initial: 10, maximum: 360), maxAttempts: 2)

    /// A job whose analysis was published and confirmed at `t0`.
    func published() -> JobRecord {
        var job = JobRecord(
            id: "j", spec: JobSpec(lodRatios: [1], viewsPerLOD: 1, viewsPerTask: 1), model: "abc", fileName: "m.obj",
            createdAt: t0)
        job.start(now: t0)
        _ = job.dispatch("j.analyze")
        job.markPublished("j.analyze", attempt: 1)
        return job
    }

    func event(_ kind: JobTaskEvent.Kind, _ job: JobRecord, failure: JobTaskEvent.Failure? = nil) -> JobTaskEvent {
        let task = TaskEnvelope<JSONValue>(
            taskID: "j.analyze", attempt: job.task("j.analyze")!.attempt, kind: "analyze", pool: "cpu", jobID: "j",
            payload: .null)
        return JobTaskEvent(kind: kind, task: task, worker: "w1", at: t0, failure: failure)
    }

    @Test func aQueuedTaskIsLostOnlyWhenItsQueueIsEmptyAndItIsOld() {
        let job = published()
        let heard: [TaskID: Date] = ["j.analyze": t0]
        let later = t0.addingTimeInterval(61)
        #expect(reconciler.poolsToInspect([job], heard: heard, since: t0, now: later) == ["cpu"])
        #expect(reconciler.poolsToInspect([job], heard: heard, since: t0, now: t0.addingTimeInterval(59)).isEmpty)
        // Busy workers: the message still waits in a non-empty queue.
        #expect(reconciler.lostTasks([job], heard: heard, since: t0, emptyQueues: [], now: later).isEmpty)
        let lost = reconciler.lostTasks([job], heard: heard, since: t0, emptyQueues: ["cpu"], now: later)
        #expect(lost.map(\.task) == ["j.analyze"])
        #expect(lost.first?.reason.contains("not in the cpu queue") == true)
    }

    @Test func aRunningTaskIsLostAfterSilenceHeartbeatsKeepItAlive() {
        var job = published()
        _ = job.apply(event(.started, job), now: t0, policy: policy)
        let later = t0.addingTimeInterval(61)
        // A heartbeat 30 s ago: alive.
        #expect(
            reconciler.lostTasks(
                [job], heard: ["j.analyze": t0.addingTimeInterval(31)], since: t0, emptyQueues: [], now: later
            ).isEmpty)
        let lost = reconciler.lostTasks([job], heard: ["j.analyze": t0], since: t0, emptyQueues: [], now: later)
        #expect(lost.first?.reason == "no word from worker w1 for 61 s")
        // A coordinator that just started counts from its start.
        #expect(
            reconciler.lostTasks([job], heard: [:], since: t0.addingTimeInterval(30), emptyQueues: [], now: later)
                .isEmpty)
    }

    @Test func aRepublishedTaskIsANewAttemptThatIsNotARetry() {
        var job = published()
        _ = job.apply(event(.started, job), now: t0, policy: policy)
        #expect(job.republishLost("j.analyze", now: t0) == .publish(taskID: "j.analyze", attempt: 2))
        let task = job.task("j.analyze")!
        #expect(task.state == .queued && !task.published && task.worker == nil && task.republished == 1)
        // Events of the lost attempt are ignored...
        let stale = TaskEnvelope<JSONValue>(
            taskID: "j.analyze", attempt: 1, kind: "analyze", pool: "cpu", jobID: "j", payload: .null)
        _ = job.apply(JobTaskEvent(kind: .started, task: stale, worker: "w-old", at: t0), now: t0, policy: policy)
        #expect(job.task("j.analyze")?.state == .queued)
        // ... and with two attempts allowed, a retryable failure of attempt
        // 2 is still retried: the republication did not use one up.
        job.markPublished("j.analyze", attempt: 2)
        let actions = job.apply(
            event(.failed, job, failure: .init(message: "disk hiccup", retryable: true)), now: t0, policy: policy)
        #expect(job.task("j.analyze")?.state == .retrying && actions.count == 1)
        // Nothing to republish once the task left the broker.
        #expect(job.republishLost("j.analyze", now: t0) == nil)
    }

    @Test func aTaskHandedBackByItsWorkerIsPublishedAgainNotRetried() {
        var job = published()
        _ = job.apply(event(.started, job), now: t0, policy: policy)
        let actions = job.apply(
            event(.failed, job, failure: .init(message: "shutting down", retryable: true, handedBack: true)), now: t0,
            policy: policy)
        #expect(actions == [.publish(taskID: "j.analyze", attempt: 2)])
        #expect(job.task("j.analyze")?.republished == 1 && job.task("j.analyze")?.retryAttempts == 1)
        // A task that breaks every worker it lands on is not handed around
        // forever: past the policy's count a hand-back is a retryable
        // failure, and the retries run out.
        let handBack = JobTaskEvent.Failure(message: "device lost", retryable: true, handedBack: true)
        job.markPublished("j.analyze", attempt: 2)
        _ = job.apply(event(.failed, job, failure: handBack), now: t0, policy: policy)
        #expect(job.task("j.analyze")?.republished == 2 && job.task("j.analyze")?.state == .queued)
        job.markPublished("j.analyze", attempt: 3)
        _ = job.apply(event(.failed, job, failure: handBack), now: t0, policy: policy)
        #expect(job.task("j.analyze")?.state == .retrying)
        job.retryDue("j.analyze", now: t0)
        _ = job.dispatch("j.analyze")
        job.markPublished("j.analyze", attempt: 4)
        _ = job.apply(event(.failed, job, failure: handBack), now: t0, policy: policy)
        #expect(job.task("j.analyze")?.state == .failed && job.status == .failed)
    }
}
