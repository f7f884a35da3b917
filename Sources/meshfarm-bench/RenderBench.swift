import ArgumentParser
import Foundation
import MeshFarmImage
import MeshFarmMesh
import MeshFarmRender
import MeshFarmRenderReference

/// `meshfarm-bench render`: triangles per second of the compute rasterizer
/// next to Vulkan's graphics pipeline, same meshes, cameras and size.
struct RenderBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render", abstract: "Compute rasterizer vs graphics pipeline, triangles per second.")

    @Option(help: "Directory of models to include.")
    var models: String = "../shared/models"

    @Option(help: "Image width and height.")
    var size: Int = 1024

    @Option(help: "Views per mesh (turntable); medians are reported.")
    var views: Int = 5

    @Flag(help: "Print per-pass GPU times of the compute path.")
    var verbose = false

    @Option(help: "Generated mesh sizes in millions of triangles.")
    var generated: [Double] = [1, 4]

    func run() throws {
        let context = try VulkanContext()
        let compute = try ComputeRenderer(context: context)
        let graphics = try GraphicsRenderer(context: context)

        var meshes: [(String, Mesh)] = []
        for file in ((try? FileManager.default.contentsOfDirectory(atPath: models)) ?? []).sorted()
        where file.hasSuffix(".obj") {
            meshes.append((file, try MeshImporter().load(path: "\(models)/\(file)").mesh))
        }
        for millions in generated {
            // A torus of `millions` million triangles: closed, seen from every side.
            let sides = Int((millions * 1e6 / 4).squareRoot().rounded())
            let torus = Mesh.torus(major: 1, minor: 0.35, segments: 2 * sides, sides: sides)
            meshes.append(("torus-\(torus.triangleCount / 1_000_000)M", torus))
        }

        var table = Table(header: [
            "mesh", "triangles", "covered px", "compute ms", "graphics ms", "compute Mtri/s", "graphics Mtri/s",
            "compute/graphics",
        ])
        // Flat shading on both sides: the reference's fragment shader shades
        // per face too, so both do comparable work per pixel.
        let options = RenderOptions(flatShading: true)
        var ratioFor1M = Double.nan
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
            for camera in cameras {
                // Alternate so machine noise hits both alike.
                var image: RGBAImage?
                computeTimes.append(
                    try Timing.seconds { image = try compute.render(gpuMesh, camera: camera, options: options).image })
                covered = image!.coveredPixelCount
                graphicsTimes.append(try Timing.seconds { _ = try graphics.render(referenceMesh, camera: camera) })
            }
            let (c, g) = (Timing.median(computeTimes), Timing.median(graphicsTimes))
            if verbose {
                let passes = compute.lastPassTimes.sorted { $0.key < $1.key }.map {
                    "\($0.key) \(($0.value * 1000).formatted(1))ms"
                }
                print(
                    "  \(name) passes (last view): \(passes.joined(separator: ", ")); large triangles: \(compute.lastLargeTriangleCount)"
                )
            }
            let triangles = Double(mesh.triangleCount)
            let ratio = g / c  // throughput ratio compute/graphics
            if name.hasPrefix("torus-1M") { ratioFor1M = ratio }
            table.add([
                name, "\(mesh.triangleCount)", "\(covered)", (c * 1000).formatted(1), (g * 1000).formatted(1),
                (triangles / c / 1e6).formatted(2), (triangles / g / 1e6).formatted(2), ratio.formatted(3),
            ])
        }
        print(
            "Device: \(context.deviceInfo.name); \(size)x\(size), no supersampling, flat shading; median of \(views) turntable views; times include readback."
        )
        print(table.render())
        print("render.compute_vs_graphics: \(ratioFor1M.formatted(3))")
    }
}
