import Foundation
import MeshFarmJobs
import MeshFarmMessaging
import Testing

/// The coordinator's state machine, driven by hand-made events.
@Suite struct TransitionTests {
    let t0 = Date(timeIntervalSince1970: 1_000_000)
    let policy = RetryPolicy(backoff: Backoff(initial: 10, maximum: 360), maxAttempts: 3)

    func newJob(_ spec: JobSpec = JobSpec(lodRatios: [1, 0.5], viewsPerLOD: 2, viewsPerTask: 2)) -> JobRecord {
        JobRecord(id: "j", spec: spec, model: "abc", fileName: "m.obj", createdAt: t0)
    }

    func event(
        _ kind: JobTaskEvent.Kind, _ job: JobRecord, _ taskID: TaskID, attempt: Int? = nil,
        result: TaskResult? = nil, failure: JobTaskEvent.Failure? = nil
    ) -> JobTaskEvent {
        let task = TaskEnvelope<JSONValue>(
            taskID: taskID.description, attempt: attempt ?? job.task(taskID)!.attempt, kind: taskID.kind.rawValue,
            pool: "cpu", jobID: job.id, payload: .null)
        return JobTaskEvent(
            kind: kind, task: task, worker: "w1", at: t0, result: result, failure: failure, seconds: 1.5)
    }

    /// Dispatches every ready task, as the coordinator does when its pools
    /// have room.
    func dispatchAll(_ job: inout JobRecord) -> Set<JobAction> {
        Set(job.tasks.filter { $0.state == .ready }.map(\.id).compactMap { job.dispatch($0) })
    }

    static let analysis = TaskResult.analyze(
        AnalyzeResult(
            analysis: .object(["triangles": .number(100)]), mesh: "m0", obj: "o0", triangles: 100,
            bounds: BoundsValue(min: [0, 0, 0], max: [1, 1, 1])))

