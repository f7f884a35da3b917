import CPNG
import Foundation

/// Why an image could not be written or read.
public struct ImageError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// PNG encoding and decoding through libpng's simplified API
/// (`png_image_*`), which handles every PNG color type and bit depth and
/// reports errors through a message instead of `longjmp`.
public enum PNGCodec {
    /// Encodes an image as an 8-bit RGBA PNG, compressing it once: into a
    /// buffer above the largest size an RGBA image of these dimensions can
    /// take (its rows unfiltered and stored, plus zlib's and the chunks'
    /// overhead), retried at the size libpng asks for if it ever is not.
    /// (Asking libpng for the size first compressed every image twice.)
    public static func encode(_ image: RGBAImage) throws -> Data {
        let raw = image.height * (1 + image.width * 4)
        var capacity = raw + raw / 1024 * 8 + 4096
        for _ in 0..<2 {
            var png = png_image()
            png.version = UInt32(PNG_IMAGE_VERSION)
            png.width = UInt32(image.width)
            png.height = UInt32(image.height)
            png.format = MESHFARM_PNG_FORMAT_RGBA
            var size = png_alloc_size_t(capacity)
            var data = Data(count: capacity)
            let written = data.withUnsafeMutableBytes { output in
                image.pixels.withUnsafeBytes { pixels in
                    png_image_write_to_memory(
                        &png, output.baseAddress, &size, 0, pixels.baseAddress, Int32(image.width * 4), nil)
                }
            }
            if written != 0 { return data.prefix(Int(size)) }
            // Unchanged size: a real error; a larger one: the buffer was too small.
            guard Int(size) > capacity else { throw ImageError("PNG encode failed: \(message(of: png))") }
            capacity = Int(size)
        }
        throw ImageError("PNG encode failed: libpng asked for more room twice")
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
