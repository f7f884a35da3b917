import Foundation
import Hummingbird
import Logging
import MeshFarmAMQP
import MeshFarmAPI
import MeshFarmArtifacts
import MeshFarmJobs
import MeshFarmMessaging
import ServiceLifecycle

/// A worker process: the runtime on a broker connection plus a small HTTP
/// server for `/healthz`, `/readyz` and `/metrics`, stopped gracefully on
/// SIGTERM (no new tasks; in-flight ones finish within the grace period or
/// are handed back).
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
        /// Limit of kinds without their own, seconds.
        public var defaultTimeLimit: Double = 4 * 3600
        /// The broker's `consumer_timeout`, seconds (nil: none); every time
        /// limit stays below it.
        public var brokerConsumerTimeout: Double? = 3 * 3600
        /// Seconds between two self-tests while the worker is idle (nil:
        /// only the one at start-up).
        public var selfTestInterval: Double? = 300

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

    /// Runs until SIGTERM/SIGINT. `selfTest` (blocking; it throws when the
    /// worker is broken) is run again every ``Configuration/selfTestInterval``
    /// while the worker is idle (``SelfTestService``).
    public func run(
        handlers: [String: any TaskHandler<TaskPayload, TaskResult>],
        selfTest: (@Sendable () throws -> Void)? = nil
    ) async throws {
        Observability.bootstrap()
        let logger = Logger(label: "meshfarm.\(configuration.pool)-worker")
        let transport = AMQPTransport(
            configuration: .init(url: try AMQPURL(configuration.brokerURL), heartbeat: configuration.heartbeat),
            logger: Logger(label: "meshfarm.amqp"))
        let runtime = WorkerRuntime(
            transport: transport,
            configuration: WorkerConfiguration(
                queue: configuration.farm.queue(forPool: configuration.pool),
                eventsExchange: configuration.farm.eventsExchange,
                controlExchange: configuration.farm.controlExchange, concurrency: configuration.concurrency,
                workerName: configuration.name, timeLimits: configuration.timeLimits,
                defaultTimeLimit: configuration.defaultTimeLimit,
                brokerConsumerTimeout: configuration.brokerConsumerTimeout, shutdownGrace: configuration.shutdownGrace),
            handlers: handlers, logger: logger)
        let router = Router()
        HealthRoutes.add(to: router) {
            runtime.unhealthyReason.map { "unhealthy: \($0)" }
                ?? (transport.isConnected ? nil : "not connected to the broker")
        }
        let health = Application(
            router: router,
            configuration: .init(
                address: .hostname(configuration.metricsHost, port: configuration.metricsPort),
                serverName: "meshfarm-\(configuration.pool)-worker"),
            logger: logger)
        let farm = configuration.farm
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: RuntimeService(runtime: runtime, transport: transport)),
            .init(service: health),
        ]
        if let selfTest, let interval = configuration.selfTestInterval {
            services.append(
                .init(
                    service: SelfTestService(
                        interval: interval, isIdle: { runtime.inFlight == 0 }, test: selfTest,
                        stepAside: runtime.stepAside), successTerminationBehavior: .ignore))
        }
        let group = ServiceGroup(
            configuration: .init(
                services: services,
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

/// The worker runtime as a lifecycle service. SIGTERM stops new deliveries
/// and gives running tasks the grace period; then the broker connection
/// closes. The close also ends every wait on the broker (the topology
/// declaration while it cannot be reached, a consumer not yet subscribed),
/// so a worker with nothing running exits at once, broker or no broker.
struct RuntimeService: Service {
    let runtime: WorkerRuntime<TaskPayload, TaskResult>
    let transport: AMQPTransport

    func run() async throws {
        // Lines scripts and tests wait for: signals are handled from here on,
        // and then the queue is consumed.
        FileHandle.standardOutput.write(Data("started \(runtime.configuration.queue)\n".utf8))
        try await withGracefulShutdownHandler {
            do {
                try await waitForQueue(runtime.configuration.queue)
            } catch AMQPError.shutdown {
                return  // shut down before the broker was reached
            }
            FileHandle.standardOutput.write(Data("consuming \(runtime.configuration.queue)\n".utf8))
            try await runtime.run()
            await transport.close()
        } onGracefulShutdown: {
            Task {
                await runtime.shutdown()
                await transport.close()
            }
        }
    }

    /// The submit service declares the topology; a worker, whose broker user
    /// may not (least privilege: `deploy/rabbitmq/permissions.sh`), waits
    /// until its queue exists, asking passively every second.
    func waitForQueue(_ queue: String) async throws {
        var said = false
        while true {
            do {
                _ = try await transport.messageCount(queue: queue)
                return
            } catch MessagingError.noSuchQueue {
                if !said {
                    FileHandle.standardError.write(
                        Data("waiting for the submit service to declare the queue \(queue)\n".utf8))
                    said = true
                }
                try await Task.sleep(for: .seconds(1))
            }
        }
    }
}

/// Runs the worker's self-test again every `interval` seconds while it is
/// idle (a busy worker shows it works by finishing tasks): a device that
/// broke since start-up (a GPU gone bad, a lost driver, a full temporary
/// disk for the importer) makes the worker step aside as a failing task
/// would: it stops taking tasks, `/readyz` says why, and it exits (70) so
/// that its orchestrator starts a healthy one. Ends at the first failure or
/// at shutdown.
package struct SelfTestService: Service {
    let interval: Double
    let isIdle: @Sendable () -> Bool
    let test: @Sendable () throws -> Void
    let stepAside: @Sendable (String) -> Void

    package init(
        interval: Double, isIdle: @escaping @Sendable () -> Bool, test: @escaping @Sendable () throws -> Void,
        stepAside: @escaping @Sendable (String) -> Void
    ) {
        self.interval = interval
        self.isIdle = isIdle
        self.test = test
        self.stepAside = stepAside
    }

    package func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while true {
                try await Task.sleep(for: .seconds(interval))
                guard isIdle() else { continue }
                do {
                    try await BlockingIO.run(test)
                } catch {
                    stepAside("the self-test failed: \(error)")
                    return
                }
            }
        }
    }
}