    @Test func happyPathRunsTheGraphInOrder() throws {
        var job = newJob()
        job.start(now: t0)
        #expect(job.tasks.map(\.state) == [.ready] + Array(repeating: .pending, count: job.tasks.count - 1))
        #expect(job.task("j.analyze")?.queuedAt == t0 && job.task("j.analyze")?.attempt == 0)
        #expect(dispatchAll(&job) == [.publish(taskID: "j.analyze", attempt: 1)])
        #expect(job.dispatch("j.analyze") == nil)
        job.markPublished("j.analyze", attempt: 1)
        #expect(job.apply(event(.started, job, "j.analyze"), now: t0, policy: policy) == [])
        #expect(job.status == .running && job.task("j.analyze")?.state == .running)
        #expect(
            job.apply(event(.succeeded, job, "j.analyze", result: Self.analysis), now: t0, policy: policy) == [])
        #expect(
            dispatchAll(&job) == [
                .publish(taskID: "j.reduce-1", attempt: 1), .publish(taskID: "j.render-0-0", attempt: 1),
            ])
        #expect(try job.payload(for: "j.reduce-1") == .reduce(ReducePayload(mesh: "m0", lod: 1, ratio: 0.5)))
        let reduced = TaskResult.reduce(
            ReduceResult(
                lod: 1, ratio: 0.5, triangles: 50, targetTriangles: 50, error: 0.01, errorAbsolute: 0.02,
                method: "simplify", mesh: "m1", obj: "o1"))
        #expect(job.apply(event(.succeeded, job, "j.reduce-1", result: reduced), now: t0, policy: policy) == [])
        #expect(dispatchAll(&job) == [.publish(taskID: "j.render-1-0", attempt: 1)])
        guard case .render(let render) = try job.payload(for: "j.render-1-0") else {
            Issue.record("not a render payload")
            return
        }
        #expect(render.mesh == "m1")
        for lod in 0..<2 {
            let views = TaskResult.render(
                RenderResult(
                    lod: lod,
                    views: (0..<2).map { RenderedViewResult(index: $0, image: "img\(lod)\($0)", camera: .null) }))
            #expect(
                job.apply(
                    event(.succeeded, job, .render("j", lod: lod, firstView: 0), result: views), now: t0, policy: policy
                ) == [])
            #expect(dispatchAll(&job) == (lod == 1 ? [.publish(taskID: "j.finalize", attempt: 1)] : []))
        }
        #expect(
            try job.payload(for: "j.finalize")
                == .finalize(
                    FinalizePayload(
                        rows: [["img00", "img01"], ["img10", "img11"]], cellSize: 256,
                        labels: ["LOD 0 (1) · 100 TRIANGLES", "LOD 1 (0.5) · 50 TRIANGLES"])))
        let sheet = TaskResult.finalize(FinalizeResult(contactSheet: "sheet"))
        #expect(
            job.apply(
                event(.succeeded, job, "j.finalize", result: sheet), now: t0.addingTimeInterval(9), policy: policy)
                == [.finished(.succeeded)])
        #expect(job.status == .succeeded)

        let report = JobReport(job: job)
        #expect(report.lods.map(\.file) == ["lod0.obj", "lod1.obj"] && report.lods[1].method == "simplify")
        #expect(report.views.count == 4 && report.views[3].file == "views/lod1-view1.png")
        #expect(report.contactSheet == "contact-sheet.png" && report.timings.wallSeconds == 9)
        #expect(report.timings.computeSeconds == 1.5 * 5)
        #expect(report.input?["sha256"] == .string("abc") && report.input?["triangles"] == .number(100))
        #expect(
            JobReport.outputFiles(job).map(\.path) == [
                "contact-sheet.png", "lod0.obj", "lod1.obj", "views/lod0-view0.png", "views/lod0-view1.png",
                "views/lod1-view0.png", "views/lod1-view1.png",
            ])
    }

    @Test func retryableFailuresBackOffThenFailTheJob() {
        var job = newJob()
        job.start(now: t0)
        _ = dispatchAll(&job)
        let retry = JobTaskEvent.Failure(message: "out of memory", retryable: true)
        #expect(
            job.apply(event(.failed, job, "j.analyze", failure: retry), now: t0, policy: policy)
                == [.scheduleRetry(taskID: "j.analyze", at: t0.addingTimeInterval(10))])
        // A duplicate of the same failure changes nothing.
        #expect(job.apply(event(.failed, job, "j.analyze", attempt: 1, failure: retry), now: t0, policy: policy) == [])
        job.retryDue("j.analyze", now: t0.addingTimeInterval(10))
        #expect(job.task("j.analyze")?.state == .ready && job.task("j.analyze")?.queuedAt == t0.addingTimeInterval(10))
        // Events of the finished attempt 1 mean nothing to the ready task.
        #expect(job.apply(event(.started, job, "j.analyze", attempt: 1), now: t0, policy: policy) == [])
        #expect(job.apply(event(.failed, job, "j.analyze", attempt: 1, failure: retry), now: t0, policy: policy) == [])
        #expect(job.task("j.analyze")?.state == .ready)
        #expect(dispatchAll(&job) == [.publish(taskID: "j.analyze", attempt: 2)])
        #expect(
            job.apply(event(.failed, job, "j.analyze", failure: retry), now: t0, policy: policy)
                == [.scheduleRetry(taskID: "j.analyze", at: t0.addingTimeInterval(20))])
        job.retryDue("j.analyze", now: t0)
        _ = dispatchAll(&job)
        // Third attempt of three: the job fails with the task's message.
        #expect(
            job.apply(event(.failed, job, "j.analyze", failure: retry), now: t0, policy: policy) == [.finished(.failed)]
        )
        #expect(job.error?.contains("out of memory") == true && job.error?.contains("3 attempts") == true)
        #expect(job.tasks.dropFirst().allSatisfy { $0.state == .cancelled })
    }

    @Test func permanentFailureFailsAtOnceAndLateEventsAreIgnored() {
        var job = newJob()
        job.start(now: t0)
        _ = dispatchAll(&job)
        let bad = JobTaskEvent.Failure(message: "the model contains no triangles", retryable: false)
        #expect(
            job.apply(event(.failed, job, "j.analyze", failure: bad), now: t0, policy: policy) == [.finished(.failed)])
        #expect(job.status == .failed && job.error?.contains("no triangles") == true)
        #expect(job.apply(event(.succeeded, job, "j.analyze", result: Self.analysis), now: t0, policy: policy) == [])
        #expect(job.status == .failed)
    }

    @Test func staleAndOutOfOrderEventsChangeNothing() {
        var job = newJob()
        job.start(now: t0)
        _ = dispatchAll(&job)
        _ = job.apply(event(.succeeded, job, "j.analyze", result: Self.analysis), now: t0, policy: policy)
        let before = job
        // `started` arriving after the result, a repeated result, an event for an attempt never published.
        #expect(job.apply(event(.started, job, "j.analyze"), now: t0, policy: policy) == [])
        #expect(job.apply(event(.succeeded, job, "j.analyze", result: Self.analysis), now: t0, policy: policy) == [])
        #expect(
            job.apply(
                event(.failed, job, "j.render-0-0", attempt: 7, failure: .init(message: "x", retryable: false)),
                now: t0, policy: policy) == [])
        #expect(job == before)
    }

    @Test func deadLetterFailsTheJobWithTheReason() {
        var job = newJob()
        job.start(now: t0)
        _ = dispatchAll(&job)
        #expect(
            job.deadLettered("j.analyze", attempt: 1, reason: "it killed its worker 6 times", now: t0) == [
                .finished(.failed)
            ])
        #expect(job.error?.contains("killed its worker") == true)
    }

    @Test func cancelStopsScheduling() {
        var job = newJob()
        job.start(now: t0)
        _ = dispatchAll(&job)
        #expect(job.cancel(now: t0) == [.finished(.cancelled)])
        #expect(job.status == .cancelled)
        // The running analysis finishes, but nothing new is published.
        #expect(job.apply(event(.succeeded, job, "j.analyze", result: Self.analysis), now: t0, policy: policy) == [])
        #expect(job.task("j.analyze")?.state == .succeeded)
        #expect(job.tasks.filter { $0.state == .pending || $0.state == .queued }.isEmpty)
        #expect(job.cancel(now: t0) == [])
    }

    @Test func aCancelledEventEndsATaskOfACancelledJobAndHandsBackOneOfALiveJob() {
        var job = newJob()
        job.start(now: t0)
        _ = dispatchAll(&job)
        job.markPublished("j.analyze", attempt: 1)
        #expect(job.apply(event(.started, job, "j.analyze"), now: t0, policy: policy) == [])
        // Not cancelled: a stale control message made the worker drop the
        // task; it is published again, not counted as a retry.
        #expect(
            job.apply(event(.cancelled, job, "j.analyze"), now: t0, policy: policy) == [
                .publish(taskID: "j.analyze", attempt: 2)
            ])
        #expect(job.task("j.analyze")?.retryAttempts == 1 && job.task("j.analyze")?.republished == 1)
        _ = job.cancel(now: t0)
        #expect(job.task("j.analyze")?.isWithBroker == true)
        // An older attempt's event changes nothing; the current one ends the task.
        #expect(job.apply(event(.cancelled, job, "j.analyze", attempt: 1), now: t0, policy: policy) == [])
        #expect(job.task("j.analyze")?.state == .queued)
        #expect(job.apply(event(.cancelled, job, "j.analyze"), now: t0, policy: policy) == [])
        #expect(job.task("j.analyze")?.state == .cancelled && job.task("j.analyze")?.isWithBroker == false)
        #expect(job.status == .cancelled)
    }

    @Test func restartSeesUnpublishedTasks() {
        var job = newJob()
        job.start(now: t0)
        _ = dispatchAll(&job)
        #expect(job.unpublishedTasks.map(\.id) == ["j.analyze"])
        job.markPublished("j.analyze", attempt: 1)
        #expect(job.unpublishedTasks.isEmpty)
    }
}

