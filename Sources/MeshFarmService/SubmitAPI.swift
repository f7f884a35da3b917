import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MeshFarmAPI
import MeshFarmArtifacts
import MeshFarmAuth
import MeshFarmCoordinator
import MeshFarmJobs
import MeshFarmMessaging
import MeshFarmZip
import NIOCore
import ServiceLifecycle
import Synchronization

/// The submit service's HTTP API (`/v1`), built from ``APIRoutes``.
///
/// Handlers are thin: validation, then the coordinator (jobs), the artifact
/// store (uploads, blobs) or the report builder. Every error is JSON with a
/// 4xx/5xx status; nothing a client sends can crash the service.
public struct SubmitAPI: Sendable {
    public struct Limits: Sendable {
        /// Largest model upload.
        public var maxUploadBytes: Int
        /// Largest blob a worker may store.
        public var maxArtifactBytes: Int
        /// The split defaults of jobs whose spec names none (``JobSpec/splitAbove``,
        /// ``JobSpec/partTriangles``).
        public var splitAbove: Int
        public var partTriangles: Int

        public init(
            maxUploadBytes: Int = 1 << 30, maxArtifactBytes: Int = 4 << 30, splitAbove: Int = JobSpec.defaultSplitAbove,
            partTriangles: Int = JobSpec.defaultPartTriangles
        ) {
            self.maxUploadBytes = maxUploadBytes
            self.maxArtifactBytes = maxArtifactBytes
            self.splitAbove = splitAbove
            self.partTriangles = partTriangles
        }
    }

    let coordinator: Coordinator
    let artifacts: DiskArtifactStore
    let limits: Limits
    /// What does not work right now (the broker, the job store). The
    /// service stays ready meanwhile, as uploads and the artifact API work
    /// without either, so `/readyz` answers 200 and lists them. Jobs are
    /// created and cancelled meanwhile; their tasks are published, and
    /// the workers told, once the broker is back.
    let degraded: @Sendable () async -> [String]
    let fileIO = FileIO()
    let authentication: Authentication
    let sessions: Sessions
    let audit: AuditLog
    /// Retention, the collector, the disk guard and quotas.
    public let storage: StorageKeeper
    /// Whether jobs may name a callback (the service has a secret to sign
    /// notices with).
    let callbacks: Bool
    /// Whether callbacks may name this machine or a private network.
    let privateCallbacks: Bool

    /// `authentication` off (the default) serves every request as an
    /// anonymous admin; `auditLog` is where operator actions are written;
    /// `freeSpace` reads the artifact store's file system unless given.
    public init(
        coordinator: Coordinator, artifacts: DiskArtifactStore, limits: Limits = Limits(),
        authentication: Authentication = .off, auditLog: URL? = nil, storage: StoragePolicy = StoragePolicy(),
        freeSpace: (any FreeSpaceReader)? = nil, callbacks: Bool = false, privateCallbacks: Bool = false,
        degraded: @escaping @Sendable () async -> [String]
    ) {
        self.callbacks = callbacks
        self.privateCallbacks = privateCallbacks
        self.coordinator = coordinator
        self.artifacts = artifacts
        self.limits = limits
        self.degraded = degraded
        self.authentication = authentication
        sessions = Sessions(lifetime: authentication.sessionLifetime)
        audit = AuditLog(url: auditLog)
        self.storage = StorageKeeper(
            policy: storage, artifacts: artifacts, coordinator: coordinator, freeSpace: freeSpace, audit: audit)
    }

    /// Runs the storage collections until shutdown.
    public var storageService: some Service { StorageService(keeper: storage) }

    static let handledRoutes: [APIRoute] = [
        APIRoutes.dashboard, APIRoutes.signIn, APIRoutes.signOut, APIRoutes.whoAmI, APIRoutes.upload,
        APIRoutes.createJob, APIRoutes.listJobs, APIRoutes.getJob, APIRoutes.deleteJob, APIRoutes.jobEvents,
        APIRoutes.cancelJob, APIRoutes.retryJob, APIRoutes.updateJob, APIRoutes.jobArchive, APIRoutes.taskLog,
        APIRoutes.listJobArtifacts,
        APIRoutes.getJobArtifact, APIRoutes.getArtifact,
        APIRoutes.putArtifact, APIRoutes.listWorkers, APIRoutes.drainWorker, APIRoutes.resumeWorker, APIRoutes.queues,
        APIRoutes.farmEvents,
        APIRoutes.storage, APIRoutes.collectStorage,
    ]

