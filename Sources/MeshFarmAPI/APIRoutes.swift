/// Every route of the submit service, the single source the router is
/// built from and the OpenAPI document (`docs/openapi.json`) is checked
/// against.
public struct APIRoute: Sendable, Hashable {
    public enum Method: String, Sendable, Hashable, CaseIterable {
        case get = "GET", post = "POST", put = "PUT"
    }

    public var method: Method
    /// Router pattern: `:name` captures one segment, `**` the rest.
    public var path: String

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
    public static let health = APIRoute(method: .get, path: "/healthz")
    public static let ready = APIRoute(method: .get, path: "/readyz")
    public static let metrics = APIRoute(method: .get, path: "/metrics")
    public static let dashboard = APIRoute(method: .get, path: "/")
    public static let upload = APIRoute(method: .put, path: "/v1/uploads")
    public static let createJob = APIRoute(method: .post, path: "/v1/jobs")
    public static let listJobs = APIRoute(method: .get, path: "/v1/jobs")
    public static let getJob = APIRoute(method: .get, path: "/v1/jobs/:id")
    public static let jobEvents = APIRoute(method: .get, path: "/v1/jobs/:id/events")
    public static let cancelJob = APIRoute(method: .post, path: "/v1/jobs/:id/cancel")
    public static let listJobArtifacts = APIRoute(method: .get, path: "/v1/jobs/:id/artifacts")
    public static let getJobArtifact = APIRoute(method: .get, path: "/v1/jobs/:id/artifacts/**")
    public static let getArtifact = APIRoute(method: .get, path: "/v1/artifacts/:sha256")
    public static let putArtifact = APIRoute(method: .put, path: "/v1/artifacts")
    public static let workers = APIRoute(method: .get, path: "/v1/workers")
    public static let queues = APIRoute(method: .get, path: "/v1/queues")

    public static let all: [APIRoute] = [
        health, ready, metrics, dashboard, upload, createJob, listJobs, getJob, jobEvents, cancelJob, listJobArtifacts,
        getJobArtifact, getArtifact, putArtifact, workers, queues,
    ]
}
