import MeshFarmAuth

/// Every route of the submit service, the single source the router is
/// built from and the OpenAPI document (`docs/openapi.json`) is checked
/// against, with the roles that may call it.
public struct APIRoute: Sendable, Hashable {
    public enum Method: String, Sendable, Hashable, CaseIterable {
        case get = "GET", post = "POST", put = "PUT", delete = "DELETE", patch = "PATCH"
    }

    public var method: Method
    /// Router pattern: `:name` captures one segment, `**` the rest.
    public var path: String
    /// Roles that may call it; nil: anyone, without a token (health, the
    /// dashboard's page, signing in). Job routes also check the job's
    /// owner (``Principal/mayRead(jobOwnedBy:)``).
    public var roles: Set<Role>?

    public init(method: Method, path: String, roles: Set<Role>?) {
        self.method = method
        self.path = path
        self.roles = roles
    }

    /// Whether a request path is one this route's pattern names.
    public func matches(path requested: String) -> Bool {
        let pattern = path.split(separator: "/", omittingEmptySubsequences: true)
        let parts = requested.split(separator: "/", omittingEmptySubsequences: true)
        for (i, segment) in pattern.enumerated() {
            if segment == "**" { return parts.count > i }
            guard i < parts.count, segment.hasPrefix(":") || segment == parts[i] else { return false }
        }
        return pattern.count == parts.count
    }

    /// The path in OpenAPI form: `{name}` for captures, `{path}` for `**`.
    public var openAPIPath: String {
        path.split(separator: "/", omittingEmptySubsequences: false).map { segment in
            if segment.hasPrefix(":") { return "{\(segment.dropFirst())}" }
            if segment == "**" { return "{path}" }
            return String(segment)
        }.joined(separator: "/")
    }
}

public enum APIRoutes {
    static let submitting: Set<Role> = [.submitter, .admin]
    static let reading: Set<Role> = [.submitter, .viewer, .admin]
    static let workers: Set<Role> = [.worker, .admin]

    public static let health = APIRoute(method: .get, path: "/healthz", roles: nil)
    public static let ready = APIRoute(method: .get, path: "/readyz", roles: nil)
    /// Served on the workers' own port; the submit service's is behind no
    /// token either (counts and durations, no customer data).
    public static let metrics = APIRoute(method: .get, path: "/metrics", roles: nil)
    /// The page only; everything it shows comes from token- or
    /// session-checked routes.
    public static let dashboard = APIRoute(method: .get, path: "/", roles: nil)
    /// Signing in: a token in the body buys a session cookie (browsers
    /// cannot put a bearer token on `<img>` or `EventSource` requests).
    public static let signIn = APIRoute(method: .post, path: "/v1/session", roles: nil)
    public static let signOut = APIRoute(method: .delete, path: "/v1/session", roles: nil)
    public static let whoAmI = APIRoute(
        method: .get, path: "/v1/session", roles: [.submitter, .viewer, .worker, .admin])
    public static let upload = APIRoute(method: .put, path: "/v1/uploads", roles: submitting)
    public static let createJob = APIRoute(method: .post, path: "/v1/jobs", roles: submitting)
    public static let listJobs = APIRoute(method: .get, path: "/v1/jobs", roles: reading)
    public static let getJob = APIRoute(method: .get, path: "/v1/jobs/:id", roles: reading)
    /// Deletes a finished job (its owner, or an admin).
    public static let deleteJob = APIRoute(method: .delete, path: "/v1/jobs/:id", roles: submitting)
    public static let jobEvents = APIRoute(method: .get, path: "/v1/jobs/:id/events", roles: reading)
    public static let cancelJob = APIRoute(method: .post, path: "/v1/jobs/:id/cancel", roles: submitting)
    /// Runs a failed or cancelled job's failed and cancelled tasks again.
    public static let retryJob = APIRoute(method: .post, path: "/v1/jobs/:id/retry", roles: submitting)
    /// Changes what may change of a job: its priority.
    public static let updateJob = APIRoute(method: .patch, path: "/v1/jobs/:id", roles: submitting)
    public static let listJobArtifacts = APIRoute(method: .get, path: "/v1/jobs/:id/artifacts", roles: reading)
    /// One task's log: the coordinator's notes and its workers' lines.
    public static let taskLog = APIRoute(method: .get, path: "/v1/jobs/:id/tasks/:task/log", roles: reading)
    /// Every file of a job's results in one zip archive.
    public static let jobArchive = APIRoute(method: .get, path: "/v1/jobs/:id/archive", roles: reading)
    public static let getJobArtifact = APIRoute(method: .get, path: "/v1/jobs/:id/artifacts/**", roles: reading)
    /// By hash: any customer's bytes, so only for workers (and admins).
    public static let getArtifact = APIRoute(method: .get, path: "/v1/artifacts/:sha256", roles: workers)
    public static let putArtifact = APIRoute(method: .put, path: "/v1/artifacts", roles: workers)
    public static let listWorkers = APIRoute(method: .get, path: "/v1/workers", roles: reading)
    public static let queues = APIRoute(method: .get, path: "/v1/queues", roles: reading)
    /// The farm's changes as server-sent events: jobs, workers, every few seconds the pools.
    public static let farmEvents = APIRoute(method: .get, path: "/v1/events", roles: reading)
    /// Drains a worker (it finishes what it runs, takes no more), or lets it take tasks again (admins).
    public static let drainWorker = APIRoute(method: .post, path: "/v1/workers/:name/drain", roles: [.admin])
    public static let resumeWorker = APIRoute(method: .post, path: "/v1/workers/:name/resume", roles: [.admin])
    /// Disk, artifact store, last collection, usage per principal.
    public static let storage = APIRoute(method: .get, path: "/v1/storage", roles: reading)
    /// Runs retention and the collector now (admins).
    public static let collectStorage = APIRoute(method: .post, path: "/v1/storage/collect", roles: [.admin])

    public static let all: [APIRoute] = [
        health, ready, metrics, dashboard, signIn, signOut, whoAmI, upload, createJob, listJobs, getJob, deleteJob,
        jobEvents, cancelJob, retryJob, updateJob, jobArchive, taskLog, listJobArtifacts, getJobArtifact, getArtifact,
        putArtifact,
        listWorkers, drainWorker, resumeWorker, queues, farmEvents, storage,
        collectStorage,
    ]
}
