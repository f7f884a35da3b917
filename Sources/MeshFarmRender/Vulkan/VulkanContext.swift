import CVulkan
import Foundation

/// A long-lived Vulkan instance + logical device with one compute/graphics
/// queue, a command pool and an optional on-disk pipeline cache.
///
/// Create one per process and reuse it across renders: instance and device
/// creation cost tens of milliseconds and pipelines compiled against it are
/// cached. Submissions (``submit(_:)``, ``submitAndWait(_:)``) serialize
/// access to the queue and the command pool, so the context may be shared
/// between threads. Its
/// blocking calls (fence waits) must not run on Swift's cooperative pool:
/// callers run renders on a dedicated thread.
public final class VulkanContext: @unchecked Sendable {
    /// How to pick and configure the device.
    public struct Options: Sendable {
        /// Index into the list printed by ``VulkanContext/availableDevices()``;
        /// `nil` picks the best device (discrete GPU, then integrated, then
        /// virtual, then CPU such as lavapipe).
        public var deviceIndex: Int?
        /// Enables `VK_LAYER_KHRONOS_validation` when it is installed.
        /// Defaults to the `MESHFARM_VULKAN_VALIDATION` environment variable.
        public var validation: Bool
        /// Where to load and save the pipeline cache; `nil` keeps it in memory.
        public var pipelineCachePath: String?

        public init(deviceIndex: Int? = nil, validation: Bool? = nil, pipelineCachePath: String? = nil) {
            self.deviceIndex = deviceIndex
            self.validation = validation ?? (ProcessInfo.processInfo.environment["MESHFARM_VULKAN_VALIDATION"] == "1")
            self.pipelineCachePath = pipelineCachePath
        }
    }

    /// A physical device as Vulkan reports it.
    public struct DeviceInfo: Sendable, CustomStringConvertible {
        public var index: Int
        public var name: String
        public var type: String
        public var apiVersion: String
        /// Whether it has what the compute rasterizer needs (64-bit integers
        /// and 64-bit storage-buffer atomics).
        public var supportsRenderer: Bool

        public var description: String {
            "\(index): \(name) [\(type), Vulkan \(apiVersion)]\(supportsRenderer ? "" : " (missing 64-bit buffer atomics or scalar block layout)")"
        }
    }

    public let instance: VkInstance
    public let physicalDevice: VkPhysicalDevice
    public let device: VkDevice
    public let queue: VkQueue
    public let queueFamilyIndex: UInt32
    public let deviceInfo: DeviceInfo
    /// Device limits the renderer plans around (buffer ranges, group counts).
    public let limits: VkPhysicalDeviceLimits
    let memoryProperties: VkPhysicalDeviceMemoryProperties
    let commandPool: VkCommandPool
    public let pipelineCache: VkPipelineCache
    private let pipelineCachePath: String?
    private let messenger: VkDebugUtilsMessengerEXT?
    private let queueLock = NSLock()

