import ArgumentParser
import MeshFarmRender

/// `meshfarm devices`: lists Vulkan devices and runs the self-test on one.
struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices", abstract: "List Vulkan devices and check the chosen one with a compute self-test.")

    @Option(help: "Device index to check (default: the best one).")
    var device: Int?

    func run() throws {
        for info in try VulkanContext.availableDevices() { print(info) }
        let context = try VulkanContext(options: .init(deviceIndex: device))
        try DeviceSelfTest().verify(on: context)
        print("self-test passed on \(context.deviceInfo.name)")
    }
}
