import CVulkan
import Foundation
import MeshFarmImage
import MeshFarmMesh

/// The compute-shader rasterizer: visibility buffer and tile list (pass 1),
/// shading of the touched 8x8 tiles (pass 2), supersampling resolve
/// (pass 3). See `shaders/` and docs/architecture.md for the algorithm.
///
/// Create one per ``VulkanContext`` and keep it: pipelines are built once,
/// scratch buffers are kept and only grown. Renders are serialized by a
/// lock; each blocks until the device is done, so call from a dedicated
/// thread.
public final class ComputeRenderer: @unchecked Sendable {
    /// Tuning knobs; the defaults suit lavapipe and desktop GPUs alike.
    public struct Settings: Sendable {
        /// Triangles whose clipped bounding box covers more pixels than this
        /// go to the tiled large-triangle pass.
        public var largeTriangleThreshold: Int
        /// Cap on one storage-buffer binding; `nil` uses the device limit.
        /// Tests lower it to exercise mesh splitting and image bands.
        public var maxBufferBytes: Int?

        public init(largeTriangleThreshold: Int = 256, maxBufferBytes: Int? = nil) {
            self.largeTriangleThreshold = largeTriangleThreshold
            self.maxBufferBytes = maxBufferBytes
        }
    }

    public let context: VulkanContext
    public let settings: Settings
    let raster: ComputePipeline
    let rasterIndirect: ComputePipeline
    let rasterLarge: ComputePipeline
    let rasterClipped: ComputePipeline
    let tileIndirect: ComputePipeline
    /// shade.comp, one pipeline per combination of its options (built on
    /// first use, then kept): see ``ShadeOptions``.
    private var shadeVariants: [ShadeOptions: ComputePipeline] = [:]
    let resolve: ComputePipeline
    private var scratch: [String: VulkanBuffer] = [:]
    /// Whether the visibility buffer is all ones, as shade.comp leaves it
    /// after a render; a new one, or one a failed render left, is filled
    /// first.
    private var visibilityIsEmpty = false
    private let lock = NSLock()
    private let timestamps: TimestampPool?

    /// GPU time of each pass of the last render (when it was one view in
    /// one band), in seconds, summed over chunks: clear, raster, large,
    /// shade, resolve. Empty when the device has no timestamps. (lavapipe's
    /// timestamps do not line up with its passes: treat them as a hint.)
    public private(set) var lastPassTimes: [String: Double] = [:]
    /// Triangles the last render (one view in one band, on a device with
    /// timestamps) sent to the large and clipping passes, last chunk only.
    public private(set) var lastLargeTriangleCount = 0

    /// Largest accepted output size per side, and accepted SSAA factors.
    public static let maxImageSide = 8192
    public static let ssaaFactors: Set<Int> = [1, 2, 4]

    public init(context: VulkanContext, settings: Settings = Settings()) throws {
        self.context = context
        self.settings = settings
        let rasterSize = MemoryLayout<RasterConstants>.size
        raster = try ComputePipeline(
            context: context, spirv: SPIRV.rasterComp, bindingCount: 7, pushConstantSize: rasterSize)
        rasterIndirect = try ComputePipeline(
            context: context, spirv: SPIRV.rasterIndirectComp, bindingCount: 7, pushConstantSize: rasterSize)
        rasterLarge = try ComputePipeline(
            context: context, spirv: SPIRV.rasterLargeComp, bindingCount: 7, pushConstantSize: rasterSize)
        rasterClipped = try ComputePipeline(
            context: context, spirv: SPIRV.rasterClippedComp, bindingCount: 7, pushConstantSize: rasterSize)
        tileIndirect = try ComputePipeline(
            context: context, spirv: SPIRV.tileIndirectComp, bindingCount: 1, pushConstantSize: 0)
        resolve = try ComputePipeline(context: context, spirv: SPIRV.resolveComp, bindingCount: 6, pushConstantSize: 32)
        timestamps = try TimestampPool(context: context, count: 64)
        // The farm's default: smooth shading, color only, one chunk.
        _ = try shade(.lastChunk)
        context.savePipelineCache()
    }

