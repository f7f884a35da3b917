import MeshFarmMessaging

/// Building each task's payload from its job's spec and its dependencies'
/// results. Pure, so the planner, the coordinator and `meshfarm run` agree.
extension JobRecord {
    /// The payload of `taskID`; throws when a dependency's result is missing
    /// or malformed (a bug or a corrupted store, not a user error).
    public func payload(for taskID: TaskID) throws -> TaskPayload {
        guard let task = task(taskID)?.task else { throw PayloadError("no task \(taskID) in job \(id)") }
        switch task.kind {
        case .analyze:
            return .analyze(AnalyzePayload(model: model, fileName: fileName))
        case .reduce:
            let lod = task.lod ?? 0
            return .reduce(ReducePayload(mesh: try analysis().mesh, lod: lod, ratio: spec.lodRatios[lod]))
        case .render:
            let lod = task.lod ?? 0
            let analysis = try analysis()
            return .render(
                RenderPayload(
                    mesh: try meshHash(lod: lod), lod: lod, firstView: task.firstView ?? 0,
                    viewCount: task.viewCount ?? 1,
                    views: spec.viewsPerLOD, size: spec.imageSize, elevation: spec.elevation, ssaa: spec.ssaa,
                    depth: spec.depth, normals: spec.normals, bounds: analysis.bounds))
        case .partition:
            // Every split level has the same parts: the first one's count.
            let firstSplit = tasks.first { $0.task.kind == .stitch }?.task.lod ?? 0
            return .partition(PartitionPayload(mesh: try analysis().mesh, parts: splitParts(lod: firstSplit) ?? 1))
        case .reducePart:
            let lod = task.lod ?? 0
            let index = task.part ?? 0
            guard let parts = result(.partition(id))?.partition?.parts, parts.indices.contains(index) else {
                throw PayloadError("job \(id) has no part \(index)")
            }
            return .reducePart(
                ReducePartPayload(part: parts[index].part, lod: lod, index: index, ratio: spec.lodRatios[lod]))
        case .stitch:
            let lod = task.lod ?? 0
            let reduced = try task.dependencies.map { part in
                guard let result = result(part)?.reducePart else { throw PayloadError("job \(id) has no \(part)") }
                return result
            }
            return .stitch(
                StitchPayload(
                    parts: reduced.sorted { $0.index < $1.index }.map(\.part), lod: lod, ratio: spec.lodRatios[lod],
                    targetTriangles: max(1, Int((Double(try analysis().triangles) * spec.lodRatios[lod]).rounded())),
                    partsErrorAbsolute: reduced.map(\.errorAbsolute).max() ?? 0))
        case .finalize:
            let views = renderedViews()
            let rows = spec.lodRatios.indices.map { lod in
                views.filter { $0.lod == lod }.sorted { $0.view.index < $1.view.index }.map(\.view.image)
            }
            let labels = spec.lodRatios.enumerated().map { lod, ratio in
                let triangles = ratio == 1 ? analysisResult?.triangles : reduceResult(lod: lod)?.triangles
                let shown = ratio == ratio.rounded() ? String(Int(ratio)) : String(ratio)
                return "LOD \(lod) (\(shown)) · \(triangles.map { "\($0) TRIANGLES" } ?? "")"
            }
            return .finalize(FinalizePayload(rows: rows, cellSize: min(256, spec.imageSize), labels: labels))
        }
    }

    func analysis() throws -> AnalyzeResult {
        guard let result = analysisResult else { throw PayloadError("job \(id) has no analysis result") }
        return result
    }

    /// The analysis, once `analyze` succeeded.
    public var analysisResult: AnalyzeResult? { result(.analyze(id))?.analyze }

    /// The reduction of level `lod`, once it succeeded: its reduce, or the
    /// stitch of its split.
    public func reduceResult(lod: Int) -> ReduceResult? {
        result(.reduce(id, lod: lod))?.reduce ?? result(.stitch(id, lod: lod))?.stitch
    }

    /// How many parts level `lod` was split into; nil when reduced whole.
    public func splitParts(lod: Int) -> Int? {
        let parts = tasks.filter { $0.task.kind == .reducePart && $0.task.lod == lod }.count
        return parts > 0 ? parts : nil
    }

    /// The contact sheet, once `finalize` succeeded.
    public var finalizeResult: FinalizeResult? { result(.finalize(id))?.finalize }

    /// The mesh artifact of a level of detail.
    func meshHash(lod: Int) throws -> String {
        if spec.lodRatios[lod] == 1 { return try analysis().mesh }
        guard let reduced = reduceResult(lod: lod) else {
            throw PayloadError("job \(id) has no result for level \(lod)")
        }
        return reduced.mesh
    }

    /// Every rendered view so far, with its level.
    public func renderedViews() -> [(lod: Int, view: RenderedViewResult)] {
        tasks.filter { $0.task.kind == .render }.compactMap { result($0.id)?.render }
            .flatMap { render in render.views.map { (render.lod, $0) } }
    }
}

/// A payload could not be built.
public struct PayloadError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
