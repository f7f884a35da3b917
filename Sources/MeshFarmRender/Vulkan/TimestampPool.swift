import CVulkan

/// GPU timestamps around the passes of one submission, for benchmarks and
/// per-pass timing in logs. Not thread-safe: used under the renderer's lock.
final class TimestampPool {
    private let pool: VkQueryPool
    private let capacity: Int
    private let period: Double
    private let device: VkDevice
    private let context: VulkanContext
    private var labels: [String] = []

    /// Returns nil when the device's queue has no timestamp support.
    init?(context: VulkanContext, count: Int) throws {
        guard context.limits.timestampComputeAndGraphics != 0, context.limits.timestampPeriod > 0 else { return nil }
        self.context = context
        device = context.device
        capacity = count
        period = Double(context.limits.timestampPeriod) * 1e-9
        var info = VkQueryPoolCreateInfo()
        info.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO
        info.queryType = VK_QUERY_TYPE_TIMESTAMP
        info.queryCount = UInt32(count)
        var pool: VkQueryPool?
        try vkCheck(vkCreateQueryPool(device, &info, nil, &pool), "vkCreateQueryPool")
        self.pool = pool!
    }

    deinit { vkDestroyQueryPool(device, pool, nil) }

    func reset(_ cb: VkCommandBuffer) {
        vkCmdResetQueryPool(cb, pool, 0, UInt32(capacity))
        labels.removeAll(keepingCapacity: true)
    }

    /// Records a timestamp after all previous work; the interval since the
    /// previous mark is attributed to `label`.
    func mark(_ cb: VkCommandBuffer, _ label: String) {
        guard labels.count < capacity else { return }
        vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, pool, UInt32(labels.count))
        labels.append(label)
    }

    /// (label, seconds) for each interval of the finished submission.
    func intervals() -> [(String, Double)] {
        guard labels.count > 1 else { return [] }
        var values = [UInt64](repeating: 0, count: labels.count)
        let result = vkGetQueryPoolResults(
            device, pool, 0, UInt32(labels.count), values.count * 8, &values, 8,
            VK_QUERY_RESULT_64_BIT.rawValue | VK_QUERY_RESULT_WAIT_BIT.rawValue)
        guard result == VK_SUCCESS else { return [] }
        return (1..<labels.count).map { (labels[$0], Double(values[$0] &- values[$0 - 1]) * period) }
    }
}
