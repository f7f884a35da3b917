import Foundation
import MeshFarmImage
import MeshFarmMesh
import MeshFarmRender
import MeshFarmRenderReference
import MeshFarmTestSupport
import Testing

/// One Vulkan context and both renderers for the whole suite: creating a
/// device per test would dominate the run time.
final class RenderFixture: @unchecked Sendable {
    static let shared = RenderFixture()
    let context: VulkanContext
    let compute: ComputeRenderer
    /// The classic path only (no binning), to hold the binned one against.
    let classic: ComputeRenderer
    let graphics: GraphicsRenderer

    private init() {
        context = try! VulkanContext()
        compute = try! ComputeRenderer(context: context)
        classic = try! ComputeRenderer(context: context, settings: .init(binnedTriangleLimit: 0))
        graphics = try! GraphicsRenderer(context: context)
    }
}

func coverage(_ image: RGBAImage) -> [Bool] {
    stride(from: 3, to: image.pixels.count, by: 4).map { image.pixels[$0] > 0 }
}

@Suite(.serialized) struct RenderTests {
    let fixture = RenderFixture.shared

    /// A camera at the origin looking down -Z with a 90 degree field of view:
    /// at depth 1, NDC equals view-space x and y.
    static func straightCamera(size: Int) -> Camera {
        Camera(
            eye: [0, 0, 0], target: [0, 0, -1], up: [0, 1, 0], fovY: 90, width: size, height: size, near: 0.1, far: 100)
    }

    @Test func oneTriangleHasTheHandComputedPixelsAndDepth() throws {
        // Screen positions (8x8 image): A (2,6), B (6,6), C (2,2). The
        // hypotenuse B-C passes exactly through the centers (i+.5, i+.5);
        // it is a right/top-right edge, so the top-left rule excludes them.
        // Covered: centers with i >= 2, j <= 5, j > i.
        let mesh = Mesh(positions: [-0.5, -0.5, -1, 0.5, -0.5, -1, -0.5, 0.5, -1], indices: [0, 1, 2])
        let camera = Self.straightCamera(size: 8)
        let expected: Set<[Int]> = [[2, 3], [2, 4], [2, 5], [3, 4], [3, 5], [4, 5]]

        let view = try fixture.compute.render(
            try fixture.compute.upload(mesh), camera: camera, options: .init(depth: true))
        var covered: Set<[Int]> = []
        for y in 0..<8 { for x in 0..<8 where view.image[x, y].w > 0 { covered.insert([x, y]) } }
        #expect(covered == expected)
        for pixel in expected { #expect(view.depth![pixel[0], pixel[1]] == 1.0) }
        #expect(view.depth!.values.filter { $0 != 0 }.count == 6)

        // Vulkan's rasterizer agrees, fill rule included.
        let reference = try fixture.graphics.render(try fixture.graphics.upload(mesh), camera: camera)
        var referenceCovered: Set<[Int]> = []
        for y in 0..<8 { for x in 0..<8 where reference.image[x, y].w > 0 { referenceCovered.insert([x, y]) } }
        #expect(referenceCovered == expected)
    }

    @Test(arguments: TestEnvironment.sharedModels)
    func sharedModelMatchesGraphicsPipelineAndCPUZBuffer(model: URL) throws {
        let mesh = try MeshImporter().load(path: model.path).mesh
        let gpuMesh = try fixture.compute.upload(mesh)
        let referenceMesh = try fixture.graphics.upload(mesh)
        let bounds = mesh.bounds!
        var cameras = TurntableRig(views: 3, elevation: 20, width: 256, height: 256).cameras(bounds: bounds)
        cameras += TurntableRig(views: 2, elevation: -35, fovY: 50, width: 200, height: 150).cameras(bounds: bounds)
        for camera in cameras {
            let view = try fixture.compute.render(gpuMesh, camera: camera, options: .init(depth: true))
            let reference = try fixture.graphics.render(referenceMesh, camera: camera)
            let cpu = CPUZBuffer(mesh: mesh, camera: camera)
            let computeCoverage = coverage(view.image)
            #expect(computeCoverage.filter { $0 }.count > 500, "\(model.lastPathComponent): nearly empty image")
            let graphicsIoU = iou(computeCoverage, coverage(reference.image))
            let cpuIoU = iou(computeCoverage, cpu.coverage)
            #expect(graphicsIoU >= 0.995, "\(model.lastPathComponent) vs graphics: \(graphicsIoU)")
            #expect(cpuIoU >= 0.99, "\(model.lastPathComponent) vs CPU: \(cpuIoU)")

            // Depth: where both see a surface, they agree to 1e-4 relative
            // for at least 99% of pixels (the rest sit on silhouettes and
            // occlusion edges, where a neighbouring triangle may win).
            var both = 0
            var close = 0
            var closeCPU = 0
            for i in computeCoverage.indices where computeCoverage[i] && reference.depth.values[i] > 0 {
                both += 1
                let d = Double(view.depth!.values[i])
                if abs(d - Double(reference.depth.values[i])) <= 1e-4 * d { close += 1 }
                if cpu.depth[i] > 0, abs(d - cpu.depth[i]) <= 1e-4 * d { closeCPU += 1 }
            }
            #expect(Double(close) >= 0.99 * Double(both), "\(model.lastPathComponent): \(close)/\(both) depths agree")
            #expect(
                Double(closeCPU) >= 0.98 * Double(both),
                "\(model.lastPathComponent): \(closeCPU)/\(both) CPU depths agree")
        }
        #expect(ValidationLog.errorCount == 0, "\(ValidationLog.recentErrors)")
    }

