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

    @Option(help: "Number of views evenly spaced around the +Y axis.")
    var views: Int = 8

    @Option(help: "Image width and height in pixels.")
    var size: Int = 512

    @Option(help: "Camera elevation above the horizon, degrees.")
    var elevation: Double = 20

    @Option(help: "Vertical field of view, degrees.")
    var fov: Double = 35

    @Option(help: "Supersampling per axis: 1, 2 or 4.")
    var ssaa: Int = 1

    @Flag(help: "Also write linear depth (PFM).")
    var depth = false

    @Flag(help: "Also write world-space normals (PNG).")
    var normals = false

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
        guard views >= 1, views <= 360 else { throw ValidationError("--views must be 1...360") }
        guard size >= 1, size <= ComputeRenderer.maxImageSide else {
            throw ValidationError("--size must be 1...\(ComputeRenderer.maxImageSide)")
        }
        guard ComputeRenderer.ssaaFactors.contains(ssaa) else { throw ValidationError("--ssaa must be 1, 2 or 4") }
        guard elevation >= -89, elevation <= 89 else { throw ValidationError("--elevation must be -89...89") }
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
        let rig = TurntableRig(views: views, elevation: elevation, fovY: fov, width: size, height: size)
        let options = RenderOptions(ssaa: ssaa, flatShading: flat, wireframe: wireframe, depth: depth, normals: normals)
        let directory = URL(fileURLWithPath: out)
        var records: [ViewRecord] = []
        for (j, camera) in rig.cameras(bounds: gpuMesh.bounds).enumerated() {
            let view = try renderer.render(gpuMesh, camera: camera, options: options)
            records.append(try view.write(to: directory, name: "view-\(j)", index: j, camera: camera))
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
