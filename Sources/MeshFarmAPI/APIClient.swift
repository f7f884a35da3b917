import Foundation
import MeshFarmJobs
import MeshFarmMessaging

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// An API failure: the service's JSON error, or a transport problem.
public struct APIError: Error, Sendable, CustomStringConvertible {
    /// HTTP status; 0 when the service could not be reached.
    public var status: Int
    public var code: String
    public var message: String

    public init(status: Int, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public var description: String {
        status == 0 ? "cannot reach the service: \(message)" : "\(message) (HTTP \(status), \(code))"
    }
}

/// The submit service's HTTP API, for the `meshfarm` client and workers.
///
/// Built on Foundation's `URLSession` (libcurl on Linux): uploads stream
/// from files and downloads land in files, so model and mesh sizes never
/// pass through memory.
public struct APIClient: Sendable {
    public let baseURL: URL
    let session: URLSession
    /// Sent as `Authorization: Bearer` on every request.
    let token: String?

    public init(baseURL: URL, timeout: Double = 300, token: String? = nil) {
        self.baseURL = baseURL
        self.token = token.flatMap { $0.isEmpty ? nil : $0 }
        let configuration = URLSessionConfiguration.default
        configuration.timeoutIntervalForRequest = timeout
        configuration.timeoutIntervalForResource = 24 * 3600
        session = URLSession(configuration: configuration)
    }

    /// A request for `url` carrying the token.
    func authorized(_ url: URL) -> URLRequest {
        var request = URLRequest(url: url)
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        return request
    }