    /// The routes, each behind the roles ``APIRoute/roles`` names (checked
    /// by middleware before any handler runs); who is calling comes from
    /// ``TokenAuthenticator``.
    public func makeRouter() -> Router<APIContext> {
        let router = Router(context: APIContext.self)
        router.add(middleware: ErrorMiddleware())
        router.add(middleware: MethodNotAllowedMiddleware())
        // Requests, durations and errors per route in `/metrics`.
        router.add(middleware: MetricsMiddleware())
        let (degraded, storage) = (self.degraded, self.storage)
        HealthRoutes.add(to: router, ready: { nil }, degraded: { await degraded() + storage.degradation() })
        router.add(middleware: TokenAuthenticator(authentication: authentication, sessions: sessions))
        for route in Self.handledRoutes {
            let group = router.group()
            if let roles = route.roles { group.add(middleware: RouteAccess.middleware(for: roles)) }
            group.on(
                RouterPath(stringLiteral: route.path), method: HTTPRequest.Method(rawValue: route.method.rawValue)!
            ) {
                request, context in try await self.handle(route, request, context)
            }
        }
        return router
    }

    func handle(_ route: APIRoute, _ request: Request, _ context: APIContext) async throws -> Response {
        switch route {
        case APIRoutes.dashboard: return Dashboard.response()
        case APIRoutes.signIn: return try await signIn(request, context)
        case APIRoutes.signOut: return signOut(request)
        case APIRoutes.whoAmI: return try JSONResponse.make(SessionView(context.principal))
        case APIRoutes.upload: return try await upload(request, context)
        case APIRoutes.createJob: return try await createJob(request, context)
        case APIRoutes.listJobs: return try await listJobs(request, context)
        case APIRoutes.getJob: return try JSONResponse.make(JobView(try await job(context)))
        case APIRoutes.jobEvents: return try await events(context)
        case APIRoutes.cancelJob:
            let id = try context.parameters.require("id")
            _ = try await job(context, change: true)
            guard let job = try await coordinator.cancel(id) else { throw APIFailure.notFound("no job \(id)") }
            await audit.record(context.principal, "cancel", job: id)
            return try JSONResponse.make(JobView(job))
        case APIRoutes.deleteJob: return try await deleteJob(context)
        case APIRoutes.retryJob: return try await retryJob(context)
        case APIRoutes.updateJob: return try await updateJob(request, context)
        case APIRoutes.storage: return try await storageView(context)
        case APIRoutes.collectStorage:
            let collection = try await storage.collect()
            await audit.record(context.principal, "storage-collect")
            return try JSONResponse.make(collection)
        case APIRoutes.listJobArtifacts: return try JSONResponse.make(artifactList(try await job(context)))
        case APIRoutes.getJobArtifact: return try await jobArtifact(context)
        case APIRoutes.jobArchive: return try await archive(try await job(context))
        case APIRoutes.taskLog:
            let job = try await job(context)
            let name = try context.parameters.require("task")
            // The task's full id, or the part after the job's id ("render-0-0").
            guard
                let task = job.tasks.first(where: {
                    $0.id.description == name || $0.id.description == "\(job.id).\(name)"
                })
            else { throw APIFailure.notFound("job \(job.id) has no task \(name)") }
            return try JSONResponse.make(TaskLogView(job: job.id, task: task.id.description, lines: task.log))
        case APIRoutes.getArtifact: return try await blob(context)
        case APIRoutes.putArtifact:
            if let refusal = storage.refusal(of: .result, bytes: Self.announcedLength(request)) {
                throw APIFailure(Self.insufficientStorage, "insufficient-storage", refusal, retryAfter: 30)
            }
            return try await store(request, limit: limits.maxArtifactBytes, name: nil).response
        case APIRoutes.listWorkers: return try JSONResponse.make(coordinator.workers().map(Self.workerView))
        case APIRoutes.drainWorker, APIRoutes.resumeWorker:
            let name = try context.parameters.require("name")
            guard let worker = coordinator.workers().first(where: { $0.name == name }) else {
                throw APIFailure.notFound("no worker \(name) was heard from in the last ten minutes")
            }
            let drain = route == APIRoutes.drainWorker
            coordinator.setDraining(name, drain)
            await audit.record(context.principal, drain ? "drain \(name)" : "resume \(name)")
            var view = Self.workerView(worker)
            view.state = drain ? "draining" : (worker.currentTask == nil ? "idle" : "busy")
            return try JSONResponse.make(view, status: .accepted)
        case APIRoutes.farmEvents: return farmEvents(request, context)
        case APIRoutes.queues:
            return try JSONResponse.make(
                QueuesView(queues: await coordinator.queueDepths(), pools: coordinator.poolLoads()))
        default: throw APIFailure.notFound("no route")
        }
    }

