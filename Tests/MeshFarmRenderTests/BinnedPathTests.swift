import Foundation
import MeshFarmImage
import MeshFarmMesh
import MeshFarmRender
import MeshFarmTestSupport
import Testing

/// The binned path (bin.comp + fused.comp) against the classic one
/// (visibility buffer): the same pixels, depths and, within rounding, colors;
/// and the views it cannot draw handed back to the classic path.
@Suite(.serialized) struct BinnedPathTests {
    let fixture = RenderFixture.shared

    static func meshes() throws -> [(String, Mesh)] {
        try TestEnvironment.sharedModels.map { ($0.lastPathComponent, try MeshImporter().load(path: $0.path).mesh) }
            + [("torus", Mesh.torus(segments: 48, sides: 24))]
    }

    @Test func binnedAndClassicPathsDrawTheSameImages() throws {
        let optionSets: [RenderOptions] = [
            RenderOptions(flatShading: true, depth: true, normals: true),
            RenderOptions(depth: true, normals: true),
            RenderOptions(ssaa: 2),
        ]
        for (name, mesh) in try Self.meshes() {
            let binnedMesh = try fixture.compute.upload(mesh)
            let classicMesh = try fixture.classic.upload(mesh)
            let cameras = TurntableRig(views: 3, elevation: 25, width: 320, height: 240).cameras(bounds: mesh.bounds!)
            for options in optionSets {
                var binned: [RenderedView] = []
                try fixture.compute.render(binnedMesh, cameras: cameras, options: options) { binned.append($1) }
                #expect(fixture.compute.lastBinnedViews == cameras.count, "\(name): binned path not taken")
                #expect(fixture.compute.lastBinnedFallbacks == 0, "\(name)")
                var classic: [RenderedView] = []
                try fixture.classic.render(classicMesh, cameras: cameras, options: options) { classic.append($1) }
                #expect(fixture.classic.lastBinnedViews == 0)
                for (view, (b, c)) in zip(binned, classic).enumerated() {
                    let what = "\(name) view \(view) \(options)"
                    let stats = compare(b, c)
                    // Coverage and depth are exact on both paths; flat colors
                    // and normals too. Smooth normals come from a plane of the
                    // perspective-correct barycentrics instead of a ray/triangle
                    // intersection: the same up to rounding.
                    #expect(stats.pixels > 1000, "\(what): nearly empty")
                    #expect(stats.alphaDiffer == 0, "\(what): \(stats)")
                    #expect(stats.depthDiffer == 0, "\(what): \(stats)")
                    if options.flatShading {
                        #expect(stats.colorMax == 0 && stats.normalMax == 0, "\(what): \(stats)")
                    } else {
                        #expect(stats.colorMax <= 8, "\(what): \(stats)")
                        #expect(stats.colorOver1 * 1000 <= stats.pixels, "\(what): \(stats)")
                        #expect(stats.normalOver2 == 0, "\(what): \(stats)")
                    }
                }
            }
        }
        #expect(ValidationLog.errorCount == 0, "\(ValidationLog.recentErrors)")
    }

    /// Renders `mesh` once on each renderer and expects the binned one to
    /// have handed the view back to the classic path, with the same result.
    func expectFallback(
        _ mesh: Mesh, camera: Camera, because reason: ComputeRenderer.FallbackReasons,
        options: RenderOptions = RenderOptions(depth: true)
    ) throws {
        let view = try fixture.compute.render(try fixture.compute.upload(mesh), camera: camera, options: options)
        #expect(fixture.compute.lastBinnedViews == 1)
        #expect(fixture.compute.lastBinnedFallbacks == 1)
        #expect(fixture.compute.lastFallbackReasons == reason)
        let classic = try fixture.classic.render(try fixture.classic.upload(mesh), camera: camera, options: options)
        let samePixels = view.image.pixels == classic.image.pixels
        let sameDepths = view.depth!.values == classic.depth!.values
        #expect(samePixels && sameDepths)
        #expect(coverage(view.image).contains(true))
        #expect(ValidationLog.errorCount == 0, "\(ValidationLog.recentErrors)")
    }

