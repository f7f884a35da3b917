import ArgumentParser
import Foundation
import MeshFarmAPI
import MeshFarmArtifacts
import MeshFarmAuth
import MeshFarmJobs
import MeshFarmMessaging
import MeshFarmService

/// `meshfarm-submit`: HTTP API + dashboard, job store, artifact store and
/// coordinator.
@main
struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "meshfarm-submit",
        abstract: "MeshFarm submit service: HTTP API, dashboard, job and artifact stores, coordinator.",
        discussion: """
            Every option also reads an environment variable (the flag wins): --port MESHFARM_PORT, \
            --data-dir MESHFARM_DATA_DIR, --broker MESHFARM_BROKER_URL, --max-upload-bytes \
            MESHFARM_MAX_UPLOAD_BYTES, --topology-prefix MESHFARM_TOPOLOGY_PREFIX, --queue-window \
            MESHFARM_QUEUE_WINDOW. Serves /healthz, \
            /readyz, /metrics, the dashboard at / and the API under /v1 (docs/openapi.json).
            """)

    @Option(help: "HTTP port (MESHFARM_PORT).")
    var port: Int = Env.int("MESHFARM_PORT", 8080)

    @Option(help: "Address to bind (MESHFARM_HOST); anything but loopback needs --tokens-file.")
    var host: String = Env.string("MESHFARM_HOST", "127.0.0.1")

    @Option(
        help: """
            Tokens file: one line per token, "<name> <role> sha256:<hex>" (`meshfarm token create` prints \
            them); every /v1 route then needs a bearer token or a dashboard session. Re-read when it changes \
            (MESHFARM_TOKENS_FILE).
            """)
    var tokensFile: String = Env.string("MESHFARM_TOKENS_FILE", "")

    @Flag(help: "Serve without authentication on a non-loopback address (MESHFARM_INSECURE_NO_AUTH=1).")
    var insecureNoAuth: Bool = Env.string("MESHFARM_INSECURE_NO_AUTH", "") == "1"

    @Flag(help: "Session cookies only over HTTPS (behind a TLS proxy; MESHFARM_SECURE_COOKIES=1).")
    var secureCookies: Bool = Env.string("MESHFARM_SECURE_COOKIES", "") == "1"

    @Option(help: "Job store and artifacts directory (MESHFARM_DATA_DIR).")
    var dataDir: String = Env.string("MESHFARM_DATA_DIR", "./var/meshfarm")

    @Option(help: "Broker URL, amqp:// or amqps:// (MESHFARM_BROKER_URL).")
    var broker: String = Env.string("MESHFARM_BROKER_URL", Env.defaultBroker)

    @Option(help: "Largest model upload in bytes (MESHFARM_MAX_UPLOAD_BYTES).")
    var maxUploadBytes: Int = Env.int("MESHFARM_MAX_UPLOAD_BYTES", 1 << 30)

    @Option(help: "Prefix of exchange and queue names (MESHFARM_TOPOLOGY_PREFIX).")
    var topologyPrefix: String = Env.string("MESHFARM_TOPOLOGY_PREFIX", "meshfarm")

    @Option(help: "Broker deliveries of one task before it is dead-lettered (MESHFARM_DELIVERY_LIMIT).")
    var deliveryLimit: Int = Env.int("MESHFARM_DELIVERY_LIMIT", 5)

    @Option(
        help: """
            Runnable tasks a pool's queue may hold beyond none running; the window grows to the pool's running \
            tasks. The rest wait in the coordinator and go out by job priority (MESHFARM_QUEUE_WINDOW).
            """)
    var queueWindow: Int = Env.int("MESHFARM_QUEUE_WINDOW", DispatchPolicy().minimumWindow)

    @Option(help: "First retry delay of a failed task, seconds (doubles each time; MESHFARM_RETRY_INITIAL).")
    var retryInitial: Double = Env.double("MESHFARM_RETRY_INITIAL", 10)

    @Option(help: "Longest retry delay, seconds (MESHFARM_RETRY_MAX).")
    var retryMax: Double = Env.double("MESHFARM_RETRY_MAX", 360)

    @Option(help: "Attempts of a task before its failure fails the job (MESHFARM_RETRY_ATTEMPTS).")
    var retryAttempts: Int = Env.int("MESHFARM_RETRY_ATTEMPTS", 6)

    @Option(
        help: """
            Seconds a running task may be silent (workers send a heartbeat every 30 s), or a queued one go \
            unstarted while its queue is empty, before it is taken as lost and published again \
            (MESHFARM_LOST_AFTER).
            """)
    var lostAfter: Double = Env.double("MESHFARM_LOST_AFTER", 300)

    @Option(help: "Delete finished jobs older than this many days; 0 keeps them (MESHFARM_RETENTION_DAYS).")
    var retentionDays: Double = Env.double("MESHFARM_RETENTION_DAYS", 0)

    @Option(help: "Seconds between storage collections: retention, then mark and sweep (MESHFARM_GC_INTERVAL).")
    var gcInterval: Double = Env.double("MESHFARM_GC_INTERVAL", 600)

    @Option(
        help: """
            Seconds an artifact no job names is kept unused: uploads never attached to a job, results whose \
            job is gone (MESHFARM_GC_GRACE).
            """)
    var gcGrace: Double = Env.double("MESHFARM_GC_GRACE", 86_400)

    @Option(help: "Free bytes under which new uploads and jobs are refused with 507 (MESHFARM_DISK_MIN_FREE).")
    var diskMinFree: Int64 = Int64(Env.int("MESHFARM_DISK_MIN_FREE", 2 << 30))

    @Option(
        help: """
            Free bytes under which results are refused too (workers wait and try again) and tasks are held \
            (MESHFARM_DISK_FLOOR).
            """)
    var diskFloor: Int64 = Int64(Env.int("MESHFARM_DISK_FLOOR", 512 << 20))

    @Option(help: "Per submitter: bytes its jobs and uploads may store; 0: no limit (MESHFARM_QUOTA_BYTES).")
    var quotaBytes: Int64 = Int64(Env.int("MESHFARM_QUOTA_BYTES", 0))

    @Option(help: "Per submitter: jobs queued or running at once; 0: no limit (MESHFARM_QUOTA_JOBS).")
    var quotaJobs: Int = Env.int("MESHFARM_QUOTA_JOBS", 0)

    @Option(
        help: ArgumentHelp(
            "Key that signs job notices (HMAC-SHA256); without it jobs may not name a callback "
                + "(MESHFARM_CALLBACK_SECRET)."))
    var callbackSecret: String = Env.string("MESHFARM_CALLBACK_SECRET", "")

    @Flag(
        help: ArgumentHelp(
            "Let job callbacks name this machine or private networks (trusted submitters only; "
                + "MESHFARM_CALLBACK_ALLOW_PRIVATE=1)."))
    var callbackAllowPrivate: Bool = Env.string("MESHFARM_CALLBACK_ALLOW_PRIVATE", "") == "1"

    @Option(
        help: ArgumentHelp(
            "Models with more triangles have each reduced level split across workers, unless their job says "
                + "otherwise (MESHFARM_SPLIT_ABOVE)."))
    var splitAbove: Int = Env.int("MESHFARM_SPLIT_ABOVE", JobSpec.defaultSplitAbove)

    @Option(help: "Triangles per part of a split, unless a job says otherwise (MESHFARM_PART_TRIANGLES).")
    var partTriangles: Int = Env.int("MESHFARM_PART_TRIANGLES", JobSpec.defaultPartTriangles)

    @Option(help: "How notices link to this service, e.g. https://farm.example.com (MESHFARM_PUBLIC_URL).")
    var publicURL: String = Env.string("MESHFARM_PUBLIC_URL", "")

    func validate() throws {
        guard retentionDays >= 0, gcInterval > 0, gcGrace >= 0 else {
            throw ValidationError("--retention-days and --gc-grace must not be negative, --gc-interval positive")
        }
        guard diskFloor >= 0, diskMinFree >= diskFloor else {
            throw ValidationError("--disk-min-free must be at least --disk-floor, and both not negative")
        }
        guard quotaBytes >= 0, quotaJobs >= 0 else { throw ValidationError("quotas must not be negative") }
        guard lostAfter > 0 else { throw ValidationError("--lost-after must be positive") }
        guard splitAbove >= 0, partTriangles >= JobSpec.minimumPartTriangles else {
            throw ValidationError(
                "--split-above must not be negative, --part-triangles at least \(JobSpec.minimumPartTriangles)")
        }
        do {
            try Authentication.check(host: host, hasTokens: !tokensFile.isEmpty, insecureNoAuth: insecureNoAuth)
        } catch { throw ValidationError("\(error)") }
        guard (1...65535).contains(port) || port == 0 else { throw ValidationError("--port must be 0...65535") }
        guard queueWindow >= 1 else { throw ValidationError("--queue-window must be at least 1") }
        guard retryInitial > 0, retryMax >= retryInitial, retryAttempts >= 1 else {
            throw ValidationError("retries need 0 < --retry-initial <= --retry-max and --retry-attempts >= 1")
        }
    }

    func run() async throws {
        var configuration = SubmitServer.Configuration(
            dataDirectory: URL(fileURLWithPath: dataDir), brokerURL: broker)
        configuration.host = host
        configuration.port = port
        configuration.farm = FarmTopology(prefix: topologyPrefix, deliveryLimit: deliveryLimit)
        configuration.retryPolicy = RetryPolicy(
            backoff: Backoff(initial: retryInitial, maximum: retryMax), maxAttempts: retryAttempts)
        configuration.dispatchPolicy = DispatchPolicy(minimumWindow: queueWindow)
        configuration.reconciler = Reconciler(lostAfter: lostAfter)
        configuration.limits.maxUploadBytes = maxUploadBytes
        configuration.limits.splitAbove = splitAbove
        configuration.limits.partTriangles = partTriangles
        configuration.storage.retentionDays = retentionDays > 0 ? retentionDays : nil
        configuration.storage.interval = gcInterval
        configuration.storage.sweep = ArtifactSweep(grace: gcGrace)
        configuration.storage.diskGuard = DiskGuard(minimumFree: diskMinFree, floor: diskFloor)
        configuration.storage.maxStoredBytes = quotaBytes > 0 ? quotaBytes : nil
        configuration.storage.maxUnfinishedJobs = quotaJobs > 0 ? quotaJobs : nil
        configuration.callbackSecret = callbackSecret.isEmpty ? nil : callbackSecret
        configuration.callbackAllowPrivate = callbackAllowPrivate
        configuration.publicURL = publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL
        if !tokensFile.isEmpty {
            let tokens: TokenFile
            do { tokens = try TokenFile(path: tokensFile) } catch { throw ValidationError("\(error)") }
            configuration.authentication = Authentication(tokens: tokens, secureCookies: secureCookies)
        }
        try await SubmitServer(configuration: configuration).run { port in
            // A line scripts and tests wait for.
            FileHandle.standardOutput.write(Data("listening on port \(port)\n".utf8))
        }
    }
}