    /// Creates the instance and device. Throws a ``VulkanError`` with a clear
    /// message when there is no Vulkan driver, no device, or the chosen device
    /// lacks a feature the renderer needs.
    public init(options: Options = Options()) throws {
        let instance = try Self.createInstance(validation: options.validation)
        let messenger = options.validation ? ValidationLog.install(on: instance) : nil
        var device: VkDevice?
        var commandPool: VkCommandPool?
        var succeeded = false
        defer {
            if !succeeded {
                if let commandPool { vkDestroyCommandPool(device, commandPool, nil) }
                if let device { vkDestroyDevice(device, nil) }
                if let messenger { ValidationLog.uninstall(messenger, from: instance) }
                vkDestroyInstance(instance, nil)
            }
        }

        let devices = try Self.physicalDevices(instance)
        guard !devices.isEmpty else {
            throw VulkanError("no Vulkan device found (install mesa-vulkan-drivers for lavapipe)")
        }
        let infos = devices.enumerated().map { Self.describe($0.element, index: $0.offset) }
        let listing = infos.map(\.description).joined(separator: "; ")
        let chosen: Int
        if let wanted = options.deviceIndex {
            guard devices.indices.contains(wanted) else {
                throw VulkanError("device \(wanted) does not exist; devices: \(listing)")
            }
            chosen = wanted
        } else {
            let usable = infos.filter(\.supportsRenderer)
            guard let best = usable.min(by: { Self.rank($0.type) < Self.rank($1.type) }) else {
                throw VulkanError(
                    "no Vulkan device supports 64-bit storage-buffer atomics and scalar block layout (shaderBufferInt64Atomics, scalarBlockLayout); devices: \(listing)"
                )
            }
            chosen = best.index
        }
        guard infos[chosen].supportsRenderer else {
            throw VulkanError(
                "device \(infos[chosen].description) lacks shaderInt64, shaderBufferInt64Atomics or scalarBlockLayout")
        }
        let physicalDevice = devices[chosen]

        var properties = VkPhysicalDeviceProperties()
        vkGetPhysicalDeviceProperties(physicalDevice, &properties)
        var memory = VkPhysicalDeviceMemoryProperties()
        vkGetPhysicalDeviceMemoryProperties(physicalDevice, &memory)

        guard let family = Self.queueFamily(physicalDevice) else {
            throw VulkanError("device \(infos[chosen].name) has no queue family with compute and graphics")
        }
        device = try Self.createDevice(physicalDevice, queueFamily: family)

        var queueHandle: VkQueue?
        vkGetDeviceQueue(device, family, 0, &queueHandle)

        var poolInfo = VkCommandPoolCreateInfo()
        poolInfo.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO
        poolInfo.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT.rawValue
        poolInfo.queueFamilyIndex = family
        try vkCheck(vkCreateCommandPool(device, &poolInfo, nil, &commandPool), "vkCreateCommandPool")
        let pipelineCache = try Self.createPipelineCache(device!, path: options.pipelineCachePath)

        self.instance = instance
        self.physicalDevice = physicalDevice
        self.device = device!
        self.queue = queueHandle!
        self.queueFamilyIndex = family
        self.deviceInfo = infos[chosen]
        self.limits = properties.limits
        self.memoryProperties = memory
        self.commandPool = commandPool!
        self.pipelineCache = pipelineCache
        self.pipelineCachePath = options.pipelineCachePath
        self.messenger = messenger
        succeeded = true
    }

    deinit {
        vkDeviceWaitIdle(device)
        savePipelineCache()
        vkDestroyPipelineCache(device, pipelineCache, nil)
        vkDestroyCommandPool(device, commandPool, nil)
        vkDestroyDevice(device, nil)
        if let messenger { ValidationLog.uninstall(messenger, from: instance) }
        vkDestroyInstance(instance, nil)
    }

    /// `$XDG_CACHE_HOME/meshfarm/pipeline-cache.bin` (or `~/.cache/...`).
    public static var defaultPipelineCachePath: String {
        let environment = ProcessInfo.processInfo.environment
        let base = environment["XDG_CACHE_HOME"] ?? ((environment["HOME"] ?? NSTemporaryDirectory()) + "/.cache")
        return base + "/meshfarm/pipeline-cache.bin"
    }

    /// Lists the physical devices this machine's Vulkan loader reports.
    public static func availableDevices() throws -> [DeviceInfo] {
        let instance = try createInstance(validation: false)
        defer { vkDestroyInstance(instance, nil) }
        return try physicalDevices(instance).enumerated().map { describe($0.element, index: $0.offset) }
    }

    /// Records commands into a fresh primary command buffer, submits it and
    /// blocks until the device has finished.
    public func submitAndWait(_ record: (VkCommandBuffer) throws -> Void) throws {
        try submit(record).wait()
    }

