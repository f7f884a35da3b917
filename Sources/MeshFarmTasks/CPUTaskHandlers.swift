import Foundation
import MeshFarmImage
import MeshFarmJobs
import MeshFarmMesh
import MeshFarmMessaging

/// The CPU pool's handlers by task kind: analyze, reduce, finalize.
public enum CPUTaskHandlers {
    /// `importer` reads uploaded models: in services, a contained importer
    /// (a child process with limits), so a hostile file fails its own task
    /// and nothing else.
    public static func make(artifacts: any ArtifactAccess, importer: any ModelLoading) -> [String: any TaskHandler] {
        [
            TaskKind.analyze.rawValue: AnalyzeHandler(artifacts: artifacts, importer: importer),
            TaskKind.reduce.rawValue: ReduceHandler(artifacts: artifacts),
            TaskKind.finalize.rawValue: FinalizeHandler(artifacts: artifacts),
        ]
    }
}

/// Bad input is permanent (retrying cannot help), and so is an import that
/// crashed or ran over its limits in its child process: the same file does
/// it again. Anything else, such as an artifact download failing or the
/// importer program missing, is worth a retry.
func classify(_ error: Error) -> TaskFailure {
    if let failure = error as? TaskFailure { return failure }
    if let mesh = error as? MeshError {
        switch mesh {
        case .unreadable: return .retryable(mesh.description)
        default: return .permanent(mesh.description)
        }
    }
    if error is DecodingError { return .permanent("malformed task payload: \(error)") }
    return .retryable("\(error)")
}

/// Import, validate, analyze; store the mesh artifact and an OBJ export.
public struct AnalyzeHandler: TaskHandler {
    let artifacts: any ArtifactAccess
    let importer: any ModelLoading

    public func run(_ task: TaskEnvelope, context: TaskContext) throws -> JSONValue {
        do {
            let payload = try task.payload.decode(AnalyzePayload.self)
            context.progress(0, stage: "downloading")
            let file = try artifacts.fetch(payload.model)
            context.progress(0.2, stage: "importing")
            let model = try importer.load(path: file.path)
            context.progress(0.6, stage: "analyzing")
            let analysis = MeshAnalysis(model: model)
            let mesh = try artifacts.store(data: MeshArtifact.encode(model.mesh))
            let obj = try artifacts.store(data: MeshExporter.encode(model.mesh, as: .obj))
            let box = model.mesh.bounds!
            return try JSONValue(
                encoding: AnalyzeResult(
                    analysis: try JSONValue(encoding: analysis), mesh: mesh, obj: obj,
                    triangles: model.mesh.triangleCount,
                    bounds: BoundsValue(
                        min: [Double(box.min.x), Double(box.min.y), Double(box.min.z)],
                        max: [Double(box.max.x), Double(box.max.y), Double(box.max.z)])))
        } catch { throw classify(error) }
    }
}

/// Reduce to one level of detail; store the artifact and an OBJ export.
public struct ReduceHandler: TaskHandler {
    let artifacts: any ArtifactAccess

    public func run(_ task: TaskEnvelope, context: TaskContext) throws -> JSONValue {
        do {
            let payload = try task.payload.decode(ReducePayload.self)
            let mesh = try MeshArtifact.read(path: try artifacts.fetch(payload.mesh).path)
            context.progress(0.1, stage: "reducing to \(payload.ratio)")
            let result = try Simplifier().simplify(mesh, to: .ratio(payload.ratio))
            context.progress(0.9, stage: "storing")
            return try JSONValue(
                encoding: ReduceResult(
                    lod: payload.lod, ratio: payload.ratio, triangles: result.mesh.triangleCount,
                    targetTriangles: result.targetTriangles, error: result.error, errorAbsolute: result.errorAbsolute,
                    method: result.method.rawValue, mesh: try artifacts.store(data: MeshArtifact.encode(result.mesh)),
                    obj: try artifacts.store(data: MeshExporter.encode(result.mesh, as: .obj))))
        } catch { throw classify(error) }
    }
}

/// The contact sheet: every view of every level in one grid.
public struct FinalizeHandler: TaskHandler {
    let artifacts: any ArtifactAccess

    public func run(_ task: TaskEnvelope, context: TaskContext) throws -> JSONValue {
        do {
            let payload = try task.payload.decode(FinalizePayload.self)
            let rows = try payload.rows.map { row in
                try row.map { try PNGCodec.read(path: try artifacts.fetch($0).path) }
            }
            context.progress(0.5, stage: "composing")
            let sheet = ContactSheet.compose(rows: rows, cell: payload.cellSize)
            return try JSONValue(
                encoding: FinalizeResult(contactSheet: try artifacts.store(data: PNGCodec.encode(sheet))))
        } catch { throw classify(error) }
    }
}