    @Test(arguments: TestEnvironment.sharedModels)
    func flatShadingMatchesTheGraphicsReference(model: URL) throws {
        // The reference lights faces the same way (reference.frag), from its
        // own face normals (screen-space derivatives of the position) and its
        // own facing: every pixel both cover agrees within rounding.
        let mesh = try MeshImporter().load(path: model.path).mesh
        let gpuMesh = try fixture.compute.upload(mesh)
        let referenceMesh = try fixture.graphics.upload(mesh)
        for camera in TurntableRig(views: 2, elevation: 25, width: 256, height: 256).cameras(bounds: mesh.bounds!) {
            let view = try fixture.compute.render(gpuMesh, camera: camera, options: .init(flatShading: true))
            let reference = try fixture.graphics.render(referenceMesh, camera: camera)
            var both = 0
            var farthest = 0
            for i in 0..<(camera.width * camera.height)
            where view.image.pixels[4 * i + 3] > 0 && reference.image.pixels[4 * i + 3] > 0 {
                both += 1
                for channel in 0..<3 {
                    let a = Int(view.image.pixels[4 * i + channel])
                    farthest = max(farthest, abs(a - Int(reference.image.pixels[4 * i + channel])))
                }
            }
            #expect(both > 5000, "\(model.lastPathComponent)")
            #expect(farthest <= 2, "\(model.lastPathComponent): colors differ by up to \(farthest) levels")
        }
    }

    @Test func fullScreenTriangleTakesTheTiledPath() throws {
        // One triangle far larger than the image: every pixel covered at depth 2.
        let mesh = Mesh(positions: [-100, -100, -2, 100, -100, -2, 0, 100, -2], indices: [0, 1, 2])
        let camera = Self.straightCamera(size: 300)
        let view = try fixture.compute.render(
            try fixture.compute.upload(mesh), camera: camera, options: .init(depth: true))
        #expect(coverage(view.image).allSatisfy { $0 })
        #expect(view.depth!.values.allSatisfy { abs($0 - 2) < 1e-6 })
    }

    @Test func trianglesCrossingTheNearPlaneAndBehindTheCamera() throws {
        // A floor from behind the camera to far ahead, and a triangle wholly
        // behind the camera. Vulkan's clipper is the reference.
        let mesh = Mesh(
            positions: [-50, -1, 5, 50, -1, 5, 50, -1, -60, -50, -1, -60, -1, -1, 3, 1, -1, 3, 0, 1, 3],
            indices: [0, 1, 2, 0, 2, 3, 4, 5, 6])
        let camera = Camera(
            eye: [0, 0, 0], target: [0, 0, -1], fovY: 60, width: 160, height: 120, near: 0.05, far: 1000)
        let view = try fixture.compute.render(
            try fixture.compute.upload(mesh), camera: camera, options: .init(depth: true))
        let reference = try fixture.graphics.render(try fixture.graphics.upload(mesh), camera: camera)
        #expect(iou(coverage(view.image), coverage(reference.image)) >= 0.995)
        // The floor fills the bottom half and nothing is above the horizon.
        #expect(view.image[80, 119].w == 255 && view.image[80, 10].w == 0)
        // Depth on the floor at the bottom row is the distance along the view axis.
        let expectedDepth = 1 / tan(30.0 * .pi / 180) / (119.5 / 60 - 1)  // ray through row 119.5 hits y = -1
        #expect(abs(Double(view.depth![80, 119]) - expectedDepth) < 1e-3 * expectedDepth)
    }

