import ArgumentParser
import Foundation
import MeshFarmAPI
import MeshFarmMessaging

/// Options shared by both worker executables, each with its `MESHFARM_*`
/// environment variable.
public struct WorkerOptions: ParsableArguments {
    /// What both worker commands' help says of options and of stopping.
    public static let commonDiscussion = """
        Every option also reads the environment variable its help names (the flag wins). \
        SIGTERM stops taking tasks; running ones get --shutdown-grace seconds, then are handed \
        back to the coordinator. A task past --time-limit fails permanently with the reason.
        """

    @Option(help: "Broker URL (MESHFARM_BROKER_URL).")
    public var broker: String = Env.string("MESHFARM_BROKER_URL", Env.defaultBroker)

    @Option(help: "Submit service URL, for artifacts (MESHFARM_SERVER_URL).")
    public var server: String = Env.string("MESHFARM_SERVER_URL", Env.defaultServer)

    @Option(help: "Bearer token of role worker, when the service has a tokens file (MESHFARM_TOKEN).")
    public var token: String = Env.string("MESHFARM_TOKEN", "")

    @Option(help: "Port of /healthz, /readyz and /metrics (MESHFARM_METRICS_PORT).")
    public var metricsPort: Int = Env.int("MESHFARM_METRICS_PORT", 9100)

    @Option(help: "Worker name in events and the dashboard (MESHFARM_WORKER_NAME; default host:pid).")
    public var name: String = Env.string(
        "MESHFARM_WORKER_NAME", "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)")

    @Option(help: "Prefix of exchange and queue names (MESHFARM_TOPOLOGY_PREFIX).")
    public var topologyPrefix: String = Env.string("MESHFARM_TOPOLOGY_PREFIX", "meshfarm")

    @Option(help: "Broker deliveries of one task before it is dead-lettered (MESHFARM_DELIVERY_LIMIT).")
    public var deliveryLimit: Int = Env.int("MESHFARM_DELIVERY_LIMIT", 5)

    @Option(
        help: "Seconds in-flight tasks may finish after SIGTERM before they are handed back (MESHFARM_SHUTDOWN_GRACE).")
    public var shutdownGrace: Double = Env.double("MESHFARM_SHUTDOWN_GRACE", 3600)

    @Option(
        help: """
            Hard time limit of a task, seconds: past it the task fails permanently with the reason \
            (MESHFARM_TIME_LIMIT).
            """)
    public var timeLimit: Double = Env.double("MESHFARM_TIME_LIMIT", 4 * 3600)

    @Option(
        help: """
            The broker's consumer_timeout, seconds, 0 if it has none (MESHFARM_BROKER_CONSUMER_TIMEOUT). Time \
            limits stay below it (by a quarter of it, at most a minute), so the broker never hands a running \
            task to a second worker. Must match the broker's configuration.
            """)
    public var brokerConsumerTimeout: Double = Env.double("MESHFARM_BROKER_CONSUMER_TIMEOUT", 3 * 3600)

    @Option(
        help: """
            Seconds an artifact download or upload keeps being tried while the submit service is unreachable \
            or failing, before its task fails (MESHFARM_TRANSFER_BUDGET).
            """)
    public var transferBudget: Double = Env.double("MESHFARM_TRANSFER_BUDGET", 300)

    @Option(
        help: """
            Seconds an upload keeps being tried while the submit service's disk is full (507), before its \
            task fails (MESHFARM_STORAGE_WAIT).
            """)
    public var storageWait: Double = Env.double("MESHFARM_STORAGE_WAIT", 3600)

    @Option(
        help: """
            Seconds between two self-tests while the worker is idle, 0 for none after the one at start-up \
            (MESHFARM_SELF_TEST_INTERVAL). A failing self-test makes the worker stop taking tasks, report \
            not-ready and exit (70).
            """)
    public var selfTestInterval: Double = Env.double("MESHFARM_SELF_TEST_INTERVAL", 300)

    @Option(help: "Directory caching downloaded artifacts (MESHFARM_CACHE_DIR).")
    public var cacheDir: String = Env.string(
        "MESHFARM_CACHE_DIR", FileManager.default.temporaryDirectory.appendingPathComponent("meshfarm-cache").path)

    @Option(
        help: """
            Bytes the artifact cache may hold; the least recently used files go first (MESHFARM_CACHE_BYTES).
            """)
    public var cacheBytes: Int = Env.int("MESHFARM_CACHE_BYTES", 2 << 30)

    public init() {}

    public func validate() throws {
        guard timeLimit > 0, brokerConsumerTimeout >= 0, transferBudget >= 0, storageWait >= 0, selfTestInterval >= 0
        else {
            throw ValidationError(
                "--time-limit must be positive, --broker-consumer-timeout, --transfer-budget, --storage-wait and "
                    + "--self-test-interval 0 or more")
        }
        guard let url = URL(string: server), url.scheme == "http" || url.scheme == "https" else {
            throw ValidationError("--server must be an http:// or https:// URL, got '\(server)'")
        }
        guard broker.hasPrefix("amqp://") || broker.hasPrefix("amqps://") else {
            throw ValidationError("--broker must be an amqp:// or amqps:// URL")
        }
        guard cacheBytes >= 0 else { throw ValidationError("--cache-bytes must be 0 or more") }
    }

    /// Artifact access through the submit service.
    public func artifacts() throws -> HTTPArtifactAccess {
        try HTTPArtifactAccess(
            client: APIClient(baseURL: URL(string: server)!, token: token),
            cacheDirectory: URL(fileURLWithPath: cacheDir), cacheLimitBytes: cacheBytes,
            retry: TransferRetry(budget: transferBudget, storageBudget: storageWait))
    }

    public func configuration(pool: String, concurrency: Int) -> WorkerServer.Configuration {
        var configuration = WorkerServer.Configuration(
            brokerURL: broker, farm: FarmTopology(prefix: topologyPrefix, deliveryLimit: deliveryLimit), pool: pool,
            concurrency: concurrency, name: name, metricsPort: metricsPort)
        configuration.shutdownGrace = shutdownGrace
        configuration.defaultTimeLimit = timeLimit
        configuration.brokerConsumerTimeout = brokerConsumerTimeout > 0 ? brokerConsumerTimeout : nil
        configuration.selfTestInterval = selfTestInterval > 0 ? selfTestInterval : nil
        return configuration
    }
}
