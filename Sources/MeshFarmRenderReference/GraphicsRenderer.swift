import CVulkan
import Foundation
import MeshFarmImage
import MeshFarmMesh
import MeshFarmRender

/// The reference renderer: the same mesh and cameras through Vulkan's
/// fixed-function graphics pipeline (vertex + fragment shader, depth test,
/// offscreen color and linear-depth attachments).
///
/// Tests compare the compute rasterizer's coverage and depth against it, and
/// the render benchmark uses it as the baseline. It draws both faces, with
/// no supersampling.
public final class GraphicsRenderer: @unchecked Sendable {
    /// A mesh in vertex and index buffers.
    public final class Mesh: @unchecked Sendable {
        let vertices: VulkanBuffer
        let indices: VulkanBuffer
        public let indexCount: Int

        init(context: VulkanContext, mesh: MeshFarmMesh.Mesh) throws {
            try mesh.validate()
            vertices = try VulkanBuffer(
                context: context, size: mesh.positions.count * 4, extraUsage: VK_BUFFER_USAGE_VERTEX_BUFFER_BIT.rawValue
            )
            vertices.upload(mesh.positions)
            indices = try VulkanBuffer(
                context: context, size: mesh.indices.count * 4, extraUsage: VK_BUFFER_USAGE_INDEX_BUFFER_BIT.rawValue)
            indices.upload(mesh.indices)
            indexCount = mesh.indices.count
        }
    }

    public let context: VulkanContext
    private let device: VkDevice
    private let renderPass: VkRenderPass
    private let layout: VkPipelineLayout
    private let pipeline: VkPipeline
    private var target: Target?
    private let lock = NSLock()

    static let colorFormat = VK_FORMAT_R8G8B8A8_UNORM
    static let linearDepthFormat = VK_FORMAT_R32_SFLOAT
    static let depthFormat = VK_FORMAT_D32_SFLOAT

    public init(context: VulkanContext) throws {
        self.context = context
        let device = context.device
        self.device = device
        let renderPass = try Self.makeRenderPass(device)
        self.renderPass = renderPass
        var range = VkPushConstantRange()
        range.stageFlags = VK_SHADER_STAGE_VERTEX_BIT.rawValue
        range.size = 112
        var layoutInfo = VkPipelineLayoutCreateInfo()
        layoutInfo.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO
        layoutInfo.pushConstantRangeCount = 1
        var layout: VkPipelineLayout?
        try withUnsafePointer(to: range) { rangePointer in
            layoutInfo.pPushConstantRanges = rangePointer
            try vkCheck(vkCreatePipelineLayout(device, &layoutInfo, nil, &layout), "vkCreatePipelineLayout")
        }
        self.layout = layout!
        pipeline = try Self.makePipeline(context: context, renderPass: renderPass, layout: layout!)
    }

    deinit {
        vkDeviceWaitIdle(device)
        target = nil
        vkDestroyPipeline(device, pipeline, nil)
        vkDestroyPipelineLayout(device, layout, nil)
        vkDestroyRenderPass(device, renderPass, nil)
    }

    /// Uploads a mesh into vertex and index buffers.
    public func upload(_ mesh: MeshFarmMesh.Mesh) throws -> Mesh {
        try Mesh(context: context, mesh: mesh)
    }

    /// Renders one view: coverage/color and linear view depth (0 where empty).
    public func render(_ mesh: Mesh, camera: Camera) throws -> (image: RGBAImage, depth: FloatImage) {
        var result: (RGBAImage, FloatImage)?
        try render(mesh, cameras: [camera]) { _, image, depth in result = (image, depth) }
        return result!
    }

