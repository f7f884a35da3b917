import Foundation
import MeshFarmImage
import MeshFarmJobs
import MeshFarmMesh
import MeshFarmMessaging
import MeshFarmRender
import MeshFarmWorker

/// Renders a chunk of turntable views of one level of detail.
///
/// One ``ComputeRenderer`` (Vulkan context, pipelines, scratch buffers)
/// serves every task of the worker, and recently used meshes stay on the
/// device: the chunks of one level usually arrive back to back.
public final class RenderHandler: JobTaskHandler, @unchecked Sendable {
    let artifacts: any ArtifactAccess
    let renderer: ComputeRenderer
    private let cache: MeshCache

    /// `residentMeshes`: how many uploaded meshes to keep.
    public init(artifacts: any ArtifactAccess, renderer: ComputeRenderer, residentMeshes: Int = 4) {
        self.artifacts = artifacts
        self.renderer = renderer
        cache = MeshCache(capacity: residentMeshes)
    }

    /// The GPU pool's handlers by task kind, metered and classified
    /// (``MeteredHandler``).
    public static func handlers(artifacts: any ArtifactAccess, renderer: ComputeRenderer) -> [String:
        any JobTaskHandler]
    {
        MeteredHandler.metering([TaskKind.render.rawValue: RenderHandler(artifacts: artifacts, renderer: renderer)])
    }

    public func run(_ task: JobTask, context: TaskContext) throws -> TaskResult {
        guard case .render(let payload) = task.payload else { throw FailureClassifier.mismatch(task) }
        let gpuMesh = try cache.mesh(payload.mesh) {
            try renderer.upload(try MeshArtifact.read(path: try artifacts.fetch(payload.mesh).path))
        }
        let bounds = Bounds(
            min: SIMD3(payload.bounds.min.map(Float.init)), max: SIMD3(payload.bounds.max.map(Float.init)))
        let rig = TurntableRig(
            views: payload.views, elevation: payload.elevation, width: payload.size, height: payload.size)
        let options = RenderOptions(ssaa: payload.ssaa, depth: payload.depth, normals: payload.normals)
        var views: [RenderedViewResult] = []
        try context.stopIfCancelled()
        let cameras = (0..<payload.viewCount).map { rig.camera(payload.firstView + $0, bounds: bounds) }
        // The views render together; each is encoded and stored while the
        // device renders the next. The task holds the renderer meanwhile, so
        // with concurrency above 1 tasks take turns; a cancellation takes
        // effect at the next finished view (the ones in flight complete).
        try renderer.render(gpuMesh, cameras: cameras, options: options) { offset, view in
            try context.stopIfCancelled()
            let index = payload.firstView + offset
            views.append(
                RenderedViewResult(
                    index: index, image: try artifacts.store(data: PNGCodec.encode(view.image)),
                    depth: try view.depth.map { try artifacts.store(data: PFMCodec.encode($0)) },
                    normals: try view.normals.map { try artifacts.store(data: PNGCodec.encode($0)) },
                    camera: try JSONValue(encoding: cameras[offset])))
            context.progress(
                Double(offset + 1) / Double(payload.viewCount), stage: "view \(index + 1)/\(payload.views)")
        }
        context.log(
            "rendered \(views.count) views of \(gpuMesh.triangleCount) triangles at \(payload.size)x\(payload.size)"
                + (payload.ssaa > 1 ? " (SSAA \(payload.ssaa)x)" : ""))
        return .render(RenderResult(lod: payload.lod, views: views))
    }
}

/// A small LRU of device-resident meshes keyed by artifact hash.
final class MeshCache: @unchecked Sendable {
    private let lock = NSLock()
    private let capacity: Int
    private var entries: [(String, GPUMesh)] = []

    init(capacity: Int) { self.capacity = max(1, capacity) }

    func mesh(_ key: String, load: () throws -> GPUMesh) throws -> GPUMesh {
        if let hit = lock.withLock({ () -> GPUMesh? in
            guard let i = entries.firstIndex(where: { $0.0 == key }) else { return nil }
            let entry = entries.remove(at: i)
            entries.append(entry)
            return entry.1
        }) {
            return hit
        }
        let loaded = try load()
        lock.withLock {
            entries.append((key, loaded))
            if entries.count > capacity { entries.removeFirst() }
        }
        return loaded
    }
}

extension RenderError: RetryClassified {
    /// Options the device cannot render (a row too wide, bad supersampling).
    public var isRetryable: Bool { false }
}

extension VulkanError: RetryClassified {
    /// Device trouble: another worker, or this one later, may do better.
    public var isRetryable: Bool { true }
    /// A lost device does not come back in this process: the worker steps
    /// aside and its orchestrator starts another.
    public var breaksTheWorker: Bool { isDeviceLost }
}
