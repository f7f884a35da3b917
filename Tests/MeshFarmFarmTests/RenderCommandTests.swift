import Foundation
import MeshFarmImage
import MeshFarmTestSupport
import Testing

/// `meshfarm render`: turntable views of a model into a directory.
@Suite struct RenderCommandTests {
    @Test func writesEveryViewItsDepthAndTheCameras() throws {
        let out = TestEnvironment.outputDirectory("render-command")
        let run = try ChildProcess.run(
            TestEnvironment.executable("meshfarm"),
            [
                "render", FarmTests.spot.path, "--views", "3", "--size", "64", "--depth", "--out", out.path,
            ], timeout: 120)
        #expect(run.status == 0, "\(run.stderrText)")
        var images: [RGBAImage] = []
        for j in 0..<3 {
            let image = try PNGCodec.read(path: out.appendingPathComponent("view-\(j).png").path)
            #expect(image.width == 64 && image.height == 64)
            #expect(image.coveredPixelCount > 400, "view \(j) is nearly empty")
            let depth = try PFMCodec.decode(Data(contentsOf: out.appendingPathComponent("view-\(j)-depth.pfm")))
            // Depth where the color is covered, 0 elsewhere.
            let covered = (0..<(64 * 64)).filter { image.pixels[$0 * 4 + 3] > 0 }
            #expect(covered.allSatisfy { depth.values[$0] > 0 })
            #expect(depth.values.filter { $0 > 0 }.count == covered.count)
            images.append(image)
        }
        // A turntable: the three views differ.
        #expect(images[0] != images[1] && images[1] != images[2])
        let document =
            try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("views.json")))
            as! [String: Any]
        let views = document["views"] as! [[String: Any]]
        #expect(views.map { $0["index"] as! Int } == [0, 1, 2])
        #expect(views.map { $0["file"] as! String } == ["view-0.png", "view-1.png", "view-2.png"])
        #expect(views.map { $0["depth"] as! String } == ["view-0-depth.pfm", "view-1-depth.pfm", "view-2-depth.pfm"])
        #expect(Set(views.map { "\(($0["camera"] as! [String: Any])["eye"]!)" }).count == 3)
        #expect(document["triangles"] as? Int == 5856)
    }
}
