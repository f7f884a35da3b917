import CVulkan
import Foundation
import MeshFarmImage
import MeshFarmMesh

/// The compute-shader rasterizer. Two paths, chosen per view
/// (``binCapacity(triangles:chunks:camera:options:settings:maxBufferBytes:)``):
///
/// - *binned*, for meshes with few triangles for the image: triangles are
///   sorted into per-tile bins (`bin.comp`), then each touched 8x8 tile is
///   rasterized and shaded in registers (`fused.comp`);
/// - *classic*: visibility buffer and tile list (pass 1), shading of the
///   touched 8x8 tiles (pass 2).
///
/// Both end with the supersampling resolve when asked. See `shaders/` and
/// docs/architecture.md for the algorithms.
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
        /// Meshes of up to this many triangles take the binned path (0: never).
        public var binnedTriangleLimit: Int
        /// Time each pass of single-view renders (``lastPassTimes``), for
        /// profiling: on lavapipe the timestamps cost about 0.5 ms a view.
        public var recordsPassTimes: Bool

        public init(
            largeTriangleThreshold: Int = 256, maxBufferBytes: Int? = nil, binnedTriangleLimit: Int = 32_768,
            recordsPassTimes: Bool = false
        ) {
            self.largeTriangleThreshold = largeTriangleThreshold
            self.maxBufferBytes = maxBufferBytes
            self.binnedTriangleLimit = binnedTriangleLimit
            self.recordsPassTimes = recordsPassTimes
        }
    }

    public let context: VulkanContext
    public let settings: Settings
    let raster: ComputePipeline
    let rasterIndirect: ComputePipeline
    let rasterLarge: ComputePipeline
    let rasterClipped: ComputePipeline
    let tileIndirect: ComputePipeline
    let bin: ComputePipeline
    /// shade.comp and fused.comp, one pipeline per combination of their
    /// options (built on first use, then kept): see ``ShadeOptions``.
    private var shadeVariants: [ShadeOptions: ComputePipeline] = [:]
    private var fusedVariants: [ShadeOptions: ComputePipeline] = [:]
    let resolve: ComputePipeline
    private var scratch: [String: VulkanBuffer] = [:]
    /// Scratch buffers made so far, by name: a count that moved says the
    /// buffer is new (its contents undefined), without holding the old one.
    private var scratchCreated: [String: Int] = [:]
    /// Whether the visibility buffer is all ones, as shade.comp leaves it
    /// after a render; a new one, or one a failed render left, is filled
    /// first.
    private var visibilityIsEmpty = false
    private let lock = NSLock()
    private let timestamps: TimestampPool?

    /// With `settings.recordsPassTimes`, the GPU time of each pass of the
    /// last render (when it was one view in one band), in seconds, summed
    /// over chunks: clear, raster, large, shade, resolve (classic path) or
    /// clear, bin, fused, resolve (binned path). Empty when the device has
    /// no timestamps. (lavapipe's timestamps do not line up with its passes:
    /// treat them as a hint.)
    public private(set) var lastPassTimes: [String: Double] = [:]
    /// Triangles the last render (timed as above) sent to the large and
    /// clipping passes, last chunk only.
    public private(set) var lastLargeTriangleCount = 0
    /// Views of the last render drawn on the binned path, those of them it
    /// handed back to the classic path, and why.
    public private(set) var lastBinnedViews = 0
    public private(set) var lastBinnedFallbacks = 0
    public private(set) var lastFallbackReasons: FallbackReasons = []

    /// Why the binned path handed a view back to the classic path (bin.comp's
    /// FLAG_* bits).
    public struct FallbackReasons: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// A triangle crosses the near plane or the guard band.
        public static let clipping = FallbackReasons(rawValue: 1)
        /// A triangle spans 2048 pixels or more: too wide for 32-bit edge steps.
        public static let tooWide = FallbackReasons(rawValue: 2)
        /// A tile's bin overflowed.
        public static let binOverflow = FallbackReasons(rawValue: 4)
    }

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
            context: context, spirv: SPIRV.tileIndirectComp, bindingCount: 1, pushConstantSize: 4)
        bin = try ComputePipeline(
            context: context, spirv: SPIRV.binComp, bindingCount: 11, pushConstantSize: rasterSize,
            specialization: [UInt32(Self.fusedTilesPerGroup)])
        resolve = try ComputePipeline(context: context, spirv: SPIRV.resolveComp, bindingCount: 6, pushConstantSize: 32)
        timestamps = settings.recordsPassTimes ? try TimestampPool(context: context, count: 64) : nil
        // The farm's default: smooth shading, color only, one chunk.
        _ = try shade(.lastChunk)
        _ = try fused([])
        context.savePipelineCache()
    }

    /// Device memory the renderer keeps between renders for its passes
    /// (scratch buffers and the views' outputs; meshes are their own).
    public var scratchBytes: Int { lock.withLock { scratch.values.reduce(0) { $0 + $1.size } } }

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
        lastBinnedViews = 0
        lastBinnedFallbacks = 0
        lastFallbackReasons = []
        resetDescriptors()  // a failed render may have left sets allocated
        // A render that fails part-way may leave the visibility buffer dirty.
        var visibilityEmpty = visibilityIsEmpty
        visibilityIsEmpty = false
        // The shared scratch buffers, sized for the largest view up front: a
        // buffer that grows frees its predecessor, which views in flight use.
        let plans = try cameras.map { try BandPlan(camera: $0, ssaa: options.ssaa, maxBufferBytes: maxBufferBytes) }
        // fused.comp reads the records and bins as texels of 16 bytes.
        let binnedBufferBytes = min(maxBufferBytes, Int(context.limits.maxTexelBufferElements) * 16)
        let capacities = cameras.map { camera in
            Self.binCapacity(
                triangles: mesh.triangleCount, chunks: mesh.chunkCount, camera: camera, options: options,
                settings: settings, maxBufferBytes: binnedBufferBytes)
        }
        let visibilityBuffers = scratchCreated["visibility"]
        try reserveShared(plans, capacities: capacities, mesh: mesh, options: options)
        if scratchCreated["visibility"] != visibilityBuffers { visibilityEmpty = false }  // a new one is undefined
        // Views in flight each need their own output buffers: at most 8, and
        // at most 64 MiB of them.
        let outputs = 1 + (options.depth ? 1 : 0) + (options.normals ? 1 : 0)
        let viewBytes = (cameras.map { $0.width * $0.height }.max() ?? 1) * 4 * outputs
        let slots = max(1, min(Self.maxViewsInFlight, (64 << 20) / viewBytes))
        // Descriptor sets per pipeline pool (ComputePipeline.maxSets) that one
        // band uses at most.
        let setsPerBand = max(1, mesh.chunks.count)
        var setsUsed = 0
        var pending: [(index: Int, slot: Int, binned: Bool, done: PendingSubmission)] = []
        var submitted: [PendingSubmission] = []
        // Whatever throws, nothing is left running when the lock is released.
        defer { for submission in submitted { try? submission.wait() } }

        // Hands out the submitted views in order, each as soon as it is done;
        // then nothing is in flight and the descriptor sets are freed.
        func deliver() throws {
            while let view = pending.first {
                try view.done.wait()
                pending.removeFirst()
                let flags = view.binned ? try binFlags().read(UInt32.self, count: view.slot + 1)[view.slot] : 0
                if flags != 0 {
                    // The binned path could not draw this view: once nothing
                    // is in flight, draw it again the classic way.
                    for submission in submitted { try submission.wait() }
                    submitted.removeAll()
                    resetDescriptors()
                    setsUsed = 0
                    lastPassTimes = [:]
                    try submitClassic(view.index, slot: view.slot)
                    try submitted.last!.wait()
                    lastBinnedFallbacks += 1
                    lastFallbackReasons.insert(FallbackReasons(rawValue: flags))
                }
                try each(view.index, try output(slot: view.slot, camera: cameras[view.index], options: options))
            }
            for submission in submitted { try submission.wait() }
            submitted.removeAll()
            resetDescriptors()
            setsUsed = 0
        }

        // Records view `index` the classic way, band by band, into `slot`.
        func submitClassic(_ index: Int, slot: Int) throws {
            let camera = cameras[index]
            let plan = plans[index]
            // Reserved up front when a view is classic; allocated here for a
            // binned view's fallback, with nothing in flight.
            let reserved = scratchCreated["visibility"]
            _ = try buffer("visibility", bytes: plan.pixels * 8)
            if scratchCreated["visibility"] != reserved { visibilityEmpty = false }
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
        }

        for (index, camera) in cameras.enumerated() {
            let slot = index % slots
            if pending.count == slots { try deliver() }
            if let capacity = capacities[index] {
                if setsUsed + 1 > ComputePipeline.maxSets { try deliver() }
                let timed = cameras.count == 1
                submitted.append(
                    try context.submit { cb in
                        try recordBinned(
                            cb, mesh: mesh, camera: camera, options: options, plan: plans[index], slot: slot,
                            capacity: capacity, timed: timed)
                    })
                setsUsed += 1
                lastBinnedViews += 1
                if timed, let timestamps {
                    try submitted.last!.wait()
                    for (pass, seconds) in timestamps.intervals() { lastPassTimes[pass, default: 0] += seconds }
                }
            } else {
                try submitClassic(index, slot: slot)
            }
            pending.append((index, slot, capacities[index] != nil, submitted.last!))
        }
        try deliver()
        visibilityIsEmpty = visibilityEmpty
    }

    /// Views rendered at once, each into its own output buffers.
    static let maxViewsInFlight = 8

    /// Entries per tile of the binned path for a view, or `nil` when the
    /// view takes the classic path: the mesh must be within
    /// `settings.binnedTriangleLimit` and in one chunk, the view one band
    /// without wireframe, and bins of at least 64 entries a tile must fit
    /// 32 MiB (and a buffer binding). A 512² view gets 256 entries a tile, a
    /// 1024² one 128; a 2048² one (1024² with 2x supersampling) is classic.
    public static func binCapacity(
        triangles: Int, chunks: Int, camera: Camera, options: RenderOptions, settings: Settings, maxBufferBytes: Int
    ) -> Int? {
        guard let plan = try? BandPlan(camera: camera, ssaa: options.ssaa, maxBufferBytes: maxBufferBytes),
            triangles <= settings.binnedTriangleLimit, chunks == 1, !options.wireframe,
            plan.outputRows >= camera.height, triangles * binRecordBytes <= maxBufferBytes
        else { return nil }
        let capacity = min(256, min(32 << 20, maxBufferBytes) / (plan.tileCount * binEntryBytes))
        return capacity >= 64 ? capacity : nil
    }

    /// Listed tiles a fused.comp workgroup takes (its local size in y, set
    /// by specialization).
    static let fusedTilesPerGroup = 4

    /// Bytes of a triangle's record and of a bin entry (bin.comp).
    static let binRecordBytes = 128
    static let binEntryBytes = 16

    /// The binned path's bins and triangle records, which fused.comp reads
    /// as texel buffers.
    private func binBuffers(bins: Int, records: Int) throws -> (bins: VulkanBuffer, records: VulkanBuffer) {
        let usage = VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT.rawValue
        return (
            try buffer("bins", bytes: bins, usage: usage), try buffer("binRecords", bytes: records, usage: usage)
        )
    }

    /// One word per view slot: what the binned path could not draw (bin.comp's FLAG_*).
    private func binFlags() throws -> VulkanBuffer {
        try buffer("binFlags", bytes: Self.maxViewsInFlight * 4)
    }

    /// Grows the scratch buffers that every view of a call shares to fit
    /// the largest of `plans`.
    private func reserveShared(
        _ plans: [BandPlan], capacities: [Int?], mesh: GPUMesh, options: RenderOptions
    ) throws {
        guard let band = plans.map(\.pixels).max() else { return }
        let binBytes = zip(plans, capacities).compactMap { plan, capacity in
            capacity.map { plan.tileCount * $0 * Self.binEntryBytes }
        }.max()
        if let binBytes {
            _ = try binBuffers(bins: binBytes, records: mesh.triangleCount * Self.binRecordBytes)
            _ = try binFlags()
        }
        // The classic path's own buffers, when a view takes it (a binned
        // view that falls back gets them once nothing is in flight).
        if capacities.contains(where: { $0 == nil }) {
            _ = try buffer("large", bytes: mesh.largestChunk * 4)
            _ = try buffer("visibility", bytes: band * 8)
        }
        let tiles = plans.map(\.tileCount).max()!
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
        let targets = try shadingTargets(slot: slot, camera: camera, options: options, plan: plan)
        let (color, depth, normal) = targets.shaded
        let direct = targets.direct
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
        recordBackground(cb, targets, options: options, first: outputOffset, pixels: hiWidth * rows)
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
        try tileIndirect.dispatch(cb, buffers: [BufferBinding(tileList)], constants: UInt32(1), groups: (1, 1, 1))
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
        try recordResolve(cb, targets, width: width, rows: outRows, bandStart: bandStart, factor: k, options: options)
        timestamps?.mark(cb, "resolve")
    }

    /// Records one view on the binned path into the output buffers of
    /// `slot`: clear, bin.comp, fused.comp and (with supersampling) the
    /// resolve. The view's flag word says afterwards whether it must be
    /// drawn again the classic way.
    private func recordBinned(
        _ cb: VkCommandBuffer, mesh: GPUMesh, camera: Camera, options: RenderOptions, plan: BandPlan, slot: Int,
        capacity: Int, timed: Bool
    ) throws {
        let k = options.ssaa
        let (width, height) = (camera.width, camera.height)
        let hiWidth = plan.hiWidth
        let rows = height * k
        let timestamps = timed ? timestamps : nil
        let chunk = mesh.chunks[0]
        let targets = try shadingTargets(slot: slot, camera: camera, options: options, plan: plan)
        let (color, depth, normal) = targets.shaded
        let (tilesX, tileCount) = (plan.tilesX, plan.tileCount)
        // Bin sizes (tiles.glsl's per-tile words) and the list of touched tiles.
        let binCounts = try buffer("tiles", bytes: tileCount * 4)
        let tileList = try buffer(
            "tileList", bytes: (4 + tileCount) * 4, usage: VK_BUFFER_USAGE_INDIRECT_BUFFER_BIT.rawValue)
        let (bins, records) = try binBuffers(
            bins: tileCount * capacity * Self.binEntryBytes, records: mesh.triangleCount * Self.binRecordBytes)
        let flags = try binFlags()
        let view = camera.viewRows.map { SIMD4<Float>(Float($0.x), Float($0.y), Float($0.z), Float($0.w)) }
        let (sx, sy) = camera.projectionScale

        computeBarrier(cb)
        timestamps?.reset(cb)
        timestamps?.mark(cb, "start")
        vkCmdFillBuffer(cb, binCounts.buffer, 0, VkDeviceSize(tileCount * 4), 0)
        // No tiles listed; fused.comp's dispatch (0, 1, 1), counted up by bin.comp.
        vkCmdFillBuffer(cb, tileList.buffer, 0, 8, 0)
        vkCmdFillBuffer(cb, tileList.buffer, 8, 8, 1)
        vkCmdFillBuffer(cb, flags.buffer, VkDeviceSize(slot * 4), 4, 0)
        recordBackground(cb, targets, options: options, first: 0, pixels: hiWidth * rows)
        computeBarrier(cb)
        timestamps?.mark(cb, "clear")
        let constants = RasterConstants(
            viewRow0: view[0], viewRow1: view[1], viewRow2: view[2], sx: Float(sx), sy: Float(sy),
            near: Float(camera.near), far: Float(camera.far), width: UInt32(hiWidth), height: UInt32(rows),
            bandY0: 0, bandHeight: UInt32(rows), triangleBase: 0, triangleCount: UInt32(chunk.triangleCount),
            largeThreshold: 0, largeCapacity: 0, tilesX: UInt32(tilesX), binCapacity: UInt32(capacity),
            viewSlot: UInt32(slot))
        // raster_common.glsl's bindings 2-4 (visibility, counters, lists)
        // are declared but never accessed here: the bin counts stand in, so
        // a renderer that only draws binned views has no visibility buffer.
        let unused = BufferBinding(binCounts)
        let groups = (chunk.triangleCount + 63) / 64
        let x = min(groups, 65535)
        try bin.dispatch(
            cb,
            buffers: [
                BufferBinding(chunk.positions), BufferBinding(chunk.indices), unused, unused, unused,
                BufferBinding(binCounts),
                BufferBinding(tileList), BufferBinding(records), BufferBinding(bins), BufferBinding(chunk.normals),
                BufferBinding(flags),
            ],
            constants: constants, groups: (UInt32(x), UInt32((groups + x - 1) / x), 1))
        computeBarrier(cb)
        timestamps?.mark(cb, "bin")
        try fused(ShadeOptions(options)).dispatchIndirect(
            cb,
            buffers: [
                .texels(records, VK_FORMAT_R32G32B32A32_UINT), .texels(bins, VK_FORMAT_R32G32B32A32_UINT),
                BufferBinding(binCounts), BufferBinding(tileList),
                BufferBinding(color), BufferBinding(depth), BufferBinding(normal),
            ],
            constants: FusedConstants(
                viewRow0: view[0], viewRow1: view[1], viewRow2: view[2], sx: Float(sx), sy: Float(sy),
                far: Float(camera.far), binCapacity: UInt32(capacity), width: UInt32(hiWidth), height: UInt32(rows),
                bandY0: 0, tilesX: UInt32(tilesX)),
            arguments: tileList, offset: 4)
        computeBarrier(cb)
        timestamps?.mark(cb, "fused")
        guard !targets.direct else { return }
        try recordResolve(cb, targets, width: width, rows: height, bandStart: 0, factor: k, options: options)
        timestamps?.mark(cb, "resolve")
    }

    /// Where a band is shaded (`shaded`: color, depth, normals) and where
    /// the view ends up (`outputs`, the slot's buffers). Without
    /// supersampling they are the same: shading writes the view directly.
    /// Buffers not asked for stand in with one that is, unwritten.
    private struct ShadingTargets {
        var shaded: (VulkanBuffer, VulkanBuffer, VulkanBuffer)
        var outputs: (VulkanBuffer, VulkanBuffer, VulkanBuffer)
        var direct: Bool
    }

    private func shadingTargets(slot: Int, camera: Camera, options: RenderOptions, plan: BandPlan) throws
        -> ShadingTargets
    {
        let outputs = try self.outputs(slot: slot, camera: camera, options: options)
        guard options.ssaa > 1 else { return ShadingTargets(shaded: outputs, outputs: outputs, direct: true) }
        let bytes = plan.pixels * 4
        return ShadingTargets(
            shaded: (
                try buffer("color", bytes: bytes), options.depth ? try buffer("depth", bytes: bytes) : outputs.1,
                options.normals ? try buffer("normal", bytes: bytes) : outputs.2
            ),
            outputs: outputs, direct: false)
    }

    /// Records the background (transparent, depth 0) of `pixels` shaded
    /// pixels from `first` on: shading writes only covered pixels.
    private func recordBackground(
        _ cb: VkCommandBuffer, _ targets: ShadingTargets, options: RenderOptions, first: Int, pixels: Int
    ) {
        let (offset, count) = (VkDeviceSize(first * 4), VkDeviceSize(pixels * 4))
        vkCmdFillBuffer(cb, targets.shaded.0.buffer, offset, count, 0)
        if options.depth { vkCmdFillBuffer(cb, targets.shaded.1.buffer, offset, count, 0) }
        if options.normals { vkCmdFillBuffer(cb, targets.shaded.2.buffer, offset, count, 0) }
    }

    /// Records the supersampling resolve of `rows` output rows from
    /// `bandStart` on: k x k shaded samples into each output pixel.
    private func recordResolve(
        _ cb: VkCommandBuffer, _ targets: ShadingTargets, width: Int, rows: Int, bandStart: Int, factor: Int,
        options: RenderOptions
    ) throws {
        let outputFlags: UInt32 = (options.depth ? 2 : 0) | (options.normals ? 4 : 0)
        let (band, output) = (targets.shaded, targets.outputs)
        try resolve.dispatch(
            cb,
            buffers: [
                BufferBinding(band.0), BufferBinding(band.1), BufferBinding(band.2), BufferBinding(output.0),
                BufferBinding(output.1), BufferBinding(output.2),
            ],
            constants: SIMD8<UInt32>(
                UInt32(width), UInt32(rows), UInt32(factor), UInt32(bandStart), outputFlags, 0, 0, 0),
            groups: (UInt32((width + 7) / 8), UInt32((rows + 7) / 8), 1))
        computeBarrier(cb)
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
        for pipeline in [raster, rasterIndirect, rasterLarge, rasterClipped, tileIndirect, bin, resolve]
            + shadeVariants.values + fusedVariants.values
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

    /// The fused.comp pipeline for `options` (flat, depth and normals; the
    /// binned path draws no wireframe and has no chunks).
    private func fused(_ options: ShadeOptions) throws -> ComputePipeline {
        let options = options.intersection([.flat, .depth, .normals])
        if let existing = fusedVariants[options] { return existing }
        let created = try ComputePipeline(
            context: context, spirv: SPIRV.fusedComp, bindingCount: 7, texelBindings: [0, 1],
            pushConstantSize: MemoryLayout<FusedConstants>.size,
            specialization: [options.rawValue, UInt32(Self.fusedTilesPerGroup)])
        fusedVariants[options] = created
        return created
    }

    /// A scratch buffer of at least `bytes`, reused across renders.
    private func buffer(_ name: String, bytes: Int, usage: UInt32 = 0) throws -> VulkanBuffer {
        if let existing = scratch[name], existing.size >= bytes { return existing }
        scratch[name] = nil  // free the old one before allocating its successor
        let created = try VulkanBuffer(context: context, size: bytes, extraUsage: usage)
        scratch[name] = created
        scratchCreated[name, default: 0] += 1
        return created
    }
}

/// Push constants of the raster passes and bin.comp (`raster_common.glsl`),
/// 108 bytes.
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
    var binCapacity: UInt32 = 0
    var viewSlot: UInt32 = 0
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

/// Push constants of `fused.comp`, 80 bytes.
struct FusedConstants {
    var viewRow0: SIMD4<Float>
    var viewRow1: SIMD4<Float>
    var viewRow2: SIMD4<Float>
    var sx: Float
    var sy: Float
    var far: Float
    var binCapacity: UInt32
    var width: UInt32
    var height: UInt32
    var bandY0: UInt32
    var tilesX: UInt32
}
