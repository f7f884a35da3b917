import ArgumentParser
import CMeshOptimizer
import Foundation
import MeshFarmMesh
import MeshFarmSandbox

/// `meshfarm-bench mesh`: import, analysis and reduction speed, with the
/// library's reduction next to a bare `meshopt_simplify` on the same data.
struct MeshBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mesh",
        abstract: """
            Import MB/s, analysis time, reduction Mtri/s vs bare meshopt_simplify, and the cost of \
            contained (child-process) import vs in-process import.
            """)

    @Option(help: "Directory of models to include (default ../shared/models).")
    var models: String = "../shared/models"

    @Option(help: "Cells of the generated slab (4 * cells^2 triangles; 708 ~ 2M).")
    var cells: Int = 708

    @Option(help: "Reduction ratio benchmarked.")
    var ratio: Double = 0.25

    @Option(help: "Repetitions per measurement (medians are reported).")
    var repeats: Int = 3

    @Option(help: "Cells of the slab whose OBJ measures import isolation (4 * cells^2 triangles; 500 = 1M).")
    var isolationCells: Int = 500

    func run() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("meshfarm-bench-\(getpid())")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }

        var inputs: [(name: String, path: String)] = []
        let modelFiles = (try? FileManager.default.contentsOfDirectory(atPath: models)) ?? []
        for file in modelFiles.sorted() where file.hasSuffix(".obj") {
            inputs.append((file, "\(models)/\(file)"))
        }
        let generated = Mesh.slab(cells: cells)
        let generatedPath = work.appendingPathComponent("slab.obj").path
        try MeshExporter.write(generated, to: generatedPath)
        let generatedName = "slab-\(generated.triangleCount / 1000)k.obj"
        inputs.append((generatedName, generatedPath))

        var table = Table(header: [
            "model", "triangles", "MB", "import MB/s", "analyze ms", "library Mtri/s", "bare Mtri/s", "library/bare",
        ])
        var lastRatio = Double.nan
        for input in inputs {
            let bytes = Double((try FileManager.default.attributesOfItem(atPath: input.path)[.size] as? Int) ?? 0)
            var mesh = Mesh(positions: [], indices: [])
            let importTimes = try (0..<repeats).map { _ in
                try Timing.seconds { mesh = try MeshImporter().load(path: input.path).mesh }
            }
            let analyzeTimes = (0..<repeats).map { _ in Timing.seconds { _ = MeshAnalysis(mesh: mesh) } }
            var library: [Double] = []
            var bare: [Double] = []
            for _ in 0..<repeats {
                // Alternate the two so drift on a shared machine hits both.
                library.append(try Timing.seconds { _ = try Simplifier().simplify(mesh, to: .ratio(ratio)) })
                bare.append(Timing.seconds { Self.bareSimplify(mesh, ratio: ratio) })
            }
            let (lib, raw) = (Timing.median(library), Timing.median(bare))
            let tri = Double(mesh.triangleCount)
            lastRatio = lib / raw
            table.add([
                input.name, "\(mesh.triangleCount)", (bytes / 1e6).formatted(2),
                (bytes / 1e6 / Timing.median(importTimes)).formatted(1),
                (Timing.median(analyzeTimes) * 1000).formatted(1),
                (tri / 1e6 / lib).formatted(2), (tri / 1e6 / raw).formatted(2), lastRatio.formatted(3),
            ])
        }
        print(
            "Reduction to \(ratio) of the triangles; medians of \(repeats) runs; library = validate + simplify + scale + compact."
        )
        print(table.render())

        let isolation = try measureIsolation(work: work)
        print(
            "\nImport of a \(isolation.triangles / 1000)k-triangle OBJ (\((isolation.megabytes).formatted(1)) MB), medians of \(isolation.runs) alternating runs:"
        )
        var isolationTable = Table(header: ["import", "median s", "min s", "max s"])
        for (name, times) in [
            ("in-process (MeshImporter)", isolation.inProcess),
            ("contained (child process, limits, artifact hand-off)", isolation.contained),
        ] {
            isolationTable.add([
                name, Timing.median(times).formatted(3), times.min()!.formatted(3), times.max()!.formatted(3),
            ])
        }
        print(isolationTable.render())
        print("mesh.reduce_overhead: \(lastRatio.formatted(3))")
        let overhead = Timing.median(isolation.contained) / Timing.median(isolation.inProcess)
        print("mesh.import_isolation_overhead: \(overhead.formatted(3))")
    }

    /// Contained vs in-process import of the same OBJ, alternating so drift
    /// on a shared machine hits both. Both end with the welded mesh in this
    /// process; the contained one adds the child's start, the artifact write
    /// and read-back.
    func measureIsolation(work: URL) throws -> (
        triangles: Int, megabytes: Double, runs: Int, inProcess: [Double], contained: [Double]
    ) {
        let mesh = Mesh.slab(cells: isolationCells)
        let path = work.appendingPathComponent("isolation.obj").path
        try MeshExporter.write(mesh, to: path)
        let bytes = Double((try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0)
        let contained = ContainedImporter(
            containment: try ImportContainment.defaults(concurrency: 1), limits: ImportLimits())
        let runs = max(repeats, 9)
        var inProcess: [Double] = []
        var isolated: [Double] = []
        _ = try MeshImporter().load(path: path)  // warm-up runs, not counted: file cache, allocator, importer binary
        _ = try contained.load(path: path)
        for _ in 0..<runs {
            inProcess.append(try Timing.seconds { _ = try MeshImporter().load(path: path) })
            isolated.append(try Timing.seconds { _ = try contained.load(path: path) })
        }
        return (mesh.triangleCount, bytes / 1e6, runs, inProcess, isolated)
    }

    /// The baseline: one `meshopt_simplify` call, nothing else.
    static func bareSimplify(_ mesh: Mesh, ratio: Double) {
        var destination = [UInt32](repeating: 0, count: mesh.indices.count)
        var error: Float = 0
        let target = Int(Double(mesh.triangleCount) * ratio) * 3
        _ = meshopt_simplify(
            &destination, mesh.indices, mesh.indices.count, mesh.positions, mesh.vertexCount, 12, target,
            .greatestFiniteMagnitude, 0, &error)
    }
}
