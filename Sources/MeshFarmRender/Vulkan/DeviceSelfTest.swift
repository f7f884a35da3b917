import CVulkan
import Foundation

/// Dispatches `shaders/selftest.comp` and checks every element it wrote.
///
/// A cheap end-to-end proof that the device compiles shaders, dispatches
/// compute work and maps memory correctly; the GPU worker runs it before it
/// reports ready.
public struct DeviceSelfTest: Sendable {
    /// Number of elements written and checked.
    public var count: Int
    public var seed: UInt32

    public init(count: Int = 1 << 20, seed: UInt32 = 0x5eed_1234) {
        self.count = count
        self.seed = seed
    }

    /// The value the shader must write at index `i`.
    public func expected(_ i: Int) -> UInt32 {
        (UInt32(truncatingIfNeeded: i) &* 2_654_435_761) ^ seed
    }

    /// Runs the dispatch and returns what the device wrote.
    public func run(on context: VulkanContext) throws -> [UInt32] {
        let buffer = try VulkanBuffer(context: context, size: count * 4)
        memset(buffer.contents, 0, buffer.size)
        let pipeline = try ComputePipeline(
            context: context, spirv: SPIRV.selftestComp, bindingCount: 1, pushConstantSize: 8)
        let groups = (count + 63) / 64
        // maxComputeWorkGroupCount is 65535 per dimension on lavapipe: fold
        // large dispatches into a second dimension.
        let x = min(groups, 65535)
        let y = (groups + x - 1) / x
        try context.submitAndWait { cb in
            try pipeline.dispatch(
                cb, buffers: [BufferBinding(buffer)], constants: SIMD2<UInt32>(UInt32(count), seed),
                groups: (UInt32(x), UInt32(y), 1))
            computeBarrier(cb)
        }
        return buffer.read(UInt32.self, count: count)
    }

    /// Runs the dispatch and throws unless every element is right.
    public func verify(on context: VulkanContext) throws {
        let values = try run(on: context)
        if let bad = values.indices.first(where: { values[$0] != expected($0) }) {
            throw VulkanError("self-test mismatch at \(bad): got \(values[bad]), expected \(expected(bad))")
        }
    }
}
