import Foundation
import GRDB
import MeshFarmArtifacts
import MeshFarmJobs

/// Jobs in SQLite through GRDB: WAL journal (readers never block the
/// coordinator's writes), versioned migrations, a row per job (its own
/// fields as a JSON document, plus the columns the API filters on) and a
/// row per task (its record as a JSON document), so that an event about one
/// task rewrites that task's row, not the job.
public final class SQLiteJobStore: JobStore {
    private let pool: DatabasePool
    private let encoder: JSONEncoder
    private let decoder: JSONDecoder

    /// Opens (creating and migrating) the database at `path`.
    public init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        // Dates as Foundation stores them (seconds since 2001 as a double):
        // a stored job reads back exactly equal.
        encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .deferredToDate
        decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .deferredToDate
        do {
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            pool = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator(encoder: encoder, decoder: decoder).migrate(pool)
        } catch {
            throw StorageError.io("cannot open job store \(path): \(error)")
        }
    }

    /// Every layout the store has had, in order (tests migrate a database
    /// `upTo:` an old one to test the step after it).
    package static func migrator(encoder: JSONEncoder, decoder: JSONDecoder) -> DatabaseMigrator {
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
        // v1 kept each job as one document holding every task; from v2 the
        // job's document holds its own fields and each task has a row.
        migrator.registerMigration("v2-task-rows") { db in
            try db.create(table: "task") { t in
                t.column("jobID", .text).notNull().references("job", onDelete: .cascade)
                t.column("position", .integer).notNull()
                t.column("id", .text).notNull()
                t.column("state", .text).notNull()
                t.column("document", .blob).notNull()
                t.primaryKey(["jobID", "position"])
            }
            let rows = try Row.fetchAll(db, sql: "SELECT id, document FROM job")
            for row in rows {
                let job = try decoder.decode(JobRecord.self, from: row["document"] as Data)
                try Self.writeTasks(job, positions: Array(job.tasks.indices), db: db, encoder: encoder, insert: true)
                try db.execute(
                    sql: "UPDATE job SET document = ? WHERE id = ?",
                    arguments: [try encoder.encode(job.withoutTasks), job.id])
            }
        }
        // Idempotency keys of `POST /v1/jobs` (24 h; see IdempotencyRecord).
        migrator.registerMigration("v3-idempotency-keys") { db in
            try db.create(table: "idempotencyKey") { t in
                t.primaryKey("key", .text)
                t.column("requestSHA256", .text).notNull()
                t.column("jobID", .text).notNull()
                t.column("createdAt", .double).notNull().indexed()
            }
        }
        return migrator
    }

    public func insert(_ job: JobRecord, idempotency: IdempotencyRecord?) async throws {
        let header = try encoder.encode(job.withoutTasks)
        let encoder = self.encoder
        try await write { db in
            try db.execute(
                sql: "INSERT INTO job (id, status, createdAt, updatedAt, document) VALUES (?, ?, ?, ?, ?)",
                arguments: [
                    job.id, job.status.rawValue, job.createdAt.timeIntervalSince1970, Date().timeIntervalSince1970,
                    header,
                ])
            try Self.writeTasks(job, positions: Array(job.tasks.indices), db: db, encoder: encoder, insert: true)
            if let idempotency {
                let created = idempotency.createdAt.timeIntervalSince1970
                try db.execute(
                    sql: "DELETE FROM idempotencyKey WHERE createdAt < ?",
                    arguments: [created - IdempotencyRecord.lifetime])
                try db.execute(
                    sql: "INSERT INTO idempotencyKey (key, requestSHA256, jobID, createdAt) VALUES (?, ?, ?, ?)",
                    arguments: [idempotency.key, idempotency.requestSHA256, job.id, created])
            }
        }
    }

    public func idempotencyRecord(_ key: String, now: Date) async throws -> IdempotencyRecord? {
        try await read { db in
            try Row.fetchOne(
                db, sql: "SELECT requestSHA256, jobID, createdAt FROM idempotencyKey WHERE key = ? AND createdAt >= ?",
                arguments: [key, now.timeIntervalSince1970 - IdempotencyRecord.lifetime]
            ).map {
                IdempotencyRecord(
                    key: key, requestSHA256: $0["requestSHA256"], jobID: $0["jobID"],
                    createdAt: Date(timeIntervalSince1970: $0["createdAt"]))
            }
        }
    }

    public func save(_ job: JobRecord, since previous: JobRecord?) async throws {
        let changes = job.changes(since: previous)
        guard !changes.isEmpty else { return }
        let header = changes.header ? try encoder.encode(job.withoutTasks) : nil
        let encoder = self.encoder
        try await write { db in
            if let header {
                try db.execute(
                    sql: "UPDATE job SET status = ?, updatedAt = ?, document = ? WHERE id = ?",
                    arguments: [job.status.rawValue, Date().timeIntervalSince1970, header, job.id])
            }
            // A graph that changed (a split) is written whole: rows are replaced, and rows past its end go.
            let regraphed = previous == nil || previous?.tasks.count != job.tasks.count
            try Self.writeTasks(job, positions: changes.tasks, db: db, encoder: encoder, insert: regraphed)
            if regraphed {
                try db.execute(
                    sql: "DELETE FROM task WHERE jobID = ? AND position >= ?", arguments: [job.id, job.tasks.count])
            }
        }
    }

    /// Writes the task rows at `positions` (replacing them when `insert`).
    static func writeTasks(_ job: JobRecord, positions: [Int], db: Database, encoder: JSONEncoder, insert: Bool)
        throws
    {
        let sql =
            insert
            ? "INSERT OR REPLACE INTO task (jobID, position, id, state, document) VALUES (?, ?, ?, ?, ?)"
            : "UPDATE task SET id = ?, state = ?, document = ? WHERE jobID = ? AND position = ?"
        let statement = try db.cachedStatement(sql: sql)
        for position in positions {
            let task = job.tasks[position]
            let document = try encoder.encode(task)
            let arguments: StatementArguments =
                insert
                ? [job.id, position, task.id.description, task.state.rawValue, document]
                : [task.id.description, task.state.rawValue, document, job.id, position]
            try statement.execute(arguments: arguments)
        }
    }

    public func job(_ id: String) async throws -> JobRecord? {
        try await read { db in try Self.load(db, where: "id = ?", [id], limit: 1) }.first
    }

    public func jobs(status: JobStatus?, limit: Int) async throws -> [JobRecord] {
        try await read { db in
            if let status {
                return try Self.load(db, where: "status = ?", [status.rawValue], order: "createdAt DESC", limit: limit)
            }
            return try Self.load(db, where: "1", [], order: "createdAt DESC", limit: limit)
        }
    }

    public func activeJobs() async throws -> [JobRecord] {
        let terminal = JobStatus.allCases.filter(\.isTerminal).map { "'\($0.rawValue)'" }.joined(separator: ",")
        return try await read { db in
            try Self.load(db, where: "status NOT IN (\(terminal))", [], order: "createdAt", limit: nil)
        }
    }

    public func delete(_ id: String) async throws -> Bool {
        try await write { db in
            try db.execute(sql: "DELETE FROM idempotencyKey WHERE jobID = ?", arguments: [id])
            try db.execute(sql: "DELETE FROM task WHERE jobID = ?", arguments: [id])
            try db.execute(sql: "DELETE FROM job WHERE id = ?", arguments: [id])
            return db.changesCount > 0
        }
    }

    public func finishedJobs(before date: Date, limit: Int) async throws -> [String] {
        let terminal = JobStatus.allCases.filter(\.isTerminal).map { "'\($0.rawValue)'" }.joined(separator: ",")
        return try await read { db in
            try String.fetchAll(
                db,
                sql: "SELECT id FROM job WHERE status IN (\(terminal)) AND updatedAt < ? ORDER BY updatedAt LIMIT ?",
                arguments: [date.timeIntervalSince1970, limit])
        }
    }

    /// One read transaction (a snapshot: WAL lets the coordinator write
    /// meanwhile), a job and its tasks at a time.
    public func artifactReferences() async throws -> [String: Set<String>] {
        try await read { db in
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .deferredToDate
            var references: [String: Set<String>] = [:]
            let jobs = try Row.fetchCursor(db, sql: "SELECT document FROM job")
            while let row = try jobs.next() {
                var job = try decoder.decode(JobRecord.self, from: row["document"] as Data)
                job.tasks = try Data.fetchAll(
                    db, sql: "SELECT document FROM task WHERE jobID = ? ORDER BY position", arguments: [job.id]
                ).map { try decoder.decode(TaskRecord.self, from: $0) }
                references[job.owner ?? "", default: []].formUnion(job.artifacts)
            }
            return references
        }
    }

    /// Jobs matching a condition, with their tasks in plan order.
    static func load(
        _ db: Database, where condition: String, _ arguments: StatementArguments, order: String = "createdAt",
        limit: Int?
    ) throws -> [JobRecord] {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .deferredToDate
        let suffix = limit.map { " LIMIT \($0)" } ?? ""
        let rows = try Row.fetchAll(
            db, sql: "SELECT document FROM job WHERE \(condition) ORDER BY \(order)\(suffix)", arguments: arguments)
        return try rows.map { row in
            var job = try decoder.decode(JobRecord.self, from: row["document"] as Data)
            job.tasks = try Data.fetchAll(
                db, sql: "SELECT document FROM task WHERE jobID = ? ORDER BY position", arguments: [job.id]
            ).map { try decoder.decode(TaskRecord.self, from: $0) }
            return job
        }
    }

    @discardableResult
    private func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do { return try await pool.write(body) } catch let error as StorageError { throw error } catch {
            throw StorageError.io("\(error)")
        }
    }

    private func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do { return try await pool.read(body) } catch { throw StorageError.io("\(error)") }
    }
}
