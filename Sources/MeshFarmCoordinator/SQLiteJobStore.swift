import Foundation
import GRDB
import MeshFarmArtifacts
import MeshFarmJobs

/// Jobs in SQLite through GRDB: WAL journal (readers never block the
/// coordinator's writes), versioned migrations, one JSON document per job
/// plus the columns the API filters on.
public final class SQLiteJobStore: JobStore {
    private let pool: DatabasePool
    private let encoder: JSONEncoder
    private let decoder: JSONDecoder

    /// Opens (creating and migrating) the database at `path`.
    public init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        do {
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            pool = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(pool)
        } catch {
            throw StorageError.io("cannot open job store \(path): \(error)")
        }
        // Dates as Foundation stores them (seconds since 2001 as a double):
        // a stored job reads back exactly equal.
        encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .deferredToDate
        decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .deferredToDate
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-jobs") { db in
            try db.create(table: "job") { t in
                t.primaryKey("id", .text)
                t.column("status", .text).notNull().indexed()
                t.column("createdAt", .double).notNull().indexed()
                t.column("updatedAt", .double).notNull()
                t.column("document", .blob).notNull()
            }
        }
        return migrator
    }

    public func insert(_ job: JobRecord) async throws {
        let document = try encoder.encode(job)
        try await write { db in
            try db.execute(
                sql: "INSERT INTO job (id, status, createdAt, updatedAt, document) VALUES (?, ?, ?, ?, ?)",
                arguments: [
                    job.id, job.status.rawValue, job.createdAt.timeIntervalSince1970, Date().timeIntervalSince1970,
                    document,
                ])
        }
    }

    public func save(_ job: JobRecord) async throws {
        let document = try encoder.encode(job)
        try await write { db in
            try db.execute(
                sql: "UPDATE job SET status = ?, updatedAt = ?, document = ? WHERE id = ?",
                arguments: [job.status.rawValue, Date().timeIntervalSince1970, document, job.id])
        }
    }

    public func job(_ id: String) async throws -> JobRecord? {
        try await read { db in
            try Data.fetchOne(db, sql: "SELECT document FROM job WHERE id = ?", arguments: [id])
        }.map { try decoder.decode(JobRecord.self, from: $0) }
    }

    public func jobs(status: JobStatus?, limit: Int) async throws -> [JobRecord] {
        let rows = try await read { db in
            if let status {
                return try Data.fetchAll(
                    db, sql: "SELECT document FROM job WHERE status = ? ORDER BY createdAt DESC LIMIT ?",
                    arguments: [status.rawValue, limit])
            }
            return try Data.fetchAll(
                db, sql: "SELECT document FROM job ORDER BY createdAt DESC LIMIT ?", arguments: [limit])
        }
        return try rows.map { try decoder.decode(JobRecord.self, from: $0) }
    }

    public func activeJobs() async throws -> [JobRecord] {
        let terminal = JobStatus.allCases.filter(\.isTerminal).map { "'\($0.rawValue)'" }.joined(separator: ",")
        let rows = try await read { db in
            try Data.fetchAll(db, sql: "SELECT document FROM job WHERE status NOT IN (\(terminal)) ORDER BY createdAt")
        }
        return try rows.map { try decoder.decode(JobRecord.self, from: $0) }
    }

    private func write(_ body: @escaping @Sendable (Database) throws -> Void) async throws {
        do { try await pool.write(body) } catch let error as StorageError { throw error } catch {
            throw StorageError.io("\(error)")
        }
    }

    private func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do { return try await pool.read(body) } catch { throw StorageError.io("\(error)") }
    }
}
