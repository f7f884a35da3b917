import Foundation
import MeshFarmAMQP
import MeshFarmAPI
import MeshFarmImage
import MeshFarmJobs
import MeshFarmMesh
import MeshFarmMessaging
import MeshFarmTestSupport
import Synchronization
import Testing

/// The chaos soak: the farm as separate processes (a submit service, two CPU
/// and two GPU workers) on a broker of its own, fed real models and corrupt
/// files while workers are SIGKILLed and restarted, the broker restarts and
/// the submit service is SIGKILLed and restarted. Then every job must have
/// ended as its input deserves, and no task may have succeeded twice with
/// different outputs.
///
/// Sized by the environment (`MESHFARM_CHAOS_*`): `scripts/test` runs the
/// short version (a few jobs, one fault of each kind), `scripts/chaos` the
/// long one, which prints the report this writes.
@Suite(.serialized) struct ChaosTests {
    struct Settings {
        var goodJobs = 4
        var badJobs = 2
        /// Seconds between two worker kills; nil: one kill only.
        var killEvery: Double?
        /// Seconds between two submissions.
        var spacing: Double = 0
        var imageSize = 128
        var views = 6
        var port = 5700
        var timeout: Double = 600
        var report: URL?

        static func fromEnvironment() -> Settings {
            let environment = ProcessInfo.processInfo.environment
            func number(_ name: String) -> Double? { environment["MESHFARM_CHAOS_\(name)"].flatMap(Double.init) }
            var settings = Settings()
            settings.goodJobs = number("GOOD").map { Int($0) } ?? settings.goodJobs
            settings.badJobs = number("BAD").map { Int($0) } ?? settings.badJobs
            settings.killEvery = number("KILL_EVERY")
            settings.timeout = number("TIMEOUT") ?? settings.timeout
            settings.spacing = number("SPACING") ?? settings.spacing
            settings.imageSize = number("SIZE").map { Int($0) } ?? settings.imageSize
            settings.views = number("VIEWS").map { Int($0) } ?? settings.views
            settings.port = number("AMQP_PORT").map { Int($0) } ?? settings.port
            settings.report = environment["MESHFARM_CHAOS_REPORT"].map { URL(fileURLWithPath: $0) }
            return settings
        }
    }

    struct Submitted: Sendable {
        /// The job, or nil when the service refused the file outright.
        var id: String?
        var file: String
        var good: Bool
        /// Why the service refused the file (a 4xx at upload or creation).
        var refused: String?
    }

    static let spec = JobSpec(lodRatios: [1, 0.25], viewsPerLOD: 6, imageSize: 128, viewsPerTask: 2)

    /// Each job's spec: the short version's, or larger images and more
    /// views (`MESHFARM_CHAOS_SIZE`, `_VIEWS`) so that a backlog builds.
    var spec: JobSpec {
        var spec = Self.spec
        spec.imageSize = settings.imageSize
        spec.viewsPerLOD = settings.views
        return spec
    }
    let settings = Settings.fromEnvironment()
    static let models = ["spot.obj", "cow.obj", "teapot.obj", "suzanne.obj", "fandisk.obj"]

    /// Files no importer may accept, each for its own reason.
    static func corruptFile(_ index: Int, in directory: URL) throws -> URL {
        let kinds: [(String, Data)] = [
            ("empty.obj", Data()),
            ("dangling-faces.obj", Data("v 0 0 0\nv 1 0 0\nf 1 2 9\n".utf8)),
            ("noise.stl", Data((0..<4096).map { _ in UInt8.random(in: 0...255) })),
            // A binary STL whose header claims a million triangles and holds one.
            ("truncated.stl", Data(repeating: 0, count: 80) + Data([0x40, 0x42, 0x0F, 0x00]) + Data(count: 50)),
            ("bad-header.ply", Data("ply\nformat ascii 1.0\nelement vertex -3\nend_header\n".utf8)),
        ]
        let (name, data) = kinds[index % kinds.count]
        let url = directory.appendingPathComponent("\(index)-\(name)")
        try data.write(to: url)
        return url
    }

