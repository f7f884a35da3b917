/// The kinds of task a job is split into.
public enum TaskKind: String, Sendable, Codable, CaseIterable {
    /// Import, validate, analyze; writes the mesh artifact (cpu).
    case analyze
    /// Polygon reduction to one level of detail (cpu).
    case reduce
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
    /// Level of detail (reduce, render).
    public var lod: Int? { id.lod }
    /// First view (render).
    public var firstView: Int? { id.firstView }
}

/// Expands a spec into a task graph. Pure: no I/O, unit-tested alone.
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
}
