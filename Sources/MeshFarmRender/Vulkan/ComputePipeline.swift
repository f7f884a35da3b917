import CVulkan

/// A compute pipeline whose shader reads and writes `bindingCount` buffers
/// (bindings 0..<n of set 0: storage buffers, except `texelBindings`, which
/// are uniform texel buffers) and takes `pushConstantSize` bytes of push
/// constants.
///
/// lavapipe loads and stores storage buffers one invocation at a time, a
/// loop over the 8 lanes of its SIMD step; texel buffers are fetched with
/// vector gathers, several times cheaper, so read-only data read per pixel
/// is bound as texels.
///
/// Descriptor sets come from a small pool owned by the pipeline; the
/// renderer frees them all once nothing it submitted is in flight (a few
/// dispatches per view), so allocation cost is negligible next to the work.
public final class ComputePipeline: @unchecked Sendable {
    public let pipeline: VkPipeline
    public let layout: VkPipelineLayout
    let setLayout: VkDescriptorSetLayout
    let pool: VkDescriptorPool
    let bindingCount: Int
    let texelBindings: Set<Int>
    let pushConstantSize: Int
    private let device: VkDevice
    /// Keeps the device alive as long as the pipeline.
    private let context: VulkanContext
    /// Sets allocated so far in the pool; reset by ``resetDescriptors()``.
    private var allocatedSets = 0
    static let maxSets = 256

    /// Builds the pipeline from SPIR-V words, through the context's cache.
    /// `specialization` gives the shader's `constant_id` 0, 1, ... (32-bit
    /// each): code under a false constant is compiled out, where a push
    /// constant would leave it in (lavapipe runs every branch, masked).
    public init(
        context: VulkanContext, spirv: [UInt32], bindingCount: Int, texelBindings: Set<Int> = [],
        pushConstantSize: Int, specialization: [UInt32] = []
    ) throws {
        let device = context.device
        self.device = device
        self.context = context
        self.bindingCount = bindingCount
        self.texelBindings = texelBindings
        self.pushConstantSize = pushConstantSize

        var bindings = (0..<bindingCount).map { index in
            var binding = VkDescriptorSetLayoutBinding()
            binding.binding = UInt32(index)
            binding.descriptorType = Self.descriptorType(texel: texelBindings.contains(index))
            binding.descriptorCount = 1
            binding.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT.rawValue
            return binding
        }
        var setLayoutInfo = VkDescriptorSetLayoutCreateInfo()
        setLayoutInfo.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO
        setLayoutInfo.bindingCount = UInt32(bindingCount)
        var setLayout: VkDescriptorSetLayout?
        try bindings.withUnsafeMutableBufferPointer { pointer in
            setLayoutInfo.pBindings = UnsafePointer(pointer.baseAddress)
            try vkCheck(
                vkCreateDescriptorSetLayout(device, &setLayoutInfo, nil, &setLayout), "vkCreateDescriptorSetLayout")
        }
        self.setLayout = setLayout!

        var range = VkPushConstantRange()
        range.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT.rawValue
        range.size = UInt32(pushConstantSize)
        var layoutInfo = VkPipelineLayoutCreateInfo()
        layoutInfo.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO
        layoutInfo.setLayoutCount = 1
        layoutInfo.pushConstantRangeCount = pushConstantSize > 0 ? 1 : 0
        var layout: VkPipelineLayout?
        try withUnsafePointer(to: setLayout) { setLayoutPointer in
            try withUnsafePointer(to: range) { rangePointer in
                layoutInfo.pSetLayouts = setLayoutPointer
                layoutInfo.pPushConstantRanges = pushConstantSize > 0 ? rangePointer : nil
                try vkCheck(vkCreatePipelineLayout(device, &layoutInfo, nil, &layout), "vkCreatePipelineLayout")
            }
        }
        self.layout = layout!

        let module = try ShaderModule(device: device, spirv: spirv)
        var stage = VkPipelineShaderStageCreateInfo()
        stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO
        stage.stage = VK_SHADER_STAGE_COMPUTE_BIT
        stage.module = module.handle
        var pipeline: VkPipeline?
        // The module must outlive pipeline creation (ARC may end it after its last use above).
        var entries = specialization.indices.map { index in
            VkSpecializationMapEntry(constantID: UInt32(index), offset: UInt32(index * 4), size: 4)
        }
        var values = specialization
        try withExtendedLifetime(module) {
            try entries.withUnsafeMutableBufferPointer { entryPointer in
                try values.withUnsafeMutableBytes { valueBytes in
                    var info = VkSpecializationInfo()
                    info.mapEntryCount = UInt32(entryPointer.count)
                    info.pMapEntries = UnsafePointer(entryPointer.baseAddress)
                    info.dataSize = valueBytes.count
                    info.pData = UnsafeRawPointer(valueBytes.baseAddress)
                    try withUnsafePointer(to: info) { specializationPointer in
                        try "main".withCString { entry in
                            stage.pName = entry
                            stage.pSpecializationInfo = specialization.isEmpty ? nil : specializationPointer
                            var info = VkComputePipelineCreateInfo()
                            info.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO
                            info.stage = stage
                            info.layout = layout
                            try vkCheck(
                                vkCreateComputePipelines(device, context.pipelineCache, 1, &info, nil, &pipeline),
                                "vkCreateComputePipelines")
                        }
                    }
                }
            }
        }
        self.pipeline = pipeline!

        let texels = texelBindings.count
        var poolSizes = [(max(bindingCount - texels, 1), false), (texels, true)].filter { $0.0 > 0 }.map {
            count, texel in
            VkDescriptorPoolSize(type: Self.descriptorType(texel: texel), descriptorCount: UInt32(count * Self.maxSets))
        }
        var poolInfo = VkDescriptorPoolCreateInfo()
        poolInfo.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO
        poolInfo.maxSets = UInt32(Self.maxSets)
        poolInfo.poolSizeCount = UInt32(poolSizes.count)
        var pool: VkDescriptorPool?
        try poolSizes.withUnsafeMutableBufferPointer { sizePointer in
            poolInfo.pPoolSizes = UnsafePointer(sizePointer.baseAddress)
            try vkCheck(vkCreateDescriptorPool(device, &poolInfo, nil, &pool), "vkCreateDescriptorPool")
        }
        self.pool = pool!
    }