    /// Renders several views the way ``ComputeRenderer`` does: submitted
    /// together, each handed to `each(index, image, depth)` in order as soon
    /// as it is done while the device renders the next, so the benchmark
    /// compares like with like.
    public func render(_ mesh: Mesh, cameras: [Camera], each: (Int, RGBAImage, FloatImage) throws -> Void) throws {
        for camera in cameras { try ComputeRenderer.validate(camera: camera, options: RenderOptions()) }
        lock.lock()
        defer { lock.unlock() }
        var pending: [(index: Int, slot: Int, done: PendingSubmission)] = []
        func deliver() throws {
            while let view = pending.first {
                try view.done.wait()
                pending.removeFirst()
                let camera = cameras[view.index]
                let pixels = camera.width * camera.height
                let image = RGBAImage(
                    width: camera.width, height: camera.height,
                    pixels: Array(
                        UnsafeRawBufferPointer(start: target!.colorReadbacks[view.slot].contents, count: pixels * 4)))
                let depth = FloatImage(
                    width: camera.width, height: camera.height,
                    values: target!.depthReadbacks[view.slot].read(Float.self, count: pixels))
                try each(view.index, image, depth)
            }
        }
        for (index, camera) in cameras.enumerated() {
            if target?.width != camera.width || target?.height != camera.height {
                try deliver()
                target = nil
                target = try Target(
                    context: context, renderPass: renderPass, width: camera.width, height: camera.height)
            }
            let slot = index % target!.slots
            if pending.count == target!.slots { try deliver() }
            pending.append(
                (index, slot, try context.submit { cb in record(cb, mesh: mesh, camera: camera, slot: slot) }))
        }
        try deliver()
    }