    // MARK: - Uploads and blobs

    /// A model upload: refused when the disk is nearly full (507) or the
    /// uploader's stored bytes would pass its quota (413); counted against
    /// the quota until a job names it.
    func upload(_ request: Request, _ context: APIContext) async throws -> Response {
        guard let name = request.uri.queryParameters.get("name"), !name.isEmpty, !name.contains("/") else {
            throw APIFailure.badRequest(
                "the query parameter 'name' (the model's file name, without a path) is required")
        }
        let principal = context.principal
        let length = Self.announcedLength(request)
        if let refusal = storage.refusal(of: .newWork, bytes: length) {
            throw APIFailure(Self.insufficientStorage, "insufficient-storage", refusal)
        }
        guard let quota = quotaBytes(principal) else {
            return try await store(request, limit: limits.maxUploadBytes, name: name).response
        }
        let stored = await storage.storedBytes(of: principal.name)
        let room = Swift.max(0, Int(quota) - stored)
        guard length <= room, room > 0 else {
            throw Self.overQuota(principal, stored: stored, max: quota, adding: length > 0 ? length : nil)
        }
        do {
            let (response, info) = try await store(
                request, limit: Swift.min(limits.maxUploadBytes, room), name: name)
            await storage.uploaded(info.sha256, bytes: info.bytes, by: principal.name)
            return response
        } catch let failure as APIFailure where failure.status == .contentTooLarge && room < limits.maxUploadBytes {
            throw Self.overQuota(principal, stored: stored, max: quota, adding: nil)
        }
    }

    /// The quota of stored bytes that applies to `principal` (submitters).
    func quotaBytes(_ principal: Principal) -> Int64? {
        principal.role == .submitter ? storage.policy.maxStoredBytes : nil
    }

    static func overQuota(_ principal: Principal, stored: Int, max: Int64, adding: Int64?) -> APIFailure {
        let format = DiskGuard.bytes
        let upload = adding.map { "; this upload adds \(format($0))" } ?? "; this upload would pass it"
        return APIFailure(
            .contentTooLarge, "quota-exceeded",
            "\(principal.name) stores \(format(Int64(stored))) of its quota of \(format(max))\(upload): delete "
                + "finished jobs to make room")
    }

    /// The request's `Content-Length`, 0 when it has none.
    static func announcedLength(_ request: Request) -> Int64 {
        request.headers[.contentLength].flatMap { Int64($0) } ?? 0
    }