    /// The binding size limit in effect.
    public var maxBufferBytes: Int {
        min(settings.maxBufferBytes ?? Int.max, Int(context.limits.maxStorageBufferRange))
    }

    /// Uploads a mesh for rendering; keep the result to render it again.
    public func upload(_ mesh: Mesh) throws -> GPUMesh {
        try GPUMesh(context: context, mesh: mesh, maxBufferBytes: maxBufferBytes)
    }

    /// Renders one view of an uploaded mesh.
    public func render(_ mesh: GPUMesh, camera: Camera, options: RenderOptions = RenderOptions()) throws -> RenderedView
    {
        var result: RenderedView?
        try render(mesh, cameras: [camera], options: options) { _, view in result = view }
        return result!
    }

    /// Renders several views of one uploaded mesh (a render task's views):
    /// they are submitted together, and `each(index, view)` is called on the
    /// calling thread, in camera order, as soon as that view is done while
    /// the device goes on with the next ones, so encoding and storing a view
    /// overlaps rendering the rest. Blocks until every view is handled;
    /// `each` must not render with this renderer (renders are serialized).
    public func render(
        _ mesh: GPUMesh, cameras: [Camera], options: RenderOptions = RenderOptions(),
        each: (Int, RenderedView) throws -> Void
    ) throws {
        for camera in cameras { try Self.validate(camera: camera, options: options) }
        lock.lock()
        defer { lock.unlock() }
        lastPassTimes = [:]
        lastLargeTriangleCount = 0
        resetDescriptors()  // a failed render may have left sets allocated
        // A render that fails part-way may leave the visibility buffer dirty.
        var visibilityEmpty = visibilityIsEmpty
        visibilityIsEmpty = false
        // The shared scratch buffers, sized for the largest view up front: a
        // buffer that grows frees its predecessor, which views in flight use.
        let plans = try cameras.map { try BandPlan(camera: $0, ssaa: options.ssaa, maxBufferBytes: maxBufferBytes) }
        let previousVisibility = scratch["visibility"]
        try reserveShared(plans, mesh: mesh, options: options)
        if scratch["visibility"] !== previousVisibility { visibilityEmpty = false }  // a new one is undefined
        // Views in flight each need their own output buffers: at most 8, and
        // at most 64 MiB of them.
        let outputs = 1 + (options.depth ? 1 : 0) + (options.normals ? 1 : 0)
        let viewBytes = (cameras.map { $0.width * $0.height }.max() ?? 1) * 4 * outputs
        let slots = max(1, min(8, (64 << 20) / viewBytes))
        // Descriptor sets per pipeline pool (ComputePipeline.maxSets) that one
        // band uses at most.
        let setsPerBand = max(1, mesh.chunks.count)
        var setsUsed = 0
        var pending: [(index: Int, slot: Int, done: PendingSubmission)] = []
        var submitted: [PendingSubmission] = []
        // Whatever throws, nothing is left running when the lock is released.
        defer { for submission in submitted { try? submission.wait() } }

        // Hands out the submitted views in order, each as soon as it is done;
        // then nothing is in flight and the descriptor sets are freed.
        func deliver() throws {
            while let view = pending.first {
                try view.done.wait()
                pending.removeFirst()
                try each(view.index, try output(slot: view.slot, camera: cameras[view.index], options: options))
            }
            for submission in submitted { try submission.wait() }
            submitted.removeAll()
            resetDescriptors()
            setsUsed = 0
        }

        for (index, camera) in cameras.enumerated() {
            let slot = index % slots
            if pending.count == slots { try deliver() }
            let plan = plans[index]
            for bandStart in stride(from: 0, to: camera.height, by: plan.outputRows) {
                // Before the pools run out, wait for everything (this view's
                // earlier bands too) and free the sets.
                if setsUsed + setsPerBand > ComputePipeline.maxSets { try deliver() }
                let timed = cameras.count == 1 && plan.outputRows >= camera.height
                let clear = !visibilityEmpty
                submitted.append(
                    try context.submit { cb in
                        try recordBand(
                            cb, mesh: mesh, camera: camera, options: options, plan: plan, bandStart: bandStart,
                            slot: slot, clearVisibility: clear, timed: timed)
                    })
                visibilityEmpty = true  // shade.comp leaves it so
                setsUsed += setsPerBand
                if timed, let timestamps {
                    try submitted.last!.wait()
                    for (pass, seconds) in timestamps.intervals() { lastPassTimes[pass, default: 0] += seconds }
                    let listed = try buffer("counters", bytes: 32).read(UInt32.self, count: 5)
                    lastLargeTriangleCount = Int(listed[0]) + Int(listed[4])
                }
            }
            pending.append((index, slot, submitted.last!))
        }
        try deliver()
        visibilityIsEmpty = visibilityEmpty
    }

