import CVulkan

/// An error from the Vulkan layer: a failed call with its `VkResult`, or a
/// device that cannot run MeshFarm's renderer.
public struct VulkanError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, in words a user can act on.
    public let message: String
    /// The raw `VkResult`, when the error came from a Vulkan call.
    public let result: Int32?

    public init(_ message: String, result: Int32? = nil) {
        self.message = message
        self.result = result
    }

    /// `VK_ERROR_DEVICE_LOST`: the device is gone for this process.
    public var isDeviceLost: Bool { result == VK_ERROR_DEVICE_LOST.rawValue }

    public var description: String {
        if let result { return "Vulkan: \(message) (\(Self.name(of: result)))" }
        return "Vulkan: \(message)"
    }

    /// The symbolic name of a `VkResult`, for logs.
    static func name(of result: Int32) -> String {
        switch result {
        case VK_SUCCESS.rawValue: "VK_SUCCESS"
        case VK_NOT_READY.rawValue: "VK_NOT_READY"
        case VK_TIMEOUT.rawValue: "VK_TIMEOUT"
        case VK_ERROR_OUT_OF_HOST_MEMORY.rawValue: "VK_ERROR_OUT_OF_HOST_MEMORY"
        case VK_ERROR_OUT_OF_DEVICE_MEMORY.rawValue: "VK_ERROR_OUT_OF_DEVICE_MEMORY"
        case VK_ERROR_INITIALIZATION_FAILED.rawValue: "VK_ERROR_INITIALIZATION_FAILED"
        case VK_ERROR_DEVICE_LOST.rawValue: "VK_ERROR_DEVICE_LOST"
        case VK_ERROR_MEMORY_MAP_FAILED.rawValue: "VK_ERROR_MEMORY_MAP_FAILED"
        case VK_ERROR_LAYER_NOT_PRESENT.rawValue: "VK_ERROR_LAYER_NOT_PRESENT"
        case VK_ERROR_EXTENSION_NOT_PRESENT.rawValue: "VK_ERROR_EXTENSION_NOT_PRESENT"
        case VK_ERROR_FEATURE_NOT_PRESENT.rawValue: "VK_ERROR_FEATURE_NOT_PRESENT"
        case VK_ERROR_INCOMPATIBLE_DRIVER.rawValue: "VK_ERROR_INCOMPATIBLE_DRIVER"
        case VK_ERROR_TOO_MANY_OBJECTS.rawValue: "VK_ERROR_TOO_MANY_OBJECTS"
        case VK_ERROR_FORMAT_NOT_SUPPORTED.rawValue: "VK_ERROR_FORMAT_NOT_SUPPORTED"
        case VK_ERROR_OUT_OF_POOL_MEMORY.rawValue: "VK_ERROR_OUT_OF_POOL_MEMORY"
        default: "VkResult \(result)"
        }
    }
}

/// Turns a `VkResult` into a thrown ``VulkanError``; the one place where
/// Vulkan return codes become Swift errors.
@inline(__always)
public func vkCheck(_ result: VkResult, _ what: @autoclosure () -> String) throws {
    guard result == VK_SUCCESS else {
        throw VulkanError("\(what()) failed", result: result.rawValue)
    }
}
