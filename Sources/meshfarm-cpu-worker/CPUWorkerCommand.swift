import ArgumentParser
import Foundation
import MeshFarmAPI
import MeshFarmArtifacts
import MeshFarmMesh
import MeshFarmSandbox
import MeshFarmWorker

/// `meshfarm-cpu-worker`: consumes `cpu.*` tasks (analyze, reduce, finalize).
@main
struct CPUWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "meshfarm-cpu-worker",
        abstract: "MeshFarm CPU worker: import, analysis, polygon reduction and contact sheets.",
        discussion: WorkerOptions.commonDiscussion + """
             Every model import runs in a child process (meshfarm-import) under memory, CPU and \
            wall-time limits: a file that crashes or exhausts the importer fails its own job and nothing else.
            """)

    @OptionGroup var options: WorkerOptions

    @Option(help: "Tasks at once; also the broker prefetch (MESHFARM_CONCURRENCY; default: cores).")
    var concurrency: Int = Env.int("MESHFARM_CONCURRENCY", ProcessInfo.processInfo.activeProcessorCount)

    @OptionGroup var importOptions: ImportContainmentOptions

    func validate() throws {
        try options.validate()
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
    }

    func run() async throws {
        let importer = ContainedImporter(containment: try importOptions.containment(concurrency: concurrency))
        try await BlockingIO.run { try Self.selfTest(importer) }
        let handlers = CPUTaskHandlers.make(artifacts: try options.artifacts(), importer: importer)
        try await WorkerServer(configuration: options.configuration(pool: "cpu", concurrency: concurrency))
            .run(handlers: handlers, selfTest: { try Self.selfTest(importer) })
    }

    /// Imports a one-triangle model through the containment before taking
    /// work: a missing or broken importer stops the worker at start-up, not
    /// every task it would take.
    static func selfTest(_ importer: ContainedImporter) throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("meshfarm-selftest-\(getpid()).obj")
        try Data("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        do {
            let model = try importer.load(path: file.path)
            guard model.mesh.triangleCount == 1 else {
                throw ValidationError("the importer's self-test read a wrong mesh")
            }
        } catch {
            throw ValidationError("the contained importer does not work (\(importer.containment.executable)): \(error)")
        }
    }
}
