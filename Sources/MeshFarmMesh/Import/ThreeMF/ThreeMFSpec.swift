/// Names, namespaces and rule wording from the 3MF specifications, so that
/// every refusal names the rule the file breaks.
enum ThreeMFSpec {
    static let core: StaticString = "http://schemas.microsoft.com/3dmanufacturing/core/2015/02"
    static let production: StaticString = "http://schemas.microsoft.com/3dmanufacturing/production/2015/06"
    static let materials = "http://schemas.microsoft.com/3dmanufacturing/material/2015/02"
    static let triangleSets = "http://schemas.microsoft.com/3dmanufacturing/trianglesets/2021/07"
    static let contentTypes: StaticString = "http://schemas.openxmlformats.org/package/2006/content-types"
    static let relationships: StaticString = "http://schemas.openxmlformats.org/package/2006/relationships"
    /// Relationship type of the StartPart (the root 3D model) and of model parts.
    static let modelRelationship = "http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"
    static let modelContentType = "application/vnd.ms-package.3dmanufacturing-3dmodel+xml"

    /// Extensions whose required use MeshFarm accepts: it reads geometry;
    /// materials and triangle sets change colours and grouping, not shape.
    static var supportedExtensions: Set<String> {
        ["\(core)", "\(production)", materials, triangleSets]
    }

    /// Readable names of the extensions MeshFarm does not support, for errors.
    static let knownExtensions: [String: String] = [
        "http://schemas.microsoft.com/3dmanufacturing/slice/2015/07": "slice",
        "http://schemas.microsoft.com/3dmanufacturing/beamlattice/2017/02": "beam lattice",
        "http://schemas.microsoft.com/3dmanufacturing/beamlattice/balls/2020/07": "beam lattice balls",
        "http://schemas.microsoft.com/3dmanufacturing/securecontent/2019/04": "secure content",
        "http://schemas.3mf.io/3dmanufacturing/volumetric/2022/01": "volumetric",
        "http://schemas.3mf.io/3dmanufacturing/implicit/2023/12": "implicit",
        "http://schemas.3mf.io/3dmanufacturing/booleanoperations/2023/07": "boolean operations",
        "http://schemas.3mf.io/3dmanufacturing/displacement/2023/10": "displacement",
        "http://schemas.microsoft.com/3dmanufacturing/production/alternatives/2021/04": "production alternatives",
    ]

    /// A file that breaks a rule: `what` happened, and `rule` (e.g. "core
    /// spec 4.1.4.1: the indices v1, v2 and v3 must be distinct") says which.
    static func violation(_ what: String, rule: String) -> MeshError {
        .malformed(format: "3MF", reason: "\(what) (breaks 3MF \(rule))")
    }

    /// A problem that is not a rule of the specification (limits, I/O).
    static func error(_ reason: String) -> MeshError {
        .malformed(format: "3MF", reason: reason)
    }
}

/// An affine transform in 3MF's layout: row vectors, `p' = p * M` with the
/// 4th column fixed at (0, 0, 0, 1); twelve numbers `m00 m01 m02 m10 ... m32`.
struct Transform3D: Equatable {
    /// m[row][column], rows 0-2 the linear part, row 3 the translation.
    var m: [SIMD3<Double>]

    static let identity = Transform3D(m: [SIMD3(1, 0, 0), SIMD3(0, 1, 0), SIMD3(0, 0, 1), SIMD3(0, 0, 0)])

    /// Parses `ST_Matrix3D`: exactly twelve numbers separated by spaces.
    init?(_ text: XMLText) {
        var numbers: [Double] = []
        numbers.reserveCapacity(12)
        var start = 0
        var i = 0
        while i <= text.count {
            if i == text.count || text.base[i] == 0x20 || text.base[i] == 0x09 || text.base[i] == 0x0A
                || text.base[i] == 0x0D
            {
                if i > start {
                    guard numbers.count < 12, let value = XMLText(base: text.base + start, count: i - start).number()
                    else { return nil }
                    numbers.append(value)
                }
                start = i + 1
            }
            i += 1
        }
        guard numbers.count == 12 else { return nil }
        m = (0..<4).map { SIMD3(numbers[3 * $0], numbers[3 * $0 + 1], numbers[3 * $0 + 2]) }
    }

    init(m: [SIMD3<Double>]) { self.m = m }

    /// `self` applied first, then `outer`.
    func then(_ outer: Transform3D) -> Transform3D {
        var result = [SIMD3<Double>](repeating: .zero, count: 4)
        for row in 0..<3 {
            result[row] = m[row].x * outer.m[0] + m[row].y * outer.m[1] + m[row].z * outer.m[2]
        }
        result[3] = apply(m[3], outer)
        return Transform3D(m: result)
    }

    private func apply(_ p: SIMD3<Double>, _ t: Transform3D) -> SIMD3<Double> {
        p.x * t.m[0] + p.y * t.m[1] + p.z * t.m[2] + t.m[3]
    }

    @inline(__always)
    func apply(_ p: SIMD3<Double>) -> SIMD3<Double> { apply(p, self) }

    var determinant: Double {
        let (a, b, c) = (m[0], m[1], m[2])
        return a.x * (b.y * c.z - b.z * c.y) - a.y * (b.x * c.z - b.z * c.x) + a.z * (b.x * c.y - b.y * c.x)
    }
}
