import Foundation
import Logging
import MeshFarmAPI
import MeshFarmArtifacts
import MeshFarmAuth
import MeshFarmCoordinator
import MeshFarmJobs
import Metrics
import ServiceLifecycle

/// How the submit service keeps its disk: retention, the collector, the
/// disk guard and the quotas of each submitter.
public struct StoragePolicy: Sendable {
    /// What the collector removes and spares.
    public var sweep = ArtifactSweep()
    /// Seconds between collections.
    public var interval: Double = 600
    /// Finished jobs older than this many days are deleted (nil: kept).
    public var retentionDays: Double?
    public var diskGuard = DiskGuard()
    /// Per submitter: bytes its jobs and pending uploads may hold (nil: no
    /// limit). Admins have no quota.
    public var maxStoredBytes: Int64?
    /// Per submitter: jobs queued or running at once (nil: no limit).
    public var maxUnfinishedJobs: Int?

    public init() {}
}

/// Keeps the artifact store from growing forever: deletes finished jobs
/// past the retention period, removes artifacts no job names (mark and
/// sweep, ``ArtifactSweep``), measures what each owner stores for its
/// quota, and reads the free space the disk guard decides on.
///
/// A collection runs every ``StoragePolicy/interval``, soon after a job is
/// deleted, and on an admin's request; runs asked for while one is going
/// share it.
public actor StorageKeeper {
    public let policy: StoragePolicy
    let artifacts: DiskArtifactStore
    let coordinator: Coordinator
    let freeSpace: any FreeSpaceReader
    let audit: AuditLog
    let logger: Logger
    /// Artifacts of jobs deleted since they were last swept.
    private var released: Set<String> = []
    /// What each owner's jobs name, and its bytes, at the last collection.
    private var referenced: [String: Set<String>] = [:]
    private var referencedBytes: [String: Int] = [:]
    /// Uploads since, per uploader, until a job names them or they go.
    private var pendingUploads: [String: [String: (bytes: Int, at: Date)]] = [:]
    private var running: Task<CollectionView, any Error>?
    /// Something was released while a run was going: run again after it.
    private var again = false
    public private(set) var lastCollection: CollectionView?
    private var stored = (files: 0, bytes: Int64(0))

    private let freeGauge = Gauge(label: "meshfarm_disk_free_bytes")
    private let bytesGauge = Gauge(label: "meshfarm_artifacts_bytes")
    private let filesGauge = Gauge(label: "meshfarm_artifacts_files")
    private let runs = Counter(label: "meshfarm_gc_runs_total")
    private let removedFiles = Counter(label: "meshfarm_gc_removed_files_total")
    private let freedBytes = Counter(label: "meshfarm_gc_freed_bytes_total")
    private let duration = Gauge(label: "meshfarm_gc_last_duration_seconds")
    private let retentionDeletes = Counter(label: "meshfarm_jobs_deleted_total", dimensions: [("by", "retention")])

    /// Who the audit log names for retention.
    static let system = Principal(name: "meshfarm-submit", role: .admin)

    init(
        policy: StoragePolicy, artifacts: DiskArtifactStore, coordinator: Coordinator,
        freeSpace: (any FreeSpaceReader)?, audit: AuditLog, logger: Logger = Logger(label: "meshfarm.storage")
    ) {
        self.policy = policy
        self.artifacts = artifacts
        self.coordinator = coordinator
        self.freeSpace = freeSpace ?? FileSystemFreeSpace(path: artifacts.root.path)
        self.audit = audit
        self.logger = logger
    }

    // MARK: - The disk guard

    /// Free bytes now; on a read error, none (refuse rather than fill).
    public nonisolated func freeBytes() -> Int64 {
        let free = (try? freeSpace.freeBytes()) ?? 0
        Gauge(label: "meshfarm_disk_free_bytes").record(free)
        return free
    }

    /// Why `work` of `bytes` is refused now (``DiskGuard``), or nil.
    nonisolated func refusal(of work: DiskGuard.Work, bytes: Int64) -> String? {
        policy.diskGuard.refusal(of: work, bytes: bytes, free: freeBytes())
    }

    /// The disk guard's state for `/readyz`, when it refuses anything.
    nonisolated func degradation() -> [String] {
        let free = freeBytes()
        switch policy.diskGuard.verdict(free: free) {
        case .accepting: return []
        case .refusingNewWork:
            return ["storage: \(DiskGuard.bytes(free)) free, new uploads and jobs refused"]
        case .full: return ["storage: \(DiskGuard.bytes(free)) free, results refused and tasks held"]
        }
    }

    // MARK: - Quotas

    /// Bytes `owner` stores: its jobs' artifacts at the last collection
    /// and its uploads since that no job of it names yet.
    public func storedBytes(of owner: String) -> Int {
        let mine = referenced[owner] ?? []
        let pending = (pendingUploads[owner] ?? [:]).filter { !mine.contains($0.key) }
        return (referencedBytes[owner] ?? 0) + pending.values.reduce(0) { $0 + $1.bytes }
    }

    /// An upload by `owner`: counted against its quota until a collection
    /// finds it named by one of its jobs, or removed.
    func uploaded(_ sha256: String, bytes: Int, by owner: String) {
        pendingUploads[owner, default: [:]][sha256] = (bytes, Date())
    }

    func usage(of principals: [String]) -> [PrincipalUsage] {
        principals.sorted().map {
            PrincipalUsage(
                name: $0, storedBytes: Int64(storedBytes(of: $0)), maxStoredBytes: policy.maxStoredBytes,
                maxUnfinishedJobs: policy.maxUnfinishedJobs)
        }
    }

    /// Everyone with jobs or pending uploads.
    var owners: [String] { Array(Set(referenced.keys).union(pendingUploads.keys).subtracting([""])) }

    public var storedTotals: (files: Int, bytes: Int64) { stored }

    // MARK: - Collection

    /// A job was deleted: its artifacts go at the next collection unless
    /// another job names them, or they were used in the last minutes.
    func released(_ job: JobRecord) {
        released.formUnion(job.artifacts)
        // A run already going marked before this deletion: another follows it.
        if running != nil { again = true }
        Task { _ = try? await self.collect() }
    }

    /// Retention, then mark and sweep; joins a run already going.
    public func collect() async throws -> CollectionView {
        if let running { return try await running.value }
        let task = Task { try await self.collectOnce() }
        running = task
        defer {
            running = nil
            if again {
                again = false
                Task { _ = try? await self.collect() }
            }
        }
        return try await task.value
    }

    private func collectOnce() async throws -> CollectionView {
        let start = Date()
        var jobsDeleted = 0
        if let days = policy.retentionDays {
            let cutoff = start.addingTimeInterval(-days * 86_400)
            for id in try await coordinator.finishedJobs(before: cutoff, limit: 1000) {
                guard case .deleted(let job) = try await coordinator.delete(id) else { continue }
                released.formUnion(job.artifacts)
                jobsDeleted += 1
                retentionDeletes.increment()
                await audit.record(Self.system, "retention-delete", job: id)
            }
        }
        // The mark after the retention's deletions; the inventory after the
        // mark: an artifact stored after the mark is young, and spared.
        let references = try await coordinator.artifactReferences()
        let marked = references.values.reduce(into: Set<String>()) { $0.formUnion($1) }
        // What was released up to the mark; what is released later waits for the next run.
        let releasedBefore = released
        let artifacts = self.artifacts
        let (inventory, partial) = try await BlockingIO.run { try artifacts.inventory() }
        let now = Date()
        let removals = policy.sweep.removals(of: inventory, marked: marked, released: releasedBefore, now: now)
        let stale = policy.sweep.stalePartials(partial, now: now)
        let (removed, freed) = try await BlockingIO.run { () -> (Set<String>, Int) in
            var removed: Set<String> = []
            var freed = 0
            for removal in removals {
                if let bytes = artifacts.remove(removal.name, unlessUsedSince: removal.unusedSince) {
                    removed.insert(removal.name)
                    freed += bytes
                }
            }
            for file in stale {
                artifacts.removePartial(file.name)
                freed += file.bytes
            }
            return (removed, freed)
        }
        // What stays released: deleted jobs' artifacts still stored and
        // unnamed, and whatever was released during this run.
        let present = Set(inventory.map(\.name)).subtracting(removed)
        released.subtract(releasedBefore.subtracting(present).union(releasedBefore.intersection(marked)))

        let sizes = Dictionary(inventory.map { ($0.name, $0.bytes) }, uniquingKeysWith: { a, _ in a })
        referenced = references
        referencedBytes = MeshFarmArtifacts.storedBytes(perOwner: references) { sizes[$0] }
        let graceCutoff = now.addingTimeInterval(-policy.sweep.grace)
        for (owner, uploads) in pendingUploads {
            let mine = references[owner] ?? []
            // Uploads since the run began were not in its inventory: kept as they are.
            let kept = uploads.filter {
                $0.value.at >= start
                    || (!mine.contains($0.key) && present.contains($0.key) && $0.value.at > graceCutoff)
            }
            pendingUploads[owner] = kept.isEmpty ? nil : kept
        }
        let kept = inventory.filter { marked.contains($0.name) }
        let remaining = inventory.filter { !removed.contains($0.name) }
        stored = (remaining.count, Int64(remaining.reduce(0) { $0 + $1.bytes }))
        let view = CollectionView(
            at: start, seconds: Date().timeIntervalSince(start), jobsDeleted: jobsDeleted,
            artifactsKept: kept.count, bytesKept: Int64(kept.reduce(0) { $0 + $1.bytes }),
            artifactsRemoved: removed.count + stale.count, bytesFreed: Int64(freed),
            artifactsSpared: inventory.count - kept.count - removed.count)
        lastCollection = view
        runs.increment()
        removedFiles.increment(by: removed.count + stale.count)
        freedBytes.increment(by: freed)
        duration.record(view.seconds)
        bytesGauge.record(stored.bytes)
        filesGauge.record(stored.files)
        _ = freeBytes()
        if view.artifactsRemoved > 0 || jobsDeleted > 0 {
            logger.info(
                "storage collected",
                metadata: [
                    "jobsDeleted": "\(jobsDeleted)", "removed": "\(view.artifactsRemoved)", "freed": "\(freed)",
                    "kept": "\(view.artifactsKept)", "spared": "\(view.artifactsSpared)",
                ])
        }
        return view
    }
}

/// Runs the keeper's collections every ``StoragePolicy/interval`` (the
/// first a minute after start) until the service shuts down.
struct StorageService: Service {
    let keeper: StorageKeeper

    func run() async throws {
        let interval = keeper.policy.interval
        try? await cancelWhenGracefulShutdown {
            try await Task.sleep(for: .seconds(min(60, interval)))
            while true {
                do { _ = try await keeper.collect() } catch is CancellationError { return } catch {
                    keeper.logger.error("storage collection failed", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: .seconds(interval))
            }
        }
    }
}
