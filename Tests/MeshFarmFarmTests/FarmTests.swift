import Foundation
import MeshFarmAPI
import MeshFarmAuth
import MeshFarmImage
import MeshFarmJobs
import MeshFarmMesh
import MeshFarmTestSupport
import MeshFarmZip
import Testing

/// The farm end to end: real `meshfarm-submit`, `meshfarm-cpu-worker` and
/// `meshfarm-gpu-worker` processes on the test broker.
@Suite(.serialized) struct FarmTests {
    static let spot = TestEnvironment.modelsDirectory.appendingPathComponent("spot.obj")
    /// Small enough to be quick, with two chunks per level.
    static let spec = JobSpec(lodRatios: [1, 0.25, 0.05], viewsPerLOD: 4, imageSize: 96, viewsPerTask: 2)

    /// A submit service with one CPU and one GPU worker (named cpu-1, gpu-1).
    func startFarm() throws -> (FarmCluster, APIClient) {
        let farm = FarmCluster()
        try farm.startSubmit()
        try farm.startWorker("cpu", name: "cpu-1")
        try farm.startWorker("gpu", name: "gpu-1")
        return (farm, APIClient(baseURL: farm.serverURL))
    }

    func submit(_ client: APIClient, _ model: URL, spec: JobSpec = spec) async throws -> JobView {
        let upload = try await client.upload(file: model)
        return try await client.createJob(
            CreateJobRequest(model: upload.sha256, name: model.lastPathComponent, spec: spec))
    }

