import ArgumentParser
import Foundation
import MeshFarmMesh
import MeshFarmRender

/// `meshfarm render MODEL --out DIR`: turntable views with the compute rasterizer.
struct RenderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Render turntable views of a model with the Vulkan compute rasterizer.",
        discussion: """
            Writes DIR/view-<j>.png (RGBA, transparent background), DIR/view-<j>-depth.pfm with \
            --depth (linear view depth, 0 = no surface), DIR/view-<j>-normals.png with --normals, \
            and DIR/views.json with every camera (eye, target, up, fovY in degrees, width, height, \
            near, far). Pixel (0,0) is the top-left pixel; pixel centers are at half-integers.
            """)

    @Argument(help: "Model file, or a MeshFarm mesh artifact (.mfmesh).")
    var model: String

    @OptionGroup var view: ViewOptions

    @Option(help: "Vertical field of view, degrees.")
    var fov: Double = 35

    @Flag(help: "Flat shading (per-face normals), for hard-edged parts.")
    var flat = false

    @Flag(help: "Overlay triangle edges.")
    var wireframe = false

    @Option(help: "Vulkan device index (see `meshfarm devices`).")
    var device: Int?

    @Option(help: "Output directory.")
    var out: String

    @OptionGroup var importOptions: ImportOptions

    func validate() throws {
        guard view.views >= 1, view.views <= 360 else { throw ValidationError("--views must be 1...360") }
        guard view.size >= 1, view.size <= ComputeRenderer.maxImageSide else {
            throw ValidationError("--size must be 1...\(ComputeRenderer.maxImageSide)")
        }
        guard ComputeRenderer.ssaaFactors.contains(view.ssaa) else {
            throw ValidationError("--ssaa must be 1, 2 or 4")
        }
        guard view.elevation >= -89, view.elevation <= 89 else {
            throw ValidationError("--elevation must be -89...89")
        }
        guard fov > 1, fov < 170 else { throw ValidationError("--fov must be in (1, 170)") }
    }

    func run() throws {
        let mesh = try CLI.reportingErrors {
            model.hasSuffix(".mfmesh") ? try MeshArtifact.read(path: model) : try importOptions.load(model).mesh
        }
        let context = try VulkanContext(
            options: .init(deviceIndex: device, pipelineCachePath: VulkanContext.defaultPipelineCachePath))
        let renderer = try ComputeRenderer(context: context)
        let gpuMesh = try renderer.upload(mesh)
        let rig = TurntableRig(
            views: view.views, elevation: view.elevation, fovY: fov, width: view.size, height: view.size)
        let options = RenderOptions(
            ssaa: view.ssaa, flatShading: flat, wireframe: wireframe, depth: view.depth, normals: view.normals)
        let directory = URL(fileURLWithPath: out)
        var records: [ViewRecord] = []
        // The views render together; each is written while the next renders.
        let cameras = rig.cameras(bounds: gpuMesh.bounds)
        try renderer.render(gpuMesh, cameras: cameras, options: options) { j, view in
            records.append(try view.write(to: directory, name: "view-\(j)", index: j, camera: cameras[j]))
        }
        let document = ViewsDocument(
            model: model, triangles: mesh.triangleCount, device: context.deviceInfo.name, views: records)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(document).write(to: directory.appendingPathComponent("views.json"), options: .atomic)
        print("wrote \(records.count) views of \(mesh.triangleCount) triangles to \(out)")
    }
}

/// `views.json`.
struct ViewsDocument: Encodable {
    var model: String
    var triangles: Int
    var device: String
    var conventions =
        "right-handed world; camera looks from eye to target; fovY is the full vertical field of view in degrees; pixel (0,0) is top-left, rows go down, pixel centers at half-integers; depth is linear view depth (distance along the viewing direction), 0 where no surface"
    var views: [ViewRecord]
}
