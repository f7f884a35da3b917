import CVulkan
import Foundation

/// Collects messages from `VK_LAYER_KHRONOS_validation` when validation is
/// enabled (`MESHFARM_VULKAN_VALIDATION=1`, as `scripts/test` sets).
///
/// lavapipe silently accepts some invalid usage that real drivers reject;
/// tests assert that ``errorCount`` stays zero, so such usage fails CI
/// instead of a customer's GPU.
public enum ValidationLog {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var errors: [String] = []

    /// Validation errors reported so far in this process.
    public static var errorCount: Int { lock.withLock { errors.count } }

    /// The first few error messages, for test failure output.
    public static var recentErrors: [String] { lock.withLock { Array(errors.prefix(10)) } }

    static func record(_ message: String) {
        lock.withLock { errors.append(message) }
        FileHandle.standardError.write(Data("Vulkan validation: \(message)\n".utf8))
    }

    /// Installs a messenger on `instance`; returns nil when the extension is
    /// unavailable.
    static func install(on instance: VkInstance) -> VkDebugUtilsMessengerEXT? {
        guard let address = vkGetInstanceProcAddr(instance, "vkCreateDebugUtilsMessengerEXT") else { return nil }
        let create = unsafeBitCast(address, to: PFN_vkCreateDebugUtilsMessengerEXT.self)
        var info = VkDebugUtilsMessengerCreateInfoEXT()
        info.sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT
        info.messageSeverity =
            VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT.rawValue
            | VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT.rawValue
        info.messageType =
            VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT.rawValue
            | VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT.rawValue
        info.pfnUserCallback = { severity, _, data, _ in
            let text = data.flatMap { $0.pointee.pMessage.map { String(cString: $0) } } ?? "(no message)"
            if severity.rawValue & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT.rawValue != 0 {
                ValidationLog.record(text)
            } else {
                FileHandle.standardError.write(Data("Vulkan validation warning: \(text)\n".utf8))
            }
            return VkBool32(VK_FALSE)
        }
        var messenger: VkDebugUtilsMessengerEXT?
        guard create(instance, &info, nil, &messenger) == VK_SUCCESS else { return nil }
        return messenger
    }

    static func uninstall(_ messenger: VkDebugUtilsMessengerEXT, from instance: VkInstance) {
        guard let address = vkGetInstanceProcAddr(instance, "vkDestroyDebugUtilsMessengerEXT") else { return }
        unsafeBitCast(address, to: PFN_vkDestroyDebugUtilsMessengerEXT.self)(instance, messenger, nil)
    }
}
