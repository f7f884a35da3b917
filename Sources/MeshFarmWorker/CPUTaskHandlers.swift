import Foundation
import MeshFarmImage
import MeshFarmJobs
import MeshFarmMesh
import MeshFarmMessaging

/// A handler of MeshFarm tasks: typed payloads in, typed results out.
public typealias JobTaskHandler = TaskHandler<TaskPayload, TaskResult>

/// The CPU pool's handlers by task kind: analyze, reduce, finalize, and
/// a split reduction's partition, reduce-part and stitch.
public enum CPUTaskHandlers {
    /// `importer` reads uploaded models: in services, a contained importer
    /// (a child process with limits), so a hostile file fails its own task
    /// and nothing else.
    /// Each handler comes metered and its failures classified
    /// (``MeteredHandler``).
    public static func make(artifacts: any ArtifactAccess, importer: any ModelLoading) -> [String: any JobTaskHandler] {
        MeteredHandler.metering([
            TaskKind.analyze.rawValue: AnalyzeHandler(artifacts: artifacts, importer: importer),
            TaskKind.reduce.rawValue: ReduceHandler(artifacts: artifacts),
            TaskKind.finalize.rawValue: FinalizeHandler(artifacts: artifacts),
            TaskKind.partition.rawValue: PartitionHandler(artifacts: artifacts),
            TaskKind.reducePart.rawValue: ReducePartHandler(artifacts: artifacts),
            TaskKind.stitch.rawValue: StitchHandler(artifacts: artifacts),
        ])
    }
}

/// Import, validate, analyze; store the mesh artifact and an OBJ export.
public struct AnalyzeHandler: JobTaskHandler {
    let artifacts: any ArtifactAccess
    let importer: any ModelLoading

    public func run(_ task: JobTask, context: TaskContext) throws -> TaskResult {
        guard case .analyze(let payload) = task.payload else { throw FailureClassifier.mismatch(task) }
        context.progress(0, stage: "downloading")
        let file = try artifacts.fetch(payload.model)
        try context.stopIfCancelled()
        context.progress(0.2, stage: "importing")
        let model = try importer.load(path: file.path) { context.isCancelled }
        try context.stopIfCancelled()
        context.progress(0.6, stage: "analyzing")
        let analysis = MeshAnalysis(model: model)
        context.log(
            "imported \(analysis.format ?? "a model"): \(analysis.triangles) triangles, \(analysis.vertices) vertices, "
                + "\(analysis.components) components")
        if !analysis.watertight {
            context.log(
                "not watertight: \(analysis.boundaryEdges) boundary edges, \(analysis.nonManifoldEdges) non-manifold "
                    + "edges (volume is approximate)", level: .warning)
        }
        if analysis.degenerateTriangles > 0 {
            context.log("\(analysis.degenerateTriangles) degenerate triangles dropped", level: .warning)
        }
        let (mesh, obj) = try artifacts.storeLevel(model.mesh)
        let box = model.mesh.bounds!
        return .analyze(
            AnalyzeResult(
                analysis: try JSONValue(encoding: analysis), mesh: mesh, obj: obj,
                triangles: model.mesh.triangleCount,
                bounds: BoundsValue(
                    min: [Double(box.min.x), Double(box.min.y), Double(box.min.z)],
                    max: [Double(box.max.x), Double(box.max.y), Double(box.max.z)])))
    }
}

/// Reduce to one level of detail; store the artifact and an OBJ export.
public struct ReduceHandler: JobTaskHandler {
    let artifacts: any ArtifactAccess

    public func run(_ task: JobTask, context: TaskContext) throws -> TaskResult {
        guard case .reduce(let payload) = task.payload else { throw FailureClassifier.mismatch(task) }
        let mesh = try MeshArtifact.read(path: try artifacts.fetch(payload.mesh).path)
        try context.stopIfCancelled()
        context.progress(0.1, stage: "reducing to \(payload.ratio)")
        let result = try Simplifier().simplify(mesh, to: .ratio(payload.ratio))
        context.log(
            "reduced \(mesh.triangleCount) to \(result.mesh.triangleCount) triangles (target "
                + "\(result.targetTriangles), \(result.method.rawValue), error \(String(format: "%.5f", result.error)))",
            level: result.method.rawValue == "simplify" ? .info : .warning)
        try context.stopIfCancelled()
        context.progress(0.9, stage: "storing")
        let (stored, obj) = try artifacts.storeLevel(result.mesh)
        return .reduce(
            ReduceResult(
                lod: payload.lod, ratio: payload.ratio, triangles: result.mesh.triangleCount,
                targetTriangles: result.targetTriangles, error: result.error, errorAbsolute: result.errorAbsolute,
                method: result.method.rawValue, mesh: stored, obj: obj))
    }
}

/// Cuts the analyzed mesh into spatial parts, each stored as its own
/// part artifact (``MeshPartition``).
public struct PartitionHandler: JobTaskHandler {
    let artifacts: any ArtifactAccess