    /// Records commands into a fresh primary command buffer and submits it
    /// without waiting: the caller waits on the result before reading what
    /// the commands write (later submissions run after it, in queue order).
    public func submit(_ record: (VkCommandBuffer) throws -> Void) throws -> PendingSubmission {
        var allocate = VkCommandBufferAllocateInfo()
        allocate.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO
        allocate.commandPool = commandPool
        allocate.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY
        allocate.commandBufferCount = 1
        var commandBuffer: VkCommandBuffer?
        // The pool and the queue are shared: allocation, submission and
        // freeing happen under the queue lock.
        try queueLock.withLock {
            try vkCheck(vkAllocateCommandBuffers(device, &allocate, &commandBuffer), "vkAllocateCommandBuffers")
        }
        let cb = commandBuffer!
        var fenceInfo = VkFenceCreateInfo()
        fenceInfo.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO
        var fence: VkFence?
        do {
            var begin = VkCommandBufferBeginInfo()
            begin.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO
            begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT.rawValue
            try vkCheck(vkBeginCommandBuffer(cb, &begin), "vkBeginCommandBuffer")
            try record(cb)
            try vkCheck(vkEndCommandBuffer(cb), "vkEndCommandBuffer")
            try vkCheck(vkCreateFence(device, &fenceInfo, nil, &fence), "vkCreateFence")
            var submit = VkSubmitInfo()
            submit.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO
            submit.commandBufferCount = 1
            try withUnsafePointer(to: commandBuffer) { pointer in
                submit.pCommandBuffers = pointer
                try queueLock.withLock { try vkCheck(vkQueueSubmit(queue, 1, &submit, fence), "vkQueueSubmit") }
            }
        } catch {
            if let fence { vkDestroyFence(device, fence, nil) }
            queueLock.withLock { vkFreeCommandBuffers(device, commandPool, 1, &commandBuffer) }
            throw error
        }
        return PendingSubmission(context: self, commandBuffer: cb, fence: fence!)
    }

    fileprivate func release(_ commandBuffer: VkCommandBuffer, fence: VkFence) {
        vkDestroyFence(device, fence, nil)
        var buffer: VkCommandBuffer? = commandBuffer
        queueLock.withLock { vkFreeCommandBuffers(device, commandPool, 1, &buffer) }
    }

    /// Writes the pipeline cache to disk so the next process skips shader
    /// compilation. Failures are ignored: the cache is an optimization.
    public func savePipelineCache() {
        guard let path = pipelineCachePath else { return }
        var size = 0
        guard vkGetPipelineCacheData(device, pipelineCache, &size, nil) == VK_SUCCESS, size > 0 else { return }
        var data = Data(count: size)
        let result = data.withUnsafeMutableBytes {
            vkGetPipelineCacheData(device, pipelineCache, &size, $0.baseAddress)
        }
        guard result == VK_SUCCESS else { return }
        let url = URL(fileURLWithPath: path)
        try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try? data.prefix(size).write(to: url, options: .atomic)
    }

    /// Index of a memory type allowed by `typeBits` with all `required` flags,
    /// preferring one that also has `preferred`.
    public func memoryTypeIndex(typeBits: UInt32, required: UInt32, preferred: UInt32 = 0) throws -> UInt32 {
        let types = withUnsafeBytes(of: memoryProperties.memoryTypes) {
            Array($0.bindMemory(to: VkMemoryType.self).prefix(Int(memoryProperties.memoryTypeCount)))
        }
        var fallback: UInt32?
        for (index, type) in types.enumerated() where typeBits & (1 << UInt32(index)) != 0 {
            guard type.propertyFlags & required == required else { continue }
            if type.propertyFlags & preferred == preferred { return UInt32(index) }
            if fallback == nil { fallback = UInt32(index) }
        }
        guard let fallback else { throw VulkanError("no memory type with flags \(required) for type bits \(typeBits)") }
        return fallback
    }

    // MARK: - Creation helpers

    private static func createInstance(validation: Bool) throws -> VkInstance {
        var layers: [String] = []
        var extensions: [String] = []
        if validation, availableLayers().contains("VK_LAYER_KHRONOS_validation") {
            layers.append("VK_LAYER_KHRONOS_validation")
            extensions.append("VK_EXT_debug_utils")
        }
        let apiVersion: UInt32 = (1 << 22) | (2 << 12)  // VK_API_VERSION_1_2
        return try "MeshFarm".withCString { appName in
            try withCStringArray(layers) { layerNames in
                try withCStringArray(extensions) { extensionNames in
                    var app = VkApplicationInfo()
                    app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO
                    app.pApplicationName = appName
                    app.pEngineName = appName
                    app.apiVersion = apiVersion
                    return try withUnsafePointer(to: app) { appPointer in
                        var info = VkInstanceCreateInfo()
                        info.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO
                        info.pApplicationInfo = appPointer
                        info.enabledLayerCount = UInt32(layers.count)
                        info.ppEnabledLayerNames = layerNames
                        info.enabledExtensionCount = UInt32(extensions.count)
                        info.ppEnabledExtensionNames = extensionNames
                        var instance: VkInstance?
                        let result = vkCreateInstance(&info, nil, &instance)
                        if result == VK_ERROR_INCOMPATIBLE_DRIVER {
                            throw VulkanError(
                                "no Vulkan 1.2 driver found (install mesa-vulkan-drivers for lavapipe)",
                                result: result.rawValue)
                        }
                        try vkCheck(result, "vkCreateInstance")
                        return instance!
                    }
                }
            }
        }
    }

