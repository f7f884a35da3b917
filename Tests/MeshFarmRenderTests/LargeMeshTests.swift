import Foundation
import MeshFarmImage
import MeshFarmMesh
import MeshFarmRender
import MeshFarmTestSupport
import Testing

@Suite(.serialized) struct LargeMeshTests {
    let fixture = RenderFixture.shared

    @Test func meshOverTheStorageBufferRangeIsSplitAndRendersLikeItsParts() throws {
        // 11.2 million triangles: 134.8 MB of indices, over lavapipe's 128 MiB
        // (134.2 MB) storage-buffer range.
        let mesh = Mesh.slab(cells: 1675)
        #expect(mesh.indices.count * 4 > 128 << 20)
        let whole = try fixture.compute.upload(mesh)
        #expect(whole.chunkCount >= 2)
        let camera = TurntableRig(views: 8, elevation: 35, width: 192, height: 192).camera(1, bounds: mesh.bounds!)
        let options = RenderOptions(flatShading: true, depth: true)
        let view = try fixture.compute.render(whole, camera: camera, options: options)

        // The same mesh as two separate halves, each within the limit,
        // composited by nearest depth.
        let half = mesh.triangleCount / 2 * 3
        var composite = [Float](repeating: 0, count: camera.width * camera.height)
        for range in [0..<half, half..<mesh.indices.count] {
            let part = Mesh(positions: mesh.positions, indices: Array(mesh.indices[range]))
            let partView = try fixture.compute.render(
                try fixture.compute.upload(part), camera: camera, options: options)
            for (i, d) in partView.depth!.values.enumerated() where d > 0 {
                composite[i] = composite[i] == 0 ? d : min(composite[i], d)
            }
        }
        let depth = view.depth!.values
        #expect(depth.filter { $0 > 0 }.count > 10_000)
        #expect(zip(depth, composite).filter { ($0 > 0) != ($1 > 0) }.count == 0, "coverage differs")
        #expect(zip(depth, composite).filter { $0 != $1 }.count == 0, "depth differs")
        #expect(ValidationLog.errorCount == 0, "\(ValidationLog.recentErrors)")
    }

    @Test func imageBandsAndSplitVerticesGiveTheSameImage() throws {
        // A low buffer cap forces both splits: the image renders in bands
        // and each chunk carries its own compacted vertices.
        let capped = try ComputeRenderer(context: fixture.context, settings: .init(maxBufferBytes: 64 * 1024))
        let mesh = Mesh.torus(segments: 96, sides: 48)
        let camera = TurntableRig(views: 4, width: 100, height: 90).camera(1, bounds: mesh.bounds!)
        let options = RenderOptions(ssaa: 2, depth: true, normals: true)
        let cappedMesh = try capped.upload(mesh)
        #expect(cappedMesh.chunkCount > 1)
        let reference = try fixture.compute.render(try fixture.compute.upload(mesh), camera: camera, options: options)
        let banded = try capped.render(cappedMesh, camera: camera, options: options)
        let output = TestEnvironment.outputDirectory("bands")
        try PNGCodec.write(reference.image, to: output.appendingPathComponent("reference.png").path)
        try PNGCodec.write(banded.image, to: output.appendingPathComponent("banded.png").path)
        let differentPixels = zip(banded.image.pixels, reference.image.pixels).filter { $0 != $1 }.count
        let differentDepths = zip(banded.depth!.values, reference.depth!.values).filter { $0 != $1 }.count
        let differentNormals = zip(banded.normals!.pixels, reference.normals!.pixels).filter { $0 != $1 }.count
        #expect(differentPixels == 0)
        #expect(differentDepths == 0)
        #expect(differentNormals == 0)
        #expect(reference.image.coveredPixelCount > 1000)

        // Several banded views submitted together (more bands in flight
        // than one view has) match the one-view renders too.
        let cameras = TurntableRig(views: 4, width: 100, height: 90).cameras(bounds: mesh.bounds!)
        var together: [(Int, RenderedView)] = []
        try capped.render(cappedMesh, cameras: cameras, options: options) { together.append(($0, $1)) }
        #expect(together.map(\.0) == [0, 1, 2, 3])
        for (index, view) in together {
            let alone = try fixture.compute.render(
                try fixture.compute.upload(mesh), camera: cameras[index], options: options)
            #expect(view.image.pixels == alone.image.pixels, "view \(index)")
            #expect(view.depth!.values == alone.depth!.values, "view \(index)")
        }
        #expect(ValidationLog.errorCount == 0, "\(ValidationLog.recentErrors)")
    }
}
