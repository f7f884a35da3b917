/// Why a model cannot be used, worded for the person who uploaded it.
///
/// Every way an input can be wrong maps to one case; ``description`` is the
/// message shown in job reports and CLI output.
public enum MeshError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file does not exist or cannot be read.
    case unreadable(path: String, reason: String)
    /// The path is a directory, not a file.
    case isDirectory(path: String)
    /// The file is empty.
    case emptyFile
    /// The content matches no supported format.
    case unsupportedFormat(detail: String)
    /// The importer rejected the file (truncated, malformed...).
    case malformed(format: String, reason: String)
    /// The file holds no triangles (only points, lines, or nothing).
    case noTriangles
    /// A vertex coordinate is NaN or infinite.
    case nonFiniteCoordinate(vertex: Int)
    /// A triangle references a vertex that does not exist.
    case indexOutOfRange(triangle: Int, index: Int, vertexCount: Int)
    /// The file is larger than the configured limit.
    case fileTooLarge(bytes: Int, limit: Int)
    /// The model has (or claims to have) more triangles than the configured limit.
    case tooManyTriangles(count: Int, limit: Int)
    /// A structural invariant of an in-memory mesh is broken.
    case invalidMesh(String)
    /// A mesh artifact is corrupt or of an unknown version.
    case badArtifact(String)
    /// A reduction or export request is invalid.
    case invalidRequest(String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): "cannot read \(path): \(reason)"
        case .isDirectory(let path): "\(path) is a directory, not a model file"
        case .emptyFile: "the file is empty"
        case .unsupportedFormat(let detail): "unsupported or unrecognized model format: \(detail)"
        case .malformed(let format, let reason): "the \(format) file is malformed: \(reason)"
        case .noTriangles: "the model contains no triangles"
        case .nonFiniteCoordinate(let vertex): "vertex \(vertex) has a NaN or infinite coordinate"
        case .indexOutOfRange(let triangle, let index, let vertexCount):
            "triangle \(triangle) references vertex \(index), but the model has only \(vertexCount) vertices"
        case .fileTooLarge(let bytes, let limit): "the file is \(bytes) bytes, over the limit of \(limit) bytes"
        case .tooManyTriangles(let count, let limit):
            "the model has \(count) triangles, over the limit of \(limit)"
        case .invalidMesh(let reason): "invalid mesh: \(reason)"
        case .badArtifact(let reason): "corrupt mesh artifact: \(reason)"
        case .invalidRequest(let reason): reason
        }
    }

    /// A short stable code for APIs and reports (`no-triangles`, ...).
    public var code: String {
        switch self {
        case .unreadable: "unreadable"
        case .isDirectory: "is-directory"
        case .emptyFile: "empty-file"
        case .unsupportedFormat: "unsupported-format"
        case .malformed: "malformed"
        case .noTriangles: "no-triangles"
        case .nonFiniteCoordinate: "non-finite-coordinate"
        case .indexOutOfRange: "index-out-of-range"
        case .fileTooLarge: "file-too-large"
        case .tooManyTriangles: "too-many-triangles"
        case .invalidMesh: "invalid-mesh"
        case .badArtifact: "bad-artifact"
        case .invalidRequest: "invalid-request"
        }
    }
}