    private static func availableLayers() -> Set<String> {
        var count: UInt32 = 0
        vkEnumerateInstanceLayerProperties(&count, nil)
        var layers = [VkLayerProperties](repeating: VkLayerProperties(), count: Int(count))
        vkEnumerateInstanceLayerProperties(&count, &layers)
        return Set(
            layers.prefix(Int(count)).map { layer in
                withUnsafeBytes(of: layer.layerName) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            })
    }

    private static func physicalDevices(_ instance: VkInstance) throws -> [VkPhysicalDevice] {
        var count: UInt32 = 0
        try vkCheck(vkEnumeratePhysicalDevices(instance, &count, nil), "vkEnumeratePhysicalDevices")
        var devices = [VkPhysicalDevice?](repeating: nil, count: Int(count))
        try vkCheck(vkEnumeratePhysicalDevices(instance, &count, &devices), "vkEnumeratePhysicalDevices")
        return devices.prefix(Int(count)).compactMap { $0 }
    }

    private static func describe(_ device: VkPhysicalDevice, index: Int) -> DeviceInfo {
        var properties = VkPhysicalDeviceProperties()
        vkGetPhysicalDeviceProperties(device, &properties)
        let name = withUnsafeBytes(of: properties.deviceName) {
            String(cString: $0.bindMemory(to: CChar.self).baseAddress!)
        }
        let type: String =
            switch properties.deviceType {
            case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: "discrete GPU"
            case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: "integrated GPU"
            case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: "virtual GPU"
            case VK_PHYSICAL_DEVICE_TYPE_CPU: "CPU"
            default: "other"
            }
        let v = properties.apiVersion
        let (int64, atomics, scalarLayout) = features(device)
        return DeviceInfo(
            index: index, name: name, type: type, apiVersion: "\(v >> 22).\((v >> 12) & 0x3ff).\(v & 0xfff)",
            supportsRenderer: int64 && atomics && scalarLayout && (v >> 12) >= ((1 << 10) | 2))
    }

    private static func rank(_ type: String) -> Int {
        ["discrete GPU", "integrated GPU", "virtual GPU", "CPU"].firstIndex(of: type) ?? 4
    }

    /// (shaderInt64, shaderBufferInt64Atomics, scalarBlockLayout)
    private static func features(_ device: VkPhysicalDevice) -> (Bool, Bool, Bool) {
        var vulkan12 = VkPhysicalDeviceVulkan12Features()
        vulkan12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES
        var features2 = VkPhysicalDeviceFeatures2()
        features2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2
        withUnsafeMutablePointer(to: &vulkan12) { pointer in
            features2.pNext = UnsafeMutableRawPointer(pointer)
            vkGetPhysicalDeviceFeatures2(device, &features2)
        }
        return (
            features2.features.shaderInt64 != 0, vulkan12.shaderBufferInt64Atomics != 0,
            vulkan12.scalarBlockLayout != 0
        )
    }

    private static func queueFamily(_ device: VkPhysicalDevice) -> UInt32? {
        var count: UInt32 = 0
        vkGetPhysicalDeviceQueueFamilyProperties(device, &count, nil)
        var families = [VkQueueFamilyProperties](repeating: VkQueueFamilyProperties(), count: Int(count))
        vkGetPhysicalDeviceQueueFamilyProperties(device, &count, &families)
        let wanted = VK_QUEUE_COMPUTE_BIT.rawValue | VK_QUEUE_GRAPHICS_BIT.rawValue
        return families.firstIndex { $0.queueFlags & wanted == wanted }.map { UInt32($0) }
    }

