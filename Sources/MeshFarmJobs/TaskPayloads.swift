import MeshFarmMessaging

// The payloads the coordinator puts in task envelopes and the results
// workers return, one pair per task kind, each carried with its type
// (`TaskPayload`, `TaskResult`) and decoded once, straight from the
// message. Artifacts are referenced by SHA-256 (hex): messages never carry
// mesh or image bytes.
//
// A model's analysis and a camera are documents this module only passes
// on (into reports): they stay `JSONValue`, so that this module (used by
// the submit service) depends on neither the mesh nor the render library.

/// What a task of each kind gets. On the wire: the inner struct's fields;
/// the envelope's `kind` says which.
public typealias TaskPayload = ByKind<
    AnalyzePayload, ReducePayload, RenderPayload, FinalizePayload, PartitionPayload, ReducePartPayload,
    StitchPayload
>

/// What a task of each kind returns. On the wire: the inner struct's
/// fields. A stitch ends a split level with the result a reduce has.
public typealias TaskResult = ByKind<
    AnalyzeResult, ReduceResult, RenderResult, FinalizeResult, PartitionResult, ReducePartResult, ReduceResult
>

/// One value per task kind, whose type the kind decides: the shape of both
/// ``TaskPayload`` and ``TaskResult``. Encoded as the inner value alone;
/// read back by the kind its message names.
public enum ByKind<
    Analyze: Codable & Sendable & Equatable, Reduce: Codable & Sendable & Equatable,
    Render: Codable & Sendable & Equatable, Finalize: Codable & Sendable & Equatable,
    Partition: Codable & Sendable & Equatable, ReducePart: Codable & Sendable & Equatable,
    Stitch: Codable & Sendable & Equatable
>: TaskContent {
    case analyze(Analyze)
    case reduce(Reduce)
    case render(Render)
    case finalize(Finalize)
    case partition(Partition)
    case reducePart(ReducePart)
    case stitch(Stitch)

    public var kind: TaskKind {
        switch self {
        case .analyze: .analyze
        case .reduce: .reduce
        case .render: .render
        case .finalize: .finalize
        case .partition: .partition
        case .reducePart: .reducePart
        case .stitch: .stitch
        }
    }

    public init(kind: String?, taskID: String, from decoder: any Decoder) throws {
        switch try TaskKind.named(kind, taskID: taskID, codingPath: decoder.codingPath) {
        case .analyze: self = .analyze(try Analyze(from: decoder))
        case .reduce: self = .reduce(try Reduce(from: decoder))
        case .render: self = .render(try Render(from: decoder))
        case .finalize: self = .finalize(try Finalize(from: decoder))
        case .partition: self = .partition(try Partition(from: decoder))
        case .reducePart: self = .reducePart(try ReducePart(from: decoder))
        case .stitch: self = .stitch(try Stitch(from: decoder))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .analyze(let value): try value.encode(to: encoder)
        case .reduce(let value): try value.encode(to: encoder)
        case .render(let value): try value.encode(to: encoder)
        case .finalize(let value): try value.encode(to: encoder)
        case .partition(let value): try value.encode(to: encoder)
        case .reducePart(let value): try value.encode(to: encoder)
        case .stitch(let value): try value.encode(to: encoder)
        }
    }

    public var analyze: Analyze? { if case .analyze(let value) = self { value } else { nil } }
    public var reduce: Reduce? { if case .reduce(let value) = self { value } else { nil } }
    public var render: Render? { if case .render(let value) = self { value } else { nil } }
    public var finalize: Finalize? { if case .finalize(let value) = self { value } else { nil } }
    public var partition: Partition? { if case .partition(let value) = self { value } else { nil } }
    public var reducePart: ReducePart? { if case .reducePart(let value) = self { value } else { nil } }
    public var stitch: Stitch? { if case .stitch(let value) = self { value } else { nil } }
}

