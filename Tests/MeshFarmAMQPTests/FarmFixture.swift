import Foundation
import MeshFarmAMQP
import MeshFarmMessaging
import MeshFarmTestSupport

/// A private topology (unique prefix) on a broker, a publisher connection
/// and a collector of the task events workers publish.
final class FarmFixture: @unchecked Sendable {
    let farm: FarmTopology
    let broker: BrokerNode
    let publisher: AMQPTransport
    private let lock = NSLock()
    private var events: [JSONTaskEvent] = []
    private var collector: Task<Void, Never>?

    init(deliveryLimit: Int = 5, broker: BrokerNode = .shared) async throws {
        farm = FarmTopology(prefix: TestEnvironment.uniqueName("t"), deliveryLimit: deliveryLimit)
        self.broker = broker
        publisher = try AMQPTransport(url: broker.url, heartbeat: 5)
        try await publisher.declare(farm.topology)
        let stream = try await publisher.consume(queue: farm.coordinatorQueue, prefetch: 200)
        collector = Task { [weak self] in
            for await delivery in stream {
                if let event = try? MessageCoding.decodeEvent(delivery.message.body, as: JSONTaskEvent.self) {
                    self?.lock.withLock { self?.events.append(event) }
                }
                try? await delivery.ack()
            }
        }
    }

    func publishTask(
        _ id: String, kind: String, payload: JSONValue = .null, pool: String = "cpu", jobID: String = "job"
    ) async throws {
        let task = JSONTask(taskID: id, attempt: 1, kind: kind, pool: pool, jobID: jobID, payload: payload)
        try await publisher.publish(
            OutgoingMessage(
                exchange: farm.tasksExchange, routingKey: task.routingKey,
                body: try MessageCoding.encoder().encode(task),
                messageID: task.messageID))
    }

    var allEvents: [JSONTaskEvent] { lock.withLock { events } }

    /// Succeeded events, deduplicated by task id (the coordinator's rule).
    var succeededTasks: Set<String> { Set(allEvents.filter { $0.kind == .succeeded }.map(\.taskID)) }

    /// Waits until `condition` holds over the collected events.
    @discardableResult
    func wait(timeout: Double, until condition: ([JSONTaskEvent]) -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition(allEvents) { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return condition(allEvents)
    }

    /// A worker runtime in this process on its own connection.
    func makeWorker(
        name: String, concurrency: Int = 1, heartbeat: Int = 30, timeLimit: Double = 4 * 3600,
        brokerConsumerTimeout: Double? = 3 * 3600, handlers: [String: any TaskHandler<JSONValue, JSONValue>]
    )
        -> (AMQPTransport, WorkerRuntime<JSONValue, JSONValue>)
    {
        let transport = AMQPTransport(configuration: .init(url: try! AMQPURL(broker.url), heartbeat: heartbeat))
        let runtime = WorkerRuntime<JSONValue, JSONValue>(
            transport: transport,
            configuration: WorkerConfiguration(
                queue: farm.cpuQueue, eventsExchange: farm.eventsExchange, controlExchange: farm.controlExchange,
                concurrency: concurrency, workerName: name,
                defaultTimeLimit: timeLimit, brokerConsumerTimeout: brokerConsumerTimeout, shutdownGrace: 1),
            handlers: handlers)
        return (transport, runtime)
    }

    /// A `meshfarm-test-worker` child process on this topology.
    func spawnWorker(name: String, concurrency: Int = 1) throws -> WorkerProcess {
        try WorkerProcess(
            executable: TestEnvironment.executable("meshfarm-test-worker"),
            arguments: [
                "--broker", broker.url, "--prefix", farm.prefix, "--delivery-limit", "\(farm.deliveryLimit)", "--name",
                name, "--concurrency", "\(concurrency)",
            ])
    }

    func close() async {
        collector?.cancel()
        await publisher.close()
    }
}

func seconds(_ value: Double) -> JSONValue { .object(["seconds": .number(value)]) }

let sleepHandler = JSONTaskHandler { task, _ in
    if case .number(let s)? = task.payload["seconds"] { Thread.sleep(forTimeInterval: s) }
    return .null
}