    private static func createDevice(_ physical: VkPhysicalDevice, queueFamily: UInt32) throws -> VkDevice {
        var priority: Float = 1
        var queueInfo = VkDeviceQueueCreateInfo()
        queueInfo.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO
        queueInfo.queueFamilyIndex = queueFamily
        queueInfo.queueCount = 1
        var vulkan12 = VkPhysicalDeviceVulkan12Features()
        vulkan12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES
        vulkan12.shaderBufferInt64Atomics = VkBool32(VK_TRUE)
        // vec3 arrays with a 12-byte stride: one load per vertex or triangle.
        vulkan12.scalarBlockLayout = VkBool32(VK_TRUE)
        var features2 = VkPhysicalDeviceFeatures2()
        features2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2
        features2.features.shaderInt64 = VkBool32(VK_TRUE)
        return try withUnsafeMutablePointer(to: &priority) { priorityPointer in
            queueInfo.pQueuePriorities = UnsafePointer(priorityPointer)
            return try withUnsafeMutablePointer(to: &vulkan12) { vulkan12Pointer in
                features2.pNext = UnsafeMutableRawPointer(vulkan12Pointer)
                return try withUnsafePointer(to: features2) { featuresPointer in
                    try withUnsafePointer(to: queueInfo) { queuePointer in
                        var info = VkDeviceCreateInfo()
                        info.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO
                        info.pNext = UnsafeRawPointer(featuresPointer)
                        info.queueCreateInfoCount = 1
                        info.pQueueCreateInfos = queuePointer
                        info.pEnabledFeatures = nil
                        var device: VkDevice?
                        try vkCheck(vkCreateDevice(physical, &info, nil, &device), "vkCreateDevice")
                        return device!
                    }
                }
            }
        }
    }

    private static func createPipelineCache(_ device: VkDevice, path: String?) throws -> VkPipelineCache {
        // A cache from another driver or version is rejected by Vulkan itself
        // (the header carries vendor, device and UUID), so stale files are safe.
        let initial = path.flatMap { FileManager.default.contents(atPath: $0) } ?? Data()
        return try initial.withUnsafeBytes { bytes in
            var info = VkPipelineCacheCreateInfo()
            info.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO
            info.initialDataSize = bytes.count
            info.pInitialData = bytes.baseAddress
            var cache: VkPipelineCache?
            if vkCreatePipelineCache(device, &info, nil, &cache) != VK_SUCCESS {
                info.initialDataSize = 0
                info.pInitialData = nil
                try vkCheck(vkCreatePipelineCache(device, &info, nil, &cache), "vkCreatePipelineCache")
            }
            return cache!
        }
    }
}

/// Calls `body` with a C array of C strings that lives for the whole call.
func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) throws -> R) rethrows -> R
{
    let duplicates = strings.map { strdup($0) }
    defer { duplicates.forEach { free($0) } }
    let pointers = duplicates.map { UnsafePointer<CChar>($0) }
    return try pointers.withUnsafeBufferPointer { try body($0.baseAddress) }
}

/// Commands submitted by ``VulkanContext/submit(_:)``. Dropping it waits
/// for the device to finish them, then frees the command buffer.
public final class PendingSubmission {
    private let context: VulkanContext
    private let commandBuffer: VkCommandBuffer
    private let fence: VkFence

    fileprivate init(context: VulkanContext, commandBuffer: VkCommandBuffer, fence: VkFence) {
        self.context = context
        self.commandBuffer = commandBuffer
        self.fence = fence
    }

    /// Blocks until the device has finished the commands.
    public func wait() throws {
        var fence: VkFence? = fence
        try vkCheck(
            vkWaitForFences(context.device, 1, &fence, VkBool32(VK_TRUE), UInt64.max), "vkWaitForFences")
    }

    deinit {
        var fence: VkFence? = fence
        _ = vkWaitForFences(context.device, 1, &fence, VkBool32(VK_TRUE), UInt64.max)
        context.release(commandBuffer, fence: self.fence)
    }
}
