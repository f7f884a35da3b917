import ArgumentParser
import Foundation
import MeshFarmAPI
import MeshFarmJobs

/// `meshfarm-bench farm`: one model with the default spec through the farm
/// (submit service + CPU worker + GPU worker processes) next to the sum of
/// its tasks' compute times and next to `meshfarm run`, alternating.
struct FarmBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "farm", abstract: "End-to-end farm wall time vs task compute time vs meshfarm run.")

    @Option(help: "Broker URL.")
    var broker: String = "amqp://guest:guest@127.0.0.1:5672/"

    @Option(help: "Model to process.")
    var model: String = "../shared/models/spot.obj"

    @Option(help: "Measured rounds of each (medians are reported).")
    var rounds: Int = 3

    @Option(help: "Views per level for the coordinator-cost rows (one view per render task).")
    var coordinatorViews: [Int] = [8, 32, 64]

    func run() async throws {
        let bin = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("meshfarm-farm-bench-\(getpid())")
        defer { try? FileManager.default.removeItem(at: work) }
        let processes = BenchFarm(broker: broker, work: work)
        defer { processes.stopAll() }
        let submitProcess = try await processes.startSubmit()
        for pool in ["cpu", "gpu"] { try await processes.startWorker(pool, name: "bench-\(pool)") }
        let server = processes.server
        let client = APIClient(baseURL: URL(string: server)!)
        let modelURL = URL(fileURLWithPath: model)

        func farmRound() async throws -> (wall: Double, compute: Double) {
            let start = Date()
            let upload = try await client.upload(file: modelURL)
            let job = try await client.createJob(
                CreateJobRequest(model: upload.sha256, name: modelURL.lastPathComponent))
            while true {
                let view = try await client.job(job.id)
                if view.isFinished {
                    guard view.status == "succeeded" else {
                        throw ValidationError("farm job failed: \(view.error ?? "")")
                    }
                    break
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            let wall = Date().timeIntervalSince(start)
            let report = work.appendingPathComponent("report-\(job.id).json")
            try await client.downloadJobFile(job.id, path: "report.json", to: report)
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = TimeStamps.decoding
            return (wall, try decoder.decode(JobReport.self, from: Data(contentsOf: report)).timings.computeSeconds)
        }

        func runRound() throws -> Double {
            let start = Date()
            let process = Process()
            process.executableURL = bin.appendingPathComponent("meshfarm")
            process.arguments = ["run", model, "--out", work.appendingPathComponent("run-out").path, "--quiet"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw ValidationError("meshfarm run failed") }
            return Date().timeIntervalSince(start)
        }

        // Warm-up: caches, pipeline caches, first connections.
        _ = try await farmRound()
        _ = try runRound()
        var farm: [Double] = []
        var compute: [Double] = []
        var local: [Double] = []
        for _ in 0..<rounds {
            let f = try await farmRound()
            farm.append(f.wall)
            compute.append(f.compute)
            local.append(try runRound())
        }
        let (f, c, r) = (Timing.median(farm), Timing.median(compute), Timing.median(local))
        var table = Table(header: ["variant", "seconds", "vs meshfarm run"])
        table.add(["farm (upload to finished job)", f.formatted(2), (f / r).formatted(3)])
        table.add(["sum of task compute times", c.formatted(2), (c / r).formatted(3)])
        table.add(["meshfarm run (whole command)", r.formatted(2), "1.000"])
        print(
            "\(modelURL.lastPathComponent), default spec (LODs 1, 0.25, 0.05; 8 views of 512 px), median of \(rounds) alternating rounds."
        )
        print("The farm's services and workers run as separate processes on this machine, warmed up.")
        print(table.render())

        // The submit service's CPU per task as jobs grow: views per task 1, so the job has
        // 4 + 3 x views tasks. Polled every 250 ms, like a dashboard, not every 20 ms.
        var rows: [(tasks: Int, cpu: Double, wall: Double)] = []
        for views in coordinatorViews {
            let spec = JobSpec(viewsPerLOD: views, imageSize: 128, viewsPerTask: 1)
            let upload = try await client.upload(file: modelURL)
            let before = Self.cpuSeconds(of: submitProcess.processIdentifier)
            let start = Date()
            let job = try await client.createJob(
                CreateJobRequest(model: upload.sha256, name: modelURL.lastPathComponent, spec: spec))
            var finished: JobView
            repeat {
                try await Task.sleep(for: .milliseconds(250))
                finished = try await client.job(job.id)
            } while !finished.isFinished
            guard finished.status == "succeeded" else { throw ValidationError("job failed: \(finished.error ?? "")") }
            rows.append(
                (
                    finished.tasks.count, Self.cpuSeconds(of: submitProcess.processIdentifier) - before,
                    Date().timeIntervalSince(start)
                ))
        }
        var costs = Table(header: ["tasks", "job wall s", "submit CPU s", "submit CPU ms / task"])
        for row in rows {
            costs.add([
                "\(row.tasks)", row.wall.formatted(1), row.cpu.formatted(2),
                (row.cpu * 1000 / Double(row.tasks)).formatted(1),
            ])
        }
        print("\nThe submit service's CPU time per task (coordinator, store, API), one job at a time, 128 px views:")
        print(costs.render())
        print("farm.compute_overhead: \((f / c).formatted(3))")
        print("farm.overhead: \((f / r).formatted(3))")
        if let small = rows.first, let large = rows.last {
            let perTask = { (row: (tasks: Int, cpu: Double, wall: Double)) in row.cpu * 1000 / Double(row.tasks) }
            print("farm.coordinator_cpu_ms_per_task: \(perTask(large).formatted(2))")
            print("farm.coordinator_growth: \((perTask(large) / max(perTask(small), 1e-6)).formatted(2))")
        }
    }

    /// User + system CPU seconds of a process so far, from /proc.
    static func cpuSeconds(of pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        // Fields after the command name: state is field 3, utime 14, stime 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
