import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MeshFarmAPI
import MeshFarmArtifacts
import MeshFarmAuth
import MeshFarmJobs
import MeshFarmMessaging
import MeshFarmService
import MeshFarmTestSupport
import NIOCore
import Synchronization
import Testing

/// Deletion, retention, the collector, the disk guard and quotas, through
/// the real router, coordinator and artifact store (in-memory broker and
/// job store, a hand-made CPU worker).
@Suite struct StorageLifecycleTests {
    typealias Service = SubmitAPITests.Service

    static let json = SubmitAPITests.json
    static let errorMessage = SubmitAPITests.errorMessage

    static func errorCode(_ response: TestResponse) -> String? {
        (json(response)?["error"] as? [String: Any])?["code"] as? String
    }

    static func createJob(
        _ client: any TestClientProtocol, model: String, headers: HTTPFields = [:],
        expect status: HTTPResponse.Status = .created
    ) async throws -> (id: String, error: String?) {
        let body =
            #"{"model": "\#(model)", "name": "m.obj", "spec": {"lodRatios": [1], "viewsPerLOD": 1, "viewsPerTask": 1}}"#
        return try await client.execute(
            uri: "/v1/jobs", method: .post, headers: headers, body: ByteBuffer(string: body)
        ) { response in
            #expect(response.status == status, "\(errorMessage(response))")
            return (json(response)?["id"] as? String ?? "", errorCode(response))
        }
    }

    static func taskState(_ client: any TestClientProtocol, _ job: String, _ index: Int) async throws -> String? {
        try await client.execute(uri: "/v1/jobs/\(job)", method: .get) {
            ((json($0)?["tasks"] as? [[String: Any]])?[index])?["state"] as? String
        }
    }