    private static func descriptorType(texel: Bool) -> VkDescriptorType {
        texel ? VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER
    }

    deinit {
        vkDestroyDescriptorPool(device, pool, nil)
        vkDestroyPipeline(device, pipeline, nil)
        vkDestroyPipelineLayout(device, layout, nil)
        vkDestroyDescriptorSetLayout(device, setLayout, nil)
    }

    /// Frees every descriptor set handed out by ``dispatch``. Call once the
    /// submissions that used them have completed.
    public func resetDescriptors() {
        vkResetDescriptorPool(device, pool, 0)
        allocatedSets = 0
    }

    /// Records a dispatch of `groups` workgroups with the given buffers bound
    /// to bindings 0..<n (each as a whole, or the given byte ranges) and the
    /// push-constant bytes of `constants`.
    public func dispatch<Constants>(
        _ commandBuffer: VkCommandBuffer, buffers: [BufferBinding], constants: Constants,
        groups: (x: UInt32, y: UInt32, z: UInt32)
    ) throws {
        try bind(commandBuffer, buffers: buffers, constants: constants)
        vkCmdDispatch(commandBuffer, groups.x, groups.y, groups.z)
    }

    /// Records a dispatch whose group counts the device reads from
    /// `arguments` at `offset` (three `UInt32`s written by an earlier pass).
    public func dispatchIndirect<Constants>(
        _ commandBuffer: VkCommandBuffer, buffers: [BufferBinding], constants: Constants, arguments: VulkanBuffer,
        offset: Int
    ) throws {
        try bind(commandBuffer, buffers: buffers, constants: constants)
        vkCmdDispatchIndirect(commandBuffer, arguments.buffer, VkDeviceSize(offset))
    }

