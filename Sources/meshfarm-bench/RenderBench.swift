import ArgumentParser
import Foundation
import MeshFarmImage
import MeshFarmMesh
import MeshFarmRender
import MeshFarmRenderReference

/// `meshfarm-bench render`: the compute rasterizer next to Vulkan's
/// graphics pipeline, same meshes, cameras and sizes: the shared models and
/// generated tori from 1k to 4M triangles at 512² and 1024², and a whole
/// default render task (4 views at 512², PNG included).
struct RenderBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render", abstract: "Compute rasterizer vs graphics pipeline, per view and per render task.")

    @Option(help: "Directory of models to include.")
    var models: String = "../shared/models"

    @Option(help: "Image sizes (width and height).")
    var sizes: [Int] = [512, 1024]

    @Option(help: "Views per mesh (turntable).")
    var views: Int = 5

    @Option(help: "Runs of the views per row, alternating compute and graphics (medians over all are reported).")
    var runs: Int = 5

    @Flag(help: "Print per-pass GPU times of the compute path.")
    var verbose = false

    @Option(help: "Generated torus sizes in millions of triangles.")
    var generated: [Double] = [0.001, 0.01, 0.1, 1, 4]

    @Option(help: "Model of the task row (4 views of 512², PNG included).")
    var taskModel: String = "spot.obj"

    @Flag(inversion: .prefixedNo, help: "Measure the task row.")
    var task = true

    @Flag(help: "Render only with the compute path (for profiling); the ratios print as nan.")
    var computeOnly = false

    @Option(
        help:
            "Vulkan device index (`meshfarm devices` lists them); default: a discrete GPU, then integrated, then virtual, then CPU."
    )
    var device: Int?

    func run() throws {
        let context = try VulkanContext(options: .init(deviceIndex: device))
        let compute = try ComputeRenderer(context: context, settings: .init(recordsPassTimes: verbose))
        let graphics = try GraphicsRenderer(context: context)

        var meshes: [(String, Mesh)] = []
        for file in ((try? FileManager.default.contentsOfDirectory(atPath: models)) ?? []).sorted()
        where file.hasSuffix(".obj") {
            meshes.append((file, try MeshImporter().load(path: "\(models)/\(file)").mesh))
        }
        for millions in generated {
            // A torus of about `millions` million triangles: closed, seen from every side.
            let sides = max(3, Int((millions * 1e6 / 4).squareRoot().rounded()))
            let torus = Mesh.torus(major: 1, minor: 0.35, segments: 2 * sides, sides: sides)
            let name =
                torus.triangleCount >= 1_000_000
                ? "torus-\(Int((Double(torus.triangleCount) / 1e6).rounded()))M"
                : "torus-\(Int((Double(torus.triangleCount) / 1e3).rounded()))k"
            meshes.append((name, torus))
        }

        var table = Table(header: [
            "mesh", "size", "triangles", "covered px", "compute ms", "graphics ms", "compute Mtri/s", "graphics Mtri/s",
            "compute/graphics",
        ])
        // Flat shading on both sides: the reference's fragment shader shades
        // per face too, so both do comparable work per pixel.
        let options = RenderOptions(flatShading: true)
        var ratioFor1M = Double.nan
        var ratios: [Double] = []
        for size in sizes {
            for (name, mesh) in meshes {
                let gpuMesh = try compute.upload(mesh)
                let referenceMesh = try graphics.upload(mesh)
                let cameras = TurntableRig(views: views, width: size, height: size).cameras(bounds: mesh.bounds!)
                // Warm up both (pipeline compilation, scratch allocation).
                _ = try compute.render(gpuMesh, camera: cameras[0], options: options)
                _ = try graphics.render(referenceMesh, camera: cameras[0])
                var computeTimes: [Double] = []
                var graphicsTimes: [Double] = []
                var covered = 0
                for _ in 0..<max(1, runs) {
                    for camera in cameras {
                        // Alternate so machine noise hits both alike.
                        var image: RGBAImage?
                        computeTimes.append(
                            try Timing.seconds {
                                image = try compute.render(gpuMesh, camera: camera, options: options).image
                            })
                        covered = image!.coveredPixelCount
                        if computeOnly { continue }
                        graphicsTimes.append(
                            try Timing.seconds { _ = try graphics.render(referenceMesh, camera: camera) })
                    }
                }
                let (c, g) = (Timing.median(computeTimes), computeOnly ? .nan : Timing.median(graphicsTimes))
                if verbose {
                    let passes = compute.lastPassTimes.sorted { $0.key < $1.key }.map {
                        "\($0.key) \(($0.value * 1000).formatted(1))ms"
                    }
                    print(
                        "  \(name) \(size)² passes (last view): \(passes.joined(separator: ", ")); large triangles: \(compute.lastLargeTriangleCount)"
                    )
                }
                let triangles = Double(mesh.triangleCount)
                let ratio = g / c  // throughput ratio compute/graphics
                ratios.append(ratio)
                if name == "torus-1M", size == 1024 || ratioFor1M.isNaN { ratioFor1M = ratio }
                table.add([
                    name, "\(size)", "\(mesh.triangleCount)", "\(covered)", (c * 1000).formatted(1),
                    (g * 1000).formatted(1), (triangles / c / 1e6).formatted(2), (triangles / g / 1e6).formatted(2),
                    ratio.formatted(3),
                ])
            }
        }

        var taskNote: String?
        if task {
            // A whole default render task: 4 views of one level at 512², each encoded as PNG.
            let model = try MeshImporter().load(path: "\(models)/\(taskModel)").mesh
            let gpuMesh = try compute.upload(model)
            let referenceMesh = try graphics.upload(model)
            let cameras = Array(
                TurntableRig(views: 8, width: 512, height: 512).cameras(bounds: model.bounds!).prefix(4))
            var computeTasks: [Double] = []
            var graphicsTasks: [Double] = []
            for _ in 0..<(max(1, runs) * views) {
                // As the GPU worker runs a task: the views submitted together,
                // each encoded while the next renders; the baseline the same way.
                computeTasks.append(
                    try Timing.seconds {
                        try compute.render(gpuMesh, cameras: cameras, options: options) { _, view in
                            _ = try PNGCodec.encode(view.image)
                        }
                    })
                graphicsTasks.append(
                    try Timing.seconds {
                        try graphics.render(referenceMesh, cameras: cameras) { _, image, _ in
                            _ = try PNGCodec.encode(image)
                        }
                    })
            }
            let (ct, gt) = (Timing.median(computeTasks), Timing.median(graphicsTasks))
            ratios.append(gt / ct)
            table.add([
                "task: \(taskModel) 4 views + PNG", "512", "\(model.triangleCount)", "", (ct * 1000).formatted(1),
                (gt * 1000).formatted(1), "", "", (gt / ct).formatted(3),
            ])
            // What the task row spends on PNG: the same 4 images encoded one
            // at a time on this thread, nothing rendering beside them.
            var images: [RGBAImage] = []
            try compute.render(gpuMesh, cameras: cameras, options: options) { _, view in images.append(view.image) }
            var bytes = 0
            let encodes = try (0..<max(1, runs)).map { _ in
                try Timing.seconds { bytes = try images.reduce(0) { $0 + (try PNGCodec.encode($1)).count } }
            }
            taskNote =
                "task row's PNG, alone: \((Timing.median(encodes) * 1000 / 4).formatted(2)) ms and \((Double(bytes) / 4096).formatted(1)) KiB a view"
        }
        print(
            "Device: \(context.deviceInfo.name); no supersampling, flat shading; median of \(max(1, runs)) x \(views) turntable views per row; times include readback (and PNG in the task row)."
        )
        print(table.render())
        if let taskNote { print(taskNote) }
        print("render.compute_vs_graphics: \(ratioFor1M.formatted(3))")
        print("render.compute_vs_graphics_min: \(ratios.min()!.formatted(3))")
    }
}
