import ArgumentParser
import Foundation
import Logging
import MeshFarmAPI
import MeshFarmArtifacts
import MeshFarmCoordinator
import MeshFarmGPUWorker
import MeshFarmJobs
import MeshFarmMesh
import MeshFarmMessaging
import MeshFarmRender
import MeshFarmWorker

/// `meshfarm run MODEL --out DIR`: the whole task graph in this process, on
/// the in-memory transport, with the same coordinator, runtimes and
/// handlers as the farm. No broker, no server.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a whole job locally (no broker, no server) and write the results.",
        discussion: """
            Writes DIR/report.json, DIR/lod<k>.obj, DIR/views/lod<k>-view<j>.png and \
            DIR/contact-sheet.png, the same layout as `meshfarm fetch`.
            """)

    @Argument(help: "Model file.")
    var model: String

    @OptionGroup var spec: SpecOptions

    @Option(help: "Output directory.")
    var out: String

    @Option(help: "CPU task threads (default: cores).")
    var cpuConcurrency: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Vulkan device index.")
    var device: Int?

    @Flag(help: "No progress bar.")
    var quiet = false

    @OptionGroup var importOptions: ImportOptions

    func run() async throws {
        let jobSpec = try spec.spec()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: model, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw ValidationError("\(model) is not a readable file")
        }
        let output = URL(fileURLWithPath: out)
        let farm = try await LocalFarm.start(
            cpuConcurrency: cpuConcurrency, device: device,
            importer: try importOptions.importer(concurrency: cpuConcurrency))
        defer { farm.cleanUp() }
        let result = try await farm.run(model: URL(fileURLWithPath: model), spec: jobSpec, quiet: quiet)
        try await OutputLayout.write(result, to: output) { file, destination in
            guard let source = try farm.artifacts.file(for: file.sha256) else {
                throw StorageError.notFound("artifact for \(file.path)")
            }
            try FileManager.default.copyItem(at: source, to: destination)
        }
        let report = JobReport(job: result)
        print("job \(result.id): \(result.status.rawValue) in \(String(format: "%.1f", report.timings.wallSeconds)) s")
        if let error = result.error { print("error: \(error)") }
        print("results: \(output.path)")
        if result.status != .succeeded { throw ExitCode.failure }
    }
}

/// Coordinator, CPU and GPU worker runtimes and an artifact store in one
/// process, joined by an in-memory broker.
final class LocalFarm: Sendable {
    let artifacts: DiskArtifactStore
    let coordinator: Coordinator
    let workers: [WorkerRuntime<TaskPayload, TaskResult>]
    let scratch: URL

    private init(
        artifacts: DiskArtifactStore, coordinator: Coordinator, workers: [WorkerRuntime<TaskPayload, TaskResult>],
        scratch: URL
    ) {
        self.artifacts = artifacts
        self.coordinator = coordinator
        self.workers = workers
        self.scratch = scratch
    }

    static func start(cpuConcurrency: Int, device: Int?, importer: any ModelLoading) async throws -> LocalFarm {
        var logger = Logger(label: "meshfarm.run")
        logger.logLevel = .warning
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("meshfarm-run-\(UUID().uuidString)")
        let artifacts = try DiskArtifactStore(root: scratch)
        let broker = InMemoryBroker()
        let farm = FarmTopology()
        let coordinator = Coordinator(
            transport: await InMemoryTransport(broker: broker), store: InMemoryJobStore(),
            configuration: .init(farm: farm), logger: logger)
        try await coordinator.start()
        Task { await coordinator.run() }

        let access = LocalArtifactAccess(store: artifacts)
        let renderer = try await BlockingIO.run {
            try ComputeRenderer(
                context: try VulkanContext(
                    options: .init(deviceIndex: device, pipelineCachePath: VulkanContext.defaultPipelineCachePath)))
        }
        let cpu = WorkerRuntime(
            transport: await InMemoryTransport(broker: broker),
            configuration: WorkerConfiguration(
                queue: farm.cpuQueue, eventsExchange: farm.eventsExchange, controlExchange: farm.controlExchange,
                concurrency: cpuConcurrency,
                workerName: "local-cpu"),
            handlers: CPUTaskHandlers.make(artifacts: access, importer: importer), logger: logger)
        let gpu = WorkerRuntime(
            transport: await InMemoryTransport(broker: broker),
            configuration: WorkerConfiguration(
                queue: farm.gpuQueue, eventsExchange: farm.eventsExchange, controlExchange: farm.controlExchange,
                concurrency: 1, workerName: "local-gpu"),
            handlers: RenderHandler.handlers(artifacts: access, renderer: renderer), logger: logger)
        for worker in [cpu, gpu] { Task { try await worker.run() } }
        return LocalFarm(artifacts: artifacts, coordinator: coordinator, workers: [cpu, gpu], scratch: scratch)
    }

    /// Submits the model and waits for the job to finish.
    func run(model: URL, spec: JobSpec, quiet: Bool) async throws -> JobRecord {
        let packed = try PackedModel(model.path)
        defer { packed.cleanUp() }
        let upload = try artifacts.put(file: URL(fileURLWithPath: packed.path))
        let job = JobRecord(
            id: "run-\(RandomID.make().prefix(12))", spec: spec, model: upload.sha256, fileName: model.lastPathComponent
        )
        _ = try await coordinator.submit(job)
        var last = job
        var shown = ""
        if let updates = try await coordinator.updates(for: job.id) {
            for await update in updates {
                last = update
                let line = ProgressLine.render(JobView(update))
                if !quiet, line != shown {
                    FileHandle.standardError.write(Data(("\r" + line).utf8))
                    shown = line
                }
            }
        }
        if !quiet { FileHandle.standardError.write(Data("\n".utf8)) }
        return try await coordinator.job(job.id) ?? last
    }

    func cleanUp() { try? FileManager.default.removeItem(at: scratch) }
}