    private func bind<Constants>(_ commandBuffer: VkCommandBuffer, buffers: [BufferBinding], constants: Constants)
        throws
    {
        precondition(buffers.count == bindingCount, "pipeline has \(bindingCount) bindings, got \(buffers.count)")
        precondition(MemoryLayout<Constants>.size == pushConstantSize || pushConstantSize == 0)
        if allocatedSets == Self.maxSets {
            throw VulkanError("more than \(Self.maxSets) dispatches before the descriptor sets were freed")
        }
        var allocate = VkDescriptorSetAllocateInfo()
        allocate.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO
        allocate.descriptorPool = pool
        allocate.descriptorSetCount = 1
        var set: VkDescriptorSet?
        let layouts: [VkDescriptorSetLayout?] = [setLayout]
        try layouts.withUnsafeBufferPointer { layoutPointer in
            allocate.pSetLayouts = layoutPointer.baseAddress
            try vkCheck(vkAllocateDescriptorSets(device, &allocate, &set), "vkAllocateDescriptorSets")
        }
        allocatedSets += 1

        let infos = buffers.map { binding in
            var info = VkDescriptorBufferInfo()
            info.buffer = binding.buffer.buffer
            info.offset = VkDeviceSize(binding.offset)
            info.range = binding.length.map { VkDeviceSize($0) } ?? VkDeviceSize(binding.buffer.size - binding.offset)
            return info
        }
        var views = try buffers.enumerated().map { index, binding -> VkBufferView? in
            let texel = texelBindings.contains(index)
            precondition(
                texel == (binding.texelFormat != nil), "binding \(index) must \(texel ? "" : "not ")be a texel buffer")
            precondition(!texel || (binding.offset == 0 && binding.length == nil), "texel views cover whole buffers")
            return try binding.texelFormat.map { try binding.buffer.texelView($0) }
        }
        infos.withUnsafeBufferPointer { infoPointer in
            views.withUnsafeMutableBufferPointer { viewPointer in
                var writes = (0..<bindingCount).map { index in
                    var write = VkWriteDescriptorSet()
                    write.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET
                    write.dstSet = set
                    write.dstBinding = UInt32(index)
                    write.descriptorCount = 1
                    write.descriptorType = Self.descriptorType(texel: texelBindings.contains(index))
                    write.pBufferInfo = infoPointer.baseAddress! + index
                    write.pTexelBufferView = UnsafePointer(viewPointer.baseAddress! + index)
                    return write
                }
                vkUpdateDescriptorSets(device, UInt32(writes.count), &writes, 0, nil)
            }
        }

        vkCmdBindPipeline(commandBuffer, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline)
        vkCmdBindDescriptorSets(commandBuffer, VK_PIPELINE_BIND_POINT_COMPUTE, layout, 0, 1, &set, 0, nil)
        if pushConstantSize > 0 {
            var constants = constants
            vkCmdPushConstants(
                commandBuffer, layout, VK_SHADER_STAGE_COMPUTE_BIT.rawValue, 0, UInt32(pushConstantSize), &constants)
        }
    }
}

/// A buffer (or a byte range of one) bound to a pipeline binding: a
/// storage buffer, or, with a `texelFormat`, the whole buffer as a uniform
/// texel buffer of that format.
public struct BufferBinding {
    public var buffer: VulkanBuffer
    public var offset: Int
    public var length: Int?
    public var texelFormat: VkFormat?

    public init(_ buffer: VulkanBuffer, offset: Int = 0, length: Int? = nil) {
        self.buffer = buffer
        self.offset = offset
        self.length = length
    }

    /// The whole buffer as texels of `format`.
    public static func texels(_ buffer: VulkanBuffer, _ format: VkFormat) -> BufferBinding {
        var binding = BufferBinding(buffer)
        binding.texelFormat = format
        return binding
    }
}

/// Records a full memory barrier between compute (and transfer) work, so the
/// next dispatch sees every write of the previous one.
public func computeBarrier(_ commandBuffer: VkCommandBuffer) {
    var barrier = VkMemoryBarrier()
    barrier.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER
    barrier.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT.rawValue | VK_ACCESS_TRANSFER_WRITE_BIT.rawValue
    barrier.dstAccessMask =
        VK_ACCESS_SHADER_READ_BIT.rawValue | VK_ACCESS_SHADER_WRITE_BIT.rawValue | VK_ACCESS_TRANSFER_READ_BIT.rawValue
        | VK_ACCESS_TRANSFER_WRITE_BIT.rawValue | VK_ACCESS_HOST_READ_BIT.rawValue
    barrier.dstAccessMask |= VK_ACCESS_INDIRECT_COMMAND_READ_BIT.rawValue
    let stages =
        VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT.rawValue | VK_PIPELINE_STAGE_TRANSFER_BIT.rawValue
    vkCmdPipelineBarrier(
        commandBuffer, stages,
        stages | VK_PIPELINE_STAGE_HOST_BIT.rawValue | VK_PIPELINE_STAGE_DRAW_INDIRECT_BIT.rawValue, 0, 1, &barrier, 0,
        nil, 0, nil)
}

/// A `VkShaderModule` that lives only as long as pipeline creation needs it.
public final class ShaderModule {
    public let handle: VkShaderModule
    private let device: VkDevice

    public init(device: VkDevice, spirv: [UInt32]) throws {
        self.device = device
        var info = VkShaderModuleCreateInfo()
        info.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO
        info.codeSize = spirv.count * 4  // bytes, not words
        var module: VkShaderModule?
        try spirv.withUnsafeBufferPointer { words in
            info.pCode = words.baseAddress
            try vkCheck(vkCreateShaderModule(device, &info, nil, &module), "vkCreateShaderModule")
        }
        handle = module!
    }

    deinit { vkDestroyShaderModule(device, handle, nil) }
}