    /// Records one view into `cb`, read back into the buffers of `slot`.
    private func record(_ cb: VkCommandBuffer, mesh: Mesh, camera: Camera, slot: Int) {
        let target = target!
        let (colorReadback, depthReadback) = (target.colorReadbacks[slot], target.depthReadbacks[slot])
        // reference.vert's push constants: the view-projection, then the view rows.
        let constants =
            camera.vulkanViewProjection
            + camera.viewRows.flatMap { [Float($0.x), Float($0.y), Float($0.z), Float($0.w)] }
        var clears = [VkClearValue](repeating: VkClearValue(), count: 3)
        clears[0].color.float32 = (0, 0, 0, 0)
        clears[1].color.float32 = (0, 0, 0, 0)
        clears[2].depthStencil = VkClearDepthStencilValue(depth: 1, stencil: 0)
        var begin = VkRenderPassBeginInfo()
        begin.sType = VK_STRUCTURE_TYPE_RENDER_PASS_BEGIN_INFO
        begin.renderPass = renderPass
        begin.framebuffer = target.framebuffer
        begin.renderArea.extent = VkExtent2D(width: UInt32(camera.width), height: UInt32(camera.height))
        begin.clearValueCount = 3
        clears.withUnsafeBufferPointer { pointer in
            begin.pClearValues = pointer.baseAddress
            vkCmdBeginRenderPass(cb, &begin, VK_SUBPASS_CONTENTS_INLINE)
        }
        var viewport = VkViewport(
            x: 0, y: 0, width: Float(camera.width), height: Float(camera.height), minDepth: 0, maxDepth: 1)
        vkCmdSetViewport(cb, 0, 1, &viewport)
        var scissor = VkRect2D(
            offset: VkOffset2D(x: 0, y: 0),
            extent: VkExtent2D(width: UInt32(camera.width), height: UInt32(camera.height)))
        vkCmdSetScissor(cb, 0, 1, &scissor)
        vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_GRAPHICS, pipeline)
        vkCmdPushConstants(cb, layout, VK_SHADER_STAGE_VERTEX_BIT.rawValue, 0, 112, constants)
        var vertexBuffer: VkBuffer? = mesh.vertices.buffer
        var offset: VkDeviceSize = 0
        vkCmdBindVertexBuffers(cb, 0, 1, &vertexBuffer, &offset)
        vkCmdBindIndexBuffer(cb, mesh.indices.buffer, 0, VK_INDEX_TYPE_UINT32)
        vkCmdDrawIndexed(cb, UInt32(mesh.indexCount), 1, 0, 0, 0)
        vkCmdEndRenderPass(cb)
        // Attachments end in TRANSFER_SRC_OPTIMAL (render pass final layout).
        for (image, buffer) in [
            (target.color.image, colorReadback), (target.linearDepth.image, depthReadback),
        ] {
            var region = VkBufferImageCopy()
            region.imageSubresource = VkImageSubresourceLayers(
                aspectMask: VK_IMAGE_ASPECT_COLOR_BIT.rawValue, mipLevel: 0, baseArrayLayer: 0, layerCount: 1)
            region.imageExtent = VkExtent3D(width: UInt32(camera.width), height: UInt32(camera.height), depth: 1)
            vkCmdCopyImageToBuffer(cb, image, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, buffer.buffer, 1, &region)
        }
        var barrier = VkMemoryBarrier()
        barrier.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER
        barrier.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT.rawValue
        barrier.dstAccessMask = VK_ACCESS_HOST_READ_BIT.rawValue
        vkCmdPipelineBarrier(
            cb, VK_PIPELINE_STAGE_TRANSFER_BIT.rawValue, VK_PIPELINE_STAGE_HOST_BIT.rawValue, 0, 1, &barrier, 0,
            nil, 0,
            nil)
    }

    // MARK: - Setup

    private static func makeRenderPass(_ device: VkDevice) throws -> VkRenderPass {
        func attachment(_ format: VkFormat, final: VkImageLayout) -> VkAttachmentDescription {
            var a = VkAttachmentDescription()
            a.format = format
            a.samples = VK_SAMPLE_COUNT_1_BIT
            a.loadOp = VK_ATTACHMENT_LOAD_OP_CLEAR
            a.storeOp = VK_ATTACHMENT_STORE_OP_STORE
            a.stencilLoadOp = VK_ATTACHMENT_LOAD_OP_DONT_CARE
            a.stencilStoreOp = VK_ATTACHMENT_STORE_OP_DONT_CARE
            a.initialLayout = VK_IMAGE_LAYOUT_UNDEFINED
            a.finalLayout = final
            return a
        }
        let attachments = [
            attachment(colorFormat, final: VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL),
            attachment(linearDepthFormat, final: VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL),
            attachment(depthFormat, final: VK_IMAGE_LAYOUT_DEPTH_STENCIL_ATTACHMENT_OPTIMAL),
        ]
        let colorRefs = [
            VkAttachmentReference(attachment: 0, layout: VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL),
            VkAttachmentReference(attachment: 1, layout: VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL),
        ]
        let depthRef = VkAttachmentReference(attachment: 2, layout: VK_IMAGE_LAYOUT_DEPTH_STENCIL_ATTACHMENT_OPTIMAL)
        // Make the attachment writes visible to the copies that follow.
        var dependency = VkSubpassDependency()
        dependency.srcSubpass = 0
        dependency.dstSubpass = VK_SUBPASS_EXTERNAL
        dependency.srcStageMask = VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT.rawValue
        dependency.dstStageMask = VK_PIPELINE_STAGE_TRANSFER_BIT.rawValue
        dependency.srcAccessMask = VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT.rawValue
        dependency.dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT.rawValue
        // Views are submitted back to back: the previous view's attachment
        // writes and copies come before this one's layout change and clear.
        var incoming = VkSubpassDependency()
        incoming.srcSubpass = VK_SUBPASS_EXTERNAL
        incoming.dstSubpass = 0
        incoming.srcStageMask =
            VK_PIPELINE_STAGE_TRANSFER_BIT.rawValue | VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT.rawValue
            | VK_PIPELINE_STAGE_LATE_FRAGMENT_TESTS_BIT.rawValue
        incoming.dstStageMask =
            VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT.rawValue | VK_PIPELINE_STAGE_EARLY_FRAGMENT_TESTS_BIT.rawValue
            | VK_PIPELINE_STAGE_LATE_FRAGMENT_TESTS_BIT.rawValue
        incoming.srcAccessMask =
            VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT.rawValue | VK_ACCESS_DEPTH_STENCIL_ATTACHMENT_WRITE_BIT.rawValue
        incoming.dstAccessMask =
            VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT.rawValue | VK_ACCESS_DEPTH_STENCIL_ATTACHMENT_READ_BIT.rawValue
            | VK_ACCESS_DEPTH_STENCIL_ATTACHMENT_WRITE_BIT.rawValue

        let arena = CStructArena()
        var subpass = VkSubpassDescription()
        subpass.pipelineBindPoint = VK_PIPELINE_BIND_POINT_GRAPHICS
        subpass.colorAttachmentCount = 2
        subpass.pColorAttachments = UnsafePointer(arena.pointer(to: colorRefs))
        subpass.pDepthStencilAttachment = UnsafePointer(arena.pointer(to: depthRef))
        var info = VkRenderPassCreateInfo()
        info.sType = VK_STRUCTURE_TYPE_RENDER_PASS_CREATE_INFO
        info.attachmentCount = 3
        info.pAttachments = UnsafePointer(arena.pointer(to: attachments))
        info.subpassCount = 1
        info.pSubpasses = UnsafePointer(arena.pointer(to: subpass))
        info.dependencyCount = 2
        info.pDependencies = UnsafePointer(arena.pointer(to: [incoming, dependency]))
        var renderPass: VkRenderPass?
        try vkCheck(vkCreateRenderPass(device, &info, nil, &renderPass), "vkCreateRenderPass")
        return renderPass!
    }

    private static func makePipeline(
        context: VulkanContext, renderPass: VkRenderPass, layout: VkPipelineLayout
    ) throws -> VkPipeline {
        let device = context.device
        let vertexModule = try ShaderModule(device: device, spirv: SPIRV.referenceVert)
        let fragmentModule = try ShaderModule(device: device, spirv: SPIRV.referenceFrag)
        let arena = CStructArena()
        let entry = arena.cString("main")
        let stages = [
            (VK_SHADER_STAGE_VERTEX_BIT, vertexModule.handle), (VK_SHADER_STAGE_FRAGMENT_BIT, fragmentModule.handle),
        ].map { stage, module in
            var info = VkPipelineShaderStageCreateInfo()
            info.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO
            info.stage = stage
            info.module = module
            info.pName = entry
            return info
        }
        var vertexInput = VkPipelineVertexInputStateCreateInfo()
        vertexInput.sType = VK_STRUCTURE_TYPE_PIPELINE_VERTEX_INPUT_STATE_CREATE_INFO
        vertexInput.vertexBindingDescriptionCount = 1
        vertexInput.pVertexBindingDescriptions = UnsafePointer(
            arena.pointer(
                to: VkVertexInputBindingDescription(binding: 0, stride: 12, inputRate: VK_VERTEX_INPUT_RATE_VERTEX)))
        vertexInput.vertexAttributeDescriptionCount = 1
        vertexInput.pVertexAttributeDescriptions = UnsafePointer(
            arena.pointer(
                to: VkVertexInputAttributeDescription(
                    location: 0, binding: 0, format: VK_FORMAT_R32G32B32_SFLOAT, offset: 0)))
        var assembly = VkPipelineInputAssemblyStateCreateInfo()
        assembly.sType = VK_STRUCTURE_TYPE_PIPELINE_INPUT_ASSEMBLY_STATE_CREATE_INFO
        assembly.topology = VK_PRIMITIVE_TOPOLOGY_TRIANGLE_LIST
        var viewportState = VkPipelineViewportStateCreateInfo()
        viewportState.sType = VK_STRUCTURE_TYPE_PIPELINE_VIEWPORT_STATE_CREATE_INFO
        viewportState.viewportCount = 1
        viewportState.scissorCount = 1
        var rasterization = VkPipelineRasterizationStateCreateInfo()
        rasterization.sType = VK_STRUCTURE_TYPE_PIPELINE_RASTERIZATION_STATE_CREATE_INFO
        rasterization.polygonMode = VK_POLYGON_MODE_FILL
        rasterization.cullMode = VK_CULL_MODE_NONE.rawValue
        rasterization.frontFace = VK_FRONT_FACE_COUNTER_CLOCKWISE
        rasterization.lineWidth = 1
        var multisample = VkPipelineMultisampleStateCreateInfo()
        multisample.sType = VK_STRUCTURE_TYPE_PIPELINE_MULTISAMPLE_STATE_CREATE_INFO
        multisample.rasterizationSamples = VK_SAMPLE_COUNT_1_BIT
        var depthStencil = VkPipelineDepthStencilStateCreateInfo()
        depthStencil.sType = VK_STRUCTURE_TYPE_PIPELINE_DEPTH_STENCIL_STATE_CREATE_INFO
        depthStencil.depthTestEnable = VkBool32(VK_TRUE)
        depthStencil.depthWriteEnable = VkBool32(VK_TRUE)
        depthStencil.depthCompareOp = VK_COMPARE_OP_LESS
        var blendAttachment = VkPipelineColorBlendAttachmentState()
        blendAttachment.colorWriteMask = 0xF
        var blend = VkPipelineColorBlendStateCreateInfo()
        blend.sType = VK_STRUCTURE_TYPE_PIPELINE_COLOR_BLEND_STATE_CREATE_INFO
        blend.attachmentCount = 2  // color and linear depth
        blend.pAttachments = UnsafePointer(arena.pointer(to: [blendAttachment, blendAttachment]))
        var dynamic = VkPipelineDynamicStateCreateInfo()
        dynamic.sType = VK_STRUCTURE_TYPE_PIPELINE_DYNAMIC_STATE_CREATE_INFO
        dynamic.dynamicStateCount = 2
        dynamic.pDynamicStates = UnsafePointer(
            arena.pointer(to: [VK_DYNAMIC_STATE_VIEWPORT, VK_DYNAMIC_STATE_SCISSOR]))

        var info = VkGraphicsPipelineCreateInfo()
        info.sType = VK_STRUCTURE_TYPE_GRAPHICS_PIPELINE_CREATE_INFO
        info.stageCount = 2
        info.pStages = UnsafePointer(arena.pointer(to: stages))
        info.pVertexInputState = UnsafePointer(arena.pointer(to: vertexInput))
        info.pInputAssemblyState = UnsafePointer(arena.pointer(to: assembly))
        info.pViewportState = UnsafePointer(arena.pointer(to: viewportState))
        info.pRasterizationState = UnsafePointer(arena.pointer(to: rasterization))
        info.pMultisampleState = UnsafePointer(arena.pointer(to: multisample))
        info.pDepthStencilState = UnsafePointer(arena.pointer(to: depthStencil))
        info.pColorBlendState = UnsafePointer(arena.pointer(to: blend))
        info.pDynamicState = UnsafePointer(arena.pointer(to: dynamic))
        info.layout = layout
        info.renderPass = renderPass
        info.subpass = 0
        var pipeline: VkPipeline?
        // The modules must outlive pipeline creation (ARC may end them after their last use above).
        try withExtendedLifetime((vertexModule, fragmentModule)) {
            try vkCheck(
                vkCreateGraphicsPipelines(device, context.pipelineCache, 1, &info, nil, &pipeline),
                "vkCreateGraphicsPipelines")
        }
        return pipeline!
    }
}

