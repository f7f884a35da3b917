import ArgumentParser
import Foundation
import MeshFarmAPI
import MeshFarmArtifacts
import MeshFarmGPUWorker
import MeshFarmRender
import MeshFarmWorker

/// `meshfarm-gpu-worker`: consumes `gpu.*` tasks (render) with one Vulkan
/// context kept for the process's life.
@main
struct GPUWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "meshfarm-gpu-worker",
        abstract: "MeshFarm GPU worker: renders views with the Vulkan compute rasterizer.",
        discussion: WorkerOptions.commonDiscussion + """
             Ready only after a compute self-test passed on the device; the self-test runs again every \
            --self-test-interval seconds while idle.
            """)

    @OptionGroup var options: WorkerOptions

    @Option(help: "Tasks at once (MESHFARM_CONCURRENCY; default 1: renders share one device).")
    var concurrency: Int = Env.int("MESHFARM_CONCURRENCY", 1)

    @Option(help: "Vulkan device index, -1 for the best one (MESHFARM_VULKAN_DEVICE).")
    var device: Int = Env.int("MESHFARM_VULKAN_DEVICE", -1)

    func validate() throws {
        try options.validate()
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
    }

    func run() async throws {
        // Vulkan set-up, pipeline compilation and the self-test block for a while: off the cooperative pool.
        let device = self.device
        let (context, renderer) = try await BlockingIO.run {
            let context = try VulkanContext(
                options: .init(
                    deviceIndex: device >= 0 ? device : nil, pipelineCachePath: VulkanContext.defaultPipelineCachePath))
            // Prove the device works before taking tasks (and before /readyz says so).
            try DeviceSelfTest(count: 1 << 16).verify(on: context)
            return (context, try ComputeRenderer(context: context))
        }
        let handlers = RenderHandler.handlers(artifacts: try options.artifacts(), renderer: renderer)
        // Again while idle: a device that broke since start-up makes the worker step aside.
        try await WorkerServer(configuration: options.configuration(pool: "gpu", concurrency: concurrency))
            .run(handlers: handlers, selfTest: { try DeviceSelfTest(count: 1 << 16).verify(on: context) })
    }
}
