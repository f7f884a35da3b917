import Foundation
import Hummingbird
import Logging
import MeshFarmAMQP
import MeshFarmAPI
import MeshFarmArtifacts
import MeshFarmCoordinator
import MeshFarmJobs
import MeshFarmMessaging
import ServiceLifecycle

/// Everything `meshfarm-submit` runs: job store, artifact store, broker
/// connection, coordinator and HTTP API, stopped gracefully on SIGTERM.
public struct SubmitServer: Sendable {
    public struct Configuration: Sendable {
        public var host: String = "127.0.0.1"
        public var port: Int = 8080
        public var dataDirectory: URL
        public var brokerURL: String
        public var farm: FarmTopology = FarmTopology()
        public var retryPolicy: RetryPolicy = RetryPolicy()
        public var dispatchPolicy: DispatchPolicy = DispatchPolicy()
        public var reconciler: Reconciler = Reconciler()
        public var limits: SubmitAPI.Limits = SubmitAPI.Limits()
        public var heartbeat: Int = 30
        /// Who may call the API (off: everyone, as an anonymous admin).
        public var authentication: Authentication = .off
        /// Retention, the collector, the disk guard, quotas.
        public var storage = StoragePolicy()
        /// The key job notices are signed with (HMAC-SHA256); nil: jobs may
        /// not name a callback.
        public var callbackSecret: String?
        /// How notices link to the service (`https://farm.example.com`);
        /// empty: paths.
        public var publicURL = ""
        /// Callbacks may name this machine or private networks.
        public var callbackAllowPrivate = false

        public init(dataDirectory: URL, brokerURL: String) {
            self.dataDirectory = dataDirectory
            self.brokerURL = brokerURL
        }
    }

    public let configuration: Configuration

    public init(configuration: Configuration) { self.configuration = configuration }

    /// Runs until SIGTERM/SIGINT. `onListening` gets the bound port.
    public func run(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        Observability.bootstrap()
        let logger = Logger(label: "meshfarm.submit")
        let store = try SQLiteJobStore(path: configuration.dataDirectory.appendingPathComponent("jobs.sqlite").path)
        let artifacts = try DiskArtifactStore(root: configuration.dataDirectory.appendingPathComponent("artifacts"))
        let transport = AMQPTransport(
            configuration: .init(url: try AMQPURL(configuration.brokerURL), heartbeat: configuration.heartbeat),
            logger: Logger(label: "meshfarm.amqp"))
        let freeSpace = FileSystemFreeSpace(path: artifacts.root.path)
        let diskGuard = configuration.storage.diskGuard
        let coordinator = Coordinator(
            transport: transport, store: store,
            configuration: .init(
                farm: configuration.farm, retryPolicy: configuration.retryPolicy,
                dispatchPolicy: configuration.dispatchPolicy, reconciler: configuration.reconciler,
                holdDispatch: { diskGuard.holdReason(free: (try? freeSpace.freeBytes()) ?? 0) }),
            logger: logger)
        let api = SubmitAPI(
            coordinator: coordinator, artifacts: artifacts, limits: configuration.limits,
            authentication: configuration.authentication,
            auditLog: configuration.dataDirectory.appendingPathComponent("audit.log"),
            storage: configuration.storage, freeSpace: freeSpace, callbacks: configuration.callbackSecret != nil,
            privateCallbacks: configuration.callbackAllowPrivate
        ) {
            [transport.isConnected ? nil : "not connected to the broker", coordinator.storeProblem].compactMap { $0 }
        }
        let app = Application(
            router: api.makeRouter(),
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port), serverName: "meshfarm-submit"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: CoordinatorService(coordinator: coordinator, transport: transport)),
                    .init(service: app),
                    .init(service: api.storageService),
                ]
                    + (configuration.callbackSecret.map {
                        [
                            .init(
                                service: Notifier(
                                    coordinator: coordinator,
                                    configuration: .init(secret: $0, publicURL: configuration.publicURL)))
                        ]
                    } ?? []),
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        logger.info(
            "starting", metadata: ["port": "\(configuration.port)", "data": "\(configuration.dataDirectory.path)"])
        try await group.run()
    }
}

/// The coordinator as a lifecycle service: starts consuming, processes until
/// shutdown, then stops consuming and closes the broker connection.
///
/// On SIGTERM the loop finishes the commands it holds. Whatever still waits
/// on the broker then (the topology while the broker cannot be reached, a
/// publish it does not confirm) would hold the process until it is killed,
/// so the connection closes at once when the broker is away and after
/// ``closeGrace`` seconds otherwise; a task whose publication that cuts
/// short stays unpublished in the store and is published at the next start.
struct CoordinatorService: Service {
    let coordinator: Coordinator
    let transport: AMQPTransport
    var closeGrace: Double = 3

    func run() async throws {
        try await withGracefulShutdownHandler {
            do {
                try await coordinator.start()
            } catch AMQPError.shutdown {
                return  // shut down before the broker was reached
            }
            await coordinator.run()
            await transport.close()
        } onGracefulShutdown: { [coordinator, transport, closeGrace] in
            Task {
                await coordinator.stop()
                if transport.isConnected { try? await Task.sleep(for: .seconds(closeGrace)) }
                await transport.close()
            }
        }
    }
}