    /// Grows the scratch buffers that every view of a call shares to fit
    /// the largest of `plans`.
    private func reserveShared(_ plans: [BandPlan], mesh: GPUMesh, options: RenderOptions) throws {
        guard let band = plans.map(\.pixels).max() else { return }
        _ = try buffer("large", bytes: mesh.largestChunk * 4)
        let tiles = plans.map(\.tileCount).max()!
        _ = try buffer("visibility", bytes: band * 8)
        _ = try buffer("tiles", bytes: tiles * 4)
        _ = try buffer("tileList", bytes: (4 + tiles) * 4, usage: VK_BUFFER_USAGE_INDIRECT_BUFFER_BIT.rawValue)
        guard options.ssaa > 1 else { return }
        _ = try buffer("color", bytes: band * 4)
        if options.depth { _ = try buffer("depth", bytes: band * 4) }
        if options.normals { _ = try buffer("normal", bytes: band * 4) }
    }

    /// How a view is cut into horizontal bands: the visibility buffer (8
    /// bytes a supersampled pixel) must fit one buffer binding.
    struct BandPlan {
        var hiWidth: Int
        var outputRows: Int
        var rows: Int { outputRows * ssaa }
        var ssaa: Int
        /// Supersampled pixels in a (full) band.
        var pixels: Int { hiWidth * rows }
        /// The band's 8x8 tiles (tiles.glsl): per row, and in all.
        var tilesX: Int { (hiWidth + 7) / 8 }
        var tileCount: Int { tilesX * ((rows + 7) / 8) }

        init(camera: Camera, ssaa: Int, maxBufferBytes: Int) throws {
            hiWidth = camera.width * ssaa
            self.ssaa = ssaa
            let rowBytes = hiWidth * 8
            guard rowBytes * ssaa <= maxBufferBytes else {
                throw RenderError(
                    "a \(camera.width)-pixel row with \(ssaa)x supersampling exceeds the device's buffer limit")
            }
            outputRows = max(1, min(camera.height, maxBufferBytes / (rowBytes * ssaa)))
        }
    }

