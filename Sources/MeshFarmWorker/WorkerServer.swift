import Foundation
import Hummingbird
import Logging
import MeshFarmAMQP
import MeshFarmAPI
import MeshFarmJobs
import MeshFarmMessaging
import ServiceLifecycle

/// A worker process: the runtime on a broker connection plus a small HTTP
/// server for `/healthz`, `/readyz` and `/metrics`, stopped gracefully on
/// SIGTERM (no new tasks; in-flight ones finish within the grace period or
/// return to the queue).
public struct WorkerServer: Sendable {
    public struct Configuration: Sendable {
        public var brokerURL: String
        public var farm: FarmTopology
        public var pool: String
        public var concurrency: Int
        public var name: String
        public var metricsHost: String = "0.0.0.0"
        public var metricsPort: Int
        public var heartbeat: Int = 30
        public var shutdownGrace: Double = 3600
        public var timeLimits: [String: Double] = [:]

        public init(
            brokerURL: String, farm: FarmTopology, pool: String, concurrency: Int, name: String, metricsPort: Int
        ) {
            self.brokerURL = brokerURL
            self.farm = farm
            self.pool = pool
            self.concurrency = concurrency
            self.name = name
            self.metricsPort = metricsPort
        }
    }

    public let configuration: Configuration

    public init(configuration: Configuration) { self.configuration = configuration }

    /// Runs until SIGTERM/SIGINT.
    public func run(handlers: [String: any TaskHandler<TaskPayload, TaskResult>]) async throws {
        Observability.bootstrap()
        let logger = Logger(label: "meshfarm.\(configuration.pool)-worker")
        let transport = AMQPTransport(
            configuration: .init(url: try AMQPURL(configuration.brokerURL), heartbeat: configuration.heartbeat),
            logger: Logger(label: "meshfarm.amqp"))
        let runtime = WorkerRuntime(
            transport: transport,
            configuration: WorkerConfiguration(
                queue: configuration.farm.queue(forPool: configuration.pool),
                eventsExchange: configuration.farm.eventsExchange, concurrency: configuration.concurrency,
                workerName: configuration.name, timeLimits: configuration.timeLimits,
                shutdownGrace: configuration.shutdownGrace),
            handlers: handlers, logger: logger)
        let router = Router()
        HealthRoutes.add(to: router) { transport.isConnected ? nil : "not connected to the broker" }
        let health = Application(
            router: router,
            configuration: .init(
                address: .hostname(configuration.metricsHost, port: configuration.metricsPort),
                serverName: "meshfarm-\(configuration.pool)-worker"),
            logger: logger)
        let farm = configuration.farm
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: RuntimeService(runtime: runtime, transport: transport, farm: farm)),
                    .init(service: health),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        logger.info(
            "starting",
            metadata: [
                "name": "\(configuration.name)", "queue": "\(farm.queue(forPool: configuration.pool))",
                "concurrency": "\(configuration.concurrency)",
            ])
        try await group.run()
    }
}

struct RuntimeService: Service {
    let runtime: WorkerRuntime<TaskPayload, TaskResult>
    let transport: AMQPTransport
    let farm: FarmTopology

    func run() async throws {
        try await transport.declare(farm.topology)
        // A line scripts and tests wait for.
        FileHandle.standardOutput.write(Data("consuming \(runtime.configuration.queue)\n".utf8))
        try await withGracefulShutdownHandler {
            try await runtime.run()
        } onGracefulShutdown: {
            Task { await runtime.shutdown() }
        }
        await transport.close()
    }
}
