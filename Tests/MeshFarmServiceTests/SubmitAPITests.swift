import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MeshFarmAPI
import MeshFarmArtifacts
import MeshFarmCoordinator
import MeshFarmJobs
import MeshFarmMessaging
import MeshFarmService
import MeshFarmTestSupport
import MeshFarmZip
import NIOCore
import Testing

/// Every route of the submit service, in process: HummingbirdTesting's
/// router test framework in front of the real router, coordinator (on the
/// in-memory broker and job store) and artifact store. No sockets, no
/// processes; the farm tests keep a few live runs of the whole system.
@Suite struct SubmitAPITests {
    /// A submit service in this process, and the in-memory broker under it.
    struct Service {
        let api: SubmitAPI
        let coordinator: Coordinator
        let broker: InMemoryBroker
        let farm = FarmTopology(prefix: "api")
        let artifacts: DiskArtifactStore

        /// With `freeSpace`, the disk guard reads it, and the coordinator
        /// holds tasks by it as the service does.
        init(
            limits: SubmitAPI.Limits = SubmitAPI.Limits(), authentication: Authentication = .off,
            auditLog: URL? = nil, storage: StoragePolicy = StoragePolicy(), freeSpace: FixedFreeSpace? = nil,
            reconciler: Reconciler = Reconciler(), callbacks: Bool = false, privateCallbacks: Bool = false,
            degraded: @escaping @Sendable () async -> [String] = { [] }
        ) async throws {
            broker = InMemoryBroker()
            artifacts = try DiskArtifactStore(root: TestEnvironment.outputDirectory("api-artifacts"))
            let diskGuard = storage.diskGuard
            coordinator = Coordinator(
                transport: await InMemoryTransport(broker: broker), store: InMemoryJobStore(),
                configuration: .init(
                    farm: farm, reconciler: reconciler,
                    holdDispatch: { freeSpace.flatMap { diskGuard.holdReason(free: $0.bytes) } }))
            try await coordinator.start()
            let coordinator = self.coordinator
            Task { await coordinator.run() }
            api = SubmitAPI(
                coordinator: coordinator, artifacts: artifacts, limits: limits, authentication: authentication,
                auditLog: auditLog, storage: storage, freeSpace: freeSpace, callbacks: callbacks,
                privateCallbacks: privateCallbacks, degraded: degraded)
        }

        func test(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
            let app = Application(router: api.makeRouter())
            try await app.test(.router, body)
            await coordinator.stop()
        }
    }

    static func json(_ response: TestResponse) -> [String: Any]? {
        try? JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
    }

    static func errorMessage(_ response: TestResponse) -> String {
        ((json(response)?["error"] as? [String: Any])?["message"] as? String) ?? "<no JSON error>"
    }

    static func upload(_ client: any TestClientProtocol, _ bytes: String, name: String = "m.obj") async throws
        -> String
    {
        try await client.execute(uri: "/v1/uploads?name=\(name)", method: .put, body: ByteBuffer(string: bytes)) {
            response in
            #expect(response.status == .created)
            return json(response)?["sha256"] as? String ?? ""
        }
    }

    static let triangle = "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"

