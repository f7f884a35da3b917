import MeshFarmRender
import Testing

@Suite struct DeviceSelfTestTests {
    @Test func computeShaderWritesKnownFunctionOfInvocationID() throws {
        let context = try VulkanContext()
        // 3 million elements: more than 65535 workgroups of 64, so the
        // dispatch must fold into a second dimension to stay within limits.
        let test = DeviceSelfTest(count: 3_000_000, seed: 0xA5A5_0F0F)
        let values = try test.run(on: context)
        #expect(values.count == 3_000_000)
        var mismatches = 0
        for i in values.indices where values[i] != test.expected(i) { mismatches += 1 }
        #expect(mismatches == 0)
        #expect(values[0] == 0xA5A5_0F0F)
        #expect(values[1] == 2_654_435_761 ^ 0xA5A5_0F0F)
    }

    @Test func deviceIsListedAndSupportsTheRenderer() throws {
        let devices = try VulkanContext.availableDevices()
        #expect(!devices.isEmpty)
        #expect(devices.contains { $0.supportsRenderer })
        let context = try VulkanContext()
        #expect(context.deviceInfo.supportsRenderer)
    }

    @Test func missingDeviceIndexIsAClearError() throws {
        #expect(throws: VulkanError.self) { try VulkanContext(options: .init(deviceIndex: 99)) }
    }
}
