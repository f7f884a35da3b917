import Foundation
import MeshFarmArtifacts
import MeshFarmAuth
import MeshFarmJobs
import MeshFarmMessaging

/// `PUT /v1/uploads` and `PUT /v1/artifacts` responses.
public struct StoredBlob: Sendable, Equatable, Codable {
    public var sha256: String
    public var bytes: Int
    public var name: String?

    public init(sha256: String, bytes: Int, name: String? = nil) {
        self.sha256 = sha256
        self.bytes = bytes
        self.name = name
    }
}

/// `GET /v1/jobs/{id}/tasks/{task}/log`: a task's log, oldest first.
public struct TaskLogView: Sendable, Equatable, Codable {
    public var job: String
    public var task: String
    public var lines: [TaskLogLine]

    public init(job: String, task: String, lines: [TaskLogLine]) {
        self.job = job
        self.task = task
        self.lines = lines
    }
}

/// `PATCH /v1/jobs/{id}` body: what may change of a job.
public struct UpdateJobRequest: Sendable, Equatable, Codable {
    /// 0...9; higher goes first among waiting tasks.
    public var priority: Int?

    public init(priority: Int?) { self.priority = priority }
}

/// `POST /v1/jobs` body.
public struct CreateJobRequest: Sendable, Equatable, Codable {
    /// SHA-256 of an upload.
    public var model: String
    /// The model's file name, for reports.
    public var name: String
    /// Missing fields take their defaults.
    public var spec: JobSpec?
    /// An http or https URL that receives a signed ``JobNotice`` when the
    /// job ends.
    public var callback: String?

    public init(model: String, name: String, spec: JobSpec? = nil, callback: String? = nil) {
        self.model = model
        self.name = name
        self.spec = spec
        self.callback = callback
    }
}

/// What a job's `callback` receives when the job ends: `POST` with this
/// JSON body and the headers `MeshFarm-Timestamp` (seconds since 1970),
/// `MeshFarm-Delivery` (an id, the same on every try of one notice) and
/// `MeshFarm-Signature: sha256=<hex>`, the HMAC-SHA256 of
/// `<timestamp>.<body>` under the farm's callback secret. Tried again with
/// backoff until the receiver answers 2xx.
public struct JobNotice: Sendable, Equatable, Codable {
    public var job: String
    public var name: String
    public var status: String
    public var error: String?
    public var owner: String?
    public var finishedAt: Date?
    /// The report and the results archive (absolute with the service's
    /// `--public-url`, else paths).
    public var report: String
    public var archive: String

    public init(job: JobRecord, base: String) {
        self.job = job.id
        name = job.fileName
        status = job.status.rawValue
        error = job.error
        owner = job.owner
        finishedAt = job.finishedAt
        report = "\(base)/v1/jobs/\(job.id)/artifacts/report.json"
        archive = "\(base)/v1/jobs/\(job.id)/archive"
    }

    /// Whether a callback's host names this machine or a private network
    /// (loopback, RFC 1918, link-local, CGNAT, unique-local IPv6, or a
    /// `localhost`/`.local`/`.internal` name): a submitter must not make
    /// the service call into its own network. Names are judged as written;
    /// one that resolves to a private address is not caught here.
    public static func isPrivate(host: String) -> Bool {
        let host = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if host == "localhost" || [".localhost", ".local", ".internal"].contains(where: host.hasSuffix) { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false).map { UInt8($0) }
        if octets.count == 4, octets.allSatisfy({ $0 != nil }) {
            let o = octets.map { Int($0!) }
            return o[0] == 0 || o[0] == 10 || o[0] == 127 || (o[0] == 169 && o[1] == 254)
                || (o[0] == 172 && (16...31).contains(o[1])) || (o[0] == 192 && o[1] == 168)
                || (o[0] == 100 && (64...127).contains(o[1]))
        }
        if host.contains(":") {
            return host == "::1" || host == "::" || host.hasPrefix("fc") || host.hasPrefix("fd")
                || host.hasPrefix("fe8")
                || host.hasPrefix("fe9") || host.hasPrefix("fea") || host.hasPrefix("feb") || host.hasPrefix("::ffff:")
        }
        return false
    }

    /// The signature header's value for a body sent at `timestamp`.
    public static func signature(secret: String, timestamp: Int, body: Data) -> String {
        "sha256=" + SHA256Hasher.hmac(key: Data(secret.utf8), message: Data("\(timestamp).".utf8) + body)
    }
}

/// Tasks finished / total in one pool.
public struct PoolProgress: Sendable, Equatable, Codable {
    public var done: Int
    public var total: Int

