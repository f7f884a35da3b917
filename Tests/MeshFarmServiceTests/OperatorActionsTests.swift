import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MeshFarmAPI
import MeshFarmMessaging
import MeshFarmTestSupport
import NIOCore
import Testing

/// Retry and priority through the real router and coordinator.
@Suite struct OperatorActionsTests {
    typealias Lifecycle = StorageLifecycleTests

    @Test func aCancelledJobIsRetriedKeepingWhatSucceededAndItsPriorityChanges() async throws {
        let audit = TestEnvironment.outputDirectory("operator-actions").appendingPathComponent("audit.log")
        let service = try await SubmitAPITests.Service(auditLog: audit)
        let worker = await HandWorker(service)
        worker.holding.store(true, ordering: .relaxed)
        let consumer = try await worker.start()
        try await service.test { client in
            let model = try await SubmitAPITests.upload(client, "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n# retry\n")
            let job = try await Lifecycle.createJob(client, model: model).id
            func retry() async throws -> (
                status: HTTPResponse.Status, code: String?, message: String, job: [String: Any]?
            ) {
                try await client.execute(uri: "/v1/jobs/\(job)/retry", method: .post) {
                    ($0.status, Lifecycle.errorCode($0), SubmitAPITests.errorMessage($0), SubmitAPITests.json($0))
                }
            }
            // Not while it runs.
            var answer = try await retry()
            #expect(answer.status == .conflict && answer.code == "not-retryable", "\(answer.message)")
            // Cancelled, then retried while its analysis is still with the
            // broker: the analysis stays queued, the rest runs again.
            try await client.execute(uri: "/v1/jobs/\(job)/cancel", method: .post) { #expect($0.status == .ok) }
            answer = try await retry()
            #expect(answer.status == .ok, "\(answer.message)")
            #expect(answer.job?["status"] as? String == "queued" && answer.job?["error"] == nil)
            let states = (answer.job?["tasks"] as? [[String: Any]])?.compactMap { $0["state"] as? String }
            #expect(states?.first == "queued" && states?.dropFirst().allSatisfy { $0 == "pending" } == true)
            // The analysis ends; the job carries on to its render.
            worker.release()
            try await Lifecycle.waitFor(client, job, task: 0, "succeeded")
            try await Lifecycle.waitFor(client, job, task: 1, "queued")
            try await client.execute(uri: "/v1/jobs/\(job)", method: .get) {
                #expect(SubmitAPITests.json($0)?["status"] as? String == "running")
            }
            // A job that has not failed is not retried.
            answer = try await retry()
            #expect(answer.status == .conflict && answer.message.contains("running"), "\(answer.message)")

            // Its priority changes; a bad one is refused.
            func patch(_ body: String) async throws -> (HTTPResponse.Status, [String: Any]?) {
                try await client.execute(uri: "/v1/jobs/\(job)", method: .patch, body: ByteBuffer(string: body)) {
                    ($0.status, SubmitAPITests.json($0))
                }
            }
            let changed = try await patch(#"{"priority": 7}"#)
            #expect(changed.0 == .ok && (changed.1?["spec"] as? [String: Any])?["priority"] as? Int == 7)
            #expect(try await patch(#"{"priority": 12}"#).0 == .unprocessableContent)
            #expect(try await patch("{}").0 == .badRequest)
            #expect(try await patch("priority=3").0 == .badRequest)
            #expect(try await patch(#"{"priority": 3, "prority": 4}"#).0 == .badRequest)
        }
        await consumer.cancel()
        let log = try String(contentsOf: audit, encoding: .utf8)
        #expect(log.contains(#""action":"retry""#) && log.contains(#""action":"priority 7""#))
    }

    @Test func aWorkerIsDrainedAndResumedOverTheControlExchange() async throws {
        let audit = TestEnvironment.outputDirectory("operator-drain").appendingPathComponent("audit.log")
        let service = try await SubmitAPITests.Service(auditLog: audit)
        let farm = service.farm
        // What the workers hear.
        let listener = await InMemoryTransport(broker: service.broker)
        try await listener.declare(
            Topology(
                exchanges: [], queues: [.init(name: "listener", quorum: false, transient: true)],
                bindings: [.init(queue: "listener", exchange: farm.controlExchange, pattern: "#")]))
        let heard = try await listener.consume(queue: "listener", prefetch: 10)
        // A worker reports itself.
        try await listener.publish(
            try WorkerStatus(worker: "gpu-7", queue: farm.gpuQueue, state: .idle, running: [], completed: 3).message(
                exchange: farm.eventsExchange))
        try await service.test { client in
            var workers: [[String: Any]] = []
            for _ in 0..<100 where workers.isEmpty {
                workers = try await client.execute(uri: "/v1/workers", method: .get) {
                    (try? JSONSerialization.jsonObject(with: Data(buffer: $0.body))) as? [[String: Any]] ?? []
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(workers.first?["name"] as? String == "gpu-7" && workers.first?["pool"] as? String == "gpu")
            #expect(workers.first?["state"] as? String == "idle" && workers.first?["tasksFinished"] as? Int == 3)
            try await client.execute(uri: "/v1/workers/gpu-9/drain", method: .post) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/v1/workers/gpu-7/drain", method: .post) { response in
                #expect(
                    response.status == .accepted && SubmitAPITests.json(response)?["state"] as? String == "draining")
            }
            var messages = heard.makeAsyncIterator()
            let drain = try ControlMessage.decode(try #require(await messages.next()).message.body)
            #expect(drain.drainWorkers == ["gpu-7"] && drain.resumeWorkers == nil)
            // The worker still says it is idle: the coordinator tells it again.
            try await listener.publish(
                try WorkerStatus(worker: "gpu-7", queue: farm.gpuQueue, state: .idle, running: [], completed: 3)
                    .message(exchange: farm.eventsExchange))
            #expect(
                try ControlMessage.decode(try #require(await messages.next()).message.body).drainWorkers == ["gpu-7"])
            try await client.execute(uri: "/v1/workers/gpu-7/resume", method: .post) { #expect($0.status == .accepted) }
            #expect(
                try ControlMessage.decode(try #require(await messages.next()).message.body).resumeWorkers == ["gpu-7"])
        }
        await heard.cancel()
        let log = try String(contentsOf: audit, encoding: .utf8)
        #expect(log.contains(#""action":"drain gpu-7""#) && log.contains(#""action":"resume gpu-7""#))
    }
}