/// An operator's retry of a failed or cancelled job.
@Suite struct OperatorRetryTests {
    let base = TransitionTests()
    var t0: Date { base.t0 }
    var policy: RetryPolicy { base.policy }

    /// A job whose analysis succeeded and whose reduction failed for good
    /// after `attempts` tries (the render of LOD 0 was running: cancelled).
    func failedJob(attempts: Int) -> JobRecord {
        var job = base.newJob()
        job.start(now: t0)
        _ = base.dispatchAll(&job)
        _ = job.apply(
            base.event(.succeeded, job, "j.analyze", result: TransitionTests.analysis), now: t0, policy: policy)
        _ = job.dispatch("j.render-0-0")
        _ = job.dispatch("j.reduce-1")
        _ = job.apply(base.event(.cancelled, job, "j.render-0-0"), now: t0, policy: policy)  // handed back, again
        for _ in 1..<attempts {
            _ = job.apply(
                base.event(.failed, job, "j.reduce-1", failure: .init(message: "blip", retryable: true)), now: t0,
                policy: policy)
            job.retryDue("j.reduce-1", now: t0)
            _ = job.dispatch("j.reduce-1")
        }
        _ = job.apply(
            base.event(.failed, job, "j.reduce-1", failure: .init(message: "no memory", retryable: true)), now: t0,
            policy: policy)
        return job
    }

