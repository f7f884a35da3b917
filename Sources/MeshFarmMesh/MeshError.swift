/// Why a model cannot be used, worded for the person who uploaded it.
///
/// Every way an input can be wrong maps to one case; ``description`` is the
/// message shown in job reports and CLI output.
public enum MeshError: Error, Sendable, Equatable, Codable, CustomStringConvertible {
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
    /// The importer ran out of memory (an allocation failed).
    case outOfMemory
    /// The contained importer died from a signal (a crash in a C importer).
    case importCrashed(signal: String)
    /// The contained importer went over its memory limit (or was chosen by
    /// the kernel's out-of-memory killer).
    case importMemoryExceeded(limitBytes: Int)
    /// The contained importer ran longer than its wall-clock limit.
    case importTimedOut(seconds: Double)
    /// The contained importer used more CPU time than its limit.
    case importCPUExceeded(seconds: Double)

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
        case .outOfMemory: "the import ran out of memory"
        case .importCrashed(let signal): "the importer crashed on this file (\(signal))"
        case .importMemoryExceeded(let limit): "import exceeded its \(Self.bytes(limit)) memory limit"
        case .importTimedOut(let seconds): "import took longer than \(Self.duration(seconds))"
        case .importCPUExceeded(let seconds): "import used more than \(Self.duration(seconds)) of CPU time"
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
        case .outOfMemory, .importMemoryExceeded: "import-memory-limit"
        case .importCrashed: "import-crashed"
        case .importTimedOut: "import-timeout"
        case .importCPUExceeded: "import-cpu-limit"
        }
    }

    /// "8 GiB", "512 MiB", "1.5 GiB".
    static func bytes(_ count: Int) -> String {
        let units = ["bytes", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        let text = value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
        return "\(text) \(units[unit])"
    }

    /// "10 minutes", "90 seconds", "1.5 hours".
    static func duration(_ seconds: Double) -> String {
        func format(_ value: Double, _ unit: String) -> String {
            let text = value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
            return "\(text) \(unit)\(value == 1 ? "" : "s")"
        }
        if seconds >= 3600, seconds.truncatingRemainder(dividingBy: 360) == 0 { return format(seconds / 3600, "hour") }
        if seconds >= 60, seconds.truncatingRemainder(dividingBy: 6) == 0 { return format(seconds / 60, "minute") }
        return format(seconds, "second")
    }
}