    @Test func nothingSubmittedIsLostWhileWorkersTheBrokerAndTheSubmitServiceAreKilled() async throws {
        let node = BrokerNode(port: settings.port)
        try await onThread { try node.start() }
        defer { try? node.stop() }
        let farm = FarmCluster(broker: node, submitArguments: ["--lost-after", "60"])
        defer { farm.stopAll() }
        try farm.startSubmit()
        let names = ["cpu-1", "cpu-2", "gpu-1", "gpu-2"]
        for name in names { try farm.startWorker(String(name.prefix(3)), name: name) }
        let spy = try await ResultSpy(node: node, prefix: farm.prefix)
        let client = APIClient(baseURL: farm.serverURL, timeout: 30)

        // The jobs go in in three batches, one fault right after each batch
        // (while its jobs run): a worker SIGKILLed, the broker restarted,
        // the submit service SIGKILLed. With `killEvery`, workers are also
        // killed every so often from the start until every job has ended.
        let scratch = TestEnvironment.outputDirectory("chaos-input")
        let total = settings.goodJobs + settings.badJobs
        var order = Array(repeating: true, count: settings.goodJobs)  // the corrupt files spread among the models
        for b in 0..<settings.badJobs {
            order.insert(false, at: min(order.count, (b + 1) * total / (settings.badJobs + 1)))
        }
        let start = Date()
        var jobs: [Submitted] = []
        var faults = Faults()
        var ended: [String: JobView] = [:]
        var lastKill = Date()
        var uploads: [URL: String] = [:]

        func poll() async {
            for id in jobs.compactMap(\.id) where ended[id] == nil {
                if let view = try? await client.job(id), view.isFinished { ended[id] = view }
            }
        }
        func fault(_ what: String, _ body: @escaping @Sendable () throws -> Void) async throws {
            await poll()
            let unfinished = jobs.filter { $0.id != nil }.count - ended.count
            faults.log.append(
                String(format: "%.0f s: %@ (%d jobs unfinished)", Date().timeIntervalSince(start), what, unfinished))
            try await onThread(body)
        }
        func killWorker() async throws {
            let victim = names.randomElement()!
            try await fault("SIGKILL \(victim), restarted") {
                farm.workers.last { $0.name == victim }?.kill()
                // Ready once started: with the broker away it connects later.
                try farm.startWorker(String(victim.prefix(3)), name: victim, readyMarker: "started")
            }
            faults.workerKills += 1
            lastKill = Date()
        }
        func killDue() -> Bool { settings.killEvery.map { Date().timeIntervalSince(lastKill) >= $0 } ?? false }

        let batches = stride(from: 0, to: total, by: max(1, (total + 2) / 3)).map {
            Array(order.enumerated())[$0..<min(total, $0 + max(1, (total + 2) / 3))]
        }
        for (phase, batch) in batches.enumerated() {
            for (i, good) in batch {
                let file =
                    good
                    ? TestEnvironment.modelsDirectory.appendingPathComponent(Self.models[i % Self.models.count])
                    : try Self.corruptFile(i, in: scratch)
                var spec = self.spec
                spec.priority = i % 3
                jobs.append(try await Self.submit(client, file, spec: spec, good: good, uploads: &uploads))
                if killDue() { try await killWorker() }
                try await Task.sleep(for: .seconds(settings.spacing))
            }
            switch phase {
            case 0: try await killWorker()
            case 1:
                try await fault("broker restart") { try node.restart() }
                faults.brokerRestarts += 1
            default:
                try await fault("SIGKILL the submit service, restarted") {
                    farm.submit?.kill()
                    try farm.startSubmit()
                }
                faults.submitKills += 1
            }
        }
        let expected = jobs.filter { $0.id != nil }.count
        while ended.count < expected, Date().timeIntervalSince(start) < settings.timeout {
            if killDue() { try await killWorker() }
            try await Task.sleep(for: .milliseconds(250))
            await poll()
        }
        let wall = Date().timeIntervalSince(start)

        // What every job became.
        var lost: [String] = []
        var wrong: [String] = []
        let out = TestEnvironment.outputDirectory("chaos-out")
        for job in jobs {
            guard let id = job.id else {
                if job.good || (job.refused ?? "").isEmpty { wrong.append("\(job.file) was refused") }
                continue
            }
            guard let view = ended[id] else {
                lost.append("\(id) (\(job.file)): never ended")
                continue
            }
            if job.good {
                if view.status != "succeeded" {
                    wrong.append("\(job.file) \(view.status): \(view.error ?? "-")")
                } else if let problem = await Self.missingOutput(client, id, spec: spec, in: out) {
                    wrong.append("\(job.file): \(problem)")
                }
            } else if view.status != "failed" || (view.error ?? "").isEmpty {
                wrong.append("corrupt \(job.file) ended \(view.status) without a reason")
            }
        }
        let duplicates = spy.duplicates()
        let lines =
            [
                "chaos: \(jobs.count) jobs (\(settings.goodJobs) models, \(settings.badJobs) corrupt files; "
                    + "\(spec.lodRatios.count) levels x \(spec.viewsPerLOD) views of \(spec.imageSize) px), "
                    + "2 CPU + 2 GPU workers, broker on port \(settings.port)",
                "faults: \(faults.workerKills) worker kills (SIGKILL, restarted), \(faults.brokerRestarts) broker "
                    + "restart, \(faults.submitKills) submit-service kill (SIGKILL, restarted)",
            ] + faults.log.map { "  " + $0 }
            + [
                "results: \(duplicates.successes) successes of \(duplicates.tasks) tasks; "
                    + "\(duplicates.repeated.count) tasks succeeded more than once with the same outputs, "
                    + "\(duplicates.differing.count) with different outputs \(duplicates.differing)",
                "jobs: \(ended.count) ended, \(jobs.count - expected) refused at submission, "
                    + "\(jobs.count - lost.count - wrong.count) as expected",
            ] + (lost + wrong).map { "  problem: " + $0 }
            + [
                String(format: "wall time: %.1f s", wall),
                "chaos.tasks_with_differing_results: \(duplicates.differing.count)",
                "chaos.jobs_ended_wrongly: \(wrong.count)",
                "chaos.jobs_lost: \(lost.count)",
            ]
        let report = lines.joined(separator: "\n") + "\n"
        print(report)
        if let file = settings.report { try report.write(to: file, atomically: true, encoding: .utf8) }
        await spy.close()

        #expect(faults.workerKills >= 1 && faults.brokerRestarts == 1 && faults.submitKills == 1)
        #expect(lost.isEmpty, "\(lost)")
        #expect(wrong.isEmpty, "\(wrong)")
        #expect(duplicates.differing.isEmpty)
        #expect(duplicates.tasks > 0)
    }

