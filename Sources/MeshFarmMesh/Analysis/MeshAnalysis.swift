/// What a 3D-printing service asks first about an upload: how big it is,
/// how much material it encloses, and whether it is a closed solid.
///
/// Field names match the JSON that `meshfarm analyze` prints and job reports
/// embed.
public struct MeshAnalysis: Sendable, Equatable, Codable {
    /// Detected file format (`obj`, `stl-binary`, ...); nil for in-memory meshes.
    public var format: String?
    /// Vertices after welding exactly identical positions.
    public var vertices: Int
    public var triangles: Int
    public var bounds: AnalysisBounds
    /// Sum of triangle areas, in squared model units.
    public var surfaceArea: Double
    /// Absolute value of the signed enclosed volume (cubed model units);
    /// meaningful only when the mesh is watertight and consistently wound.
    /// For an open mesh the signed sum depends on the reference point; it is
    /// taken about the bounding-box center.
    public var volume: Double
    /// Every edge is shared by exactly two triangles.
    public var watertight: Bool
    /// Edges used by exactly one triangle (holes, open borders).
    public var boundaryEdges: Int
    /// Edges used by three or more triangles.
    public var nonManifoldEdges: Int
    /// Every edge shared by two triangles is traversed in opposite
    /// directions by them, so the normals agree.
    public var windingConsistent: Bool
    /// Sets of triangles connected through shared edges.
    public var components: Int
    /// Triangles with zero area (repeated vertices or collinear corners).
    public var degenerateTriangles: Int
    /// The unit the file declares for its coordinates (`millimeter`,
    /// `meter`, ...), or `unitless` for formats that have none (OBJ, STL,
    /// PLY, OFF): bounds, area and volume above are in that unit.
    public var unit: String
    /// Bounding-box size (x, y, z) in millimetres; nil when unitless.
    public var sizeMillimeters: [Double]?
    /// Surface area in mm²; nil when unitless.
    public var surfaceAreaSquareMillimeters: Double?
    /// Volume in mm³; nil when unitless.
    public var volumeCubicMillimeters: Double?
    /// For a zip upload, the model's path inside the archive.
    public var packagePath: String?
}

/// Bounds as JSON-friendly arrays.
public struct AnalysisBounds: Sendable, Equatable, Codable {
    public var min: [Double]
    public var max: [Double]

    public init(min: [Double], max: [Double]) {
        self.min = min
        self.max = max
    }
}

extension MeshAnalysis {
    /// Analyzes `mesh`. Linear in its size apart from one sort of the edges;
    /// about a second for 2 million triangles in release builds.
    public init(model: ImportedModel) {
        self.init(mesh: model.mesh, format: model.format, unit: model.unit)
        packagePath = model.packagePath
    }

    /// Analyzes `mesh`, whose coordinates are in `unit` (nil: unitless).
    public init(mesh: Mesh, format: ModelFormat? = nil, unit: LengthUnit? = nil) {
        self.format = format?.rawValue
        vertices = mesh.vertexCount
        triangles = mesh.triangleCount
        let box = mesh.bounds ?? Bounds(min: .zero, max: .zero)
        bounds = AnalysisBounds(
            min: [Double(box.min.x), Double(box.min.y), Double(box.min.z)],
            max: [Double(box.max.x), Double(box.max.y), Double(box.max.z)])

        var area = 0.0
        var signedVolume = 0.0
        var degenerate = 0
        // Accumulate in Double around the box center: float sums over
        // millions of triangles far from the origin would lose digits.
        let center = SIMD3<Double>(box.center)
        for t in 0..<mesh.triangleCount {
            let (pa, pb, pc) = mesh.triangle(t)
            let a = SIMD3<Double>(pa) - center
            let b = SIMD3<Double>(pb) - center
            let c = SIMD3<Double>(pc) - center
            let n = crossD(b - a, c - a)
            let twiceArea = (n * n).sum().squareRoot()
            if twiceArea == 0 { degenerate += 1 }
            area += 0.5 * twiceArea
            signedVolume += (a * crossD(b, c)).sum() / 6
        }
        surfaceArea = area
        volume = abs(signedVolume)
        degenerateTriangles = degenerate

        let topology = EdgeTopology(indices: mesh.indices)
        boundaryEdges = topology.boundaryEdges
        nonManifoldEdges = topology.nonManifoldEdges
        windingConsistent = topology.windingConsistent
        components = topology.components
        watertight = topology.boundaryEdges == 0 && topology.nonManifoldEdges == 0

        self.unit = unit?.rawValue ?? "unitless"
        if let scale = unit?.millimeters {
            sizeMillimeters = (0..<3).map { (bounds.max[$0] - bounds.min[$0]) * scale }
            surfaceAreaSquareMillimeters = area * scale * scale
            volumeCubicMillimeters = volume * scale * scale * scale
        }
    }
}

extension SIMD3 where Scalar == Double {
    init(_ v: SIMD3<Float>) { self.init(Double(v.x), Double(v.y), Double(v.z)) }
}

@inline(__always)
func crossD(_ a: SIMD3<Double>, _ b: SIMD3<Double>) -> SIMD3<Double> {
    SIMD3(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x)
}