    @Test func aViewWithTrianglesToClipIsDrawnTheClassicWay() throws {
        // The eye sits just outside the ring's tube: the near plane cuts it.
        let mesh = Mesh.torus(major: 1, minor: 0.25, segments: 48, sides: 24)
        let camera = Camera(
            eye: [0, 0, 1.3], target: [0, 0, 0], up: [0, 1, 0], fovY: 60, width: 160, height: 120, near: 0.1, far: 10)
        try expectFallback(mesh, camera: camera, because: .clipping)
    }

    @Test func aViewWhoseBinOverflowsIsDrawnTheClassicWay() throws {
        // 300 small squares (600 triangles) stacked over the image's center
        // tile, at depths 1.0 to 1.3: more than the 256 entries a bin holds.
        var positions: [Float] = []
        var indices: [UInt32] = []
        for layer in 0..<300 {
            let z = -1 - Float(layer) * 0.001
            let h = 0.05 * -z
            let base = UInt32(positions.count / 3)
            positions += [-h, -h, z, h, -h, z, h, h, z, -h, h, z]
            indices += [base, base + 1, base + 2, base, base + 2, base + 3]
        }
        let camera = RenderTests.straightCamera(size: 64)
        try expectFallback(Mesh(positions: positions, indices: indices), camera: camera, because: .binOverflow)
    }

    @Test func aViewWithATriangleTooWideForThirtyTwoBitStepsIsDrawnTheClassicWay() throws {
        // A 3000-pixel-wide image and a sliver spanning 2500 pixels of it,
        // inside the guard band: wider than fused.comp's 32-bit edge steps.
        let mesh = Mesh(positions: [-0.83, -0.01, -1, 0.83, 0, -1, -0.83, 0.01, -1], indices: [0, 1, 2])
        let camera = Camera(
            eye: [0, 0, 0], target: [0, 0, -1], up: [0, 1, 0], fovY: 2.2, width: 3000, height: 60, near: 0.1,
            far: 100)
        try expectFallback(mesh, camera: camera, because: .tooWide)
    }

    /// Flat-shaded views with depth and normals of `mesh` on both paths, in
    /// one call each: the same pixels (coverage, colors, normals) and depths.
    func expectSameViews(_ mesh: Mesh, cameras: [Camera], fallbacks: Int = 0) throws -> [RenderedView] {
        let options = RenderOptions(flatShading: true, depth: true, normals: true)
        var binned: [RenderedView] = []
        try fixture.compute.render(try fixture.compute.upload(mesh), cameras: cameras, options: options) {
            binned.append($1)
        }
        #expect(fixture.compute.lastBinnedViews == cameras.count)
        #expect(fixture.compute.lastBinnedFallbacks == fallbacks)
        var classic: [RenderedView] = []
        try fixture.classic.render(try fixture.classic.upload(mesh), cameras: cameras, options: options) {
            classic.append($1)
        }
        for (index, (b, c)) in zip(binned, classic).enumerated() {
            let stats = compare(b, c)
            #expect(stats.pixels > 1000, "view \(index): nearly empty")
            #expect(stats.alphaDiffer == 0 && stats.colorMax == 0 && stats.normalMax == 0, "view \(index): \(stats)")
            #expect(stats.depthDiffer == 0, "view \(index): \(stats)")
        }
        #expect(ValidationLog.errorCount == 0, "\(ValidationLog.recentErrors)")
        return binned
    }

