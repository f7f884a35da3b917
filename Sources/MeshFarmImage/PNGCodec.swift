import CDeflate
import CPNG
import Foundation

/// Why an image could not be written or read.
public struct ImageError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// PNG encoding and decoding. Encoding is our own: each row filtered by
/// `PNGCodec.filterRows` and the whole image compressed at once by
/// libdeflate into one zlib stream (about three times faster than libpng at
/// zlib's default level, and a few percent smaller on rendered views).
/// Decoding is libpng's simplified API (`png_image_*`), which reads every
/// PNG color type and bit depth and reports errors through a message
/// instead of `longjmp`.
public enum PNGCodec {
    /// The filter a row is stored with (PNG filter method 0). The encoder
    /// uses `sub` and `up`; the others never made rendered views smaller.
    public enum RowFilter: UInt8, Sendable {
        case none = 0, sub = 1, up = 2
    }

    /// libdeflate's level for `encode`: 6 is zlib's default trade-off.
    public static let compressionLevel: Int32 = 6

    /// Encodes an image as an 8-bit RGBA PNG (color type 6, no interlace).
    public static func encode(_ image: RGBAImage) throws -> Data {
        guard image.width <= Int(Int32.max), image.height <= Int(Int32.max) else {
            throw ImageError("PNG encode failed: \(image.width)x\(image.height) is larger than PNG allows")
        }
        precondition(image.pixels.count == image.width * image.height * 4, "pixel buffer does not match the size")
        let filtered = filterRows(of: image)
        guard let compressor = libdeflate_alloc_compressor(compressionLevel) else {
            throw ImageError("PNG encode failed: out of memory for the compressor")
        }
        defer { libdeflate_free_compressor(compressor) }
        let bound = libdeflate_zlib_compress_bound(compressor, filtered.count)
        var compressed = 0
        let stream = [UInt8](unsafeUninitializedCapacity: bound) { output, count in
            compressed = filtered.withUnsafeBytes { input in
                libdeflate_zlib_compress(compressor, input.baseAddress, input.count, output.baseAddress, output.count)
            }
            count = compressed
        }
        guard compressed > 0 else { throw ImageError("PNG encode failed: the compressed image overflowed its bound") }

        var png = Data(capacity: 8 + 25 + 13 + compressed + 12 * (1 + compressed / maxChunkBytes) + 12)
        png.append(contentsOf: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var header = [UInt8]()
        header.appendBigEndian(UInt32(image.width))
        header.appendBigEndian(UInt32(image.height))
        header.append(contentsOf: [8, 6, 0, 0, 0])  // 8 bits, RGBA, deflate, filter method 0, no interlace
        png.appendChunk("IHDR", header[...])
        // The pixels are sRGB (perceptual intent), as libpng's simplified
        // writer tagged them.
        png.appendChunk("sRGB", [0][...])
        var offset = 0
        repeat {
            let end = min(offset + maxChunkBytes, compressed)
            png.appendChunk("IDAT", stream[offset..<end])
            offset = end
        } while offset < compressed
        png.appendChunk("IEND", [][...])
        return png
    }

    /// A chunk's data is at most 2^31 - 1 bytes; the compressed stream is
    /// split across IDAT chunks of this size.
    static let maxChunkBytes = 1 << 30

    /// The image's rows as PNG stores them before compression: per row, the
    /// filter type byte and the row filtered with whichever of `sub` and
    /// `up` has the smaller sum of absolute (signed) differences, libpng's
    /// heuristic over fewer filters. Row 0's `up` is against a row of zeros,
    /// as the format defines.
    public static func filterRows(of image: RGBAImage) -> [UInt8] {
        let rowBytes = image.width * 4
        let zeros = [UInt8](repeating: 0, count: rowBytes)
        return [UInt8](unsafeUninitializedCapacity: image.height * (rowBytes + 1)) { out, count in
            image.pixels.withUnsafeBufferPointer { pixels in
                zeros.withUnsafeBufferPointer { zeros in
                    for y in 0..<image.height {
                        let row = pixels.baseAddress! + y * rowBytes
                        let above = y == 0 ? zeros.baseAddress! : row - rowBytes
                        let filter = cheaperFilter(row: row, above: above, count: rowBytes)
                        let destination = out.baseAddress! + y * (rowBytes + 1)
                        destination[0] = filter.rawValue
                        filter == .up
                            ? filterUp(row: row, above: above, count: rowBytes, into: destination + 1)
                            : filterSub(row: row, count: rowBytes, into: destination + 1)
                    }
                }
            }
            count = image.height * (rowBytes + 1)
        }
    }

    /// |v| of a filtered byte read as a signed one (0...128), summed: the
    /// cost libpng's heuristic compares. Both sums in one pass, loops the
    /// optimizer vectorizes (no branches, wrapping arithmetic).
    private static func cheaperFilter(
        row: UnsafePointer<UInt8>, above: UnsafePointer<UInt8>, count: Int
    ) -> RowFilter {
        @inline(__always) func magnitude(_ v: UInt8) -> UInt32 { UInt32(min(v, 0 &- v)) }
        var sub: UInt32 = 0
        var up: UInt32 = 0
        for x in 0..<min(4, count) {
            sub &+= magnitude(row[x])
            up &+= magnitude(row[x] &- above[x])
        }
        if count > 4 {
            for x in 4..<count {
                sub &+= magnitude(row[x] &- row[x - 4])
                up &+= magnitude(row[x] &- above[x])
            }
        }
        return up < sub ? .up : .sub
    }

    private static func filterSub(row: UnsafePointer<UInt8>, count: Int, into out: UnsafeMutablePointer<UInt8>) {
        for x in 0..<min(4, count) { out[x] = row[x] }
        if count > 4 { for x in 4..<count { out[x] = row[x] &- row[x - 4] } }
    }

    private static func filterUp(
        row: UnsafePointer<UInt8>, above: UnsafePointer<UInt8>, count: Int, into out: UnsafeMutablePointer<UInt8>
    ) {
        for x in 0..<count { out[x] = row[x] &- above[x] }
    }

    /// Decodes any PNG into 8-bit RGBA.
    public static func decode(_ data: Data) throws -> RGBAImage {
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        let opened = data.withUnsafeBytes { bytes in
            png_image_begin_read_from_memory(&png, bytes.baseAddress, bytes.count)
        }
        guard opened != 0 else { throw ImageError("not a readable PNG: \(message(of: png))") }
        png.format = MESHFARM_PNG_FORMAT_RGBA
        let width = Int(png.width)
        let height = Int(png.height)
        var pixels = [UInt8](repeating: 0, count: width * height * 4)
        let finished = pixels.withUnsafeMutableBytes { output in
            png_image_finish_read(&png, nil, output.baseAddress, Int32(width * 4), nil)
        }
        guard finished != 0 else { throw ImageError("PNG decode failed: \(message(of: png))") }
        return RGBAImage(width: width, height: height, pixels: pixels)
    }

    /// Writes `image` to `path` as PNG.
    public static func write(_ image: RGBAImage, to path: String) throws {
        try encode(image).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// Reads the PNG at `path`.
    public static func read(path: String) throws -> RGBAImage {
        try decode(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    private static func message(of png: png_image) -> String {
        withUnsafeBytes(of: png.message) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
    }
}

extension Data {
    /// Appends a PNG chunk: length, type, data, CRC-32 of type and data.
    fileprivate mutating func appendChunk(_ type: String, _ data: ArraySlice<UInt8>) {
        var head = [UInt8]()
        head.appendBigEndian(UInt32(data.count))
        head.append(contentsOf: type.utf8)
        append(contentsOf: head)
        append(contentsOf: data)
        var crc = head[4...].withUnsafeBytes { libdeflate_crc32(0, $0.baseAddress, $0.count) }
        crc = data.withUnsafeBytes { libdeflate_crc32(crc, $0.baseAddress, $0.count) }
        var tail = [UInt8]()
        tail.appendBigEndian(crc)
        append(contentsOf: tail)
    }
}

extension [UInt8] {
    fileprivate mutating func appendBigEndian(_ value: UInt32) {
        append(contentsOf: [
            UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF),
        ])
    }
}