    func store(_ request: Request, limit: Int, name: String?) async throws -> (
        response: Response, info: ArtifactInfo
    ) {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw APIFailure(.contentTooLarge, "too-large", "the upload is \(length) bytes, over the limit of \(limit)")
        }
        let info: ArtifactInfo
        do {
            info = try await artifacts.put(chunks: request.body.map { Data(buffer: $0) }, limit: limit)
        } catch StorageError.tooLarge(let limit) {
            throw APIFailure(.contentTooLarge, "too-large", "the upload is over the limit of \(limit) bytes")
        }
        guard info.bytes > 0 else { throw APIFailure.badRequest("the upload is empty") }
        return (
            try JSONResponse.make(StoredBlob(sha256: info.sha256, bytes: info.bytes, name: name), status: .created),
            info
        )
    }

    func blob(_ context: APIContext) async throws -> Response {
        let sha = try context.parameters.require("sha256")
        guard SHA256Hasher.isValid(sha) else { throw APIFailure.badRequest("'\(sha)' is not a SHA-256") }
        guard let url = try artifacts.file(for: sha) else { throw APIFailure.notFound("no artifact \(sha)") }
        return try await file(url, contentType: "application/octet-stream", context: context)
    }

    func file(_ url: URL, contentType: String, context: APIContext) async throws -> Response {
        let bytes = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? nil
        var headers: HTTPFields = [.contentType: contentType]
        if let bytes { headers[.contentLength] = String(bytes) }
        return Response(
            status: .ok, headers: headers, body: try await fileIO.loadFile(path: url.path, context: context))
    }

    // MARK: - Jobs

    /// Creates a job owned by the caller (with authentication on); an
    /// idempotency key is scoped to its caller.
    func createJob(_ request: Request, _ context: APIContext) async throws -> Response {
        var request = request
        let body = try await request.collectBody(upTo: 1 << 20)
        let create: CreateJobRequest
        do { create = try JSONDecoder().decode(CreateJobRequest.self, from: Data(buffer: body)) } catch {
            throw APIFailure.badRequest("invalid job request: \(Self.describe(error))")
        }
        guard SHA256Hasher.isValid(create.model) else {
            throw APIFailure.badRequest("'model' must be the sha256 returned by PUT /v1/uploads")
        }
        if let refusal = storage.refusal(of: .newWork, bytes: 0) {
            throw APIFailure(Self.insufficientStorage, "insufficient-storage", refusal)
        }
        if let max = quotaBytes(context.principal) {
            let stored = await storage.storedBytes(of: context.principal.name)
            if stored > max {
                throw APIFailure(
                    .contentTooLarge, "quota-exceeded",
                    "\(context.principal.name) stores \(DiskGuard.bytes(Int64(stored))), over its quota of "
                        + "\(DiskGuard.bytes(max)): delete finished jobs to make room")
            }
        }
        // Retained (marked used now) before the job is stored: the storage
        // collector spares it from here on, whatever its age.
        guard try artifacts.retain(create.model) else {
            throw APIFailure(.unprocessableContent, "unknown-model", "no upload with sha256 \(create.model)")
        }
        let spec = (create.spec ?? JobSpec()).withSplitDefaults(
            splitAbove: limits.splitAbove, partTriangles: limits.partTriangles)
        do { try spec.validate() } catch {
            throw APIFailure(.unprocessableContent, "invalid-spec", "invalid spec: \(error)")
        }
        if let callback = create.callback {
            guard callbacks else {
                throw APIFailure(
                    .unprocessableContent, "no-callbacks",
                    "this farm sends no notices: its operator starts meshfarm-submit with --callback-secret")
            }
            guard callback.utf8.count <= 2048, let url = URL(string: callback), ["http", "https"].contains(url.scheme),
                url.host?.isEmpty == false
            else {
                throw APIFailure(
                    .unprocessableContent, "invalid-callback",
                    "callback must be an http or https URL of at most 2048 bytes")
            }
            guard privateCallbacks || !JobNotice.isPrivate(host: url.host ?? "") else {
                throw APIFailure(
                    .unprocessableContent, "invalid-callback",
                    "callback must be a public address: this machine and private networks are refused (the operator "
                        + "may allow them with --callback-allow-private)")
            }
        }
        let name = create.name.isEmpty ? "model" : create.name
        let owner = authentication.tokens == nil ? nil : context.principal.name
        var job = JobRecord(
            id: "j-\(RandomID.make().prefix(12))", spec: spec, model: create.model, fileName: name, owner: owner)
        job.callback = create.callback
        var claim = try Self.idempotencyClaim(request, job)
        if let owner, let key = claim?.key { claim?.key = "\(owner)/\(key)" }
        let submitted: Coordinator.Submitted
        do {
            submitted = try await coordinator.submit(
                job, idempotency: claim,
                maxUnfinished: context.principal.role == .submitter ? storage.policy.maxUnfinishedJobs : nil)
        } catch let conflict as IdempotencyConflict {
            throw APIFailure(.conflict, "idempotency-key-reused", conflict.description)
        } catch let quota as QuotaExceeded {
            throw APIFailure(.tooManyRequests, "quota-exceeded", quota.description, retryAfter: 30)
        } catch let unavailable as CoordinatorUnavailable {
            throw APIFailure(.serviceUnavailable, "unavailable", unavailable.description, retryAfter: 5)
        }
        var response = try JSONResponse.make(JobView(submitted.job), status: .created)
        if submitted.replayed { response.headers[Self.replayedHeader] = "true" }
        return response
    }

    /// 507: HTTPTypes names no such status.
    static let insufficientStorage = HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage")

    static let idempotencyKeyHeader = HTTPField.Name("Idempotency-Key")!
    static let replayedHeader = HTTPField.Name("Idempotent-Replayed")!

    /// The request's `Idempotency-Key`, with the fingerprint of what it
    /// asks for (the model, name and spec with defaults filled in, so
    /// spelling a default out or leaving it out is the same request).
    static func idempotencyClaim(_ request: Request, _ job: JobRecord) throws -> Coordinator.IdempotencyClaim? {
        guard let key = request.headers[idempotencyKeyHeader] else { return nil }
        guard IdempotencyRecord.isValid(key) else {
            throw APIFailure.badRequest("Idempotency-Key must be 1 to 255 visible ASCII characters")
        }
        let canonical = CreateJobRequest(model: job.model, name: job.fileName, spec: job.spec, callback: job.callback)
        return .init(key: key, requestSHA256: SHA256Hasher.hex(try APICoding.encoder().encode(canonical)))
    }

    /// The newest jobs; a submitter's list holds only its own (among the
    /// newest 500 of the farm).
    func listJobs(_ request: Request, _ context: APIContext) async throws -> Response {
        var limit = 50
        if let raw = request.uri.queryParameters.get("limit") {
            guard let parsed = Int(raw), (1...500).contains(parsed) else {
                throw APIFailure.badRequest("limit must be an integer from 1 to 500, got '\(raw)'")
            }
            limit = parsed
        }
        var status: JobStatus?
        if let raw = request.uri.queryParameters.get("status") {
            guard let parsed = JobStatus(rawValue: raw) else {
                throw APIFailure.badRequest(
                    "status must be one of \(JobStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            status = parsed
        }
        let principal = context.principal
        let jobs =
            principal.seesAllJobs
            ? try await coordinator.jobs(status: status, limit: max(1, limit))
            : Array(
                try await coordinator.jobs(status: status, limit: 500).filter {
                    principal.mayRead(jobOwnedBy: $0.owner)
                }.prefix(max(1, limit)))
        return try JSONResponse.make(JobList(jobs: jobs.map(JobSummary.init)))
    }

    /// The job the route names, if the caller may read it (or, with
    /// `change`, cancel it): a submitter only its own.
    func job(_ context: APIContext, change: Bool = false) async throws -> JobRecord {
        let id = try context.parameters.require("id")
        guard let job = try await coordinator.job(id) else { throw APIFailure.notFound("no job \(id)") }
        let principal = context.principal
        guard change ? principal.mayChange(jobOwnedBy: job.owner) : principal.mayRead(jobOwnedBy: job.owner) else {
            throw APIFailure(.forbidden, "forbidden", "job \(id) belongs to someone else")
        }
        return job
    }

    /// Deletes a finished job (its owner or an admin); its artifacts go at
    /// the collection this starts, unless another job names them.
    func deleteJob(_ context: APIContext) async throws -> Response {
        let id = try await job(context, change: true).id
        switch try await coordinator.delete(id) {
        case .deleted(let job):
            await audit.record(context.principal, "delete", job: id)
            await storage.released(job)
            return Response(status: .noContent)
        case .notFound: throw APIFailure.notFound("no job \(id)")
        case .unfinished(let status):
            throw APIFailure(
                .conflict, "job-unfinished", "job \(id) is \(status.rawValue): cancel it first, then delete it")
        }
    }

    /// A worker as the API shows it: gone after a minute of silence, else
    /// what it last reported (or, from a worker that does not report,
    /// busy while a task of it runs).
    static func workerView(_ worker: WorkerSighting) -> WorkerView {
        let state =
            Date().timeIntervalSince(worker.lastSeen) > 60
            ? "gone" : worker.reported?.rawValue ?? (worker.currentTask == nil ? "idle" : "busy")
        return WorkerView(
            name: worker.name, pool: worker.pool, lastSeen: worker.lastSeen, currentTask: worker.currentTask,
            tasksFinished: worker.tasksFinished, tasksFailed: worker.tasksFailed, state: state,
            progress: worker.progress, stage: worker.stage)
    }

    /// Runs a failed or cancelled job's failed and cancelled tasks again
    /// (its owner or an admin); 409 with the reason when it cannot be.
    func retryJob(_ context: APIContext) async throws -> Response {
        let id = try await job(context, change: true).id
        if let refusal = storage.refusal(of: .newWork, bytes: 0) {
            throw APIFailure(Self.insufficientStorage, "insufficient-storage", refusal)
        }
        do {
            let quota = context.principal.role == .submitter ? storage.policy.maxUnfinishedJobs : nil
            guard let job = try await coordinator.retry(id, maxUnfinished: quota) else {
                throw APIFailure.notFound("no job \(id)")
            }
            await audit.record(context.principal, "retry", job: id)
            return try JSONResponse.make(JobView(job))
        } catch let refusal as RetryRefusal {
            throw APIFailure(.conflict, "not-retryable", "job \(id) cannot be retried: \(refusal)")
        } catch let quota as QuotaExceeded {
            throw APIFailure(.tooManyRequests, "quota-exceeded", quota.description, retryAfter: 30)
        }
    }

    /// `PATCH /v1/jobs/{id}`: a new priority (0...9).
    func updateJob(_ request: Request, _ context: APIContext) async throws -> Response {
        let id = try await job(context, change: true).id
        let body = Data(buffer: try await request.body.collect(upTo: 4096))
        let update: UpdateJobRequest
        do { update = try APICoding.decoder().decode(UpdateJobRequest.self, from: body) } catch {
            throw APIFailure.badRequest("invalid update: \(Self.describe(error))")
        }
        // A misspelt field must not pass for "nothing to change".
        if let fields = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
            let unknown = fields.keys.sorted().first(where: { $0 != "priority" })
        {
            throw APIFailure.badRequest("invalid update: unknown field '\(unknown)' (only 'priority' can change)")
        }
        guard let priority = update.priority else {
            throw APIFailure.badRequest("nothing to change: the body is {\"priority\": 0...9}")
        }
        guard (0...9).contains(priority) else {
            throw APIFailure(.unprocessableContent, "invalid-spec", "priority must be 0...9, got \(priority)")
        }
        guard let job = try await coordinator.setPriority(id, priority) else {
            throw APIFailure.notFound("no job \(id)")
        }
        await audit.record(context.principal, "priority \(priority)", job: id)
        return try JSONResponse.make(JobView(job))
    }

    /// The disk, the store and each principal's usage; a submitter sees
    /// only its own.
    func storageView(_ context: APIContext) async throws -> Response {
        let policy = storage.policy
        let free = storage.freeBytes()
        let state: String =
            switch policy.diskGuard.verdict(free: free) {
            case .accepting: "accepting"
            case .refusingNewWork: "refusing-new-work"
            case .full: "full"
            }
        let principal = context.principal
        let names = principal.seesAllJobs ? await storage.owners : [principal.name]
        let totals = await storage.storedTotals
        return try JSONResponse.make(
            StorageView(
                state: state, freeBytes: free, minimumFreeBytes: policy.diskGuard.minimumFree,
                floorBytes: policy.diskGuard.floor, retentionDays: policy.retentionDays, artifactFiles: totals.files,
                artifactBytes: totals.bytes, lastCollection: await storage.lastCollection,
                principals: await storage.usage(of: names)))
    }

    // MARK: - Sessions

    /// `POST /v1/session` with `{"token": ...}`: a session cookie for the
    /// dashboard (HttpOnly, SameSite=Strict, Secure behind TLS).
    func signIn(_ request: Request, _ context: APIContext) async throws -> Response {
        let body = try await request.body.collect(upTo: 4096)
        guard let signIn = try? APICoding.decoder().decode(SignInRequest.self, from: Data(buffer: body)) else {
            throw APIFailure.badRequest("the body must be {\"token\": \"...\"}")
        }
        guard let tokens = authentication.tokens else {
            return try JSONResponse.make(SessionView(.anonymous))  // nothing to sign in to
        }
        guard let principal = tokens.book.principal(for: signIn.token) else {
            throw APIFailure(.unauthorized, "unauthorized", "the token is not valid (revoked or mistyped)")
        }
        let id = sessions.create(for: principal, token: signIn.token)
        await audit.record(principal, "sign-in")
        var response = try JSONResponse.make(SessionView(principal))
        response.headers[.setCookie] = sessionCookie(id, maxAge: Int(authentication.sessionLifetime))
        return response
    }

    func signOut(_ request: Request) -> Response {
        if let id = request.cookies[Sessions.cookieName]?.value { sessions.end(id) }
        var response = Response(status: .noContent)
        response.headers[.setCookie] = sessionCookie("", maxAge: 0)
        return response
    }

    func sessionCookie(_ value: String, maxAge: Int) -> String {
        "\(Sessions.cookieName)=\(value); Path=/; Max-Age=\(maxAge); HttpOnly; SameSite=Strict"
            + (authentication.secureCookies ? "; Secure" : "")
    }

    /// Server-sent events: the job now, then after every change (`event:
    /// job`), until it finishes.
    func events(_ context: APIContext) async throws -> Response {
        let id = try await job(context).id
        guard let updates = try await coordinator.updates(for: id) else { throw APIFailure.notFound("no job \(id)") }
        return Response(
            status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: ResponseBody { writer in
                let encoder = APICoding.encoder()
                // Ends at the service's graceful shutdown too: an open stream
                // of a job that never changes would otherwise hold SIGTERM
                // until the pod is killed (found by the API fuzz run).
                let (relay, ending) = AsyncStream<JobRecord>.makeStream()
                let forward = Task {
                    for await job in updates { ending.yield(job) }
                    ending.finish()
                }
                defer { forward.cancel() }
                try await withGracefulShutdownHandler {
                    for await job in relay {
                        let json = String(decoding: try encoder.encode(JobView(job)), as: UTF8.self)
                        try await writer.write(ByteBuffer(string: "event: job\ndata: \(json)\n\n"))
                    }
                } onGracefulShutdown: {
                    ending.finish()
                }
                try await writer.finish(nil)
            })
    }

    static let lastEventID = HTTPField.Name("Last-Event-ID")!

    /// `GET /v1/events`: the farm's changes as server-sent events, each
    /// with an id: `job` (a `JobSummary`, a submitter's own jobs only) and
    /// `job-deleted` (`{"id": ...}`) as jobs change, `worker` (a
    /// `WorkerView`) as workers report, and `farm` (a `QueuesView` with
    /// the pools' loads, without queue depths) every five seconds, which
    /// also keeps idle connections open. A client
    /// that reconnects with `Last-Event-ID` first gets the present state
    /// of what changed meanwhile, or `reset` when too much did (reload).
    func farmEvents(_ request: Request, _ context: APIContext) -> Response {
        let subscription = coordinator.changes(after: request.headers[Self.lastEventID])
        let principal = context.principal
        let (coordinator, interval) = (self.coordinator, Self.farmEventInterval)
        return Response(
            status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: ResponseBody { writer in
                enum Item: Sendable {
                    case change(id: String, FarmChange)
                    case tick
                }
                // Bounded: a client that stops reading is told to reload
                // (`reset`) rather than making the service hold every change.
                let (items, feed) = AsyncStream<Item>.makeStream(bufferingPolicy: .bufferingNewest(FarmChanges.memory))
                let overflowed = Flag()
                let changes = Task {
                    for (id, change) in subscription.missed { feed.yield(.change(id: id, change)) }
                    for await (id, change) in subscription.live {
                        if case .dropped = feed.yield(.change(id: id, change)) { overflowed.set() }
                    }
                    feed.finish()
                }
                let ticks = Task {
                    while !Task.isCancelled {
                        feed.yield(.tick)
                        try? await Task.sleep(for: .seconds(interval))
                    }
                }
                defer {
                    changes.cancel()
                    ticks.cancel()
                }
                let encoder = APICoding.encoder()
                func send(_ event: String, _ id: String?, _ value: some Encodable) async throws {
                    let json = String(decoding: try encoder.encode(value), as: UTF8.self)
                    try await writer.write(
                        ByteBuffer(string: (id.map { "id: \($0)\n" } ?? "") + "event: \(event)\ndata: \(json)\n\n"))
                }
                try await withGracefulShutdownHandler {
                    if !subscription.complete { try await send("reset", nil, [String: String]()) }
                    for await item in items {
                        if overflowed.take() { try await send("reset", nil, [String: String]()) }
                        switch item {
                        case .tick:
                            // The coordinator's view only: a broker that is away
                            // never holds the stream (queue depths: GET /v1/queues).
                            try await send("farm", nil, QueuesView(queues: [:], pools: coordinator.poolLoads()))
                        case .change(let id, .job(let jobID)):
                            guard let job = try await coordinator.job(jobID) else {
                                // Only to those who see every job: a submitter learns no one else's ids.
                                if principal.seesAllJobs { try await send("job-deleted", id, ["id": jobID]) }
                                continue
                            }
                            if principal.mayRead(jobOwnedBy: job.owner) { try await send("job", id, JobSummary(job)) }
                        case .change(let id, .worker(let name)):
                            if let worker = coordinator.worker(name) {
                                try await send("worker", id, Self.workerView(worker))
                            }
                        }
                    }
                } onGracefulShutdown: {
                    feed.finish()
                }
                try await writer.finish(nil)
            })
    }

    /// Seconds between two `farm` events.
    static let farmEventInterval: Double = 5

    func artifactList(_ job: JobRecord) -> ArtifactList {
        let base = "/v1/jobs/\(job.id)/artifacts/"
        var files = JobReport.outputFiles(job).map {
            ArtifactList.File(path: $0.path, sha256: $0.sha256, url: base + $0.path)
        }
        files.insert(ArtifactList.File(path: "report.json", sha256: nil, url: base + "report.json"), at: 0)
        return ArtifactList(files: files)
    }

    func jobArtifact(_ context: APIContext) async throws -> Response {
        let job = try await job(context)
        let path = context.parameters.getCatchAll().joined(separator: "/")
        if path == "report.json" {
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: try JobReport(job: job).jsonData())))
        }
        guard let file = JobReport.outputFiles(job).first(where: { $0.path == path }),
            let url = try artifacts.file(for: file.sha256)
        else { throw APIFailure.notFound("job \(job.id) has no file \(path)") }
        return try await self.file(url, contentType: Self.contentType(path), context: context)
    }

    /// The job's output directory as one zip archive, streamed: report.json
    /// and every file ``JobReport/outputFiles(_:)`` lists, read from the
    /// artifact store a MiB at a time on the blocking pool.
    func archive(_ job: JobRecord) async throws -> Response {
        let report = try JobReport(job: job).jsonData()
        let files = try JobReport.outputFiles(job).map { file -> (path: String, url: URL) in
            guard let url = try artifacts.file(for: file.sha256) else {
                throw APIFailure.notFound("job \(job.id)'s file \(file.path) is no longer stored")
            }
            return (file.path, url)
        }
        let name = "\(job.id)-\((job.fileName as NSString).deletingPathExtension).zip"
            .replacingOccurrences(of: "\"", with: "")
        return Response(
            status: .ok,
            headers: [.contentType: "application/zip", .contentDisposition: "attachment; filename=\"\(name)\""],
            body: ResponseBody { writer in
                var zip = ZipStream()
                try await writer.write(ByteBuffer(data: try zip.begin("report.json") + zip.data(report) + zip.end()))
                for file in files {
                    try await writer.write(ByteBuffer(data: try zip.begin(file.path)))
                    let handle = try FileHandle(forReadingFrom: file.url)
                    defer { try? handle.close() }
                    while let chunk = try await BlockingIO.run({ try handle.read(upToCount: 1 << 20) }), !chunk.isEmpty
                    {
                        try await writer.write(ByteBuffer(data: try zip.data(chunk)))
                    }
                    try await writer.write(ByteBuffer(data: try zip.end()))
                }
                try await writer.write(ByteBuffer(data: try zip.finish()))
                try await writer.finish(nil)
            })
    }

    static func contentType(_ path: String) -> String {
        switch (path as NSString).pathExtension {
        case "png": "image/png"
        case "obj": "model/obj"
        case "json": "application/json"
        default: "application/octet-stream"
        }
    }

    /// A decoding error in words: which field, what was wrong.
    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "missing field '\(key.stringValue)'"
        case DecodingError.typeMismatch(let type, let context):
            "field '\(context.codingPath.map(\.stringValue).joined(separator: "."))' must be \(type)"
        case DecodingError.valueNotFound(_, let context):
            "field '\(context.codingPath.map(\.stringValue).joined(separator: "."))' must not be null"
        case DecodingError.dataCorrupted(let context):
            context.codingPath.isEmpty ? "the body is not valid JSON" : context.debugDescription
        default: "\(error)"
        }
    }
}