    @Test func aFailedJobRunsItsFailedAndCancelledTasksAgainWithAttemptsCountedAfresh() throws {
        var job = failedJob(attempts: 3)
        #expect(job.status == .failed && job.task("j.reduce-1")?.state == .failed)
        #expect(job.task("j.reduce-1")?.attempt == 3 && job.task("j.reduce-1")?.retryAttempts == 3)
        // The render that was running when the job failed is still with the
        // broker: it stays as it is.
        let render = try #require(job.task("j.render-0-0"))
        #expect(render.state == .queued)

        try job.retry(now: t0 + 60)
        #expect(job.status == .running && job.error == nil && job.finishedAt == nil)
        #expect(job.task("j.analyze")?.state == .succeeded, "what succeeded is kept")
        #expect(job.task("j.render-0-0") == render, "what the broker holds is left alone")
        #expect(job.task("j.reduce-1")?.state == .ready)
        // Its worker skips it after all (it had heard of the cancel): the
        // running job publishes it again.
        let again = job.apply(base.event(.cancelled, job, "j.render-0-0"), now: t0, policy: policy)
        #expect(again == [.publish(taskID: "j.render-0-0", attempt: render.attempt + 1)])
        #expect(job.task("j.reduce-1")?.error == nil && job.task("j.reduce-1")?.queuedAt == t0 + 60)
        #expect(job.tasks.filter { $0.task.kind == .render && $0.task.lod == 1 }.allSatisfy { $0.state == .pending })
        // Attempt numbers go on (a late event of an old attempt stays stale),
        // but the retry policy counts from zero again.
        #expect(job.task("j.reduce-1")?.retryAttempts == 0)
        #expect(job.dispatch("j.reduce-1") == .publish(taskID: "j.reduce-1", attempt: 4))
        let retried = job.apply(
            base.event(.failed, job, "j.reduce-1", failure: .init(message: "blip", retryable: true)), now: t0,
            policy: policy)
        #expect(retried.count == 1 && job.task("j.reduce-1")?.state == .retrying, "a retry, not the job's failure")
    }

    @Test func onlyAFailedOrCancelledJobIsRetried() throws {
        var running = base.newJob()
        running.start(now: t0)
        #expect(throws: RetryRefusal.unfinished(.queued)) { try running.retry(now: t0) }
        var cancelled = base.newJob()
        cancelled.start(now: t0)
        _ = cancelled.cancel(now: t0)
        cancelled.notifiedAt = t0  // its callback heard of the cancel...
        try cancelled.retry(now: t0)
        #expect(cancelled.notifiedAt == nil, "...and hears of its next end too")
        #expect(cancelled.status == .queued && cancelled.task("j.analyze")?.state == .ready)
        var done = base.newJob()
        done.status = .succeeded
        #expect(throws: RetryRefusal.nothingToRetry) { try done.retry(now: t0) }
    }