    @Test func healthReadinessMetricsAndDashboard() async throws {
        Observability.bootstrap()  // as every server process does: requests are then counted
        // Without the broker the service still serves (uploads, artifacts;
        // jobs are stored and published later): ready, and says what is not.
        let degraded = try await Service(degraded: { ["not connected to the broker"] })
        try await degraded.test { client in
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(Self.json(response)?["status"] as? String == "degraded")
                #expect(Self.json(response)?["degraded"] as? [String] == ["not connected to the broker"])
            }
            let sha = try await Self.upload(client, Self.triangle)
            try await client.execute(uri: "/v1/artifacts/\(sha)", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok && response.headers[.contentType]?.hasPrefix("text/plain") == true)
                // The /healthz and /readyz requests above, by route and status.
                let text = String(buffer: response.body)
                #expect(text.contains(#"http_route="/healthz""#) && text.contains(#"http_route="/readyz""#), "\(text)")
            }
            try await client.execute(uri: "/", method: .get) { response in
                #expect(response.status == .ok && String(buffer: response.body).contains("<html"))
            }
        }
        try await Service().test { client in
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .ok && Self.json(response)?["status"] as? String == "ready")
            }
        }
        // A process that cannot serve (a worker without its broker) is not ready.
        let router = Router()
        HealthRoutes.add(to: router, ready: { "not connected to the broker" })
        try await Application(router: router).test(.router) { client in
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(Self.errorMessage(response) == "not connected to the broker")
            }
        }
    }

    @Test func aKnownPathWithAnotherMethodIs405AndAnOutOfRangeLimitIs400() async throws {
        #expect(APIRoutes.getJobArtifact.matches(path: "/v1/jobs/j-1/artifacts/views/a.png"))
        #expect(!APIRoutes.getJobArtifact.matches(path: "/v1/jobs/j-1/artifacts"))
        #expect(APIRoutes.getJob.matches(path: "/v1/jobs/j-1") && !APIRoutes.getJob.matches(path: "/v1/jobs"))
        #expect(APIRoutes.dashboard.matches(path: "/") && !APIRoutes.dashboard.matches(path: "/x"))
        let service = try await Service()
        try await service.test { client in
            for method in [HTTPRequest.Method.trace, .patch, HTTPRequest.Method(rawValue: "QUERY")!] {
                try await client.execute(uri: "/v1/jobs", method: method) { response in
                    #expect(response.status == .methodNotAllowed)
                    #expect(response.headers[.allow] == "GET, POST")
                }
            }
            try await client.execute(uri: "/nowhere", method: .trace) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/v1/jobs/j-unknown", method: .get) { response in
                #expect(response.status == .notFound && Self.errorMessage(response) == "no job j-unknown")
            }
            for limit in ["0", "501", "ten"] {
                try await client.execute(uri: "/v1/jobs?limit=\(limit)", method: .get) { response in
                    #expect(response.status == .badRequest)
                    #expect(Self.errorMessage(response).contains("1 to 500"))
                }
            }
        }
    }

    @Test func uploadsAndBlobs() async throws {
        try await Service(limits: .init(maxUploadBytes: 1000, maxArtifactBytes: 2000)).test { client in
            let sha = try await Self.upload(client, Self.triangle)
            #expect(sha == SHA256Hasher.hex(Data(Self.triangle.utf8)))
            try await client.execute(uri: "/v1/artifacts/\(sha)", method: .get) { response in
                #expect(response.status == .ok && String(buffer: response.body) == Self.triangle)
            }
            let refusals: [(String, HTTPRequest.Method, ByteBuffer?, HTTPResponse.Status, String)] = [
                ("/v1/uploads", .put, ByteBuffer(string: "x"), .badRequest, "'name'"),
                ("/v1/uploads?name=a/b.obj", .put, ByteBuffer(string: "x"), .badRequest, "'name'"),
                ("/v1/uploads?name=e.obj", .put, ByteBuffer(), .badRequest, "empty"),
                ("/v1/uploads?name=big.obj", .put, ByteBuffer(repeating: 0x20, count: 1001), .contentTooLarge, "limit"),
                ("/v1/artifacts", .put, ByteBuffer(repeating: 0x20, count: 2001), .contentTooLarge, "limit"),
                ("/v1/artifacts/xyz", .get, nil, .badRequest, "SHA-256"),
                ("/v1/artifacts/\(String(repeating: "b", count: 64))", .get, nil, .notFound, "no artifact"),
            ]
            for (uri, method, body, status, fragment) in refusals {
                try await client.execute(uri: uri, method: method, body: body) { response in
                    #expect(response.status == status, "\(method) \(uri)")
                    #expect(Self.errorMessage(response).contains(fragment), "\(uri): \(Self.errorMessage(response))")
                }
            }
            try await client.execute(uri: "/v1/artifacts", method: .put, body: ByteBuffer(string: "blob")) {
                response in
                #expect(response.status == .created && Self.json(response)?["bytes"] as? Int == 4)
            }
        }
    }

    @Test func creatingJobsRefusesBadRequestsClearly() async throws {
        try await Service().test { client in
            let sha = try await Self.upload(client, Self.triangle)
            let cases: [(String, HTTPResponse.Status, String)] = [
                ("{}", .badRequest, "missing field 'model'"),
                (#"{"model": 42, "name": "x"}"#, .badRequest, "model"),
                ("{nope", .badRequest, "not valid JSON"),
                (#"{"model": "abc", "name": "x"}"#, .badRequest, "sha256"),
                (
                    #"{"model": "\#(String(repeating: "a", count: 64))", "name": "x"}"#, .unprocessableContent,
                    "no upload"
                ),
                (#"{"model": "\#(sha)", "name": "x", "spec": {"ssaa": 3}}"#, .unprocessableContent, "ssaa"),
            ]
            for (body, status, fragment) in cases {
                try await client.execute(uri: "/v1/jobs", method: .post, body: ByteBuffer(string: body)) { response in
                    #expect(response.status == status, "\(body)")
                    #expect(Self.errorMessage(response).contains(fragment), "\(body): \(Self.errorMessage(response))")
                }
            }
            for uri in ["/v1/jobs/j-nope", "/v1/jobs/j-nope/artifacts", "/v1/jobs/j-nope/events"] {
                try await client.execute(uri: uri, method: .get) { #expect($0.status == .notFound, "\(uri)") }
            }
            try await client.execute(uri: "/v1/jobs/j-nope/cancel", method: .post) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/v1/jobs?status=weird", method: .get) { response in
                #expect(response.status == .badRequest && Self.errorMessage(response).contains("queued"))
            }
            try await client.execute(uri: "/v1/nowhere", method: .get) { #expect($0.status == .notFound) }
        }
    }

    @Test func anIdempotencyKeyCreatesOneJob() async throws {
        try await Service().test { client in
            let sha = try await Self.upload(client, Self.triangle)
            func create(_ body: String, key: String?) async throws -> (HTTPResponse.Status, String?, Bool, String) {
                var headers = HTTPFields()
                if let key { headers[HTTPField.Name("Idempotency-Key")!] = key }
                return try await client.execute(
                    uri: "/v1/jobs", method: .post, headers: headers, body: ByteBuffer(string: body)
                ) { response in
                    (
                        response.status, Self.json(response)?["id"] as? String,
                        response.headers[HTTPField.Name("Idempotent-Replayed")!] == "true", Self.errorMessage(response)
                    )
                }
            }
            let body = #"{"model": "\#(sha)", "name": "m.obj"}"#
            let first = try await create(body, key: "order-17")
            #expect(first.0 == .created && first.1 != nil && !first.2)
            // The same request again (a client that lost the response): the same job.
            let again = try await create(body, key: "order-17")
            #expect(again.0 == .created && again.1 == first.1 && again.2)
            // The defaults spelled out are the same request.
            let spelled = try await create(
                #"{"model": "\#(sha)", "name": "m.obj", "spec": {"lodRatios": [1, 0.25, 0.05]}}"#, key: "order-17")
            #expect(spelled.1 == first.1 && spelled.2)
            // Another request under the key: refused, naming the job it made.
            let other = try await create(#"{"model": "\#(sha)", "name": "other.obj"}"#, key: "order-17")
            #expect(other.0 == .conflict && other.3.contains(first.1 ?? "?"), "\(other.3)")
            // Bad keys are refused; without a key every request is a new job.
            let bad = try await create(body, key: "has space")
            #expect(bad.0 == .badRequest && bad.3.contains("Idempotency-Key"))
            let unkeyed = [try await create(body, key: nil), try await create(body, key: nil)]
            #expect(Set(unkeyed.compactMap(\.1)).count == 2 && !unkeyed.contains { $0.1 == first.1 })
            try await client.execute(uri: "/v1/jobs", method: .get) { response in
                #expect((Self.json(response)?["jobs"] as? [Any])?.count == 3)
            }
        }
    }

    @Test func aJobThroughTheAPI() async throws {
        let service = try await Service()
        // A hand-made CPU worker: it answers `analyze` with a result naming an uploaded OBJ.
        let triangle = Data(Self.triangle.utf8)
        let consumer = try await HandWorker(service, outputs: { _ in (triangle, triangle) }).start()
        try await service.test { client in
            let sha = try await Self.upload(client, Self.triangle)
            let body =
                #"{"model": "\#(sha)", "name": "tri.obj", "spec": {"lodRatios": [1], "viewsPerLOD": 1, "viewsPerTask": 1}}"#
            let id = try await client.execute(uri: "/v1/jobs", method: .post, body: ByteBuffer(string: body)) {
                response in
                #expect(response.status == .created, "\(Self.errorMessage(response))")
                return Self.json(response)?["id"] as? String ?? ""
            }
            // The analysis arrives; its OBJ becomes the job's lod0.obj.
            var tasks: [[String: Any]] = []
            for _ in 0..<200 {
                tasks = try await client.execute(uri: "/v1/jobs/\(id)", method: .get) {
                    Self.json($0)?["tasks"] as? [[String: Any]] ?? []
                }
                if tasks.first?["state"] as? String == "succeeded" { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(tasks.map { $0["id"] as? String } == ["\(id).analyze", "\(id).render-0-0", "\(id).finalize"])
            #expect(tasks.first?["state"] as? String == "succeeded" && tasks.first?["worker"] as? String == "hand")
            try await client.execute(uri: "/v1/jobs", method: .get) { response in
                let jobs = Self.json(response)?["jobs"] as? [[String: Any]]
                #expect(jobs?.first?["id"] as? String == id && jobs?.first?["name"] as? String == "tri.obj")
            }
            try await client.execute(uri: "/v1/jobs?status=running&limit=5", method: .get) { response in
                #expect((Self.json(response)?["jobs"] as? [Any])?.count == 1)
            }
            try await client.execute(uri: "/v1/jobs/\(id)/artifacts", method: .get) { response in
                let files = (Self.json(response)?["files"] as? [[String: Any]])?.compactMap { $0["path"] as? String }
                #expect(files == ["report.json", "lod0.obj"])
            }
            try await client.execute(uri: "/v1/jobs/\(id)/artifacts/lod0.obj", method: .get) { response in
                #expect(response.status == .ok && response.headers[.contentType] == "model/obj")
                #expect(String(buffer: response.body) == Self.triangle)
            }
            // Each task's log: the coordinator's notes (the worker's lines come with its events).
            try await client.execute(uri: "/v1/jobs/\(id)/tasks/analyze/log", method: .get) { response in
                let lines = Self.json(response)?["lines"] as? [[String: Any]]
                #expect(response.status == .ok && Self.json(response)?["task"] as? String == "\(id).analyze")
                #expect(lines?.first?["text"] as? String == "queued attempt 1")
                #expect(lines?.first?["source"] as? String == "coordinator")
            }
            try await client.execute(uri: "/v1/jobs/\(id)/tasks/\(id).render-0-0/log", method: .get) {
                #expect($0.status == .ok)
            }
            try await client.execute(uri: "/v1/jobs/\(id)/tasks/nope/log", method: .get) {
                #expect($0.status == .notFound)
            }
            // Everything in one zip archive, streamed.
            try await client.execute(uri: "/v1/jobs/\(id)/archive", method: .get) { response in
                #expect(response.status == .ok && response.headers[.contentType] == "application/zip")
                #expect(response.headers[.contentDisposition] == "attachment; filename=\"\(id)-tri.zip\"")
                let file = TestEnvironment.outputDirectory("api-archive").appendingPathComponent("job.zip")
                try Data(buffer: response.body).write(to: file)
                let archive = try ZipArchive(path: file.path)
                #expect(archive.entries.map(\.name) == ["report.json", "lod0.obj"])
                let obj = try archive.data(of: try #require(archive.entry(named: "lod0.obj")), limit: 1 << 20)
                #expect(String(decoding: obj, as: UTF8.self) == Self.triangle)
            }
            try await client.execute(uri: "/v1/jobs/\(id)/artifacts/views/nope.png", method: .get) {
                #expect($0.status == .notFound)
            }
            try await client.execute(uri: "/v1/workers", method: .get) { response in
                let workers = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [[String: Any]]
                #expect(workers?.first?["name"] as? String == "hand")
                #expect(workers?.first?["tasksFinished"] as? Int == 1 && workers?.first?["tasksFailed"] as? Int == 0)
            }
            try await client.execute(uri: "/v1/queues", method: .get) { response in
                let pools = Self.json(response)?["pools"] as? [String: Any]
                #expect(response.status == .ok && pools?["gpu"] != nil)
            }
            // Cancelled, the job ends; its event stream then carries the final state and closes.
            try await client.execute(uri: "/v1/jobs/\(id)/cancel", method: .post) { response in
                #expect(Self.json(response)?["status"] as? String == "cancelled")
            }
            try await client.execute(uri: "/v1/jobs/\(id)/events", method: .get) { response in
                #expect(response.headers[.contentType] == "text/event-stream")
                let text = String(buffer: response.body)
                #expect(text.hasPrefix("event: job\ndata: {") && text.contains(#""status":"cancelled""#))
            }
            try await client.execute(uri: "/v1/jobs/\(id)/artifacts/report.json", method: .get) { response in
                let report = Self.json(response)
                #expect(report?["status"] as? String == "cancelled" && report?["input"] != nil)
            }
        }
        await consumer.cancel()
    }

    @Test func theOpenAPIDocumentDescribesExactlyTheRoutesTheRouterRegistered() async throws {
        let url = TestEnvironment.packageRoot.appendingPathComponent("docs/openapi.json")
        let document = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        var documented: Set<String> = []
        for (path, operations) in paths {
            for method in operations.keys where ["get", "put", "post", "delete", "patch"].contains(method) {
                documented.insert("\(method.uppercased()) \(path)")
            }
        }
        let service = try await Service()
        let registered = Set(
            service.api.makeRouter().routes.map { route in
                // Hummingbird's `:name` and `**` are OpenAPI's `{name}` and `{path}`.
                let path = route.path.description.split(separator: "/", omittingEmptySubsequences: false).map {
                    segment in
                    if segment.hasPrefix("{") || segment.hasPrefix(":") {
                        return "{\(segment.trimmingCharacters(in: CharacterSet(charactersIn: "{}:")))}"
                    }
                    return segment == "**" ? "{path}" : String(segment)
                }.joined(separator: "/")
                return "\(route.method.rawValue) \(path.isEmpty ? "/" : path)"
            })
        await service.coordinator.stop()
        #expect(
            documented == registered,
            "undocumented: \(registered.subtracting(documented)); not registered: \(documented.subtracting(registered))"
        )
    }
}
