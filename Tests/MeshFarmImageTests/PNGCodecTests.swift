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

    /// Noise does not compress: the PNG is bigger than the pixels, and
    /// still fits the buffer `encode` compresses into at once.
    @Test(arguments: [1, 3, 256, 1024])
    func incompressibleImagesRoundTrip(size: Int) throws {
        var generator = SystemRandomNumberGenerator()
        let pixels = (0..<(size * size * 4)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let image = RGBAImage(width: size, height: size, pixels: pixels)
        let data = try PNGCodec.encode(image)
        #expect(data.count > pixels.count)
        #expect(try PNGCodec.decode(data).pixels == pixels)
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

/// The contact sheet and its row labels.
@Suite struct ContactSheetTests {
    static func square(_ size: Int, _ color: SIMD4<UInt8>) -> RGBAImage {
        var image = RGBAImage(width: size, height: size)
        for y in 0..<size { for x in 0..<size { image[x, y] = color } }
        return image
    }

    @Test func rowsAreHeadedByTheirLabels() {
        let red = Self.square(96, [255, 0, 0, 255])
        let ink: SIMD4<UInt8> = [60, 64, 72, 255]
        let plain = ContactSheet.compose(rows: [[red, red], [red]], cell: 96)
        #expect(plain.width == 2 * 96 + 3 * 8 && plain.height == 2 * 96 + 3 * 8)
        let labelled = ContactSheet.compose(rows: [[red, red], [red]], cell: 96, labels: ["LOD 0 (1) · 10", "LOD 1"])
        // A band of 7 font pixels at scale 2 plus a gap above each row.
        let band = 7 * 2 + 8
        #expect(labelled.width == plain.width && labelled.height == plain.height + 2 * band)
        func inked(_ x: Range<Int>, _ y: Range<Int>) -> Int {
            y.reduce(0) { sum, py in sum + x.filter { labelled[$0, py] == ink }.count }
        }
        // "L" of the first label: its vertical stroke at the band's left edge.
        #expect((8..<22).allSatisfy { labelled[8, $0] == ink && labelled[9, $0] == ink })
        #expect(inked(8..<labelled.width, 8..<22) > 100)
        // The second label is shorter: less ink.
        let second = 8 + 96 + 8 + band
        #expect(inked(8..<labelled.width, second..<(second + 14)) < inked(8..<labelled.width, 8..<22))
        // The images moved down by the band, and no ink fell on them.
        #expect(labelled[8 + 48, 8 + band + 48] == [255, 0, 0, 255])
        // A label wider than the sheet is cut, not drawn outside it.
        let long = ContactSheet.compose(rows: [[red]], cell: 96, labels: [String(repeating: "W", count: 60)])
        #expect(long.width == 96 + 16 && BitmapFont.width(of: "WWWWWWWW", scale: 2) == 94)
        #expect((0..<long.height).allSatisfy { long[long.width - 1, $0] != ink })
    }
}
