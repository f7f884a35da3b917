import Foundation

/// A task as people see it: in the API (`GET /v1/jobs/{id}`), in
/// `report.json` and on the dashboard.
public struct TaskView: Sendable, Equatable, Codable {
    public var id: String
    public var kind: String
    public var pool: String
    public var state: String
    /// Publications so far (the current attempt's number).
    public var attempts: Int
    public var worker: String?
    /// 0...1 while it runs, 1 once it succeeded.
    public var progress: Double?
    public var stage: String?
    public var error: String?
    public var queuedAt: Date?
    public var startedAt: Date?
    public var finishedAt: Date?

    public init(_ task: TaskRecord) {
        id = task.id.description
        kind = task.task.kind.rawValue
        pool = task.task.pool
        state = task.state.rawValue
        attempts = task.attempt
        worker = task.worker
        progress = task.progress
        stage = task.stage
        error = task.error
        queuedAt = task.queuedAt
        startedAt = task.startedAt
        finishedAt = task.finishedAt
    }
}