    /// Records one band of one view: clear, raster passes, tile list,
    /// shading and (with supersampling) the resolve, into the output buffers
    /// of `slot`.
    private func recordBand(
        _ cb: VkCommandBuffer, mesh: GPUMesh, camera: Camera, options: RenderOptions, plan: BandPlan,
        bandStart: Int, slot: Int, clearVisibility: Bool, timed: Bool
    ) throws {
        let k = options.ssaa
        let (width, height) = (camera.width, camera.height)
        let hiWidth = plan.hiWidth
        let outRows = min(plan.outputRows, height - bandStart)
        let rows = outRows * k
        let timestamps = timed ? timestamps : nil

        let visibility = try buffer("visibility", bytes: plan.pixels * 8)
        let (outColor, outDepth, outNormal) = try outputs(slot: slot, camera: camera, options: options)
        // Without supersampling, shading writes the output directly.
        let direct = k == 1
        let bandBytes = plan.pixels * 4
        let color = direct ? outColor : try buffer("color", bytes: bandBytes)
        let depth = direct || !options.depth ? outDepth : try buffer("depth", bytes: bandBytes)
        let normal = direct || !options.normals ? outNormal : try buffer("normal", bytes: bandBytes)
        let counters = try buffer("counters", bytes: 32, usage: VK_BUFFER_USAGE_INDIRECT_BUFFER_BIT.rawValue)
        // Room for every triangle of the largest chunk: the list never overflows.
        let largeCapacity = mesh.largestChunk
        let large = try buffer("large", bytes: largeCapacity * 4)
        // The 8x8 tiles of a band that the raster passes touch (tiles.glsl).
        let (tilesX, tileCount) = (plan.tilesX, plan.tileCount)
        let tiles = try buffer("tiles", bytes: tileCount * 4)
        let tileList = try buffer(
            "tileList", bytes: (4 + tileCount) * 4, usage: VK_BUFFER_USAGE_INDIRECT_BUFFER_BIT.rawValue)
        let tileBindings = [BufferBinding(tiles), BufferBinding(tileList)]

        let outputFlags: UInt32 = (options.depth ? 2 : 0) | (options.normals ? 4 : 0)
        let shadeOptions = ShadeOptions(options)
        let view = camera.viewRows.map { SIMD4<Float>(Float($0.x), Float($0.y), Float($0.z), Float($0.w)) }
        let (sx, sy) = camera.projectionScale
        let outputOffset = direct ? bandStart * width : 0

        // After the previous band or view: its reads of the shared buffers
        // come before this band's writes.
        computeBarrier(cb)
        timestamps?.reset(cb)
        timestamps?.mark(cb, "start")
        if clearVisibility {
            vkCmdFillBuffer(cb, visibility.buffer, 0, VkDeviceSize(VK_WHOLE_SIZE), 0xFFFF_FFFF)
        }
        vkCmdFillBuffer(cb, tiles.buffer, 0, VkDeviceSize(tileCount * 4), 0)
        vkCmdFillBuffer(cb, tileList.buffer, 0, 16, 0)
        // The background: shading writes only covered pixels.
        let (first, count) = (VkDeviceSize(outputOffset * 4), VkDeviceSize(hiWidth * rows * 4))
        vkCmdFillBuffer(cb, color.buffer, first, count, 0)
        if options.depth { vkCmdFillBuffer(cb, depth.buffer, first, count, 0) }
        if options.normals { vkCmdFillBuffer(cb, normal.buffer, first, count, 0) }
        computeBarrier(cb)
        timestamps?.mark(cb, "clear")
        for chunk in mesh.chunks {
            let constants = RasterConstants(
                viewRow0: view[0], viewRow1: view[1], viewRow2: view[2], sx: Float(sx), sy: Float(sy),
                near: Float(camera.near), far: Float(camera.far), width: UInt32(hiWidth),
                height: UInt32(height * k), bandY0: UInt32(bandStart * k), bandHeight: UInt32(rows),
                triangleBase: UInt32(chunk.triangleBase), triangleCount: UInt32(chunk.triangleCount),
                largeThreshold: UInt32(settings.largeTriangleThreshold), largeCapacity: UInt32(largeCapacity),
                tilesX: UInt32(tilesX))
            let bindings =
                [
                    BufferBinding(chunk.positions), BufferBinding(chunk.indices), BufferBinding(visibility),
                    BufferBinding(counters), BufferBinding(large),
                ] + tileBindings
            vkCmdFillBuffer(cb, counters.buffer, 0, 32, 0)
            computeBarrier(cb)
            let groups = (chunk.triangleCount + 63) / 64
            let x = min(groups, 65535)
            try raster.dispatch(
                cb, buffers: bindings, constants: constants, groups: (UInt32(x), UInt32((groups + x - 1) / x), 1))
            computeBarrier(cb)
            timestamps?.mark(cb, "raster")
            try rasterIndirect.dispatch(cb, buffers: bindings, constants: constants, groups: (1, 1, 1))
            computeBarrier(cb)
            try rasterLarge.dispatchIndirect(
                cb, buffers: bindings, constants: constants, arguments: counters, offset: 4)
            try rasterClipped.dispatchIndirect(
                cb, buffers: bindings, constants: constants, arguments: counters, offset: 20)
            computeBarrier(cb)
            timestamps?.mark(cb, "large")
        }
        try tileIndirect.dispatch(cb, buffers: [BufferBinding(tileList)], constants: (), groups: (1, 1, 1))
        computeBarrier(cb)
        for (index, chunk) in mesh.chunks.enumerated() {
            // The last chunk's run leaves the visibility buffer empty.
            let last = index == mesh.chunks.count - 1
            let shade = try shade(last ? shadeOptions.union(.lastChunk) : shadeOptions)
            let constants = ShadeConstants(
                viewRow0: view[0], viewRow1: view[1], viewRow2: view[2], sx: Float(sx), sy: Float(sy),
                wireWidth: 0.6 * Float(k),
                width: UInt32(hiWidth), height: UInt32(height * k), bandY0: UInt32(bandStart * k),
                bandHeight: UInt32(rows), triangleBase: UInt32(chunk.triangleBase),
                triangleCount: UInt32(chunk.triangleCount),
                outputOffset: UInt32(outputOffset), tilesX: UInt32(tilesX))
            try shade.dispatchIndirect(
                cb,
                buffers: [
                    BufferBinding(chunk.positions), BufferBinding(chunk.indices), BufferBinding(visibility),
                    BufferBinding(chunk.normals), BufferBinding(color), BufferBinding(depth),
                    BufferBinding(normal),
                ] + tileBindings,
                constants: constants, arguments: tileList, offset: 4)
            computeBarrier(cb)
        }
        timestamps?.mark(cb, "shade")
        guard !direct else { return }
        try resolve.dispatch(
            cb,
            buffers: [
                BufferBinding(color), BufferBinding(depth), BufferBinding(normal), BufferBinding(outColor),
                BufferBinding(outDepth), BufferBinding(outNormal),
            ],
            constants: SIMD8<UInt32>(
                UInt32(width), UInt32(outRows), UInt32(k), UInt32(bandStart), outputFlags, 0, 0, 0),
            groups: (UInt32((width + 7) / 8), UInt32((outRows + 7) / 8), 1))
        computeBarrier(cb)
        timestamps?.mark(cb, "resolve")
    }