    /// Uploads and creates a job, trying again while the service is away
    /// (the same idempotency key throughout: never a second job). A
    /// corrupt file the service refuses outright is recorded as refused.
    static func submit(
        _ client: APIClient, _ file: URL, spec: JobSpec, good: Bool, uploads: inout [URL: String]
    ) async throws -> Submitted {
        let key = "chaos-\(UUID().uuidString)"
        let deadline = Date().addingTimeInterval(180)
        while true {
            do {
                // Uploads are content-addressed: each model once, so jobs go in fast and a backlog builds.
                let sha256: String
                if let known = uploads[file] {
                    sha256 = known
                } else {
                    sha256 = try await client.upload(file: file).sha256
                    uploads[file] = sha256
                }
                let job = try await client.createJob(
                    CreateJobRequest(model: sha256, name: file.lastPathComponent, spec: spec), idempotencyKey: key)
                return Submitted(id: job.id, file: file.lastPathComponent, good: good)
            } catch let error as APIError where !good && (400..<500).contains(error.status) {
                return Submitted(id: nil, file: file.lastPathComponent, good: good, refused: error.message)
            } catch let error as APIError where (error.status == 0 || error.status >= 500) && Date() < deadline {
                try await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    /// Nil when the job's report, every level's mesh, every view and the
    /// contact sheet download and read back right.
    static func missingOutput(_ client: APIClient, _ id: String, spec: JobSpec, in directory: URL) async -> String? {
        do {
            let folder = directory.appendingPathComponent(id)
            try await client.downloadJobFile(id, path: "report.json", to: folder.appendingPathComponent("report.json"))
            guard
                let report = try JSONSerialization.jsonObject(
                    with: Data(contentsOf: folder.appendingPathComponent("report.json"))) as? [String: Any]
            else { return "its report is not a JSON object" }
            let lods = report["lods"] as? [[String: Any]] ?? []
            let views = report["views"] as? [[String: Any]] ?? []
            guard lods.count == spec.lodRatios.count else { return "\(lods.count) levels in its report" }
            guard views.count == spec.lodRatios.count * spec.viewsPerLOD else { return "\(views.count) views" }
            for lod in lods {
                let path = lod["file"] as? String ?? "?"
                try await client.downloadJobFile(id, path: path, to: folder.appendingPathComponent(path))
                let mesh = try MeshImporter().load(path: folder.appendingPathComponent(path).path).mesh
                guard mesh.triangleCount == lod["triangles"] as? Int, mesh.triangleCount > 0 else {
                    return "\(path) has \(mesh.triangleCount) triangles"
                }
            }
            for path in views.compactMap({ $0["file"] as? String }) + ["contact-sheet.png"] {
                try await client.downloadJobFile(id, path: path, to: folder.appendingPathComponent(path))
                let image = try PNGCodec.read(path: folder.appendingPathComponent(path).path)
                guard image.coveredPixelCount > 100 else { return "\(path) is empty" }
            }
            return nil
        } catch {
            return "its outputs could not be read: \(error)"
        }
    }
}

struct Faults {
    var workerKills = 0
    var brokerRestarts = 0
    var submitKills = 0
    var log: [String] = []
}

extension WorkerProcess {
    /// The `--name` it was started with.
    var name: String? {
        guard let arguments = process.arguments, let i = arguments.firstIndex(of: "--name") else { return nil }
        return arguments[i + 1]
    }
}

/// Every `succeeded` event the workers publish, read from a durable queue
/// of the test's own bound to the events exchange (it survives the broker
/// restart), to find tasks that succeeded twice with different outputs.
final class ResultSpy: Sendable {
    final class Log: Sendable {
        let results = Mutex<[String: [String]]>([:])
    }

    private let transport: AMQPTransport
    private let log = Log()
    private let reader: Task<Void, Never>

    init(node: BrokerNode, prefix: String) async throws {
        transport = AMQPTransport(configuration: .init(url: try AMQPURL(node.url), heartbeat: 5))
        let queue = "\(prefix).chaos-spy"
        try await transport.declare(
            Topology(
                exchanges: [.init(name: "\(prefix).events", type: "topic")],
                queues: [.init(name: queue, quorum: true)],
                bindings: [.init(queue: queue, exchange: "\(prefix).events", pattern: "succeeded.#")]))
        let stream = try await transport.consume(queue: queue, prefetch: 100)
        let log = self.log
        reader = Task {
            for await delivery in stream {
                if let event = try? MessageCoding.decodeEvent(delivery.message.body, as: JSONTaskEvent.self),
                    let result = event.result, let text = try? MessageCoding.encode(result)
                {
                    log.results.withLock {
                        $0[event.taskID, default: []].append(String(decoding: text, as: UTF8.self))
                    }
                }
                try? await delivery.ack()
            }
        }
    }

    /// Tasks seen, successes, tasks with repeated equal results, and tasks
    /// whose results differ.
    func duplicates() -> (tasks: Int, successes: Int, repeated: [String], differing: [String]) {
        log.results.withLock { all in
            (
                all.count, all.values.reduce(0) { $0 + $1.count },
                all.filter { $0.value.count > 1 && Set($0.value).count == 1 }.keys.sorted(),
                all.filter { Set($0.value).count > 1 }.keys.sorted()
            )
        }
    }

    func close() async {
        reader.cancel()
        await transport.close()
    }
}