    @Test func partialTilesAtTheImageBorderMatchTheClassicPath() throws {
        // 317 x 229 pixels (neither a multiple of 8), the ring wider than the
        // view: triangles run past the right and bottom edges, inside the
        // guard band.
        let mesh = Mesh.torus(major: 1, minor: 0.25, segments: 48, sides: 24)
        let cameras = [
            Camera(
                eye: [0.2, 0.9, 2.4], target: [0.2, 0.35, 0], fovY: 30, width: 317, height: 229, near: 0.1, far: 10),
            Camera(eye: [-0.3, 0.7, 2.3], target: [0, 0.3, 0], fovY: 34, width: 229, height: 317, near: 0.1, far: 10),
        ]
        let views = try expectSameViews(mesh, cameras: cameras)
        // The ring reaches the right and bottom borders of both views.
        for view in views {
            let image = view.image
            let (w, h) = (image.width, image.height)
            #expect((0..<h).contains { image[w - 1, $0].w > 0 } && (0..<w).contains { image[$0, h - 1].w > 0 })
        }
    }

    @Test func aViewHandedBackAmongOthersLeavesTheRestBinned() throws {
        // Four views in one call; the second has its near plane through the
        // ring's tube, so it alone is drawn again the classic way while the
        // others are in flight.
        let mesh = Mesh.torus(major: 1, minor: 0.25, segments: 48, sides: 24)
        var cameras = TurntableRig(views: 3, elevation: 25, width: 200, height: 160).cameras(bounds: mesh.bounds!)
        cameras.insert(
            Camera(eye: [0, 0, 1.3], target: [0, 0, 0], fovY: 60, width: 200, height: 160, near: 0.1, far: 10), at: 1)
        _ = try expectSameViews(mesh, cameras: cameras, fallbacks: 1)
        #expect(fixture.compute.lastFallbackReasons == .clipping)
    }

    /// A renderer that has drawn only binned views holds no visibility
    /// buffer; a view handed back gets one then, and is drawn right.
    @Test func theVisibilityBufferIsMadeOnlyForTheClassicPath() throws {
        let renderer = try ComputeRenderer(context: fixture.context)
        let mesh = Mesh.torus(major: 1, minor: 0.25, segments: 48, sides: 24)
        let gpuMesh = try renderer.upload(mesh)
        var cameras = TurntableRig(views: 4, elevation: 25, width: 200, height: 160).cameras(bounds: mesh.bounds!)
        let options = RenderOptions(flatShading: true, depth: true)
        try renderer.render(gpuMesh, cameras: cameras, options: options) { _, _ in }
        #expect(renderer.lastBinnedViews == 4 && renderer.lastBinnedFallbacks == 0)
        let binnedOnly = renderer.scratchBytes
        // As many views again (the same output buffers), the second one
        // with its near plane through the ring's tube.
        cameras[1] = Camera(
            eye: [0, 0, 1.3], target: [0, 0, 0], fovY: 60, width: 200, height: 160, near: 0.1, far: 10)
        var views: [RenderedView] = []
        try renderer.render(gpuMesh, cameras: cameras, options: options) { views.append($1) }
        #expect(renderer.lastBinnedFallbacks == 1)
        // 8 bytes a pixel of visibility, and the classic pass's lists.
        #expect(renderer.scratchBytes - binnedOnly >= 200 * 160 * 8)
        var classic: [RenderedView] = []
        try fixture.classic.render(try fixture.classic.upload(mesh), cameras: cameras, options: options) {
            classic.append($1)
        }
        for (index, (b, c)) in zip(views, classic).enumerated() {
            let stats = compare(b, c)
            #expect(stats.pixels > 1000 && stats.alphaDiffer == 0 && stats.colorMax == 0, "view \(index): \(stats)")
            #expect(stats.depthDiffer == 0, "view \(index): \(stats)")
        }
        #expect(ValidationLog.errorCount == 0, "\(ValidationLog.recentErrors)")
    }

