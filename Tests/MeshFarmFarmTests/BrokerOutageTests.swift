import Foundation
import MeshFarmAPI
import MeshFarmJobs
import MeshFarmTestSupport
import Testing

/// Job creation while the broker is away: the submit service stores the job
/// at once and publishes its tasks when the broker is back. On the node the
/// chaos soak uses (the suites run one at a time).
@Suite(.serialized) struct BrokerOutageTests {
    @Test func aJobCreatedWhileTheBrokerIsAwayIsStoredAtOnceAndRunsWhenItReturns() async throws {
        let node = BrokerNode(
            port: Int(ProcessInfo.processInfo.environment["MESHFARM_CHAOS_AMQP_PORT"] ?? "") ?? 5700)
        try await onThread { try node.start() }
        defer { try? node.stop() }
        let farm = FarmCluster(broker: node)
        defer { farm.stopAll() }
        try farm.startSubmit()
        try farm.startWorker("cpu", name: "cpu-1")
        try farm.startWorker("gpu", name: "gpu-1")
        let client = APIClient(baseURL: farm.serverURL, timeout: 30)
        let upload = try await client.upload(
            file: TestEnvironment.modelsDirectory.appendingPathComponent("suzanne.obj"))
        let request = CreateJobRequest(
            model: upload.sha256, name: "suzanne.obj",
            spec: JobSpec(lodRatios: [1], viewsPerLOD: 2, imageSize: 64, viewsPerTask: 2))

        try await onThread { try node.stop() }
        let asked = Date()
        let job = try await client.createJob(request, idempotencyKey: "outage-1")
        #expect(Date().timeIntervalSince(asked) < 5, "the creation waited for the broker")
        #expect(job.status == "queued")
        // Sent again (a lost response): the same job, not a second one.
        #expect(try await client.createJob(request, idempotencyKey: "outage-1").id == job.id)
        #expect(try await client.job(job.id).status == "queued")

        try await onThread { try node.start() }
        let deadline = Date().addingTimeInterval(120)
        var view = try await client.job(job.id)
        while !view.isFinished, Date() < deadline {
            try await Task.sleep(for: .milliseconds(250))
            view = (try? await client.job(job.id)) ?? view
        }
        #expect(view.status == "succeeded", "\(view.error ?? "")")
        #expect(view.tasks.allSatisfy { $0.state == "succeeded" })
    }
}