    public init(done: Int, total: Int) {
        self.done = done
        self.total = total
    }
}

/// `GET /v1/jobs/{id}`: status, each task's state, attempts, worker,
/// progress, errors.
public struct JobView: Sendable, Equatable, Codable {
    public var id: String
    public var status: String
    public var stage: String
    public var error: String?
    public var model: String
    public var name: String
    public var spec: JobSpec
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    public var progress: [String: PoolProgress]
    public var tasks: [TaskView]
    /// Who submitted it (the token's name); absent without authentication.
    public var owner: String?

    public init(_ job: JobRecord) {
        id = job.id
        owner = job.owner
        status = job.status.rawValue
        stage = job.stage
        error = job.error
        model = job.model
        name = job.fileName
        spec = job.spec
        createdAt = job.createdAt
        startedAt = job.startedAt
        finishedAt = job.finishedAt
        progress = Dictionary(
            uniqueKeysWithValues: ["cpu", "gpu"].map { pool in
                let p = job.progress(pool: pool)
                return (pool, PoolProgress(done: p.done, total: p.total))
            })
        tasks = job.tasks.map(TaskView.init)
    }

    public var isFinished: Bool { JobStatus(rawValue: status)?.isTerminal ?? false }
}

/// `GET /v1/jobs`.
public struct JobList: Sendable, Equatable, Codable {
    public var jobs: [JobSummary]

    public init(jobs: [JobSummary]) { self.jobs = jobs }
}

public struct JobSummary: Sendable, Equatable, Codable {
    public var id: String
    public var name: String
    public var status: String
    public var stage: String
    public var createdAt: Date
    public var finishedAt: Date?
    public var error: String?
    public var owner: String?
    public var priority: Int
    /// Tasks finished (succeeded, failed or cancelled), and all of them.
    public var tasksDone: Int
    public var tasksTotal: Int
    /// The model's triangles, once analyzed.
    public var triangles: Int?
    /// The first view of the first level, once rendered (a URL under
    /// `/v1/jobs/{id}/artifacts/`).
    public var thumbnail: String?

    public init(_ job: JobRecord) {
        id = job.id
        owner = job.owner
        name = job.fileName
        status = job.status.rawValue
        stage = job.stage
        createdAt = job.createdAt
        finishedAt = job.finishedAt
        error = job.error
        priority = job.spec.priority
        tasksDone = job.tasks.filter { $0.state.isTerminal }.count
        tasksTotal = job.tasks.count
        triangles = job.analysisResult?.triangles
        thumbnail = job.renderedViews().first { $0.lod == 0 && $0.view.index == 0 }.map { _ in
            "/v1/jobs/\(job.id)/artifacts/views/lod0-view0.png"
        }
    }
}

/// `GET /v1/jobs/{id}/artifacts`.
public struct ArtifactList: Sendable, Equatable, Codable {
    public struct File: Sendable, Equatable, Codable {
        /// Path in the output layout (`views/lod0-view3.png`).
        public var path: String
        /// Null for `report.json`, which is generated on request.
        public var sha256: String?
        /// Download URL path.
        public var url: String

        public init(path: String, sha256: String?, url: String) {
            self.path = path
            self.sha256 = sha256
            self.url = url
        }
    }

    public var files: [File]

    public init(files: [File]) { self.files = files }
}

/// `GET /v1/queues`: the broker's queues and the coordinator's view of
/// each pool.
public struct QueuesView: Sendable, Equatable, Codable {
    /// Ready messages per queue name (absent when it could not be read).
    public var queues: [String: Int]
    /// Per pool, tasks of unfinished jobs: `queued` (published, waiting for
    /// a worker), `running`, and `ready` (held by the coordinator until the
    /// pool's queue has room; released by job priority).
    public var pools: [String: Dispatcher.PoolLoad]

    public init(queues: [String: Int], pools: [String: Dispatcher.PoolLoad]) {
        self.queues = queues
        self.pools = pools
    }
}

/// A worker as listed by `GET /v1/workers`.
public struct WorkerView: Sendable, Equatable, Codable {
    public var name: String
    public var pool: String
    public var lastSeen: Date
    public var currentTask: String?
    public var tasksFinished: Int
    /// Of those, the ones that failed.
    public var tasksFailed: Int
    /// `idle`, `busy`, `draining` (an operator drained it: it finishes
    /// what it runs and takes no more) or `gone` (silent for a minute).
    public var state: String
    /// The current task's last reported progress (0...1) and stage.
    public var progress: Double?
    public var stage: String?

