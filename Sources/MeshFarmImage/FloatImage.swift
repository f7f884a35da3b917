import Foundation

/// A single-channel 32-bit float image (depth), rows top to bottom.
public struct FloatImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var values: [Float]

    public init(width: Int, height: Int, values: [Float]) {
        precondition(values.count == width * height, "value count does not match \(width)x\(height)")
        self.width = width
        self.height = height
        self.values = values
    }

    public subscript(x: Int, y: Int) -> Float {
        get { values[y * width + x] }
        set { values[y * width + x] = newValue }
    }
}

/// Portable float map (PFM) I/O: a text header `Pf\n<w> <h>\n-1.0\n` (one
/// channel, negative scale = little-endian) followed by float32 rows stored
/// bottom-to-top, as the format prescribes.
public enum PFMCodec {
    public static func encode(_ image: FloatImage) -> Data {
        var data = Data("Pf\n\(image.width) \(image.height)\n-1.0\n".utf8)
        data.reserveCapacity(data.count + image.values.count * 4)
        for row in (0..<image.height).reversed() {
            image.values[(row * image.width)..<((row + 1) * image.width)].withUnsafeBytes {
                data.append(contentsOf: $0)
            }
        }
        return data
    }

    public static func decode(_ data: Data) throws -> FloatImage {
        // Header: three whitespace-separated tokens after "Pf", then one byte.
        var tokens: [String] = []
        var current = ""
        var offset = 0
        let bytes = [UInt8](data.prefix(256))
        while offset < bytes.count, tokens.count < 4 {
            let c = bytes[offset]
            offset += 1
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 {
                if !current.isEmpty { tokens.append(current); current = "" }
            } else {
                current.append(Character(UnicodeScalar(c)))
            }
        }
        guard tokens.count == 4, tokens[0] == "Pf", let width = Int(tokens[1]), let height = Int(tokens[2]),
            let scale = Double(tokens[3]), width > 0, height > 0
        else { throw ImageError("not a single-channel PFM file") }
        guard data.count - offset == width * height * 4 else {
            throw ImageError("PFM data is \(data.count - offset) bytes, expected \(width * height * 4)")
        }
        var values = [Float](repeating: 0, count: width * height)
        data.withUnsafeBytes { raw in
            for row in 0..<height {
                for x in 0..<width {
                    var bits = raw.loadUnaligned(fromByteOffset: offset + (row * width + x) * 4, as: UInt32.self)
                    bits = scale < 0 ? UInt32(littleEndian: bits) : UInt32(bigEndian: bits)
                    values[(height - 1 - row) * width + x] = Float(bitPattern: bits)
                }
            }
        }
        return FloatImage(width: width, height: height, values: values)
    }
}