    /// Polls until the job's task at `index` is in `state` (5 s at most).
    static func waitFor(
        _ client: any TestClientProtocol, _ job: String, task index: Int, _ state: String
    ) async throws {
        for _ in 0..<250 {
            if try await taskState(client, job, index) == state { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("task \(index) of \(job) never became \(state)")
    }

    static func collect(_ client: any TestClientProtocol, headers: HTTPFields = [:]) async throws -> [String: Any] {
        try await client.execute(uri: "/v1/storage/collect", method: .post, headers: headers) { response in
            #expect(response.status == .ok, "\(errorMessage(response))")
            return json(response) ?? [:]
        }
    }

    static func sha(_ text: String) -> String { SHA256Hasher.hex(Data(text.utf8)) }

    static func age(_ store: DiskArtifactStore, _ sha: String, by seconds: Double) throws {
        let file = try #require(try store.file(for: sha))
        try FileManager.default.setAttributes(
            [.modificationDate: Date().addingTimeInterval(-seconds)], ofItemAtPath: file.path)
    }

    @Test func deletingAJobFreesWhatOnlyItNamedAndTheCollectorSparesTheRest() async throws {
        Observability.bootstrap()
        let audit = TestEnvironment.outputDirectory("lifecycle-delete").appendingPathComponent("audit.log")
        var policy = StoragePolicy()
        policy.sweep = ArtifactSweep(grace: 3600, recentUse: 0)
        let service = try await Service(auditLog: audit, storage: policy)
        let worker = await HandWorker(service)
        let consumer = try await worker.start()
        let store = service.artifacts
        // What the workers hear over the control exchange.
        let listener = await InMemoryTransport(broker: service.broker)
        try await listener.declare(
            Topology(
                exchanges: [], queues: [.init(name: "control-listener", quorum: false, transient: true)],
                bindings: [.init(queue: "control-listener", exchange: service.farm.controlExchange, pattern: "#")]))
        try await service.test { client in
            let model = try await SubmitAPITests.upload(client, "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n# shared\n")
            let unattached = try await SubmitAPITests.upload(client, "an upload no job names")
            // Two jobs on one model; their analyses each store a mesh and an OBJ.
            let a = try await Self.createJob(client, model: model).id
            let b = try await Self.createJob(client, model: model).id
            try await Self.waitFor(client, a, task: 0, "succeeded")
            try await Self.waitFor(client, b, task: 0, "succeeded")

            // A running job is not deleted; a cancelled one is.
            try await client.execute(uri: "/v1/jobs/\(a)", method: .delete) { response in
                #expect(response.status == .conflict && Self.errorCode(response) == "job-unfinished")
                #expect(Self.errorMessage(response).contains("cancel it first"))
            }
            try await client.execute(uri: "/v1/jobs/\(a)/cancel", method: .post) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/jobs/\(a)", method: .delete) { #expect($0.status == .noContent) }
            try await client.execute(uri: "/v1/jobs/\(a)", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/v1/jobs/\(a)", method: .delete) { #expect($0.status == .notFound) }

            // The collection frees a's own mesh and OBJ, and nothing b names.
            let collection = try await Self.collect(client)
            #expect(collection["artifactsRemoved"] as? Int == 2, "\(collection)")
            #expect(try store.file(for: Self.sha("mesh-\(a)")) == nil && store.file(for: Self.sha("obj-\(a)")) == nil)
            #expect(try store.file(for: model) != nil, "the model b still uses is kept")
            #expect(try store.file(for: Self.sha("mesh-\(b)")) != nil && store.file(for: Self.sha("obj-\(b)")) != nil)
            #expect(try store.file(for: unattached) != nil, "an upload younger than the grace period is kept")
            #expect(collection["artifactsSpared"] as? Int == 1)
            // Its render was still queued: workers go on hearing that the job is
            // cancelled, so they skip that task rather than run it.
            let heard = try await listener.consume(queue: "control-listener", prefetch: 100)
            try await Task.sleep(for: .seconds(2.5))
            var announced: [String] = []
            var messages = heard.makeAsyncIterator()
            while let delivery = await messages.next() {
                announced = try ControlMessage.decode(delivery.message.body).cancelledJobs
                if try await listener.messageCount(queue: "control-listener") == 0 { break }
            }
            #expect(announced.contains(a), "\(announced)")
            await heard.cancel()

            // Past the grace period, an upload no job names goes.
            try Self.age(store, unattached, by: 7200)
            #expect(try await Self.collect(client)["artifactsRemoved"] as? Int == 1)
            #expect(try store.file(for: unattached) == nil)
            try await client.execute(uri: "/v1/storage", method: .get) { response in
                let view = Self.json(response)
                #expect(view?["state"] as? String == "accepting")
                #expect(view?["artifactFiles"] as? Int == 3, "b's model, mesh and OBJ: \(String(describing: view))")
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(text.contains("meshfarm_gc_runs_total") && text.contains("meshfarm_gc_freed_bytes_total"))
                #expect(text.contains("meshfarm_disk_free_bytes") && text.contains("meshfarm_artifacts_bytes"))
            }
        }
        await consumer.cancel()
        let log = try String(contentsOf: audit, encoding: .utf8)
        #expect(log.contains(#""action":"delete""#) && log.contains(#""action":"storage-collect""#))
    }

    @Test func retentionDeletesFinishedJobsPastItsAgeAndNothingElse() async throws {
        let audit = TestEnvironment.outputDirectory("lifecycle-retention").appendingPathComponent("audit.log")
        var policy = StoragePolicy()
        policy.retentionDays = 0.5 / 86_400  // half a second
        let service = try await Service(auditLog: audit, storage: policy)
        try await service.test { client in
            let model = try await SubmitAPITests.upload(client, "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n# retention\n")
            let finished = try await Self.createJob(client, model: model).id
            let running = try await Self.createJob(client, model: model).id
            try await client.execute(uri: "/v1/jobs/\(finished)/cancel", method: .post) { #expect($0.status == .ok) }
            try await Task.sleep(for: .seconds(1))
            #expect(try await Self.collect(client)["jobsDeleted"] as? Int == 1)
            try await client.execute(uri: "/v1/jobs/\(finished)", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/v1/jobs/\(running)", method: .get) { #expect($0.status == .ok) }
            #expect(try service.artifacts.file(for: model) != nil, "the running job's model stays")
        }
        let log = try String(contentsOf: audit, encoding: .utf8)
        #expect(log.contains(#""action":"retention-delete""#) && log.contains(#""who":"meshfarm-submit""#))
    }

    @Test func aFullDiskRefusesNewWorkThenHoldsTasksAndNothingAcceptedIsLost() async throws {
        var policy = StoragePolicy()
        policy.diskGuard = DiskGuard(minimumFree: 1_000_000, floor: 100_000)
        let free = FixedFreeSpace(10 << 30)
        // Reconciling twice a second: held tasks go out soon after space is back.
        let service = try await Service(storage: policy, freeSpace: free, reconciler: Reconciler(lostAfter: 2))
        let worker = await HandWorker(service)
        worker.holding.store(true, ordering: .relaxed)
        let consumer = try await worker.start()
        try await service.test { client in
            let model = try await SubmitAPITests.upload(client, "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n# guard\n")
            let job = try await Self.createJob(client, model: model).id

            // Under the minimum: no new uploads or jobs, results still stored.
            free.bytes = 500_000
            try await client.execute(uri: "/v1/uploads?name=m.obj", method: .put, body: ByteBuffer(string: "v 1 1 1")) {
                response in
                #expect(response.status.code == 507 && Self.errorCode(response) == "insufficient-storage")
                #expect(Self.errorMessage(response).contains("nearly full"), "\(Self.errorMessage(response))")
            }
            #expect(try await Self.createJob(client, model: model, expect: .init(code: 507)).error != nil)
            try await client.execute(uri: "/v1/artifacts", method: .put, body: ByteBuffer(string: "a result")) {
                #expect($0.status == .created)
            }
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .ok)
                let degraded = Self.json(response)?["degraded"] as? [String]
                #expect(degraded?.contains { $0.hasPrefix("storage:") } == true, "\(String(describing: degraded))")
            }

            // Under the floor: results wait (507 with Retry-After), and the
            // job's next task is held instead of published.
            free.bytes = 50_000
            try await client.execute(uri: "/v1/artifacts", method: .put, body: ByteBuffer(string: "another")) {
                response in
                #expect(response.status.code == 507 && response.headers[.retryAfter] == "30")
            }
            worker.release()
            try await Self.waitFor(client, job, task: 0, "succeeded")
            try await Task.sleep(for: .seconds(1.5))
            #expect(try await Self.taskState(client, job, 1) == "ready", "the render is held")
            let depth = try await worker.transport.messageCount(queue: service.farm.gpuQueue)
            #expect(depth == 0, "nothing was published to the GPU queue")

            // Space again: the held task goes out, and the job carries on.
            free.bytes = 10 << 30
            try await Self.waitFor(client, job, task: 1, "queued")
            #expect(try await worker.transport.messageCount(queue: service.farm.gpuQueue) == 1)
        }
        await consumer.cancel()
    }

    @Test func quotasLimitUnfinishedJobsAndStoredBytesPerSubmitter() async throws {
        let directory = TestEnvironment.outputDirectory("lifecycle-quotas")
        let (ann, root) = (AccessToken.generate(), AccessToken.generate())
        let file = directory.appendingPathComponent("tokens")
        try [
            TokenBook.line(for: Principal(name: "ann", role: .submitter), token: ann),
            TokenBook.line(for: Principal(name: "root", role: .admin), token: root),
        ].joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
        var policy = StoragePolicy()
        policy.maxUnfinishedJobs = 1
        policy.maxStoredBytes = 150
        let service = try await Service(
            authentication: Authentication(tokens: try TokenFile(path: file.path)), storage: policy)
        let asAnn: HTTPFields = [.authorization: "Bearer \(ann)"]
        let asRoot: HTTPFields = [.authorization: "Bearer \(root)"]
        try await service.test { client in
            func upload(_ text: String, as headers: HTTPFields) async throws -> (HTTPResponse.Status, String?, String) {
                try await client.execute(
                    uri: "/v1/uploads?name=m.obj", method: .put, headers: headers, body: ByteBuffer(string: text)
                ) { ($0.status, Self.json($0)?["sha256"] as? String, Self.errorMessage($0)) }
            }
            // 100 bytes stored of 150; another 100 would pass the quota.
            let first = try await upload(String(repeating: "a", count: 100), as: asAnn)
            #expect(first.0 == .created)
            let second = try await upload(String(repeating: "b", count: 100), as: asAnn)
            #expect(second.0 == .contentTooLarge && second.2.contains("quota"), "\(second.2)")
            // An admin has no quota.
            #expect(try await upload(String(repeating: "c", count: 100), as: asRoot).0 == .created)

            // One unfinished job at a time.
            let model = try #require(first.1)
            let job = try await Self.createJob(client, model: model, headers: asAnn).id
            let refused = try await Self.createJob(client, model: model, headers: asAnn, expect: .tooManyRequests)
            #expect(refused.error == "quota-exceeded")
            _ = try await Self.createJob(client, model: model, headers: asRoot)
            try await client.execute(uri: "/v1/jobs/\(job)/cancel", method: .post, headers: asAnn) {
                #expect($0.status == .ok)
            }
            _ = try await Self.createJob(client, model: model, headers: asAnn)

            // What ann stores, as she sees it.
            try await client.execute(uri: "/v1/storage", method: .get, headers: asAnn) { response in
                let principals = Self.json(response)?["principals"] as? [[String: Any]]
                #expect(principals?.count == 1 && principals?.first?["name"] as? String == "ann")
                #expect(principals?.first?["storedBytes"] as? Int == 100)
                #expect(principals?.first?["maxStoredBytes"] as? Int == 150)
            }
            // Only an admin runs a collection; an owner deletes its own finished job, not others'.
            try await client.execute(uri: "/v1/storage/collect", method: .post, headers: asAnn) {
                #expect($0.status == .forbidden)
            }
            try await client.execute(uri: "/v1/jobs/\(job)", method: .delete, headers: asAnn) {
                #expect($0.status == .noContent)
            }
        }
    }
}
