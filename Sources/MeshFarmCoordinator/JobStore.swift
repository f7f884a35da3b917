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
    /// Adds a new job and, when given, the idempotency key it was created
    /// with, in one transaction; throws if the id or the key exists.
    /// Keys older than ``IdempotencyRecord/lifetime`` may be forgotten.
    func insert(_ job: JobRecord, idempotency: IdempotencyRecord?) async throws
    /// The job created with `key` in the last ``IdempotencyRecord/lifetime``.
    func idempotencyRecord(_ key: String, now: Date) async throws -> IdempotencyRecord?
    /// Stores `job`, writing only what differs from `previous`, the version
    /// this store last wrote (nil: write everything), in one transaction.
    func save(_ job: JobRecord, since previous: JobRecord?) async throws
    func job(_ id: String) async throws -> JobRecord?
    /// Most recent first, optionally only one status.
    func jobs(status: JobStatus?, limit: Int) async throws -> [JobRecord]
    /// Jobs not yet finished: what a restarted coordinator resumes.
    func activeJobs() async throws -> [JobRecord]
    /// Removes a job, its tasks and its idempotency key; false when absent.
    func delete(_ id: String) async throws -> Bool
    /// Finished jobs last changed before `date` (so finished before it),
    /// oldest first: what retention deletes.
    func finishedJobs(before date: Date, limit: Int) async throws -> [String]
    /// The artifacts every job names (``JobRecord/artifacts``), per owner
    /// ("" for jobs without one), read in one consistent snapshot: the
    /// storage collector's mark.
    func artifactReferences() async throws -> [String: Set<String>]
}

extension JobStore {
    /// Adds a new job created without an idempotency key.
    public func insert(_ job: JobRecord) async throws { try await insert(job, idempotency: nil) }
}

/// A client's `Idempotency-Key` for creating a job: the job it created and
/// the fingerprint (SHA-256) of the request it came with.
public struct IdempotencyRecord: Sendable, Equatable {
    public var key: String
    public var requestSHA256: String
    public var jobID: String
    public var createdAt: Date

    public init(key: String, requestSHA256: String, jobID: String, createdAt: Date) {
        self.key = key
        self.requestSHA256 = requestSHA256
        self.jobID = jobID
        self.createdAt = createdAt
    }

    /// How long a key is remembered: 24 hours.
    public static let lifetime: Double = 24 * 3600

    /// A key clients may send: 1 to 255 visible ASCII characters.
    public static func isValid(_ key: String) -> Bool {
        !key.isEmpty && key.utf8.count <= 255 && key.utf8.allSatisfy { (0x21...0x7e).contains($0) }
    }

    func isExpired(now: Date) -> Bool { now.timeIntervalSince(createdAt) > Self.lifetime }
}

/// Jobs in a dictionary.
public actor InMemoryJobStore: JobStore {
    private var records: [String: JobRecord] = [:]
    private var keys: [String: IdempotencyRecord] = [:]

    public init() {}

    public func insert(_ job: JobRecord, idempotency: IdempotencyRecord?) throws {
        guard records[job.id] == nil else { throw StorageError.io("job \(job.id) exists") }
        if let idempotency {
            keys = keys.filter { !$0.value.isExpired(now: idempotency.createdAt) }
            guard keys[idempotency.key] == nil else { throw StorageError.io("key \(idempotency.key) exists") }
            keys[idempotency.key] = idempotency
        }
        records[job.id] = job
    }

    public func idempotencyRecord(_ key: String, now: Date) -> IdempotencyRecord? {
        keys[key].flatMap { $0.isExpired(now: now) ? nil : $0 }
    }

    public func save(_ job: JobRecord, since previous: JobRecord?) { records[job.id] = job }

    public func job(_ id: String) -> JobRecord? { records[id] }

    public func jobs(status: JobStatus?, limit: Int) -> [JobRecord] {
        Array(
            records.values.filter { status == nil || $0.status == status }.sorted { $0.createdAt > $1.createdAt }
                .prefix(limit))
    }

    public func activeJobs() -> [JobRecord] { records.values.filter { !$0.status.isTerminal } }

    public func delete(_ id: String) -> Bool {
        keys = keys.filter { $0.value.jobID != id }
        return records.removeValue(forKey: id) != nil
    }

    public func finishedJobs(before date: Date, limit: Int) -> [String] {
        Array(
            records.values.filter { $0.status.isTerminal && ($0.finishedAt ?? $0.createdAt) < date }
                .sorted { ($0.finishedAt ?? $0.createdAt) < ($1.finishedAt ?? $1.createdAt) }.prefix(limit).map(\.id))
    }

    public func artifactReferences() -> [String: Set<String>] {
        records.values.reduce(into: [:]) { $0[$1.owner ?? "", default: []].formUnion($1.artifacts) }
    }
}