    @Test func aTasksLogHoldsTheCoordinatorsNotesAndItsWorkersLines() throws {
        let job = failedJob(attempts: 3)
        let reduce = try #require(job.task("j.reduce-1"))
        #expect(
            reduce.log.map(\.text) == [
                "queued attempt 1", "retrying in 10 s (1 of 3 attempts used)", "queued attempt 2",
                "retrying in 20 s (2 of 3 attempts used)", "queued attempt 3", "no attempts left: the job fails",
            ])
        #expect(reduce.log.last?.level == .error)
        #expect(
            job.task("j.render-0-0")?.log.map(\.text).contains { $0.contains("published again as attempt 2") } == true)
        #expect(job.task("j.finalize")?.log.map(\.text) == ["not run: the job failed"])
        // A worker's lines arrive with its event.
        var fresh = base.newJob()
        fresh.start(now: t0)
        _ = fresh.dispatch("j.analyze", now: t0)
        var done = base.event(.succeeded, fresh, "j.analyze", result: TransitionTests.analysis)
        done.log = [TaskLogLine(at: t0, source: "w1", text: "imported OBJ: 100 triangles")]
        _ = fresh.apply(done, now: t0, policy: policy)
        #expect(fresh.task("j.analyze")?.log.map(\.text) == ["queued attempt 1", "imported OBJ: 100 triangles"])
        // Bounded: the newest lines are kept.
        var task = try #require(fresh.task("j.analyze"))
        let many = (0..<250).map { TaskLogLine(at: t0, source: "w1", text: "line \($0)") }
        fresh.tasks[0].log = []
        for line in many { fresh.tasks[0].log.append(line) }
        task = fresh.tasks[0]
        #expect(task.log.count == 250)
        var event = base.event(.succeeded, fresh, "j.analyze", result: TransitionTests.analysis)
        event.log = []
        fresh.tasks[0].state = .running
        _ = fresh.apply(event, now: t0, policy: policy)
        #expect(fresh.tasks[0].log.count == TaskRecord.logLimit && fresh.tasks[0].log.first?.text == "line 50")
    }

    @Test func timesCarryMillisecondsAndReadersTakeWholeSecondsToo() throws {
        let date = Date(timeIntervalSince1970: 1_800_000_000.042)
        #expect(TimeStamps.format(date) == "2027-01-15T08:00:00.042Z")
        #expect(abs(TimeStamps.parse("2027-01-15T08:00:00.042Z")!.timeIntervalSince(date)) < 0.0005)
        #expect(TimeStamps.parse("2027-01-15T08:00:00Z") == Date(timeIntervalSince1970: 1_800_000_000))
        #expect(TimeStamps.parse("yesterday") == nil)
        var job = base.newJob()
        job.tasks[0].startedAt = date
        job.tasks[0].finishedAt = date + 0.04
        let report = String(decoding: try JobReport(job: job, now: date).jsonData(), as: UTF8.self)
        #expect(report.contains("2027-01-15T08:00:00.042Z") && report.contains("2027-01-15T08:00:00.082Z"))
    }
}

