import Foundation
import MeshFarmJobs
import MeshFarmMessaging
import Testing

/// Task ids as values, and typed payloads and results on the wire,
/// including what a worker or coordinator of the previous release reads.
@Suite struct TaskMessageTests {
    @Test func taskIDsReadAndWriteTheirTextForm() {
        let ids: [TaskID] = [
            .analyze("j-1"), .reduce("j-1", lod: 2), .render("j-1", lod: 2, firstView: 4), .finalize("j-1"),
        ]
        #expect(ids.map(\.description) == ["j-1.analyze", "j-1.reduce-2", "j-1.render-2-4", "j-1.finalize"])
        #expect(ids.map { TaskID($0.description) } == ids)
        #expect(TaskID("run.x.y.render-1-0") == .render("run.x.y", lod: 1, firstView: 0))  // dots in a job id
        for bad in ["analyze", ".analyze", "j.reduce", "j.render-1", "j.reduce--1", "j.resize-1", "j.analyze-3"] {
            #expect(TaskID(bad) == nil, "\(bad)")
        }
        #expect(ids.sorted() == ids && TaskID.reduce("j", lod: 1) < .reduce("j", lod: 2))
    }

    static let job: JobRecord = {
        var job = JobRecord(
            id: "j", spec: JobSpec(lodRatios: [0.5], viewsPerLOD: 1, viewsPerTask: 1), model: "m",
            fileName: "a.obj")
        job.start(now: Date())
        return job
    }()

    @Test func payloadsTravelAsTheirStructsFieldsUnderTheEnvelopesKind() throws {
        let task = JobTask(
            taskID: "j.reduce-0", attempt: 1, kind: "reduce", pool: "cpu", jobID: "j",
            payload: .reduce(ReducePayload(mesh: "abc", lod: 0, ratio: 0.5)),
            createdAt: Date(timeIntervalSince1970: 1_763_790_000.25))  // exact through seconds as a double
        let data = try MessageCoding.encode(task)
        #expect(try MessageCoding.decodeTask(data, as: JobTask.self) == task)
        // The previous release's worker read payloads as plain JSON: the document is unchanged for it.
        let old = try MessageCoding.decodeTask(data, as: JSONTask.self)
        #expect(old.version == 1 && old.kind == "reduce")
        #expect(old.payload == .object(["mesh": .string("abc"), "lod": .number(0), "ratio": .number(0.5)]))
        // A payload that does not fit its kind is a decoding error (the runtime dead-letters it).
        let wrong = JSONTask(taskID: "j.reduce-0", attempt: 1, kind: "reduce", pool: "cpu", jobID: "j", payload: .null)
        #expect(throws: (any Error).self) {
            try MessageCoding.decodeTask(MessageCoding.encode(wrong), as: JobTask.self)
        }
    }

    @Test func resultsAreReadByTheirTaskKindEvenFromOlderWorkers() throws {
        let task = JSONTask(taskID: "j.finalize", attempt: 1, kind: "finalize", pool: "cpu", jobID: "j", payload: .null)
        let event = JobTaskEvent(
            kind: .succeeded, task: task, worker: "w", result: .finalize(FinalizeResult(contactSheet: "s")))
        let data = try MessageCoding.encode(event)
        #expect(try MessageCoding.decodeEvent(data, as: JobTaskEvent.self).result == event.result)
        // An event of the previous release has no taskKind: the task id names the kind.
        var old = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        old["taskKind"] = nil
        let oldData = try JSONSerialization.data(withJSONObject: old)
        #expect(try MessageCoding.decodeEvent(oldData, as: JobTaskEvent.self).result == event.result)
        // And the previous release's coordinator, reading results as JSON, ignores the new key.
        let forOld = try MessageCoding.decodeEvent(data, as: JSONTaskEvent.self)
        #expect(forOld.result == .object(["contactSheet": .string("s")]))
    }

    @Test func storedJobsOfThePreviousFormatReadBack() throws {
        var job = Self.job
        job.tasks[0].state = .succeeded
        job.tasks[0].result = .analyze(
            AnalyzeResult(
                analysis: .object(["triangles": .number(12)]), mesh: "m0", obj: "o0", triangles: 12,
                bounds: BoundsValue(min: [0, 0, 0], max: [1, 1, 1])))
        let data = try JSONEncoder().encode(job)
        // Task ids and dependencies are plain strings, results plain objects: the v1 document.
        let document = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let first = (document["tasks"] as! [[String: Any]])[0]
        #expect((first["task"] as! [String: Any])["id"] as? String == "j.analyze")
        #expect((first["result"] as! [String: Any])["mesh"] as? String == "m0")
        #expect(try JSONDecoder().decode(JobRecord.self, from: data) == job)
    }
}
