import Foundation
import MeshFarmArtifacts
import MeshFarmJobs

/// Persistence of jobs: the job's own fields and one record per task, so
/// that a task's event writes that task and not the whole job.
///
/// Two implementations: ``SQLiteJobStore`` (GRDB, WAL; the default) and
/// ``InMemoryJobStore`` (tests, `meshfarm run`). Storage errors surface as
/// ``StorageError``; the database library never leaks upward.
public protocol JobStore: Sendable {
    /// Adds a new job; throws if the id exists.
    func insert(_ job: JobRecord) async throws
    /// Stores `job`, writing only what differs from `previous`, the version
    /// this store last wrote (nil: write everything), in one transaction.
    func save(_ job: JobRecord, since previous: JobRecord?) async throws
    func job(_ id: String) async throws -> JobRecord?
    /// Most recent first, optionally only one status.
    func jobs(status: JobStatus?, limit: Int) async throws -> [JobRecord]
    /// Jobs not yet finished: what a restarted coordinator resumes.
    func activeJobs() async throws -> [JobRecord]
}

/// Jobs in a dictionary.
public actor InMemoryJobStore: JobStore {
    private var records: [String: JobRecord] = [:]

    public init() {}

    public func insert(_ job: JobRecord) throws {
        guard records[job.id] == nil else { throw StorageError.io("job \(job.id) exists") }
        records[job.id] = job
    }

    public func save(_ job: JobRecord, since previous: JobRecord?) { records[job.id] = job }

    public func job(_ id: String) -> JobRecord? { records[id] }

    public func jobs(status: JobStatus?, limit: Int) -> [JobRecord] {
        Array(
            records.values.filter { status == nil || $0.status == status }.sorted { $0.createdAt > $1.createdAt }
                .prefix(limit))
    }

    public func activeJobs() -> [JobRecord] { records.values.filter { !$0.status.isTerminal } }
}
