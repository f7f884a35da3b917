import Foundation
import MeshFarmJobs
import MeshFarmMessaging
import Synchronization

/// Answers `analyze` tasks on the in-memory broker as a CPU worker
/// would: it stores a mesh and an OBJ for the job (by default
/// `mesh-<job>` and `obj-<job>`, each its own artifact) and names them in
/// its result. Holds deliveries while `holding` is set.
final class HandWorker: Sendable {
    let service: SubmitAPITests.Service
    let transport: InMemoryTransport
    let holding = Atomic<Bool>(false)
    let held = Mutex<[Delivery]>([])
    /// The mesh's and the OBJ's bytes for a job.
    let outputs: @Sendable (String) -> (mesh: Data, obj: Data)

    init(
        _ service: SubmitAPITests.Service,
        outputs: @escaping @Sendable (String) -> (mesh: Data, obj: Data) = {
            (Data("mesh-\($0)".utf8), Data("obj-\($0)".utf8))
        }
    ) async {
        self.service = service
        self.outputs = outputs
        transport = await InMemoryTransport(broker: service.broker)
    }

    func start() async throws -> MessageConsumer {
        try await transport.consume(
            queue: service.farm.cpuQueue, prefetch: 8,
            onDelivery: { [self] delivery in
                if holding.load(ordering: .relaxed) {
                    held.withLock { $0.append(delivery) }
                } else {
                    answer(delivery)
                }
            }, onEnd: {})
    }

    func release() {
        holding.store(false, ordering: .relaxed)
        for delivery in held.withLock({ all in
            defer { all = [] }; return all
        }) { answer(delivery) }
    }

    func answer(_ delivery: Delivery) {
        guard let task = try? MessageCoding.decodeTask(delivery.message.body, as: JobTask.self),
            task.kind == "analyze"
        else { return }
        let bytes = outputs(task.jobID)
        guard let mesh = try? service.artifacts.put(data: bytes.mesh).sha256,
            let obj = try? service.artifacts.put(data: bytes.obj).sha256
        else { return }
        let event = JobTaskEvent(
            kind: .succeeded, task: task, worker: "hand",
            result: .analyze(
                AnalyzeResult(
                    analysis: .object(["triangles": .number(1)]), mesh: mesh, obj: obj, triangles: 1,
                    bounds: BoundsValue(min: [0, 0, 0], max: [1, 1, 0]))), seconds: 0.1)
        transport.publish(
            OutgoingMessage(
                exchange: service.farm.eventsExchange, routingKey: "succeeded.\(task.jobID)",
                body: try! MessageCoding.encode(event), messageID: event.eventID),
            thenAck: delivery, completion: nil)
    }
}