    /// The output buffers of an in-flight view slot. Depth and normals are
    /// allocated only when asked for; otherwise the color buffer stands in
    /// for their (unwritten) bindings.
    private func outputs(slot: Int, camera: Camera, options: RenderOptions) throws -> (
        color: VulkanBuffer, depth: VulkanBuffer, normals: VulkanBuffer
    ) {
        let bytes = camera.width * camera.height * 4
        let color = try buffer("outColor.\(slot)", bytes: bytes)
        return (
            color, options.depth ? try buffer("outDepth.\(slot)", bytes: bytes) : color,
            options.normals ? try buffer("outNormal.\(slot)", bytes: bytes) : color
        )
    }

    /// A finished view, copied out of its slot's buffers.
    private func output(slot: Int, camera: Camera, options: RenderOptions) throws -> RenderedView {
        let (width, height) = (camera.width, camera.height)
        let (outColor, outDepth, outNormal) = try outputs(slot: slot, camera: camera, options: options)
        let pixels = width * height
        var result = RenderedView(
            image: RGBAImage(
                width: width, height: height,
                pixels: Array(UnsafeRawBufferPointer(start: outColor.contents, count: pixels * 4))))
        if options.depth {
            result.depth = FloatImage(width: width, height: height, values: outDepth.read(Float.self, count: pixels))
        }
        if options.normals {
            result.normals = RGBAImage(
                width: width, height: height,
                pixels: Array(UnsafeRawBufferPointer(start: outNormal.contents, count: pixels * 4)))
        }
        return result
    }