extension TransitionTests {
    /// An analysis that counts more triangles than `splitAbove` turns the
    /// reduction into a chord; the stitch's result stands for the level.
    @Test func aBigModelsReductionRunsAsPartitionPartsAndStitch() throws {
        var job = newJob(
            JobSpec(lodRatios: [1, 0.5], viewsPerLOD: 2, viewsPerTask: 2, splitAbove: 150, partTriangles: 1000))
        job.start(now: t0)
        _ = dispatchAll(&job)
        let big = TaskResult.analyze(
            AnalyzeResult(
                analysis: .object([:]), mesh: "m0", obj: "o0", triangles: 2500,
                bounds: BoundsValue(min: [0, 0, 0], max: [1, 1, 1])))
        #expect(job.apply(event(.succeeded, job, "j.analyze", result: big), now: t0, policy: policy) == [])
        #expect(
            job.tasks.map(\.id.description) == [
                "j.analyze", "j.partition", "j.render-0-0", "j.reduce-part-1-0", "j.reduce-part-1-1",
                "j.reduce-part-1-2", "j.stitch-1", "j.render-1-0", "j.finalize",
            ])
        #expect(job.task("j.analyze")?.state == .succeeded && job.task("j.partition")?.log.count == 1)
        #expect(
            dispatchAll(&job) == [
                .publish(taskID: "j.partition", attempt: 1), .publish(taskID: "j.render-0-0", attempt: 1),
            ])
        #expect(try job.payload(for: "j.partition") == .partition(PartitionPayload(mesh: "m0", parts: 3)))
        let parts = TaskResult.partition(
            PartitionResult(
                parts: (0..<3).map { PartInfo(part: "p\($0)", triangles: 834, vertices: 450, cutVertices: 30) }))
        #expect(job.apply(event(.succeeded, job, "j.partition", result: parts), now: t0, policy: policy) == [])
        #expect(dispatchAll(&job).count == 3)
        #expect(
            try job.payload(for: "j.reduce-part-1-2")
                == .reducePart(ReducePartPayload(part: "p2", lod: 1, index: 2, ratio: 0.5)))
        for index in [2, 0, 1] {
            let reduced = TaskResult.reducePart(
                ReducePartResult(
                    lod: 1, index: index, triangles: 430, targetTriangles: 417, errorAbsolute: Double(index) / 100,
                    part: "r\(index)"))
            #expect(
                job.apply(
                    event(.succeeded, job, .reducePart("j", lod: 1, part: index), result: reduced), now: t0,
                    policy: policy) == [])
        }
        #expect(dispatchAll(&job) == [.publish(taskID: "j.stitch-1", attempt: 1)])
        #expect(
            try job.payload(for: "j.stitch-1")
                == .stitch(
                    StitchPayload(
                        parts: ["r0", "r1", "r2"], lod: 1, ratio: 0.5, targetTriangles: 1250, partsErrorAbsolute: 0.02))
        )
        let stitched = TaskResult.stitch(
            ReduceResult(
                lod: 1, ratio: 0.5, triangles: 1250, targetTriangles: 1250, error: 0.01, errorAbsolute: 0.03,
                method: "split+simplify", mesh: "m1", obj: "o1"))
        #expect(job.apply(event(.succeeded, job, "j.stitch-1", result: stitched), now: t0, policy: policy) == [])
        #expect(dispatchAll(&job) == [.publish(taskID: "j.render-1-0", attempt: 1)])
        guard case .render(let render) = try job.payload(for: "j.render-1-0") else {
            Issue.record("not a render payload")
            return
        }
        #expect(render.mesh == "m1")
        let report = JobReport(job: job)
        #expect(report.lods.map(\.parts) == [nil, 3] && report.lods[1].method == "split+simplify")
        #expect(JobReport.outputFiles(job).contains { $0.path == "lod1.obj" && $0.sha256 == "o1" })
        #expect(job.artifacts.isSuperset(of: ["p0", "p1", "p2", "r0", "r1", "r2", "m1", "o1"]))
        let cpu = job.progress(pool: "cpu")
        #expect(cpu.done == 6 && cpu.total == 7)
    }

    /// A job cancelled while its analysis ran is split when it is retried,
    /// if the analysis came back meanwhile and found a big model.
    @Test func aRetryAfterALateBigAnalysisSplitsTheJob() throws {
        var job = newJob(
            JobSpec(lodRatios: [0.5], viewsPerLOD: 1, viewsPerTask: 1, splitAbove: 150, partTriangles: 1000))
        job.start(now: t0)
        _ = dispatchAll(&job)
        _ = job.cancel(now: t0)
        let big = TaskResult.analyze(
            AnalyzeResult(
                analysis: .object([:]), mesh: "m0", obj: "o0", triangles: 2500,
                bounds: BoundsValue(min: [0, 0, 0], max: [1, 1, 1])))
        _ = job.apply(event(.succeeded, job, "j.analyze", result: big), now: t0, policy: policy)
        #expect(job.task("j.analyze")?.state == .succeeded && job.task("j.partition") == nil)
        try job.retry(now: t0)
        #expect(job.task("j.partition")?.state == .ready && job.task("j.reduce-0") == nil)
        #expect(job.task("j.stitch-0")?.task.dependencies.count == 3)
    }
}
