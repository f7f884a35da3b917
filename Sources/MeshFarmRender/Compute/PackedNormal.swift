/// Unit normals packed in one 32-bit word for the shading pass: octahedral
/// coordinates, 16-bit signed-normalized each (GLSL's `unpackSnorm2x16`;
/// angular error under 0.01°, the axes exact). Smooth shading reads three
/// vertex normals per pixel, and every storage-buffer load is a per-lane
/// loop on lavapipe: a word per normal instead of a `vec3` cut smooth
/// shading's extra time over flat by about a third, and the normal buffer
/// by two thirds. ``none`` means "no normal" (a vertex of degenerate
/// triangles only): -32768 in both halves, which the encoder never
/// produces. `shade.comp`'s `vertexNormal` is the decoder.
package enum PackedNormal {
    /// The word of a zero normal.
    package static let none: UInt32 = 0x8000_8000

    /// Packs a unit (or zero) normal.
    package static func pack(_ x: Float, _ y: Float, _ z: Float) -> UInt32 {
        let l1 = abs(x) + abs(y) + abs(z)
        guard l1 > 0, l1.isFinite else { return none }
        var u = x / l1
        var v = y / l1
        if z < 0 {
            // Fold the lower half over the diagonals.
            (u, v) = ((1 - abs(v)) * (u >= 0 ? 1 : -1), (1 - abs(u)) * (v >= 0 ? 1 : -1))
        }
        return quantize(u) | quantize(v) << 16
    }

    /// Packs `normals` (three floats per vertex).
    package static func pack(_ normals: [Float]) -> [UInt32] {
        (0..<(normals.count / 3)).map { pack(normals[3 * $0], normals[3 * $0 + 1], normals[3 * $0 + 2]) }
    }

    /// The normal a packed word stands for (what the shader computes).
    package static func unpack(_ bits: UInt32) -> SIMD3<Float> {
        guard bits != none else { return .zero }
        let u = max(Float(Int16(truncatingIfNeeded: bits)) / 32767, -1)
        let v = max(Float(Int16(truncatingIfNeeded: bits >> 16)) / 32767, -1)
        var n = SIMD3<Float>(u, v, 1 - abs(u) - abs(v))
        let t = max(-n.z, 0)
        n.x += n.x >= 0 ? -t : t
        n.y += n.y >= 0 ? -t : t
        let length = (n * n).sum().squareRoot()
        return n / length
    }

    /// -1...1 as a 16-bit signed-normalized value (-32767...32767).
    private static func quantize(_ value: Float) -> UInt32 {
        UInt32(UInt16(bitPattern: Int16((min(max(value, -1), 1) * 32767).rounded())))
    }
}