    private func resetDescriptors() {
        for pipeline in [raster, rasterIndirect, rasterLarge, rasterClipped, tileIndirect, resolve]
            + shadeVariants.values
        {
            pipeline.resetDescriptors()
        }
    }

    public static func validate(camera: Camera, options: RenderOptions) throws {
        guard ssaaFactors.contains(options.ssaa) else {
            throw RenderError("supersampling must be 1, 2 or 4, got \(options.ssaa)")
        }
        guard (1...maxImageSide).contains(camera.width), (1...maxImageSide).contains(camera.height) else {
            throw RenderError(
                "image size must be 1...\(maxImageSide) pixels per side, got \(camera.width)x\(camera.height)")
        }
        guard camera.near > 0, camera.far > camera.near, camera.fovY > 0, camera.fovY < 180 else {
            throw RenderError("camera needs 0 < near < far and 0 < fovY < 180")
        }
    }

    /// The shade.comp pipeline for `options`.
    private func shade(_ options: ShadeOptions) throws -> ComputePipeline {
        if let existing = shadeVariants[options] { return existing }
        let created = try ComputePipeline(
            context: context, spirv: SPIRV.shadeComp, bindingCount: 9,
            pushConstantSize: MemoryLayout<ShadeConstants>.size, specialization: [options.rawValue])
        shadeVariants[options] = created
        return created
    }

    /// A scratch buffer of at least `bytes`, reused across renders.
    private func buffer(_ name: String, bytes: Int, usage: UInt32 = 0) throws -> VulkanBuffer {
        if let existing = scratch[name], existing.size >= bytes { return existing }
        scratch[name] = nil  // free the old one before allocating its successor
        let created = try VulkanBuffer(context: context, size: bytes, extraUsage: usage)
        scratch[name] = created
        return created
    }
}

/// Push constants of the raster passes (`raster_common.glsl`), 100 bytes.
struct RasterConstants {
    var viewRow0: SIMD4<Float>
    var viewRow1: SIMD4<Float>
    var viewRow2: SIMD4<Float>
    var sx: Float
    var sy: Float
    var near: Float
    var far: Float
    var width: UInt32
    var height: UInt32
    var bandY0: UInt32
    var bandHeight: UInt32
    var triangleBase: UInt32
    var triangleCount: UInt32
    var largeThreshold: UInt32
    var largeCapacity: UInt32
    var tilesX: UInt32
}

/// shade.comp's specialization constant `OPTIONS`.
struct ShadeOptions: OptionSet, Hashable {
    let rawValue: UInt32
    static let flat = ShadeOptions(rawValue: 1)
    static let depth = ShadeOptions(rawValue: 2)
    static let normals = ShadeOptions(rawValue: 4)
    static let lastChunk = ShadeOptions(rawValue: 8)
    static let wireframe = ShadeOptions(rawValue: 16)

    init(rawValue: UInt32) { self.rawValue = rawValue }

    init(_ options: RenderOptions) {
        self = []
        if options.flatShading { insert(.flat) }
        if options.depth { insert(.depth) }
        if options.normals { insert(.normals) }
        if options.wireframe { insert(.wireframe) }
    }
}

/// Push constants of `shade.comp`, 96 bytes.
struct ShadeConstants {
    var viewRow0: SIMD4<Float>
    var viewRow1: SIMD4<Float>
    var viewRow2: SIMD4<Float>
    var sx: Float
    var sy: Float
    var wireWidth: Float
    var pad0: UInt32 = 0
    var width: UInt32
    var height: UInt32
    var bandY0: UInt32
    var bandHeight: UInt32
    var triangleBase: UInt32
    var triangleCount: UInt32
    var outputOffset: UInt32
    var tilesX: UInt32
}