    @Test func subPixelSliversMatchTheGraphicsPipeline() throws {
        // 200k tiny triangles over a small region: mostly sub-pixel.
        let mesh = Mesh.torus(major: 1, minor: 0.4, segments: 500, sides: 200)
        let camera = TurntableRig(views: 1, width: 128, height: 128).camera(0, bounds: mesh.bounds!)
        let view = try fixture.compute.render(try fixture.compute.upload(mesh), camera: camera)
        let reference = try fixture.graphics.render(try fixture.graphics.upload(mesh), camera: camera)
        #expect(iou(coverage(view.image), coverage(reference.image)) >= 0.995)
    }

    @Test func degenerateInputsRenderWithoutError() throws {
        let camera = Self.straightCamera(size: 32)
        // Zero-area triangles only.
        let flat = Mesh(positions: [0, 0, -1, 0.5, 0, -1, 1, 0, -1], indices: [0, 1, 2, 0, 0, 1])
        #expect(
            try fixture.compute.render(try fixture.compute.upload(flat), camera: camera).image.coveredPixelCount == 0)
        // Everything behind the camera.
        let behind = Mesh(positions: [-1, -1, 2, 1, -1, 2, 0, 1, 2], indices: [0, 1, 2])
        #expect(
            try fixture.compute.render(try fixture.compute.upload(behind), camera: camera).image.coveredPixelCount == 0)
        // A point-like mesh through the turntable rig (radius ~0).
        let point = Mesh(positions: [1, 2, 3, 1, 2, 3, 1, 2, 3], indices: [0, 1, 2])
        let rigCamera = TurntableRig(views: 1, width: 32, height: 32).camera(0, bounds: point.bounds!)
        let view = try fixture.compute.render(
            try fixture.compute.upload(point), camera: rigCamera, options: .init(ssaa: 2))
        #expect(view.image.coveredPixelCount == 0)
        #expect(ValidationLog.errorCount == 0, "\(ValidationLog.recentErrors)")
    }

    @Test func supersamplingSoftensEdgesAndKeepsCoverage() throws {
        let mesh = Mesh.box(min: [-1, -1, -1], max: [1, 1, 1])
        let camera = TurntableRig(views: 8, width: 64, height: 64).camera(1, bounds: mesh.bounds!)
        let gpuMesh = try fixture.compute.upload(mesh)
        let plain = try fixture.compute.render(gpuMesh, camera: camera)
        let smooth = try fixture.compute.render(
            gpuMesh, camera: camera, options: .init(ssaa: 4, depth: true, normals: true))
        let partial = stride(from: 3, to: smooth.image.pixels.count, by: 4).filter {
            smooth.image.pixels[$0] > 0 && smooth.image.pixels[$0] < 255
        }.count
        #expect(partial > 20, "edges should get fractional alpha")
        let plainCount = Double(plain.image.coveredPixelCount)
        let smoothCount = Double(smooth.image.coveredPixelCount)
        #expect(abs(plainCount - smoothCount) < 0.1 * plainCount)
        #expect(smooth.depth != nil && smooth.normals != nil)
    }

    @Test func viewsRenderedTogetherEqualViewsRenderedAlone() throws {
        // More views than fit in flight at once (8), small ones first (the
        // shared buffers must not grow under views in flight), supersampled,
        // with depth and normals: each is the image the one-view call gives,
        // in order.
        let mesh = Mesh.torus(segments: 48, sides: 24)
        let gpuMesh = try fixture.compute.upload(mesh)
        let options = RenderOptions(ssaa: 2, depth: true, normals: true)
        let cameras =
            TurntableRig(views: 2, width: 40, height: 40).cameras(bounds: mesh.bounds!)
            + TurntableRig(views: 10, width: 96, height: 80).cameras(bounds: mesh.bounds!)
        var together: [(Int, RenderedView)] = []
        try fixture.compute.render(gpuMesh, cameras: cameras, options: options) { together.append(($0, $1)) }
        #expect(together.map(\.0) == Array(cameras.indices))
        for (index, view) in together {
            let alone = try fixture.compute.render(gpuMesh, camera: cameras[index], options: options)
            #expect(view.image.pixels == alone.image.pixels, "view \(index)")
            #expect(view.depth!.values == alone.depth!.values, "view \(index)")
            #expect(view.normals!.pixels == alone.normals!.pixels, "view \(index)")
            #expect(view.image.coveredPixelCount > 100)
        }

        // The graphics baseline batches the same way.
        let reference = try fixture.graphics.upload(mesh)
        var graphicsTogether: [(Int, RGBAImage, FloatImage)] = []
        try fixture.graphics.render(reference, cameras: cameras) { graphicsTogether.append(($0, $1, $2)) }
        #expect(graphicsTogether.map(\.0) == Array(cameras.indices))
        for (index, image, depth) in graphicsTogether {
            let alone = try fixture.graphics.render(reference, camera: cameras[index])
            #expect(image.pixels == alone.image.pixels && depth.values == alone.depth.values, "view \(index)")
        }
        #expect(ValidationLog.errorCount == 0, "\(ValidationLog.recentErrors)")
    }

    @Test func aViewHandlerThatFailsStopsTheBatchAndLeavesTheRendererSound() throws {
        struct Stop: Error {}
        let mesh = Mesh.box(min: [-1, -1, -1], max: [1, 1, 1])
        let gpuMesh = try fixture.compute.upload(mesh)
        let cameras = TurntableRig(views: 6, width: 64, height: 64).cameras(bounds: mesh.bounds!)
        let before = try fixture.compute.render(gpuMesh, camera: cameras[0])
        var handled = 0
        #expect(throws: Stop.self) {
            try fixture.compute.render(gpuMesh, cameras: cameras) { index, _ in
                handled += 1
                if index == 1 { throw Stop() }
            }
        }
        #expect(handled == 2)
        // Views 2... were submitted but never handled: the next render
        // still starts from an empty visibility buffer.
        let after = try fixture.compute.render(gpuMesh, camera: cameras[0])
        #expect(after.image.pixels == before.image.pixels)
    }

    /// Smooth normals come from packed vertex normals (`PackedNormal`): on a
    /// finely divided torus, seen from above so that normals point every
    /// way, each pixel's smooth normal stays within a facet's angle of the
    /// exact face normal the flat path computes from positions. A decoding
    /// slip (components swapped, a sign, the lower half's fold) would be
    /// off by tens of degrees.
    @Test func smoothNormalsStayWithinAFacetOfTheFaceNormals() throws {
        let mesh = Mesh.torus(major: 1, minor: 0.4, segments: 96, sides: 48)
        let gpuMesh = try fixture.compute.upload(mesh)
        let camera = Camera(
            eye: [0.3, 2.2, 2.2], target: [0, 0, 0], up: [0, 1, 0], fovY: 50, width: 160, height: 160, near: 0.1,
            far: 100)
        let smooth = try fixture.compute.render(gpuMesh, camera: camera, options: .init(normals: true))
        let flat = try fixture.compute.render(gpuMesh, camera: camera, options: .init(flatShading: true, normals: true))
        func normal(_ image: RGBAImage, _ i: Int) -> SIMD3<Double> {
            let n = SIMD3<Double>((0..<3).map { Double(image.pixels[4 * i + $0]) / 255 * 2 - 1 })
            return n / (n * n).sum().squareRoot()
        }
        var angles: [Double] = []
        var hemispheres = Set<Bool>()
        for i in 0..<(160 * 160) where smooth.image.pixels[4 * i + 3] > 0 && flat.image.pixels[4 * i + 3] > 0 {
            let a = normal(smooth.normals!, i), b = normal(flat.normals!, i)
            angles.append(acos(min(1, (a * b).sum())) * 180 / .pi)
            hemispheres.insert(a.z >= 0)
        }
        angles.sort()
        #expect(angles.count > 5000)
        #expect(hemispheres.count == 2, "both halves of the octahedral fold are seen")
        let mean = angles.reduce(0, +) / Double(angles.count)
        let p99 = angles[angles.count * 99 / 100]
        #expect(mean < 3, "mean \(mean)°")
        #expect(p99 < 8, "99th percentile \(p99)°")
        #expect(ValidationLog.errorCount == 0, "\(ValidationLog.recentErrors)")
    }

    @Test func invalidRequestsAreClearErrors() throws {
        let gpuMesh = try fixture.compute.upload(.box())
        var camera = Self.straightCamera(size: 16)
        #expect(throws: RenderError.self) {
            try fixture.compute.render(gpuMesh, camera: camera, options: .init(ssaa: 3))
        }
        camera.width = 0
        #expect(throws: RenderError.self) { try fixture.compute.render(gpuMesh, camera: camera) }
    }
}