    func url(_ path: String, query: [String: String] = [:]) -> URL {
        var components = URLComponents(url: baseURL.appendingPathComponent(path), resolvingAgainstBaseURL: false)!
        if !query.isEmpty {
            components.queryItems = query.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) }
        }
        return components.url!
    }

    // MARK: - Requests

    /// Uploads a model file (streamed); returns its content address.
    public func upload(file: URL) async throws -> StoredBlob {
        var request = authorized(url("/v1/uploads", query: ["name": file.lastPathComponent]))
        request.httpMethod = "PUT"
        request.setValue("application/octet-stream", forHTTPHeaderField: "Content-Type")
        return try decode(StoredBlob.self, try await send { try await session.upload(for: request, fromFile: file) })
    }

    /// Stores a blob (workers' outputs).
    public func putArtifact(file: URL) async throws -> StoredBlob {
        var request = authorized(url("/v1/artifacts"))
        request.httpMethod = "PUT"
        request.setValue("application/octet-stream", forHTTPHeaderField: "Content-Type")
        return try decode(StoredBlob.self, try await send { try await session.upload(for: request, fromFile: file) })
    }

    /// Stores bytes.
    public func putArtifact(data: Data) async throws -> StoredBlob {
        var request = authorized(url("/v1/artifacts"))
        request.httpMethod = "PUT"
        request.setValue("application/octet-stream", forHTTPHeaderField: "Content-Type")
        return try decode(StoredBlob.self, try await send { try await session.upload(for: request, from: data) })
    }

    /// Downloads a blob into `destination`.
    public func downloadArtifact(_ sha256: String, to destination: URL) async throws {
        try await download(url("/v1/artifacts/\(sha256)"), to: destination)
    }

    /// Downloads a file of a job's output layout into `destination`.
    public func downloadJobFile(_ jobID: String, path: String, to destination: URL) async throws {
        try await download(url("/v1/jobs/\(jobID)/artifacts/\(path)"), to: destination)
    }

    /// A task's log (`task`: its full id, or the part after the job's id).
    public func taskLog(_ jobID: String, task: String) async throws -> TaskLogView {
        try decode(
            TaskLogView.self,
            try await send { try await session.data(for: authorized(url("/v1/jobs/\(jobID)/tasks/\(task)/log"))) })
    }

    /// Downloads the job's results as one zip archive.
    public func downloadJobArchive(_ jobID: String, to destination: URL) async throws {
        try await download(url("/v1/jobs/\(jobID)/archive"), to: destination)
    }

    /// Creates a job. With an `idempotencyKey`, sending the same request
    /// again (for 24 hours) gives the same job, not a second one.
    public func createJob(_ body: CreateJobRequest, idempotencyKey: String? = nil) async throws -> JobView {
        var request = authorized(url("/v1/jobs"))
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let idempotencyKey { request.setValue(idempotencyKey, forHTTPHeaderField: "Idempotency-Key") }
        request.httpBody = try APICoding.encoder().encode(body)
        return try decode(JobView.self, try await send { try await session.data(for: request) })
    }

    /// Creates a job under a fresh idempotency key, sending the request
    /// again with the same key while the service cannot be reached or
    /// answers 503 (not ready to take jobs; up to `attempts` times, backing
    /// off 0.5 s doubling to 8 s): a request whose response was lost never
    /// creates a second job.
    public func createJobRetrying(_ body: CreateJobRequest, attempts: Int = 6) async throws -> JobView {
        let key = "meshfarm-\(UUID().uuidString)"
        let backoff = Backoff(initial: 0.5, maximum: 8, jitter: true)
        var attempt = 1
        while true {
            do {
                return try await createJob(body, idempotencyKey: key)
            } catch let error as APIError where (error.status == 0 || error.status == 503) && attempt < attempts {
                try await Task.sleep(for: .seconds(backoff.delay(retry: attempt)))
                attempt += 1
            }
        }
    }

    public func job(_ id: String) async throws -> JobView {
        try decode(JobView.self, try await send { try await session.data(for: authorized(url("/v1/jobs/\(id)"))) })
    }

    public func cancel(_ id: String) async throws -> JobView {
        var request = authorized(url("/v1/jobs/\(id)/cancel"))
        request.httpMethod = "POST"
        return try decode(JobView.self, try await send { try await session.data(for: request) })
    }

    /// Runs a failed or cancelled job's failed and cancelled tasks again.
    public func retry(_ id: String) async throws -> JobView {
        var request = authorized(url("/v1/jobs/\(id)/retry"))
        request.httpMethod = "POST"
        return try decode(JobView.self, try await send { try await session.data(for: request) })
    }

    /// Sets a job's priority (0...9).
    public func setPriority(_ id: String, _ priority: Int) async throws -> JobView {
        var request = authorized(url("/v1/jobs/\(id)"))
        request.httpMethod = "PATCH"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = try APICoding.encoder().encode(UpdateJobRequest(priority: priority))
        return try decode(JobView.self, try await send { try await session.data(for: request) })
    }

    /// The newest jobs (a submitter's own), optionally of one status.
    public func jobs(status: String? = nil, limit: Int = 50) async throws -> JobList {
        var query = ["limit": String(limit)]
        if let status { query["status"] = status }
        return try decode(
            JobList.self, try await send { try await session.data(for: authorized(url("/v1/jobs", query: query))) })
    }

    /// Workers seen in the last ten minutes.
    public func workers() async throws -> [WorkerView] {
        try decode([WorkerView].self, try await send { try await session.data(for: authorized(url("/v1/workers"))) })
    }

    /// Drains a worker (true: it finishes what it runs and takes no more)
    /// or lets it take tasks again (false). Admins only.
    public func setDraining(_ worker: String, _ draining: Bool) async throws -> WorkerView {
        var request = authorized(url("/v1/workers/\(worker)/\(draining ? "drain" : "resume")"))
        request.httpMethod = "POST"
        return try decode(WorkerView.self, try await send { try await session.data(for: request) })
    }

    /// Deletes a finished job.
    public func delete(_ id: String) async throws {
        var request = authorized(url("/v1/jobs/\(id)"))
        request.httpMethod = "DELETE"
        _ = try await send { try await session.data(for: request) }
    }

    public func artifacts(_ id: String) async throws -> ArtifactList {
        try decode(
            ArtifactList.self,
            try await send { try await session.data(for: authorized(url("/v1/jobs/\(id)/artifacts"))) }
        )
    }

    // MARK: - Plumbing

    private func download(_ source: URL, to destination: URL) async throws {
        let (temporary, response) = try await transportErrors {
            try await session.download(for: authorized(source))
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else {
            let body = (try? Data(contentsOf: temporary)) ?? Data()
            try? FileManager.default.removeItem(at: temporary)
            throw Self.error(status: status, body: body)
        }
        try? FileManager.default.removeItem(at: destination)
        try FileManager.default.createDirectory(
            at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
        do { try FileManager.default.moveItem(at: temporary, to: destination) } catch {
            try FileManager.default.copyItem(at: temporary, to: destination)
            try? FileManager.default.removeItem(at: temporary)
        }
    }

    private func send(_ body: () async throws -> (Data, URLResponse)) async throws -> Data {
        let (data, response) = try await transportErrors(body)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else { throw Self.error(status: status, body: data) }
        return data
    }

    private func transportErrors<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let error as APIError { throw error } catch {
            throw APIError(
                status: 0, code: "unreachable", message: "\(baseURL.absoluteString): \(error.localizedDescription)")
        }
    }

    private func decode<T: Decodable>(_ type: T.Type, _ data: Data) throws -> T {
        do { return try APICoding.decoder().decode(T.self, from: data) } catch {
            throw APIError(status: 200, code: "bad-response", message: "unexpected response: \(error)")
        }
    }

    static func error(status: Int, body: Data) -> APIError {
        if let decoded = try? APICoding.decoder().decode(ErrorBody.self, from: body) {
            return APIError(status: status, code: decoded.error.code, message: decoded.error.message)
        }
        return APIError(
            status: status, code: "http-\(status)", message: String(decoding: body.prefix(300), as: UTF8.self))
    }
}