    public init(
        name: String, pool: String, lastSeen: Date, currentTask: String?, tasksFinished: Int, tasksFailed: Int = 0,
        state: String, progress: Double? = nil, stage: String? = nil
    ) {
        self.name = name
        self.pool = pool
        self.lastSeen = lastSeen
        self.currentTask = currentTask
        self.tasksFinished = tasksFinished
        self.tasksFailed = tasksFailed
        self.state = state
        self.progress = progress
        self.stage = stage
    }
}

/// Every error response: `{"error": {"code": ..., "message": ...}}`.
public struct ErrorBody: Sendable, Equatable, Codable {
    public struct Detail: Sendable, Equatable, Codable {
        public var code: String
        public var message: String
    }

    public var error: Detail

    public init(code: String, message: String) { error = Detail(code: code, message: message) }
}

/// JSON coding of the API: times in ISO-8601 with milliseconds (``TimeStamps``), sorted keys.
public enum APICoding {
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = TimeStamps.encoding
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = TimeStamps.decoding
        return decoder
    }
}

/// `POST /v1/session`: a token for a dashboard session cookie.
public struct SignInRequest: Sendable, Equatable, Codable {
    public var token: String

    public init(token: String) { self.token = token }
}

/// `GET|POST /v1/session`: who the caller is.
public struct SessionView: Sendable, Equatable, Codable {
    public var name: String
    public var role: String

    public init(_ principal: Principal) {
        name = principal.name
        role = principal.role.rawValue
    }
}

/// `GET /v1/storage`: the disk, the artifact store, the last collection
/// and what each principal stores (a submitter sees only itself).
public struct StorageView: Sendable, Equatable, Codable {
    /// `accepting`, `refusing-new-work` (under `minimumFreeBytes`: uploads
    /// and jobs get 507) or `full` (under `floorBytes`: results wait too).
    public var state: String
    public var freeBytes: Int64
    public var minimumFreeBytes: Int64
    public var floorBytes: Int64
    /// Finished jobs older than this are deleted (nil: kept).
    public var retentionDays: Double?
    /// Artifact files and their bytes at the last collection.
    public var artifactFiles: Int
    public var artifactBytes: Int64
    public var lastCollection: CollectionView?
    public var principals: [PrincipalUsage]

    public init(
        state: String, freeBytes: Int64, minimumFreeBytes: Int64, floorBytes: Int64, retentionDays: Double?,
        artifactFiles: Int, artifactBytes: Int64, lastCollection: CollectionView?, principals: [PrincipalUsage]
    ) {
        self.state = state
        self.freeBytes = freeBytes
        self.minimumFreeBytes = minimumFreeBytes
        self.floorBytes = floorBytes
        self.retentionDays = retentionDays
        self.artifactFiles = artifactFiles
        self.artifactBytes = artifactBytes
        self.lastCollection = lastCollection
        self.principals = principals
    }
}

/// One run of the storage collector (`POST /v1/storage/collect` returns
/// it): retention, then mark and sweep.
public struct CollectionView: Sendable, Equatable, Codable {
    public var at: Date
    public var seconds: Double
    /// Finished jobs deleted for being older than the retention period.
    public var jobsDeleted: Int
    /// Artifacts some job names, and their bytes.
    public var artifactsKept: Int
    public var bytesKept: Int64
    /// Artifacts no job names that were removed, and the bytes freed
    /// (partial uploads included).
    public var artifactsRemoved: Int
    public var bytesFreed: Int64
    /// Artifacts no job names, spared because they were used recently.
    public var artifactsSpared: Int

    public init(
        at: Date, seconds: Double, jobsDeleted: Int, artifactsKept: Int, bytesKept: Int64, artifactsRemoved: Int,
        bytesFreed: Int64, artifactsSpared: Int
    ) {
        self.at = at
        self.seconds = seconds
        self.jobsDeleted = jobsDeleted
        self.artifactsKept = artifactsKept
        self.bytesKept = bytesKept
        self.artifactsRemoved = artifactsRemoved
        self.bytesFreed = bytesFreed
        self.artifactsSpared = artifactsSpared
    }
}

/// What one principal stores and may store.
public struct PrincipalUsage: Sendable, Equatable, Codable {
    public var name: String
    /// Bytes of the distinct artifacts its jobs name, plus uploads not yet
    /// attached to a job, as of the last collection and the uploads since.
    public var storedBytes: Int64
    public var maxStoredBytes: Int64?
    public var maxUnfinishedJobs: Int?

    public init(name: String, storedBytes: Int64, maxStoredBytes: Int64?, maxUnfinishedJobs: Int?) {
        self.name = name
        self.storedBytes = storedBytes
        self.maxStoredBytes = maxStoredBytes
        self.maxUnfinishedJobs = maxUnfinishedJobs
    }
}
