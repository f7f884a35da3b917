import ArgumentParser
import Foundation
import MeshFarmAPI
import MeshFarmTasks
import MeshFarmWorkerKit

/// `meshfarm-cpu-worker`: consumes `cpu.*` tasks (analyze, reduce, finalize).
@main
struct CPUWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "meshfarm-cpu-worker",
        abstract: "MeshFarm CPU worker: import, analysis, polygon reduction and contact sheets.",
        discussion: """
            Options also read environment variables (the flag wins): --broker MESHFARM_BROKER_URL, \
            --server MESHFARM_SERVER_URL, --concurrency MESHFARM_CONCURRENCY, --metrics-port \
            MESHFARM_METRICS_PORT. SIGTERM stops taking tasks; running ones get --shutdown-grace \
            seconds, then return to the queue.
            """)

    @OptionGroup var options: WorkerOptions

    @Option(help: "Tasks at once; also the broker prefetch (MESHFARM_CONCURRENCY; default: cores).")
    var concurrency: Int = Env.int("MESHFARM_CONCURRENCY", ProcessInfo.processInfo.activeProcessorCount)

    func validate() throws {
        try options.validateURLs()
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
    }

    func run() async throws {
        let handlers = CPUTaskHandlers.make(artifacts: try options.artifacts())
        try await WorkerServer(configuration: options.configuration(pool: "cpu", concurrency: concurrency))
            .run(handlers: handlers)
    }
}
