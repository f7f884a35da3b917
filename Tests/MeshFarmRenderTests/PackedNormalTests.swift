import Foundation
import MeshFarmRender
import Testing

/// The packed normals the shading pass reads, as plain values: no device.
@Suite struct PackedNormalTests {
    /// Directions over the whole sphere, the axes and the folds included.
    func directions() -> [SIMD3<Float>] {
        var all: [SIMD3<Float>] = [
            [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1],
            [1, 1, 0], [-1, 1, 0], [1, -1, 0], [-1, -1, 0], [1, 1, 1], [-1, -1, -1], [0.3, -0.2, -0.9],
        ]
        for i in 0..<2000 {
            // A Fibonacci sphere.
            let z = 1 - 2 * (Float(i) + 0.5) / 2000
            let r = (1 - z * z).squareRoot()
            let phi = Float(i) * 2.399963
            all.append([r * cos(phi), r * sin(phi), z])
        }
        return all.map { $0 / ($0 * $0).sum().squareRoot() }
    }

    @Test func everyDirectionComesBackWithinAHundredthOfADegree() {
        var worst = 0.0
        for n in directions() {
            let back = PackedNormal.unpack(PackedNormal.pack(n.x, n.y, n.z))
            // The angle from the cross product, in doubles (acos near 1 is
            // too coarse in floats to see a hundredth of a degree).
            let a = SIMD3<Double>(n), b = SIMD3<Double>(back)
            let cross = SIMD3(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x)
            worst = max(worst, atan2((cross * cross).sum().squareRoot(), (a * b).sum()) * 180 / .pi)
        }
        #expect(worst < 0.01, "worst error \(worst)°")
    }

    @Test func aZeroNormalStaysZeroAndNoRealNormalLooksZero() {
        #expect(PackedNormal.pack(0, 0, 0) == PackedNormal.none)
        #expect(PackedNormal.unpack(PackedNormal.none) == .zero)
        #expect(PackedNormal.pack(.nan, 0, 0) == PackedNormal.none)
        #expect(directions().allSatisfy { PackedNormal.pack($0.x, $0.y, $0.z) != PackedNormal.none })
    }

    @Test func aMeshsNormalsPackOneWordPerVertex() {
        let packed = PackedNormal.pack([0, 0, 1, 0, 0, 0, 0, -1, 0])
        #expect(packed.count == 3)
        #expect(packed[1] == PackedNormal.none)
        #expect(PackedNormal.unpack(packed[0]) == [0, 0, 1])
        let down = PackedNormal.unpack(packed[2])
        #expect(abs(down.y + 1) < 1e-4 && abs(down.x) < 1e-4 && abs(down.z) < 1e-4)
    }
}