extension TaskKind {
    /// The kind a message names, or, without one (an event of an older
    /// worker), the kind in its task id.
    static func named(_ kind: String?, taskID: String, codingPath: [any CodingKey]) throws -> TaskKind {
        if let kind, let value = TaskKind(rawValue: kind) { return value }
        if kind == nil, let id = TaskID(taskID) { return id.kind }
        throw DecodingError.dataCorrupted(
            .init(codingPath: codingPath, debugDescription: "unknown task kind '\(kind ?? taskID)'"))
    }
}

/// Axis-aligned bounds as arrays, as in `meshfarm analyze`.
public struct BoundsValue: Sendable, Equatable, Codable {
    public var min: [Double]
    public var max: [Double]

    public init(min: [Double], max: [Double]) {
        self.min = min
        self.max = max
    }
}

public struct AnalyzePayload: Sendable, Equatable, Codable {
    /// The uploaded model.
    public var model: String
    /// Its original file name (the extension is a hint; content decides).
    public var fileName: String

    public init(model: String, fileName: String) {
        self.model = model
        self.fileName = fileName
    }
}

public struct AnalyzeResult: Sendable, Equatable, Codable {
    /// The fields of `meshfarm analyze`.
    public var analysis: JSONValue
    /// The welded mesh as a MeshFarm mesh artifact.
    public var mesh: String
    /// The welded mesh exported as OBJ (level of detail ratio 1).
    public var obj: String
    public var triangles: Int
    public var bounds: BoundsValue

    public init(analysis: JSONValue, mesh: String, obj: String, triangles: Int, bounds: BoundsValue) {
        self.analysis = analysis
        self.mesh = mesh
        self.obj = obj
        self.triangles = triangles
        self.bounds = bounds
    }
}

public struct ReducePayload: Sendable, Equatable, Codable {
    public var mesh: String
    public var lod: Int
    public var ratio: Double

    public init(mesh: String, lod: Int, ratio: Double) {
        self.mesh = mesh
        self.lod = lod
        self.ratio = ratio
    }
}

public struct ReduceResult: Sendable, Equatable, Codable {
    public var lod: Int
    public var ratio: Double
    public var triangles: Int
    public var targetTriangles: Int
    public var error: Double
    public var errorAbsolute: Double
    /// `simplify` or `sloppy`.
    public var method: String
    public var mesh: String
    public var obj: String

    public init(
        lod: Int, ratio: Double, triangles: Int, targetTriangles: Int, error: Double, errorAbsolute: Double,
        method: String, mesh: String, obj: String
    ) {
        self.lod = lod
        self.ratio = ratio
        self.triangles = triangles
        self.targetTriangles = targetTriangles
        self.error = error
        self.errorAbsolute = errorAbsolute
        self.method = method
        self.mesh = mesh
        self.obj = obj
    }
}

public struct RenderPayload: Sendable, Equatable, Codable {
    public var mesh: String
    public var lod: Int
    public var firstView: Int
    public var viewCount: Int
    /// Views in the whole turntable (azimuth step = 360 / views).
    public var views: Int
    public var size: Int
    public var elevation: Double
    public var ssaa: Int
    public var depth: Bool
    public var normals: Bool
    /// The original model's bounds: every level is framed alike.
    public var bounds: BoundsValue

    public init(
        mesh: String, lod: Int, firstView: Int, viewCount: Int, views: Int, size: Int, elevation: Double, ssaa: Int,
        depth: Bool, normals: Bool, bounds: BoundsValue
    ) {
        self.mesh = mesh
        self.lod = lod
        self.firstView = firstView
        self.viewCount = viewCount
        self.views = views
        self.size = size
        self.elevation = elevation
        self.ssaa = ssaa
        self.depth = depth
        self.normals = normals
        self.bounds = bounds
    }
}

public struct RenderedViewResult: Sendable, Equatable, Codable {
    public var index: Int
    public var image: String
    public var depth: String?
    public var normals: String?
    /// The camera as written to views.json (eye, target, up, fovY, width,
    /// height, near, far).
    public var camera: JSONValue