    public func run(_ task: JobTask, context: TaskContext) throws -> TaskResult {
        guard case .partition(let payload) = task.payload else { throw FailureClassifier.mismatch(task) }
        let start = Date()
        let mesh = try MeshArtifact.read(path: try artifacts.fetch(payload.mesh).path)
        context.log("read \(mesh.triangleCount) triangles in \(seconds(since: start))")
        try context.stopIfCancelled()
        context.progress(0.2, stage: "cutting into \(payload.parts) parts")
        var infos: [PartInfo] = []
        var storing = 0.0
        // Each part is stored as soon as it is cut: one part in memory beside the mesh.
        try MeshPartition.split(mesh, parts: payload.parts) { index, part in
            try context.stopIfCancelled()
            context.progress(0.3 + 0.7 * Double(index) / Double(payload.parts), stage: "storing part \(index + 1)")
            let stored = Date()
            infos.append(
                PartInfo(
                    part: try artifacts.store(data: PartArtifact.encode(part)), triangles: part.mesh.triangleCount,
                    vertices: part.mesh.vertexCount, cutVertices: part.cutVertexCount))
            storing += Date().timeIntervalSince(stored)
        }
        context.log(
            "done \(seconds(since: start)) after the start (\(String(format: "%.3f", storing)) s of it storing parts): "
                + "\(infos.count) parts of "
                + "\(infos.map(\.triangles).min() ?? 0)-\(infos.map(\.triangles).max() ?? 0) triangles, "
                + "\(infos.reduce(0) { $0 + $1.cutVertices }) vertices on cuts")
        return .partition(PartitionResult(parts: infos))
    }
}

/// Reduces one part with its cuts locked (``MeshPart/reduced(ratio:)``).
public struct ReducePartHandler: JobTaskHandler {
    let artifacts: any ArtifactAccess

    public func run(_ task: JobTask, context: TaskContext) throws -> TaskResult {
        guard case .reducePart(let payload) = task.payload else { throw FailureClassifier.mismatch(task) }
        let part = try PartArtifact.read(path: try artifacts.fetch(payload.part).path)
        try context.stopIfCancelled()
        context.progress(0.1, stage: "reducing part \(payload.index) to \(payload.ratio)")
        let (reduced, reduction) = try part.reduced(ratio: payload.ratio)
        context.log(
            "reduced part \(payload.index): \(part.mesh.triangleCount) to \(reduced.mesh.triangleCount) triangles "
                + "(target \(reduction.targetTriangles); \(part.cutVertexCount) cut vertices kept)")
        try context.stopIfCancelled()
        context.progress(0.9, stage: "storing")
        return .reducePart(
            ReducePartResult(
                lod: payload.lod, index: payload.index, triangles: reduced.mesh.triangleCount,
                targetTriangles: reduction.targetTriangles, errorAbsolute: reduction.errorAbsolute,
                part: try artifacts.store(data: PartArtifact.encode(reduced))))
    }
}

/// Welds a level's reduced parts back together and simplifies the seams
/// (``MeshStitcher``); its result is the level's, as a reduce's is.
public struct StitchHandler: JobTaskHandler {
    let artifacts: any ArtifactAccess

    public func run(_ task: JobTask, context: TaskContext) throws -> TaskResult {
        guard case .stitch(let payload) = task.payload else { throw FailureClassifier.mismatch(task) }
        let parts = try payload.parts.enumerated().map { index, hash in
            try context.stopIfCancelled()
            context.progress(0.3 * Double(index) / Double(payload.parts.count), stage: "fetching parts")
            return try PartArtifact.read(path: try artifacts.fetch(hash).path)
        }
        context.progress(0.3, stage: "stitching \(parts.count) parts")
        let merged = parts.reduce(0) { $0 + $1.mesh.triangleCount }
        let result = try MeshStitcher.stitch(
            parts, targetTriangles: payload.targetTriangles, partsErrorAbsolute: payload.partsErrorAbsolute)
        context.log(
            "stitched \(parts.count) parts (\(merged) triangles) and simplified the seams to "
                + "\(result.mesh.triangleCount) triangles (target \(payload.targetTriangles), \(result.method.rawValue))",
            level: result.method == .sloppy ? .warning : .info)
        try context.stopIfCancelled()
        context.progress(0.9, stage: "storing")
        let (stored, obj) = try artifacts.storeLevel(result.mesh)
        return .stitch(
            ReduceResult(
                lod: payload.lod, ratio: payload.ratio, triangles: result.mesh.triangleCount,
                targetTriangles: payload.targetTriangles, error: result.error, errorAbsolute: result.errorAbsolute,
                method: "split+\(result.method.rawValue)", mesh: stored, obj: obj))
    }
}

/// "0.123 s": the time since `start`, for task logs.
func seconds(since start: Date) -> String { String(format: "%.3f s", Date().timeIntervalSince(start)) }

extension ArtifactAccess {
    /// Stores a level of detail as the tasks after it read it (a mesh
    /// artifact) and as the user gets it (an OBJ export): their hashes.
    func storeLevel(_ mesh: Mesh) throws -> (mesh: String, obj: String) {
        (try store(data: MeshArtifact.encode(mesh)), try store(data: MeshExporter.encode(mesh, as: .obj)))
    }
}

/// The contact sheet: every view of every level in one grid.
public struct FinalizeHandler: JobTaskHandler {
    let artifacts: any ArtifactAccess

    public func run(_ task: JobTask, context: TaskContext) throws -> TaskResult {
        guard case .finalize(let payload) = task.payload else { throw FailureClassifier.mismatch(task) }
        let rows = try payload.rows.map { row in
            try row.map {
                try context.stopIfCancelled()
                return try PNGCodec.read(path: try artifacts.fetch($0).path)
            }
        }
        context.progress(0.5, stage: "composing")
        let sheet = ContactSheet.compose(rows: rows, cell: payload.cellSize, labels: payload.labels)
        context.log("contact sheet of \(rows.count) rows: \(sheet.width)x\(sheet.height)")
        return .finalize(FinalizeResult(contactSheet: try artifacts.store(data: PNGCodec.encode(sheet))))
    }
}
