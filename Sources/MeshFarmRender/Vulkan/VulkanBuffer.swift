import CVulkan
import Foundation

/// A storage buffer in host-visible memory, persistently mapped.
///
/// Host-visible memory keeps uploads and readbacks to a `memcpy`. On lavapipe
/// and on integrated GPUs that memory is also device-local; on a discrete GPU
/// the driver places it in BAR or system memory, which is slower for the
/// shaders but correct. The renderer prefers device-local when available.
public final class VulkanBuffer: @unchecked Sendable {
    public let buffer: VkBuffer
    let memory: VkDeviceMemory
    /// Size in bytes.
    public let size: Int
    /// The mapped bytes; valid for the buffer's life.
    public let contents: UnsafeMutableRawPointer
    private let device: VkDevice
    /// Keeps the device alive as long as the buffer.
    private let context: VulkanContext
    /// Views of the whole buffer as a uniform texel buffer, by format; made
    /// on first use and kept for the buffer's life.
    private var texelViews: [UInt32: VkBufferView] = [:]
    private let viewLock = NSLock()

    /// Allocates `size` bytes (at least 4) usable as a storage buffer, a
    /// transfer source/destination and, with `extraUsage`, whatever else a
    /// caller needs (a uniform texel buffer for ``texelView(_:)``; vertex and
    /// index buffers for the graphics reference).
    public init(context: VulkanContext, size: Int, extraUsage: UInt32 = 0) throws {
        let device = context.device
        self.device = device
        self.context = context
        self.size = max(size, 4)
        var info = VkBufferCreateInfo()
        info.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO
        info.size = VkDeviceSize(self.size)
        info.usage =
            VK_BUFFER_USAGE_STORAGE_BUFFER_BIT.rawValue | VK_BUFFER_USAGE_TRANSFER_SRC_BIT.rawValue
            | VK_BUFFER_USAGE_TRANSFER_DST_BIT.rawValue | extraUsage
        info.sharingMode = VK_SHARING_MODE_EXCLUSIVE
        var buffer: VkBuffer?
        try vkCheck(vkCreateBuffer(device, &info, nil, &buffer), "vkCreateBuffer(\(self.size) bytes)")
        self.buffer = buffer!

        var requirements = VkMemoryRequirements()
        vkGetBufferMemoryRequirements(device, buffer, &requirements)
        var allocate = VkMemoryAllocateInfo()
        allocate.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO
        allocate.allocationSize = requirements.size
        do {
            allocate.memoryTypeIndex = try context.memoryTypeIndex(
                typeBits: requirements.memoryTypeBits,
                required: VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT.rawValue | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT.rawValue,
                preferred: VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT.rawValue)
            var memory: VkDeviceMemory?
            try vkCheck(
                vkAllocateMemory(device, &allocate, nil, &memory), "vkAllocateMemory(\(requirements.size) bytes)")
            self.memory = memory!
        } catch {
            vkDestroyBuffer(device, buffer, nil)
            throw error
        }
        var mapped: UnsafeMutableRawPointer?
        do {
            try vkCheck(vkBindBufferMemory(device, buffer, memory, 0), "vkBindBufferMemory")
            try vkCheck(vkMapMemory(device, memory, 0, VkDeviceSize(VK_WHOLE_SIZE), 0, &mapped), "vkMapMemory")
        } catch {
            vkFreeMemory(device, memory, nil)
            vkDestroyBuffer(device, buffer, nil)
            throw error
        }
        contents = mapped!
    }

    deinit {
        for view in texelViews.values { vkDestroyBufferView(device, view, nil) }
        vkUnmapMemory(device, memory)
        vkDestroyBuffer(device, buffer, nil)
        vkFreeMemory(device, memory, nil)
    }

    /// The whole buffer as a uniform texel buffer of `format` (created with
    /// `VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT`; its elements must number at
    /// most the device's `maxTexelBufferElements`).
    public func texelView(_ format: VkFormat) throws -> VkBufferView {
        viewLock.lock()
        defer { viewLock.unlock() }
        if let view = texelViews[format.rawValue] { return view }
        var info = VkBufferViewCreateInfo()
        info.sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO
        info.buffer = buffer
        info.format = format
        info.offset = 0
        info.range = VkDeviceSize(VK_WHOLE_SIZE)
        var view: VkBufferView?
        try vkCheck(vkCreateBufferView(device, &info, nil, &view), "vkCreateBufferView")
        texelViews[format.rawValue] = view!
        return view!
    }

    /// Copies `values` to the start of the buffer.
    public func upload<T>(_ values: [T]) {
        values.withUnsafeBytes { bytes in
            precondition(bytes.count <= size, "upload of \(bytes.count) bytes into a \(size)-byte buffer")
            contents.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        }
    }

    /// Reads `count` values of `T` from the start of the buffer.
    public func read<T>(_ type: T.Type, count: Int) -> [T] {
        precondition(count * MemoryLayout<T>.stride <= size)
        return Array(UnsafeBufferPointer(start: contents.bindMemory(to: T.self, capacity: count), count: count))
    }
}