    func waitFinished(_ client: APIClient, _ id: String, timeout: Double = 180) async throws -> JobView {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let view = try? await client.job(id), view.isFinished { return view }
            try await Task.sleep(for: .milliseconds(200))
        }
        return try await client.job(id)
    }

    func fetch(_ client: APIClient, _ id: String, to directory: URL) async throws {
        for file in try await client.artifacts(id).files {
            try await client.downloadJobFile(id, path: file.path, to: directory.appendingPathComponent(file.path))
        }
    }

    /// Collects a stream's events until `done` says so, for 60 s at most.
    static func collect(
        _ stream: AsyncThrowingStream<EventStreamParser.Event, Error>,
        until done: @escaping @Sendable ([EventStreamParser.Event]) -> Bool
    ) -> Task<[EventStreamParser.Event], Never> {
        let collector = Task {
            var events: [EventStreamParser.Event] = []
            do {
                for try await event in stream {
                    events.append(event)
                    if done(events) { break }
                }
            } catch {}
            return events
        }
        Task {
            try? await Task.sleep(for: .seconds(60))
            collector.cancel()
        }
        return collector
    }

    static func report(_ directory: URL) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("report.json")))
            as! [String: Any]
    }

    @Test func jobThroughSeparateWorkerProcessesProducesTheWholeLayout() async throws {
        let (farm, client) = try startFarm()
        defer { farm.stopAll() }
        let job = try await submit(client, Self.spot)
        let done = try await waitFinished(client, job.id)
        #expect(done.status == "succeeded", "\(done.error ?? "")")
        #expect(Set(done.tasks.compactMap(\.worker)) == ["cpu-1", "gpu-1"])

        let out = TestEnvironment.outputDirectory("farm-out")
        try await fetch(client, job.id, to: out)
        // Every file of the layout exists, with the right content.
        let report = try Self.report(out)
        for key in ["job", "status", "error", "input", "lods", "views", "contactSheet", "tasks", "timings"] {
            #expect(report.keys.contains(key), "report.json lacks \(key)")
        }
        #expect(report["status"] as? String == "succeeded")
        let input = try #require(report["input"] as? [String: Any])
        #expect(
            input["triangles"] as? Int == 5856 && input["file"] as? String == "spot.obj"
                && input["watertight"] as? Bool == true)
        let lods = try #require(report["lods"] as? [[String: Any]])
        #expect(lods.count == 3)
        for lod in lods {
            let file = out.appendingPathComponent(lod["file"] as! String)
            let mesh = try MeshImporter().load(path: file.path).mesh
            #expect(mesh.triangleCount == lod["triangles"] as? Int)
            let target = Int((5856 * (lod["ratio"] as! Double)).rounded())
            #expect(mesh.triangleCount <= target && mesh.triangleCount > target / 2)
        }
        let views = try #require(report["views"] as? [[String: Any]])
        #expect(views.count == 12)
        for view in views {
            let image = try PNGCodec.read(path: out.appendingPathComponent(view["file"] as! String).path)
            #expect(image.width == 96 && image.height == 96 && image.coveredPixelCount > 500)
            #expect((view["camera"] as? [String: Any])?["fovY"] as? Double == 35)
        }
        let sheet = try PNGCodec.read(path: out.appendingPathComponent("contact-sheet.png").path)
        #expect(sheet.width > 4 * 96 && sheet.height > 3 * 96)
        let tasks = try #require(report["tasks"] as? [[String: Any]])
        let expectedTasks = 10  // analyze, 2 reductions, 6 render chunks, finalize
        #expect(tasks.count == expectedTasks)
        for task in tasks {
            let attempts = task["attempts"] as? Int
            #expect(attempts == 1)
            #expect(task["worker"] != nil && task["finishedAt"] != nil)
        }
        let timings = try #require(report["timings"] as? [String: Any])
        #expect((timings["wallSeconds"] as? Double ?? 0) > 0 && (timings["computeSeconds"] as? Double ?? 0) > 0)

        // The analysis's log, through the client: the coordinator's notes and the worker's lines.
        let logs = try await onThread {
            try ChildProcess.run(
                TestEnvironment.executable("meshfarm"),
                ["logs", job.id, "analyze", "--server", farm.serverURL.absoluteString], timeout: 60)
        }
        #expect(logs.status == 0, "\(logs.stderrText)")
        for expected in [
            "coordinator  info  queued attempt 1", "cpu-1  info  started attempt 1", "triangles", "succeeded in",
        ] {
            #expect(logs.stdoutText.contains(expected), "\(logs.stdoutText)")
        }

        // The same files in one archive, through the client.
        let zip = TestEnvironment.outputDirectory("farm-zip").appendingPathComponent("results.zip")
        let fetched = try await onThread {
            try ChildProcess.run(
                TestEnvironment.executable("meshfarm"),
                ["fetch", job.id, "--zip", zip.path, "--server", farm.serverURL.absoluteString], timeout: 60)
        }
        #expect(fetched.status == 0, "\(fetched.stderrText)")
        let archive = try ZipArchive(path: zip.path)
        var isDirectory: ObjCBool = false
        let files = try FileManager.default.subpathsOfDirectory(atPath: out.path).filter {
            FileManager.default.fileExists(atPath: out.appendingPathComponent($0).path, isDirectory: &isDirectory)
                && !isDirectory.boolValue
        }
        #expect(Set(archive.entries.map(\.name)) == Set(files))
        let packedSheet = try #require(archive.entry(named: "contact-sheet.png"))
        #expect(
            try archive.data(of: packedSheet, limit: 1 << 26)
                == Data(contentsOf: out.appendingPathComponent("contact-sheet.png")))
    }

    @Test func meshfarmRunGivesTheSameReportAsTheFarm() async throws {
        let (farm, client) = try startFarm()
        defer { farm.stopAll() }
        let job = try await submit(client, Self.spot)
        #expect(try await waitFinished(client, job.id).status == "succeeded")
        let farmOut = TestEnvironment.outputDirectory("compare-farm")
        try await fetch(client, job.id, to: farmOut)

        let runOut = TestEnvironment.outputDirectory("compare-run")
        let run = try ChildProcess.run(
            TestEnvironment.executable("meshfarm"),
            [
                "run", Self.spot.path, "--lods", "1,0.25,0.05", "--views", "4", "--size", "96", "--views-per-task", "2",
                "--out", runOut.path, "--quiet",
            ], timeout: 300)
        #expect(run.status == 0, "\(run.stderrText)")

        // Equal apart from ids, workers and times.
        func normalized(_ report: [String: Any]) -> [String: Any] {
            var r = report
            r["job"] = nil
            r["timings"] = nil
            r["tasks"] = (report["tasks"] as? [[String: Any]])?.map { t -> [String: Any] in
                [
                    "kind": t["kind"]!, "pool": t["pool"]!, "attempts": t["attempts"]!, "state": t["state"]!,
                    "id": (t["id"] as! String).split(separator: ".").last.map(String.init)!,
                ]
            }
            return r
        }
        let a = normalized(try Self.report(farmOut))
        let b = normalized(try Self.report(runOut))
        #expect(NSDictionary(dictionary: a).isEqual(to: b), "reports differ:\n\(a)\n\(b)")
        // Same files, same bytes (rendering and reduction are deterministic).
        for path in ["lod1.obj", "lod2.obj", "views/lod2-view3.png", "contact-sheet.png"] {
            #expect(
                try Data(contentsOf: farmOut.appendingPathComponent(path))
                    == Data(contentsOf: runOut.appendingPathComponent(path)),
                "\(path) differs")
        }
    }

    @Test func corruptModelFailsClearlyWhileAGoodJobSucceeds() async throws {
        let (farm, client) = try startFarm()
        defer { farm.stopAll() }
        var corrupt = try Data(contentsOf: Self.spot)
        corrupt = corrupt.prefix(corrupt.count / 2) + Data("\nf 1 2 999999\n".utf8)
        let corruptFile = TestEnvironment.outputDirectory("corrupt").appendingPathComponent("broken.obj")
        try corrupt.write(to: corruptFile)
        async let bad = submit(client, corruptFile)
        async let good = submit(client, Self.spot)
        let (badJob, goodJob) = try await (bad, good)
        let badDone = try await waitFinished(client, badJob.id)
        let goodDone = try await waitFinished(client, goodJob.id)
        #expect(badDone.status == "failed")
        #expect(badDone.error?.contains("out of range") == true, "\(badDone.error ?? "")")
        // A bad model is a permanent failure: tried once, not retried.
        #expect(badDone.tasks.first { $0.kind == "analyze" }?.attempts == 1)
        #expect(badDone.tasks.filter { $0.kind == "render" }.allSatisfy { $0.state == "cancelled" })
        #expect(goodDone.status == "succeeded")
    }

    @Test func crashingAndHangingImportsFailTheirJobsWhileTheWorkerAndItsOtherTasksCarryOn() async throws {
        // The CPU worker imports through meshfarm-test-importer, which crashes or hangs on demand;
        // two task slots, so a good job's tasks run beside the hanging import.
        let farm = FarmCluster()
        defer { farm.stopAll() }
        try farm.startSubmit()
        let worker = try farm.startWorker(
            "cpu", name: "cpu-1",
            arguments: [
                "--importer", TestEnvironment.executable("meshfarm-test-importer"), "--import-timeout", "8",
                "--concurrency", "2",
            ])
        let workerPID = worker.pid
        try farm.startWorker("gpu", name: "gpu-1")
        let client = APIClient(baseURL: farm.serverURL)
        let directory = TestEnvironment.outputDirectory("hostile")
        let crashFile = directory.appendingPathComponent("crash.obj")
        try Data("MESHFARM-TEST crash\n".utf8).write(to: crashFile)
        let hangFile = directory.appendingPathComponent("hang.obj")
        try Data("MESHFARM-TEST hang\n".utf8).write(to: hangFile)

        let start = Date()
        let hang = try await submit(client, hangFile)
        let crash = try await submit(client, crashFile)
        let crashed = try await waitFinished(client, crash.id, timeout: 60)
        #expect(crashed.status == "failed")
        #expect(
            crashed.error?.contains("the importer crashed on this file (SIGSEGV)") == true, "\(crashed.error ?? "")")
        #expect(crashed.tasks.first { $0.kind == "analyze" }?.attempts == 1)
        #expect(Date().timeIntervalSince(start) < 8, "a crash fails its job at once, with no redeliveries")

        // While the hanging import holds one slot, a good job goes through the other.
        let good = try await submit(client, Self.spot)
        let hangState = try await client.job(hang.id)
        let goodDone = try await waitFinished(client, good.id)
        #expect(goodDone.status == "succeeded", "\(goodDone.error ?? "")")
        #expect(goodDone.tasks.first { $0.kind == "analyze" }?.worker == "cpu-1")
        #expect(hangState.status == "running" || hangState.status == "queued")

        let hung = try await waitFinished(client, hang.id, timeout: 60)
        #expect(hung.status == "failed")
        #expect(hung.error?.contains("import took longer than 8 seconds") == true, "\(hung.error ?? "")")
        #expect(hung.tasks.first { $0.kind == "analyze" }?.attempts == 1)
        // The same worker process served all three jobs and is still alive.
        #expect(worker.isRunning && worker.pid == workerPID)
    }

    @Test func killedGPUWorkerTaskIsRedeliveredAndTheJobSucceeds() async throws {
        let farm = FarmCluster()
        defer { farm.stopAll() }
        try farm.startSubmit()
        try farm.startWorker("cpu", name: "cpu-1")
        let doomed = try farm.startWorker("gpu", name: "gpu-doomed")
        let client = APIClient(baseURL: farm.serverURL)
        // Slow renders (large, supersampled, one chunk per level) so there is time to kill one.
        let job = try await submit(
            client, Self.spot, spec: JobSpec(lodRatios: [1], viewsPerLOD: 8, imageSize: 1024, ssaa: 4, viewsPerTask: 8))
        var running: TaskView?
        let deadline = Date().addingTimeInterval(60)
        while running == nil, Date() < deadline {
            running = try await client.job(job.id).tasks.first { $0.kind == "render" && $0.state == "running" }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(running?.worker == "gpu-doomed")
        doomed.kill()  // SIGKILL mid-render
        try farm.startWorker("gpu", name: "gpu-survivor")
        let done = try await waitFinished(client, job.id, timeout: 300)
        #expect(done.status == "succeeded", "\(done.error ?? "")")
        let render = try #require(done.tasks.first { $0.kind == "render" })
        #expect(render.worker == "gpu-survivor" && render.attempts == 1)
    }

    @Test func submitServiceKilledAndRestartedMidJobStillFinishes() async throws {
        let farm = FarmCluster()
        defer { farm.stopAll() }
        let service = try farm.startSubmit()
        try farm.startWorker("cpu", name: "cpu-1")
        try farm.startWorker("gpu", name: "gpu-1")
        let client = APIClient(baseURL: farm.serverURL)
        let job = try await submit(
            client, Self.spot,
            spec: JobSpec(lodRatios: [1, 0.5], viewsPerLOD: 8, imageSize: 512, ssaa: 2, viewsPerTask: 1))
        // Kill it once the job is under way but not finished.
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let view = try await client.job(job.id)
            if view.tasks.filter({ $0.state == "succeeded" }).count >= 3 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        service.kill()
        try await Task.sleep(for: .seconds(2))  // workers keep publishing events meanwhile
        try farm.startSubmit()
        let done = try await waitFinished(client, job.id, timeout: 300)
        #expect(done.status == "succeeded", "\(done.error ?? "")")
        #expect(done.tasks.allSatisfy { $0.state == "succeeded" })
    }

    @Test func aTaskWhoseMessageIsLostIsPublishedAgainAndTheJobSucceeds() async throws {
        let farm = FarmCluster(submitArguments: ["--lost-after", "2"])
        try farm.startSubmit()
        defer { farm.stopAll() }
        let client = APIClient(baseURL: farm.serverURL)
        // No CPU worker yet: the analysis waits in its queue (the reply to
        // the submission comes once its publication is confirmed). Lose it.
        let job = try await submit(client, Self.spot)
        _ = try farm.broker.ctl(["purge_queue", "\(farm.prefix).cpu"])
        try farm.startWorker("cpu", name: "cpu-1")
        try farm.startWorker("gpu", name: "gpu-1")
        let done = try await waitFinished(client, job.id)
        #expect(done.status == "succeeded", "\(done.error ?? "")")
        // Published again once, as a new attempt; not counted as a retry.
        #expect(done.tasks.first { $0.kind == "analyze" }?.attempts == 2)
    }

    @Test func withAuthenticationOnWorkersAndClientsUseTheirTokens() async throws {
        let directory = TestEnvironment.outputDirectory("farm-tokens")
        let (worker, alice, bob) = (AccessToken.generate(), AccessToken.generate(), AccessToken.generate())
        let tokens = directory.appendingPathComponent("tokens")
        try [
            TokenBook.line(for: Principal(name: "workers", role: .worker), token: worker),
            TokenBook.line(for: Principal(name: "alice", role: .submitter), token: alice),
            TokenBook.line(for: Principal(name: "bob", role: .submitter), token: bob),
        ].joined(separator: "\n").write(to: tokens, atomically: true, encoding: .utf8)
        let farm = FarmCluster(submitArguments: ["--tokens-file", tokens.path])
        defer { farm.stopAll() }
        try farm.startSubmit()
        try farm.startWorker("cpu", name: "cpu-1", arguments: ["--token", worker])
        try farm.startWorker("gpu", name: "gpu-1", arguments: ["--token", worker])
        let client = APIClient(baseURL: farm.serverURL, token: alice)
        // The farm's event stream, as alice and as bob see it.
        let alicesEvents = Self.collect(client.farmEvents()) { events in
            events.contains { $0.name == "job" && $0.data.contains(#""status":"succeeded""#) }
        }
        let bobsEvents = Self.collect(APIClient(baseURL: farm.serverURL, token: bob).farmEvents()) { events in
            events.contains { $0.name == "worker" } && events.contains { $0.name == "farm" }
        }
        let job = try await submit(client, Self.spot)
        #expect(job.owner == "alice")
        // Followed live through its event stream, with the client.
        let watched = try await onThread {
            try ChildProcess.run(
                TestEnvironment.executable("meshfarm"),
                ["watch", job.id, "--server", farm.serverURL.absoluteString, "--token", alice], timeout: 120)
        }
        #expect(
            watched.status == 0 && watched.stdoutText.contains("\(job.id) succeeded"),
            "\(watched.stdoutText)\(watched.stderrText)")
        #expect(watched.stderrText.contains("/10 tasks"), "the progress line was drawn: \(watched.stderrText)")
        let done = try await waitFinished(client, job.id)
        #expect(done.status == "succeeded", "\(done.error ?? "")")
        // Without a token, or with another submitter's, the job is out of reach.
        await #expect(throws: APIError.self) { try await APIClient(baseURL: farm.serverURL).job(job.id) }
        do {
            _ = try await APIClient(baseURL: farm.serverURL, token: bob).job(job.id)
            Issue.record("bob read alice's job")
        } catch let error as APIError {
            #expect(error.status == 403)
        }
        // Alice saw her job change and finish; bob saw the farm and its
        // workers, not her job.
        let seen = await alicesEvents.value
        let mine = seen.filter { $0.name == "job" && $0.data.contains(job.id) }
        #expect(!mine.isEmpty && mine.allSatisfy { $0.id != nil }, "\(seen.map(\.name))")
        let bobSaw = await bobsEvents.value
        #expect(
            bobSaw.contains { $0.name == "farm" } && bobSaw.contains { $0.name == "worker" }, "\(bobSaw.map(\.name))")
        #expect(!bobSaw.contains { $0.data.contains(job.id) && $0.name == "job" })
        // Back with the id of her first job event: what changed since, the job as it is now.
        let missed = await Self.collect(client.farmEvents(after: mine.first?.id)) { events in
            events.contains { $0.name == "job" }
        }.value
        #expect(
            missed.first { $0.name == "job" }?.data.contains(#""status":"succeeded""#) == true,
            "\(missed.map(\.name))")

        // Nor can bob delete it; alice can, with the client.
        let delete = { @Sendable (token: String) in
            try ChildProcess.run(
                TestEnvironment.executable("meshfarm"),
                ["delete", job.id, "--server", farm.serverURL.absoluteString, "--token", token], timeout: 60)
        }
        let refused = try await onThread { try delete(bob) }
        #expect(refused.status != 0 && refused.stderrText.contains("belongs to someone else"), "\(refused.stderrText)")
        let deleted = try await onThread { try delete(alice) }
        #expect(deleted.status == 0 && deleted.stdoutText.contains("\(job.id) deleted"), "\(deleted.stderrText)")
        do {
            _ = try await client.job(job.id)
            Issue.record("the deleted job is still there")
        } catch let error as APIError {
            #expect(error.status == 404)
        }
    }

    @Test func cancelledJobStopsSchedulingAndEndsCancelled() async throws {
        let farm = FarmCluster()
        defer { farm.stopAll() }
        try farm.startSubmit()
        try farm.startWorker("cpu", name: "cpu-1")
        // No GPU worker: renders could never finish anyway.
        let client = APIClient(baseURL: farm.serverURL)
        let job = try await submit(client, Self.spot)
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if try await client.job(job.id).tasks.first(where: { $0.kind == "analyze" })?.state == "succeeded" { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let cancelled = try await client.cancel(job.id)
        #expect(cancelled.status == "cancelled")
        try await Task.sleep(for: .seconds(2))
        let later = try await client.job(job.id)
        #expect(later.status == "cancelled")
        #expect(later.tasks.first { $0.kind == "finalize" }?.state == "cancelled")
        #expect(later.tasks.first { $0.kind == "finalize" }?.attempts == 0)
        // Tasks that were never published stay unpublished.
        let unpublished = later.tasks.filter { $0.attempts == 0 }
        #expect(!unpublished.isEmpty && unpublished.allSatisfy { $0.state == "cancelled" })

        // Retried with the client, the job runs to the end once a GPU worker
        // comes: the CPU worker, told of the cancel, forgot it.
        let retry = try await onThread {
            try ChildProcess.run(
                TestEnvironment.executable("meshfarm"),
                ["retry", job.id, "--server", farm.serverURL.absoluteString], timeout: 60)
        }
        #expect(retry.status == 0 && retry.stdoutText.contains("\(job.id) running"), "\(retry.stderrText)")
        try farm.startWorker("gpu", name: "gpu-1")
        let done = try await waitFinished(client, job.id)
        #expect(done.status == "succeeded", "\(done.error ?? "")")
        #expect(done.tasks.first { $0.kind == "analyze" }?.attempts == 1, "the analysis was kept")
    }
}
