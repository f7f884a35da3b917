import ArgumentParser
import Foundation
import MeshFarmAPI
import MeshFarmJobs
import MeshFarmMesh

/// `meshfarm-bench split`: one big generated mesh reduced to 10% (a) in one
/// process unsplit, (b) through the farm split across one CPU worker and
/// (c) across two; each step's peak memory, the surface deviation of the
/// unsplit and the split results from the original (closed and open
/// meshes), and the expected wall time on more workers.
struct SplitBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "split", abstract: "Split reduction across workers vs unsplit: wall time, memory, quality.")

    @Option(help: "Broker URL.")
    var broker: String = "amqp://guest:guest@127.0.0.1:5672/"

    @Option(help: "Directory of the shared models.")
    var models: String = "../shared/models"

    @Option(help: "Closed model, and each triangle cut into n² (spot: 37 -> 8.0M triangles).")
    var closed: String = "spot.obj"
    @Option var closedSubdivisions: Int = 37

    @Option(help: "Open model, and each triangle cut into n² (teapot: 36 -> 8.2M triangles).")
    var open: String = "teapot.obj"
    @Option var openSubdivisions: Int = 36

    @Option(help: "Reduction ratio.")
    var ratio: Double = 0.1

    @Option(
        help: ArgumentHelp(
            "Parts of the closed mesh: its triangles / parts is the farm's --part-triangles (8 parts of about 1M "
                + "divide evenly between one and two workers)."))
    var parts: Int = 8

    @Option(help: "Sample points per direction for the surface deviation.")
    var samples: Int = 300_000

    @Option(help: "Farm rounds of (b) and (c), alternating (the round of median chord time is reported).")
    var rounds: Int = 1

    @Flag(help: "Skip the farm runs (b) and (c): the in-process rows and the quality only.")
    var noFarm = false

    @Option(
        help:
            "Keep the generated meshes and parts here (to profile a step with split-phase) instead of a temporary directory."
    )
    var keep: String?

    struct Steps {
        var unsplit: (seconds: Double, peakBytes: Int)
        var partition: (seconds: Double, peakBytes: Int)
        var parts: [(seconds: Double, peakBytes: Int)]
        var stitch: (seconds: Double, peakBytes: Int)
        var unsplitMesh: Mesh
        var splitMesh: Mesh
        var splitSeconds: Double { partition.seconds + parts.reduce(0) { $0 + $1.seconds } + stitch.seconds }
    }

    func run() async throws {
        let work =
            keep.map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("meshfarm-split-bench-\(getpid())")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { if keep == nil { try? FileManager.default.removeItem(at: work) } }

        let closedMesh = try generate(closed, n: closedSubdivisions)
        let openMesh = try generate(open, n: openSubdivisions)
        let partTriangles = max(JobSpec.minimumPartTriangles, (closedMesh.triangleCount + parts - 1) / parts)
        let spec = JobSpec(
            lodRatios: [ratio], viewsPerLOD: 1, imageSize: 64, viewsPerTask: 1, splitAbove: 0,
            partTriangles: partTriangles)
        var rows: [(name: String, mesh: Mesh, steps: Steps)] = []
        for (name, mesh) in [("closed", closedMesh), ("open", openMesh)] {
            let parts = Planner.splitParts(triangles: mesh.triangleCount, spec: spec) ?? 1
            rows.append((name, mesh, try steps(mesh, parts: parts, in: work.appendingPathComponent(name))))
        }

        print(
            "Generated meshes: \(closed) cut into \(closedSubdivisions)² per triangle and displaced "
                + "(\(closedMesh.triangleCount) triangles, closed); \(open) into \(openSubdivisions)² "
                + "(\(openMesh.triangleCount) triangles, open). Reduced to \(ratio); parts of at most \(partTriangles) triangles."
        )
        print("\nEach step in a process of its own (same library calls as the farm's handlers, no transfers):")
        var steps = Table(header: ["mesh", "step", "seconds", "peak MiB"])
        for row in rows {
            let s = row.steps
            steps.add([row.name, "(a) unsplit reduce", s.unsplit.seconds.formatted(2), mib(s.unsplit.peakBytes)])
            steps.add([row.name, "partition", s.partition.seconds.formatted(2), mib(s.partition.peakBytes)])
            let slowest = s.parts.max { $0.seconds < $1.seconds }!
            steps.add([
                row.name, "reduce-part x\(s.parts.count) (slowest)", slowest.seconds.formatted(2),
                mib(s.parts.map(\.peakBytes).max()!),
            ])
            steps.add([row.name, "stitch", s.stitch.seconds.formatted(2), mib(s.stitch.peakBytes)])
            steps.add([row.name, "split, one after another", s.splitSeconds.formatted(2), ""])
        }
        print(steps.render())

        print("\nSurface deviation from the original (symmetric Hausdorff, % of the bounding-box diagonal):")
        var quality = Table(header: [
            "mesh", "result", "triangles", "RMS %", "max %", "boundary edges", "non-manifold edges",
        ])
        var ratios: [String: Double] = [:]
        for row in rows {
            let original = MeshAnalysis(mesh: row.mesh)
            quality.add([
                row.name, "original", "\(row.mesh.triangleCount)", "", "", "\(original.boundaryEdges)",
                "\(original.nonManifoldEdges)",
            ])
            var rms: [Double] = []
            for (label, mesh) in [("unsplit", row.steps.unsplitMesh), ("split", row.steps.splitMesh)] {
                let deviation = SurfaceDeviation.between(row.mesh, mesh, samples: samples)
                let analysis = MeshAnalysis(mesh: mesh)
                rms.append(deviation.rms)
                quality.add([
                    row.name, label, "\(mesh.triangleCount)", (deviation.rms * 100).formatted(4),
                    (deviation.max * 100).formatted(3), "\(analysis.boundaryEdges)", "\(analysis.nonManifoldEdges)",
                ])
            }
            ratios[row.name] = rms[1] / rms[0]
        }
        print(quality.render())
        print("RMS split / unsplit: closed \(ratios["closed"]!.formatted(3)), open \(ratios["open"]!.formatted(3))")

        guard !noFarm else {
            print("split.quality_ratio: \(ratios["closed"]!.formatted(3))")
            return
        }
        let farm = try await farmRuns(closedMesh, spec: spec, work: work)
        print(
            "\nThrough the farm (\(closed), CPU worker processes of concurrency 1 started with empty caches for each "
                + "job, a GPU worker for the view; the round of median chord time of \(max(1, rounds)) alternating rounds):"
        )
        var table = Table(header: [
            "variant", "chord wall s", "partition s", "parts phase s", "slowest part s", "stitch s", "parts",
        ])
        for (label, run) in [("(b) 1 CPU worker", farm.one), ("(c) 2 CPU workers", farm.two)] {
            table.add([
                label, run.chord.formatted(2), run.partition.formatted(2), run.partsPhase.formatted(2),
                run.slowestPart.formatted(2), run.stitch.formatted(2), "\(run.parts)",
            ])
        }
        print(table.render())
        print("(a) unsplit in one process: \(rows[0].steps.unsplit.seconds.formatted(2)) s")

        // The critical path on more workers: partition + the slowest part per wave + stitch.
        let run = farm.two
        print("\nExpected wall time on more workers (critical path from (c)'s task times, transfers included in them):")
        var scaling = Table(header: [
            "workers", "\(run.parts) parts: waves", "s", "parts sized for the workers (no per-task cost)", "s",
        ])
        for workers in [8, 32, 128] {
            let waves = (run.parts + workers - 1) / workers
            let fixed = run.partition + Double(waves) * run.slowestPart + run.stitch
            // K = workers parts of T / workers triangles: a part's time scales with its size.
            let sized = run.partition + run.slowestPart * Double(run.parts) / Double(workers) + run.stitch
            scaling.add(["\(workers)", "\(waves)", fixed.formatted(2), "\(workers) x 1", sized.formatted(2)])
        }
        print(scaling.render())
        print(
            "split.parts_speedup_2_workers: \((farm.one.partsPhase / farm.two.partsPhase).formatted(3))")
        print("split.speedup_2_workers: \((farm.one.chord / farm.two.chord).formatted(3))")
        print("split.quality_ratio: \(ratios["closed"]!.formatted(3))")
    }

    func mib(_ bytes: Int) -> String { "\(bytes >> 20)" }

    /// A shared model, welded, cut into n² per triangle and displaced.
    func generate(_ name: String, n: Int) throws -> Mesh {
        let base = try MeshImporter().load(path: "\(models)/\(name)").mesh
        return Subdivision.displaced(Subdivision.subdivided(base, n: n))
    }

    /// (a) and the split's steps, each in a process of its own.
    func steps(_ mesh: Mesh, parts: Int, in directory: URL) throws -> Steps {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let input = directory.appendingPathComponent("input.mfmesh").path
        try MeshArtifact.write(mesh, to: input)
        let unsplitPath = directory.appendingPathComponent("unsplit.mfmesh").path
        let unsplit = try SplitPhase.measure(["unsplit", input, "\(ratio)", unsplitPath])
        let partition = try SplitPhase.measure(["partition", input, "\(parts)", directory.path])
        var reduced: [(seconds: Double, peakBytes: Int)] = []
        for index in 0..<parts {
            reduced.append(
                try SplitPhase.measure([
                    "reduce-part", directory.appendingPathComponent("part-\(index)").path, "\(ratio)",
                    directory.appendingPathComponent("reduced-\(index)").path,
                ]))
        }
        let target = max(1, Int((Double(mesh.triangleCount) * ratio).rounded()))
        let splitPath = directory.appendingPathComponent("split.mfmesh").path
        let stitch = try SplitPhase.measure(
            ["stitch", "\(target)", splitPath]
                + (0..<parts).map { directory.appendingPathComponent("reduced-\($0)").path })
        return Steps(
            unsplit: unsplit, partition: partition, parts: reduced, stitch: stitch,
            unsplitMesh: try MeshArtifact.read(path: unsplitPath), splitMesh: try MeshArtifact.read(path: splitPath))
    }

    struct FarmRun {
        var chord: Double
        var partition: Double
        var partsPhase: Double
        var slowestPart: Double
        var stitch: Double
        var parts: Int
    }

    /// (b) and (c): the same job on one CPU worker, then on two.
    func farmRuns(_ mesh: Mesh, spec: JobSpec, work: URL) async throws -> (one: FarmRun, two: FarmRun) {
        let farm = BenchFarm(broker: broker, work: work.appendingPathComponent("farm"))
        defer { farm.stopAll() }
        try await farm.startSubmit(["--part-triangles", "\(spec.partTriangles!)"])
        try await farm.startWorker("gpu", name: "gpu-1")
        let client = APIClient(baseURL: URL(string: farm.server)!)
        let model = work.appendingPathComponent("model.ply")
        try MeshExporter.write(mesh, to: model.path)
        let upload = try await client.upload(file: model)
        // Each job starts from empty worker caches, as on a farm where the
        // analysis, the partition and the parts land on different machines:
        // every artifact a task reads is downloaded. (With one worker,
        // whatever it fetched for an earlier job would otherwise be local.)
        func coldWorkers(_ count: Int) async throws {
            for name in ["cpu-1", "cpu-2"] {
                farm.stop(name)
                try? FileManager.default.removeItem(at: farm.work.appendingPathComponent("cache-\(name)"))
            }
            for index in 1...count { try await farm.startWorker("cpu", name: "cpu-\(index)", ["--concurrency", "1"]) }
        }
        var one: [FarmRun] = []
        var two: [FarmRun] = []
        for _ in 0..<max(1, rounds) {
            try await coldWorkers(1)
            one.append(try await farmRun(client, model: upload.sha256, spec: spec))
            try await coldWorkers(2)
            two.append(try await farmRun(client, model: upload.sha256, spec: spec))
        }
        func median(_ runs: [FarmRun]) -> FarmRun { runs.sorted { $0.chord < $1.chord }[runs.count / 2] }
        return (median(one), median(two))
    }

    func farmRun(_ client: APIClient, model: String, spec: JobSpec) async throws -> FarmRun {
        let job = try await client.createJob(CreateJobRequest(model: model, name: "big.ply", spec: spec))
        var view = job
        while !view.isFinished {
            try await Task.sleep(for: .milliseconds(200))
            view = try await client.job(job.id)
        }
        guard view.status == "succeeded" else { throw ValidationError("the split job failed: \(view.error ?? "")") }
        func span(_ tasks: [TaskView]) -> Double {
            let start = tasks.compactMap(\.startedAt).min()!, end = tasks.compactMap(\.finishedAt).max()!
            return end.timeIntervalSince(start)
        }
        let partition = view.tasks.filter { $0.kind == "partition" }
        let parts = view.tasks.filter { $0.kind == "reduce-part" }
        let stitch = view.tasks.filter { $0.kind == "stitch" }
        guard !partition.isEmpty, !parts.isEmpty, !stitch.isEmpty else {
            throw ValidationError("the job was not split: \(view.tasks.map(\.kind))")
        }
        return FarmRun(
            chord: span(partition + parts + stitch), partition: span(partition), partsPhase: span(parts),
            slowestPart: parts.map { span([$0]) }.max()!, stitch: span(stitch), parts: parts.count)
    }
}