/// A flag set from one task and taken (read and cleared) by another.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .relaxed) }
    func take() -> Bool { value.exchange(false, ordering: .relaxed) }
}

/// A known path asked with a method it does not serve: 405 with the
/// methods it does serve (`Allow`), rather than the router's 404, which
/// would say the path does not exist.
struct MethodNotAllowedMiddleware: RouterMiddleware {
    typealias Context = APIContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let allowed = APIRoutes.all.filter { $0.matches(path: request.uri.path) }.map(\.method.rawValue)
            guard !allowed.isEmpty, !allowed.contains(request.method.rawValue) else { throw error }
            let list = Set(allowed).sorted().joined(separator: ", ")
            throw APIFailure(
                .methodNotAllowed, "method-not-allowed", "\(request.uri.path) serves \(list)", headers: [.allow: list])
        }
    }
}

/// Turns unexpected errors into JSON 500s (and Hummingbird's own errors, such
/// as an over-long body, into JSON with their status), so every response
/// of the API has the same error shape.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = APIContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let failure as APIFailure {
            throw failure
        } catch let error as HTTPError {
            throw APIFailure(error.status, "http-\(error.status.code)", error.body ?? error.status.reasonPhrase)
        } catch let error as HTTPResponseError {
            throw APIFailure(error.status, "http-\(error.status.code)", error.status.reasonPhrase)
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            throw APIFailure(.internalServerError, "internal", "\(error)")
        }
    }
}
