/// What a user asks of one model: levels of detail, pictures and priority.
public struct JobSpec: Sendable, Equatable, Codable {
    /// Fractions of the original triangles, one level of detail each; 1 is
    /// the original (no reduction task). Default 1, 0.25, 0.05.
    public var lodRatios: [Double]
    /// Turntable views rendered per level of detail.
    public var viewsPerLOD: Int
    /// Width and height of each view, pixels.
    public var imageSize: Int
    /// Camera elevation, degrees above the horizon.
    public var elevation: Double
    /// Supersampling per axis: 1, 2 or 4.
    public var ssaa: Int
    /// Also write linear depth (PFM) per view.
    public var depth: Bool
    /// Also write world-space normals (PNG) per view.
    public var normals: Bool
    /// Views rendered by one GPU task: fewer messages with more, idler
    /// workers with fewer (the trade-off of Celery's `chunks`).
    public var viewsPerTask: Int
    /// 0 (default) to 9: higher runs first.
    public var priority: Int
    /// A model with more triangles has each reduced level split across
    /// workers (partition, reduce-part, stitch). Nil: the service's
    /// default (`--split-above`, 2,000,000).
    public var splitAbove: Int?
    /// About how many triangles each part of a split holds. Nil: the
    /// service's default (`--part-triangles`, 1,000,000).
    public var partTriangles: Int?

    public init(
        lodRatios: [Double] = [1, 0.25, 0.05], viewsPerLOD: Int = 8, imageSize: Int = 512, elevation: Double = 20,
        ssaa: Int = 1, depth: Bool = false, normals: Bool = false, viewsPerTask: Int = 4, priority: Int = 0,
        splitAbove: Int? = nil, partTriangles: Int? = nil
    ) {
        self.lodRatios = lodRatios
        self.viewsPerLOD = viewsPerLOD
        self.imageSize = imageSize
        self.elevation = elevation
        self.ssaa = ssaa
        self.depth = depth
        self.normals = normals
        self.viewsPerTask = viewsPerTask
        self.priority = priority
        self.splitAbove = splitAbove
        self.partTriangles = partTriangles
    }

    /// Accepts JSON with any subset of the fields; missing ones take their
    /// defaults, so `{}` is the default spec.
    public init(from decoder: Decoder) throws {
        let defaults = JobSpec()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        lodRatios = try c.decodeIfPresent([Double].self, forKey: .lodRatios) ?? defaults.lodRatios
        viewsPerLOD = try c.decodeIfPresent(Int.self, forKey: .viewsPerLOD) ?? defaults.viewsPerLOD
        imageSize = try c.decodeIfPresent(Int.self, forKey: .imageSize) ?? defaults.imageSize
        elevation = try c.decodeIfPresent(Double.self, forKey: .elevation) ?? defaults.elevation
        ssaa = try c.decodeIfPresent(Int.self, forKey: .ssaa) ?? defaults.ssaa
        depth = try c.decodeIfPresent(Bool.self, forKey: .depth) ?? defaults.depth
        normals = try c.decodeIfPresent(Bool.self, forKey: .normals) ?? defaults.normals
        viewsPerTask = try c.decodeIfPresent(Int.self, forKey: .viewsPerTask) ?? defaults.viewsPerTask
        priority = try c.decodeIfPresent(Int.self, forKey: .priority) ?? defaults.priority
        splitAbove = try c.decodeIfPresent(Int.self, forKey: .splitAbove)
        partTriangles = try c.decodeIfPresent(Int.self, forKey: .partTriangles)
    }

    /// Checks every field; the error names the field and the accepted range.
    public func validate() throws(JobSpecError) {
        guard !lodRatios.isEmpty, lodRatios.count <= 8 else {
            throw .invalid("lodRatios", "give 1 to 8 ratios, got \(lodRatios.count)")
        }
        for ratio in lodRatios where !(ratio > 0 && ratio <= 1) {
            throw .invalid("lodRatios", "each ratio must be in (0, 1], got \(ratio)")
        }
        guard Set(lodRatios).count == lodRatios.count else { throw .invalid("lodRatios", "ratios must be distinct") }
        guard (1...64).contains(viewsPerLOD) else {
            throw .invalid("viewsPerLOD", "must be 1...64, got \(viewsPerLOD)")
        }
        guard (16...4096).contains(imageSize) else {
            throw .invalid("imageSize", "must be 16...4096, got \(imageSize)")
        }
        guard elevation.isFinite, (-89...89).contains(elevation) else {
            throw .invalid("elevation", "must be -89...89 degrees, got \(elevation)")
        }
        guard [1, 2, 4].contains(ssaa) else { throw .invalid("ssaa", "must be 1, 2 or 4, got \(ssaa)") }
        guard (1...viewsPerLOD).contains(viewsPerTask) else {
            throw .invalid("viewsPerTask", "must be 1...viewsPerLOD (\(viewsPerLOD)), got \(viewsPerTask)")
        }
        guard (0...9).contains(priority) else { throw .invalid("priority", "must be 0...9, got \(priority)") }
        if let splitAbove, splitAbove < 0 {
            throw .invalid("splitAbove", "must be a triangle count of 0 or more, got \(splitAbove)")
        }
        if let partTriangles, partTriangles < Self.minimumPartTriangles {
            throw .invalid(
                "partTriangles", "must be at least \(Self.minimumPartTriangles) triangles, got \(partTriangles)")
        }
    }

    /// Smaller parts would cost more in messages and seams than they save.
    public static let minimumPartTriangles = 1000
    /// The service's defaults for ``splitAbove`` and ``partTriangles``.
    public static let defaultSplitAbove = 2_000_000
    public static let defaultPartTriangles = 1_000_000

    /// This spec with the service's split defaults where it names none.
    public func withSplitDefaults(splitAbove: Int, partTriangles: Int) -> JobSpec {
        var spec = self
        spec.splitAbove = spec.splitAbove ?? splitAbove
        spec.partTriangles = spec.partTriangles ?? partTriangles
        return spec
    }
}

/// A spec field out of range.
public enum JobSpecError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalid(_ field: String, _ reason: String)

    public var description: String {
        switch self {
        case .invalid(let field, let reason): "\(field): \(reason)"
        }
    }

    public var field: String {
        switch self {
        case .invalid(let field, _): field
        }
    }
}
