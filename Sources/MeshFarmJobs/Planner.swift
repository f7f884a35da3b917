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
    /// `<job>.<name>`: `j1.analyze`, `j1.reduce-2`, `j1.render-2-4`, `j1.finalize`.
    public var id: String
    public var kind: TaskKind
    /// Tasks whose results this one needs.
    public var dependencies: [String]
    /// Level of detail (reduce, render).
    public var lod: Int?
    /// First view and view count (render).
    public var firstView: Int?
    public var viewCount: Int?

    public var pool: String { kind.pool }
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
        var tasks = [PlannedTask(id: "\(jobID).analyze", kind: .analyze, dependencies: [])]
        var renders: [String] = []
        for (lod, ratio) in spec.lodRatios.enumerated() {
            var source = "\(jobID).analyze"
            if ratio < 1 {
                source = "\(jobID).reduce-\(lod)"
                tasks.append(PlannedTask(id: source, kind: .reduce, dependencies: ["\(jobID).analyze"], lod: lod))
            }
            for first in stride(from: 0, to: spec.viewsPerLOD, by: spec.viewsPerTask) {
                let id = "\(jobID).render-\(lod)-\(first)"
                let count = min(spec.viewsPerTask, spec.viewsPerLOD - first)
                // Renders of a reduced level also need the analysis (the
                // original's bounds frame every level alike).
                let dependencies = source == "\(jobID).analyze" ? [source] : ["\(jobID).analyze", source]
                tasks.append(
                    PlannedTask(
                        id: id, kind: .render, dependencies: dependencies, lod: lod, firstView: first, viewCount: count)
                )
                renders.append(id)
            }
        }
        let reduces = tasks.filter { $0.kind == .reduce }.map(\.id)
        tasks.append(
            PlannedTask(
                id: "\(jobID).finalize", kind: .finalize, dependencies: ["\(jobID).analyze"] + reduces + renders))
        return tasks
    }
}