    public init(index: Int, image: String, depth: String? = nil, normals: String? = nil, camera: JSONValue) {
        self.index = index
        self.image = image
        self.depth = depth
        self.normals = normals
        self.camera = camera
    }
}

public struct RenderResult: Sendable, Equatable, Codable {
    public var lod: Int
    public var views: [RenderedViewResult]

    public init(lod: Int, views: [RenderedViewResult]) {
        self.lod = lod
        self.views = views
    }
}

public struct FinalizePayload: Sendable, Equatable, Codable {
    /// Image artifacts, one row per level of detail, in view order.
    public var rows: [[String]]
    /// Width and height of one contact-sheet cell, pixels.
    public var cellSize: Int
    /// A label per row: its level and triangle count. Added as an optional
    /// key: a worker of the previous release draws the sheet without them.
    public var labels: [String]?

    public init(rows: [[String]], cellSize: Int, labels: [String]? = nil) {
        self.rows = rows
        self.cellSize = cellSize
        self.labels = labels
    }
}

public struct FinalizeResult: Sendable, Equatable, Codable {
    public var contactSheet: String

    public init(contactSheet: String) { self.contactSheet = contactSheet }
}

// MARK: - A split reduction (partition, reduce-part, stitch)

public struct PartitionPayload: Sendable, Equatable, Codable {
    /// The analyzed (welded) mesh.
    public var mesh: String
    /// How many spatial parts to cut it into.
    public var parts: Int

    public init(mesh: String, parts: Int) {
        self.mesh = mesh
        self.parts = parts
    }
}

/// One part of a partitioned mesh.
public struct PartInfo: Sendable, Equatable, Codable {
    /// The part's artifact (a MeshFarm part: its vertices on a cut first).
    public var part: String
    public var triangles: Int
    public var vertices: Int
    /// Vertices it shares with other parts.
    public var cutVertices: Int

    public init(part: String, triangles: Int, vertices: Int, cutVertices: Int) {
        self.part = part
        self.triangles = triangles
        self.vertices = vertices
        self.cutVertices = cutVertices
    }
}

public struct PartitionResult: Sendable, Equatable, Codable {
    public var parts: [PartInfo]

    public init(parts: [PartInfo]) { self.parts = parts }
}

public struct ReducePartPayload: Sendable, Equatable, Codable {
    public var part: String
    public var lod: Int
    /// Which part (its place in the partition's result).
    public var index: Int
    public var ratio: Double

    public init(part: String, lod: Int, index: Int, ratio: Double) {
        self.part = part
        self.lod = lod
        self.index = index
        self.ratio = ratio
    }
}

public struct ReducePartResult: Sendable, Equatable, Codable {
    public var lod: Int
    public var index: Int
    public var triangles: Int
    public var targetTriangles: Int
    /// meshoptimizer's error in model units (each part's own relative
    /// error refers to the part's own size).
    public var errorAbsolute: Double
    /// The reduced part's artifact (its cut vertices first, all kept).
    public var part: String

    public init(lod: Int, index: Int, triangles: Int, targetTriangles: Int, errorAbsolute: Double, part: String) {
        self.lod = lod
        self.index = index
        self.triangles = triangles
        self.targetTriangles = targetTriangles
        self.errorAbsolute = errorAbsolute
        self.part = part
    }
}

public struct StitchPayload: Sendable, Equatable, Codable {
    /// The reduced parts, in part order.
    public var parts: [String]
    public var lod: Int
    public var ratio: Double
    /// The level's triangle count: the ratio of the whole model's.
    public var targetTriangles: Int
    /// The parts' largest error, model units.
    public var partsErrorAbsolute: Double

    public init(parts: [String], lod: Int, ratio: Double, targetTriangles: Int, partsErrorAbsolute: Double) {
        self.parts = parts
        self.lod = lod
        self.ratio = ratio
        self.targetTriangles = targetTriangles
        self.partsErrorAbsolute = partsErrorAbsolute
    }
}
