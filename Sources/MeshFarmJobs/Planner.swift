/// The kinds of task a job is split into.
public enum TaskKind: String, Sendable, Codable, CaseIterable {
    /// Import, validate, analyze; writes the mesh artifact (cpu).
    case analyze
    /// Cuts a big mesh into spatial parts, once per job, for every split
    /// level of detail (cpu).
    case partition
    /// Polygon reduction to one level of detail (cpu).
    case reduce
    /// Reduction of one part of a split level, its cuts kept in place (cpu).
    case reducePart = "reduce-part"
    /// Merges a split level's reduced parts and simplifies the seams (cpu).
    case stitch
    /// A chunk of views of one level of detail (gpu).
    case render
    /// Contact sheet of all views (cpu).
    case finalize

    /// The worker pool whose queue receives this kind.
    public var pool: String { self == .render ? "gpu" : "cpu" }
}

/// One node of a job's task graph.
public struct PlannedTask: Sendable, Equatable, Codable {
    public var id: TaskID
    /// Tasks whose results this one needs.
    public var dependencies: [TaskID]
    /// View count of a render chunk (its first view is in the id).
    public var viewCount: Int?

    public init(id: TaskID, dependencies: [TaskID], viewCount: Int? = nil) {
        self.id = id
        self.dependencies = dependencies
        self.viewCount = viewCount
    }

    public var kind: TaskKind { id.kind }
    public var pool: String { id.kind.pool }
    /// Level of detail (reduce, reduce-part, stitch, render).
    public var lod: Int? { id.lod }
    /// Part (reduce-part).
    public var part: Int? { id.part }
    /// First view (render).
    public var firstView: Int? { id.firstView }
}

/// Expands a spec into a task graph, and splits the reductions of a big
/// model once its analysis has counted the triangles
/// (``split(_:jobID:spec:triangles:)``). Pure: no I/O, unit-tested alone.
///
/// ```
/// analyze ─┬─ reduce k (ratio < 1) ── render k, views a..b ─┐
///          └─ render 0 (ratio 1), views a..b ───────────────┴─ finalize
/// ```
/// A level of detail with ratio 1 is the analyzed original: its renders
/// depend on `analyze` directly. Tasks come out in a topological order.
public enum Planner {
    public static func plan(jobID: String, spec: JobSpec) -> [PlannedTask] {
        let analyze = TaskID.analyze(jobID)
        var tasks = [PlannedTask(id: analyze, dependencies: [])]
        var renders: [TaskID] = []
        for (lod, ratio) in spec.lodRatios.enumerated() {
            var source = analyze
            if ratio < 1 {
                source = .reduce(jobID, lod: lod)
                tasks.append(PlannedTask(id: source, dependencies: [analyze]))
            }
            for first in stride(from: 0, to: spec.viewsPerLOD, by: spec.viewsPerTask) {
                let id = TaskID.render(jobID, lod: lod, firstView: first)
                // Renders of a reduced level also need the analysis (the
                // original's bounds frame every level alike).
                tasks.append(
                    PlannedTask(
                        id: id, dependencies: source == analyze ? [source] : [analyze, source],
                        viewCount: min(spec.viewsPerTask, spec.viewsPerLOD - first)))
                renders.append(id)
            }
        }
        let reduces = tasks.filter { $0.kind == .reduce }.map(\.id)
        tasks.append(PlannedTask(id: .finalize(jobID), dependencies: [analyze] + reduces + renders))
        return tasks
    }

    /// Parts of a split for a model of `triangles`, or nil when its levels
    /// are reduced whole: at or under the spec's `splitAbove`, or too small
    /// to make two parts of `partTriangles`. At most ``maxParts``.
    public static func splitParts(triangles: Int, spec: JobSpec) -> Int? {
        guard triangles > spec.splitAbove ?? JobSpec.defaultSplitAbove else { return nil }
        let partTriangles = max(JobSpec.minimumPartTriangles, spec.partTriangles ?? JobSpec.defaultPartTriangles)
        let parts = min(maxParts, (triangles + partTriangles - 1) / partTriangles)
        return parts >= 2 ? parts : nil
    }

    public static let maxParts = 256

    /// Levels at or above this ratio are reduced whole: a part stops at
    /// 1.25 × the level's ratio (`MeshPart.seamReserve`), so from 0.8 on
    /// the parts would not be reduced at all and the stitch would do the
    /// whole reduction alone, with every part in memory.
    public static let splitRatioLimit = 0.8

    /// The graph once the analysis found `triangles`: when the model is to
    /// be split (``splitParts(triangles:spec:)``), each `reduce` of a
    /// ratio under ``splitRatioLimit`` becomes a chord, and what needed the
    /// reduction needs its stitch; nil when nothing changes (no split, no
    /// such level, or split already).
    ///
    /// ```
    /// analyze ── partition ─┬─ reduce-part k,0 ─┐
    ///                       ├─ ...              ├─ stitch k ── render k ...
    ///                       └─ reduce-part k,K-1┘
    /// ```
    /// One partition serves every split level.
    public static func split(_ tasks: [PlannedTask], jobID: String, spec: JobSpec, triangles: Int) -> [PlannedTask]? {
        func splits(_ task: PlannedTask) -> Bool {
            task.kind == .reduce && spec.lodRatios[task.lod ?? 0] < splitRatioLimit
        }
        guard let parts = splitParts(triangles: triangles, spec: spec), tasks.contains(where: splits),
            !tasks.contains(where: { $0.kind == .partition })
        else { return nil }
        let partition = TaskID.partition(jobID)
        var split: [PlannedTask] = []
        for task in tasks {
            if splits(task), let lod = task.lod {
                let partIDs = (0..<parts).map { TaskID.reducePart(jobID, lod: lod, part: $0) }
                split += partIDs.map { PlannedTask(id: $0, dependencies: [partition]) }
                split.append(PlannedTask(id: .stitch(jobID, lod: lod), dependencies: partIDs))
                continue
            }
            var task = task
            task.dependencies = task.dependencies.map { dependency in
                guard dependency.kind == .reduce, spec.lodRatios[dependency.lod ?? 0] < splitRatioLimit else {
                    return dependency
                }
                return .stitch(jobID, lod: dependency.lod ?? 0)
            }
            split.append(task)
            if task.kind == .analyze { split.append(PlannedTask(id: partition, dependencies: [task.id])) }
        }
        return split
    }
}
