/// An 8-bit RGBA image, rows top to bottom, pixels left to right,
/// non-premultiplied alpha.
public struct RGBAImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// `width * height * 4` bytes.
    public var pixels: [UInt8]

    /// A transparent black image.
    public init(width: Int, height: Int) {
        precondition(width > 0 && height > 0, "image size must be positive")
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 4)
    }

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 4, "pixel buffer does not match \(width)x\(height) RGBA")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// The pixel at column `x`, row `y` (row 0 is the top).
    public subscript(x: Int, y: Int) -> SIMD4<UInt8> {
        get {
            let o = (y * width + x) * 4
            return SIMD4(pixels[o], pixels[o + 1], pixels[o + 2], pixels[o + 3])
        }
        set {
            let o = (y * width + x) * 4
            pixels[o] = newValue.x
            pixels[o + 1] = newValue.y
            pixels[o + 2] = newValue.z
            pixels[o + 3] = newValue.w
        }
    }

    /// Number of pixels with non-zero alpha.
    public var coveredPixelCount: Int {
        stride(from: 3, to: pixels.count, by: 4).reduce(0) { $0 + (pixels[$1] > 0 ? 1 : 0) }
    }
}