    @Test func equalDepthsGoToTheLowerTriangleOnBothPaths() throws {
        // The same triangle twice, facing opposite ways (every depth ties):
        // the first listed wins. Front faces are grey, back faces tinted red.
        let positions: [Float] = [-0.5, -0.5, -1, 0.5, -0.5, -1, 0, 0.5, -1]
        let camera = RenderTests.straightCamera(size: 32)
        for (indices, frontWins) in [([UInt32(0), 1, 2, 0, 2, 1], true), ([0, 2, 1, 0, 1, 2], false)] {
            let mesh = Mesh(positions: positions, indices: indices)
            for renderer in [fixture.compute, fixture.classic] {
                let view = try renderer.render(
                    try renderer.upload(mesh), camera: camera, options: .init(flatShading: true))
                let center = view.image[16, 16]
                let grey = abs(Int(center.x) - Int(center.y)) <= 2
                #expect(center.w == 255)
                #expect(grey == frontWins, "\(indices), binned: \(renderer === fixture.compute), \(center)")
            }
        }
    }

    @Test func whichViewsTakeTheBinnedPath() throws {
        let settings = ComputeRenderer.Settings()
        let limit = 128 << 20
        func capacity(
            triangles: Int = 5000, chunks: Int = 1, size: Int = 512, options: RenderOptions = RenderOptions(),
            settings: ComputeRenderer.Settings = settings, maxBufferBytes: Int = limit
        ) -> Int? {
            let camera = Camera(
                eye: [0, 0, 3], target: [0, 0, 0], up: [0, 1, 0], fovY: 40, width: size, height: size, near: 0.1,
                far: 10)
            return ComputeRenderer.binCapacity(
                triangles: triangles, chunks: chunks, camera: camera, options: options, settings: settings,
                maxBufferBytes: maxBufferBytes)
        }
        #expect(capacity() == 256)
        #expect(capacity(size: 1024) == 128)
        #expect(capacity(size: 1448) == 64)  // 32 MiB over 181² tiles of 16-byte entries
        #expect(capacity(size: 1024, options: RenderOptions(ssaa: 2)) == nil)  // 2048² is classic
        #expect(capacity(options: RenderOptions(wireframe: true)) == nil)
        #expect(capacity(chunks: 2) == nil)
        #expect(capacity(triangles: settings.binnedTriangleLimit) == 256)
        #expect(capacity(triangles: settings.binnedTriangleLimit + 1) == nil)
        #expect(capacity(settings: .init(binnedTriangleLimit: 0)) == nil)
        // A view cut into bands (the visibility buffer would exceed a binding).
        #expect(capacity(maxBufferBytes: 512 * 8 * 100) == nil)
    }

    struct Stats: CustomStringConvertible {
        var pixels = 0, alphaDiffer = 0, colorMax = 0, colorOver1 = 0, depthDiffer = 0, normalMax = 0, normalOver2 = 0
        var description: String {
            "px \(pixels) alpha≠ \(alphaDiffer) colorMax \(colorMax) >1: \(colorOver1) depth≠ \(depthDiffer) nMax \(normalMax) >2: \(normalOver2)"
        }
    }

    func compare(_ a: RenderedView, _ b: RenderedView) -> Stats {
        var s = Stats()
        for i in 0..<(a.image.width * a.image.height) {
            let pa = a.image.pixels[(4 * i)..<(4 * i + 4)].map(Int.init)
            let pb = b.image.pixels[(4 * i)..<(4 * i + 4)].map(Int.init)
            if pa[3] > 0 || pb[3] > 0 { s.pixels += 1 }
            if pa[3] != pb[3] { s.alphaDiffer += 1 }
            let d = zip(pa, pb).map { abs($0 - $1) }.max()!
            s.colorMax = max(s.colorMax, d)
            if d > 1 { s.colorOver1 += 1 }
            if let da = a.depth, let db = b.depth {
                let x = Double(da.values[i]), y = Double(db.values[i])
                if abs(x - y) > 1e-5 * max(x, y) { s.depthDiffer += 1 }
            }
            if let na = a.normals, let nb = b.normals {
                let m = (0..<4).map { abs(Int(na.pixels[4 * i + $0]) - Int(nb.pixels[4 * i + $0])) }.max()!
                s.normalMax = max(s.normalMax, m)
                if m > 2 { s.normalOver2 += 1 }
            }
        }
        return s
    }
}