/// Offscreen attachments, framebuffer and readback buffers for one size.
private final class Target {
    let width: Int
    let height: Int
    let color: Attachment
    let linearDepth: Attachment
    let depth: Attachment
    let framebuffer: VkFramebuffer
    /// Host-readable copies of the attachments, one pair per view in flight
    /// (at most 8, and at most 64 MiB of them).
    let colorReadbacks: [VulkanBuffer]
    let depthReadbacks: [VulkanBuffer]
    var slots: Int { colorReadbacks.count }
    private let device: VkDevice
    private let context: VulkanContext

    init(context: VulkanContext, renderPass: VkRenderPass, width: Int, height: Int) throws {
        self.width = width
        self.height = height
        device = context.device
        self.context = context
        color = try Attachment(
            context: context, format: GraphicsRenderer.colorFormat, width: width, height: height,
            usage: VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT.rawValue | VK_IMAGE_USAGE_TRANSFER_SRC_BIT.rawValue,
            aspect: VK_IMAGE_ASPECT_COLOR_BIT.rawValue)
        linearDepth = try Attachment(
            context: context, format: GraphicsRenderer.linearDepthFormat, width: width, height: height,
            usage: VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT.rawValue | VK_IMAGE_USAGE_TRANSFER_SRC_BIT.rawValue,
            aspect: VK_IMAGE_ASPECT_COLOR_BIT.rawValue)
        depth = try Attachment(
            context: context, format: GraphicsRenderer.depthFormat, width: width, height: height,
            usage: VK_IMAGE_USAGE_DEPTH_STENCIL_ATTACHMENT_BIT.rawValue, aspect: VK_IMAGE_ASPECT_DEPTH_BIT.rawValue)
        let views: [VkImageView?] = [color.view, linearDepth.view, depth.view]
        var info = VkFramebufferCreateInfo()
        info.sType = VK_STRUCTURE_TYPE_FRAMEBUFFER_CREATE_INFO
        info.renderPass = renderPass
        info.attachmentCount = 3
        info.width = UInt32(width)
        info.height = UInt32(height)
        info.layers = 1
        var framebuffer: VkFramebuffer?
        try views.withUnsafeBufferPointer { pointer in
            info.pAttachments = pointer.baseAddress
            try vkCheck(vkCreateFramebuffer(context.device, &info, nil, &framebuffer), "vkCreateFramebuffer")
        }
        self.framebuffer = framebuffer!
        let slots = max(1, min(8, (32 << 20) / (width * height * 4)))
        colorReadbacks = try (0..<slots).map { _ in try VulkanBuffer(context: context, size: width * height * 4) }
        depthReadbacks = try (0..<slots).map { _ in try VulkanBuffer(context: context, size: width * height * 4) }
    }

