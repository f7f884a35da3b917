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
    /// Encodes an image as an 8-bit RGBA PNG.
    public static func encode(_ image: RGBAImage) throws -> Data {
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        png.width = UInt32(image.width)
        png.height = UInt32(image.height)
        png.format = MESHFARM_PNG_FORMAT_RGBA
        var size: png_alloc_size_t = 0
        // First call measures, second call writes.
        let measured = image.pixels.withUnsafeBytes { pixels in
            png_image_write_to_memory(&png, nil, &size, 0, pixels.baseAddress, Int32(image.width * 4), nil)
        }
        guard measured != 0 else { throw ImageError("PNG encode failed: \(message(of: png))") }
        var data = Data(count: Int(size))
        let written = data.withUnsafeMutableBytes { output in
            image.pixels.withUnsafeBytes { pixels in
                png_image_write_to_memory(
                    &png, output.baseAddress, &size, 0, pixels.baseAddress, Int32(image.width * 4), nil)
            }
        }
        guard written != 0 else { throw ImageError("PNG encode failed: \(message(of: png))") }
        return data.prefix(Int(size))
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
