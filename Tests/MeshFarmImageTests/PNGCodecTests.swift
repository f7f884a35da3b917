import Foundation
import MeshFarmImage
import Testing

@Suite struct PNGCodecTests {
    @Test func rgbaRoundTripIsLossless() throws {
        var image = RGBAImage(width: 37, height: 23)
        for y in 0..<23 {
            for x in 0..<37 {
                image[x, y] = SIMD4(
                    UInt8(x * 7 % 256), UInt8(y * 11 % 256), UInt8((x ^ y) % 256), UInt8((x + y) * 5 % 256))
            }
        }
        let data = try PNGCodec.encode(image)
        #expect(data.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        let decoded = try PNGCodec.decode(data)
        #expect(decoded.width == 37 && decoded.height == 23)
        #expect(decoded.pixels == image.pixels)
    }

    @Test func fileRoundTrip() throws {
        var image = RGBAImage(width: 4, height: 2)
        image[3, 1] = SIMD4(255, 0, 0, 255)
        let path = NSTemporaryDirectory() + "/meshfarm-png-\(UUID().uuidString).png"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try PNGCodec.write(image, to: path)
        let back = try PNGCodec.read(path: path)
        #expect(back == image)
        #expect(back[3, 1] == SIMD4(255, 0, 0, 255))
        #expect(back.coveredPixelCount == 1)
    }

    @Test func garbageIsAnError() {
        #expect(throws: ImageError.self) { try PNGCodec.decode(Data("not a png".utf8)) }
    }
}