    deinit { vkDestroyFramebuffer(device, framebuffer, nil) }
}

/// A 2D image with its memory and view.
private final class Attachment {
    let image: VkImage
    let view: VkImageView
    private let memory: VkDeviceMemory
    private let device: VkDevice
    private let context: VulkanContext

    init(context: VulkanContext, format: VkFormat, width: Int, height: Int, usage: UInt32, aspect: UInt32) throws {
        let device = context.device
        self.device = device
        self.context = context
        var info = VkImageCreateInfo()
        info.sType = VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO
        info.imageType = VK_IMAGE_TYPE_2D
        info.format = format
        info.extent = VkExtent3D(width: UInt32(width), height: UInt32(height), depth: 1)
        info.mipLevels = 1
        info.arrayLayers = 1
        info.samples = VK_SAMPLE_COUNT_1_BIT
        info.tiling = VK_IMAGE_TILING_OPTIMAL
        info.usage = usage
        info.initialLayout = VK_IMAGE_LAYOUT_UNDEFINED
        var image: VkImage?
        try vkCheck(vkCreateImage(device, &info, nil, &image), "vkCreateImage")
        self.image = image!
        var requirements = VkMemoryRequirements()
        vkGetImageMemoryRequirements(device, image, &requirements)
        var allocate = VkMemoryAllocateInfo()
        allocate.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO
        allocate.allocationSize = requirements.size
        allocate.memoryTypeIndex = try context.memoryTypeIndex(
            typeBits: requirements.memoryTypeBits, required: 0, preferred: VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT.rawValue)
        var memory: VkDeviceMemory?
        try vkCheck(vkAllocateMemory(device, &allocate, nil, &memory), "vkAllocateMemory(image)")
        self.memory = memory!
        try vkCheck(vkBindImageMemory(device, image, memory, 0), "vkBindImageMemory")
        var viewInfo = VkImageViewCreateInfo()
        viewInfo.sType = VK_STRUCTURE_TYPE_IMAGE_VIEW_CREATE_INFO
        viewInfo.image = image
        viewInfo.viewType = VK_IMAGE_VIEW_TYPE_2D
        viewInfo.format = format
        viewInfo.subresourceRange = VkImageSubresourceRange(
            aspectMask: aspect, baseMipLevel: 0, levelCount: 1, baseArrayLayer: 0, layerCount: 1)
        var view: VkImageView?
        try vkCheck(vkCreateImageView(device, &viewInfo, nil, &view), "vkCreateImageView")
        self.view = view!
    }

    deinit {
        vkDestroyImageView(device, view, nil)
        vkDestroyImage(device, image, nil)
        vkFreeMemory(device, memory, nil)
    }
}
