import Foundation

/// A deliberately plain OBJ reader, independent of assimp, that tests use to
/// check what the importer reports: `v` lines, distinct positions and
/// triangles after fan triangulation of each `f` line.
public struct ReferenceOBJ {
    public var vertexLines = 0
    public var positions: [SIMD3<Float>] = []
    public var triangles: [(Int, Int, Int)] = []
    /// No `f` line has more than three corners.
    public var allFacesAreTriangles = true

    public init(contentsOf url: URL) throws {
        let text = try String(contentsOf: url, encoding: .utf8)
        for line in text.split(whereSeparator: \.isNewline) {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let keyword = words.first else { continue }
            if keyword == "v" {
                vertexLines += 1
                positions.append(SIMD3(Float(words[1])!, Float(words[2])!, Float(words[3])!))
            } else if keyword == "f" {
                let corners = words.dropFirst().map { word -> Int in
                    let index = Int(word.split(separator: "/", omittingEmptySubsequences: false)[0])!
                    return index > 0 ? index - 1 : positions.count + index
                }
                if corners.count > 3 { allFacesAreTriangles = false }
                for k in 1..<(corners.count - 1) { triangles.append((corners[0], corners[k], corners[k + 1])) }
            }
        }
    }

    /// Number of different positions among the `v` lines.
    public var distinctPositionCount: Int {
        Set(positions.map { [$0.x + 0, $0.y + 0, $0.z + 0] }).count
    }

    /// Sum of triangle areas, computed in Double.
    public var surfaceArea: Double {
        triangles.reduce(0.0) { sum, t in
            let a = SIMD3<Double>(positions[t.0]), b = SIMD3<Double>(positions[t.1]), c = SIMD3<Double>(positions[t.2])
            let u = b - a, v = c - a
            let n = SIMD3(u.y * v.z - u.z * v.y, u.z * v.x - u.x * v.z, u.x * v.y - u.y * v.x)
            return sum + 0.5 * (n * n).sum().squareRoot()
        }
    }
}

extension SIMD3 where Scalar == Double {
    init(_ v: SIMD3<Float>) { self.init(Double(v.x), Double(v.y), Double(v.z)) }
}
