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
    /// still fits libdeflate's bound.
    @Test(arguments: [1, 3, 256, 1024])
    func incompressibleImagesRoundTrip(size: Int) throws {
        var generator = SystemRandomNumberGenerator()
        let pixels = (0..<(size * size * 4)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let image = RGBAImage(width: size, height: size, pixels: pixels)
        let data = try PNGCodec.encode(image)
        #expect(data.count > pixels.count)
        #expect(try PNGCodec.decode(data).pixels == pixels)
    }

    /// The chunks: the header (8-bit RGBA, no interlace), the sRGB tag
    /// libpng's writer used to add, the image data, the end.
    @Test func chunksAreHeaderSRGBDataEnd() throws {
        let data = [UInt8](try PNGCodec.encode(RGBAImage(width: 300, height: 2)))
        var chunks: [(String, [UInt8])] = []
        var offset = 8
        while offset < data.count {
            let length = data[offset..<(offset + 4)].reduce(0) { $0 << 8 | Int($1) }
            let type = String(decoding: data[(offset + 4)..<(offset + 8)], as: UTF8.self)
            chunks.append((type, Array(data[(offset + 8)..<(offset + 8 + length)])))
            offset += 12 + length
        }
        #expect(offset == data.count)
        #expect(chunks.map(\.0) == ["IHDR", "sRGB", "IDAT", "IEND"])
        #expect(chunks[0].1 == [0, 0, 1, 44, 0, 0, 0, 2, 8, 6, 0, 0, 0])
        #expect(chunks[1].1 == [0] && chunks[3].1.isEmpty)
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

/// The rows the encoder stores: each with the filter that costs least.
@Suite struct PNGRowFilterTests {
    /// Rows of one color each, the color changing down the image: `sub`
    /// leaves only the first pixel of a row; a row that repeats the one
    /// above is all zeros under `up`.
    @Test func eachRowTakesTheCheaperFilter() throws {
        var image = RGBAImage(width: 16, height: 4)
        for x in 0..<16 {
            image[x, 0] = SIMD4(200, 10, 10, 255)  // flat row: sub
            image[x, 1] = SIMD4(UInt8(x * 16), UInt8(255 - x * 16), UInt8(x * 3), 255)  // ramp: sub is 16s, up is big
            image[x, 2] = image[x, 1]  // repeats row 1: up is zeros
            image[x, 3] = SIMD4(UInt8(x * 16 + 1), UInt8(255 - x * 16), UInt8(x * 3), 255)  // row 2 plus 1 in red: up
        }
        let rows = PNGCodec.filterRows(of: image)
        let stride = 16 * 4 + 1
        #expect(rows.count == 4 * stride)
        #expect((0..<4).map { rows[$0 * stride] } == [1, 1, 2, 2])
        // Row 0 under sub: the first pixel, then zeros.
        #expect(Array(rows[1..<5]) == [200, 10, 10, 255] && rows[5..<stride].allSatisfy { $0 == 0 })
        // Row 2 under up: all zeros; row 3: 1 in every red byte.
        #expect(rows[(2 * stride + 1)..<(3 * stride)].allSatisfy { $0 == 0 })
        #expect((0..<16).allSatisfy { rows[3 * stride + 1 + $0 * 4] == 1 && rows[3 * stride + 2 + $0 * 4] == 0 })
        #expect(try PNGCodec.decode(PNGCodec.encode(image)) == image)
    }

    /// Row 0's `up` is against zeros, and filtered bytes are costed as
    /// signed ones: 255 is 1 away from 0, 200 is 56.
    @Test func signedCostsAndTheFirstRow() throws {
        var image = RGBAImage(width: 3, height: 2)
        for x in 0..<3 {
            image[x, 0] = SIMD4(0, 0, 0, 0)
            image[x, 1] = SIMD4(255, 255, 255, UInt8(x * 100))
        }
        let rows = PNGCodec.filterRows(of: image)
        // Row 0: both filters give zeros, sub is taken on a tie.
        // Row 1, up: 1+1+1+0, 1+1+1+100, 1+1+1+56 = 165; sub: 1+1+1+0,
        // then 0+0+0+100 twice = 203. Read unsigned, up would cost 2595
        // against sub's 965, and sub would be taken.
        #expect(rows[0] == 1 && rows[13] == 2)
        #expect(Array(rows[14..<26]) == [255, 255, 255, 0, 255, 255, 255, 100, 255, 255, 255, 200])
        #expect(try PNGCodec.decode(PNGCodec.encode(image)) == image)
    }

    /// One pixel, one column, and widths that are not a multiple of
    /// anything: every size round-trips.
    @Test(arguments: [(1, 1), (1, 9), (2, 2), (5, 3), (129, 7)])
    func oddSizesRoundTrip(width: Int, height: Int) throws {
        var image = RGBAImage(width: width, height: height)
        for y in 0..<height {
            for x in 0..<width {
                image[x, y] = SIMD4(UInt8(x * 31 % 256), UInt8(y * 17 % 256), UInt8(x * y % 256), 255)
            }
        }
        #expect(try PNGCodec.decode(PNGCodec.encode(image)) == image)
    }
}
