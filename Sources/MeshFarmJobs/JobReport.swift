import Foundation
import MeshFarmMessaging

/// A file of a job's output directory and the artifact holding it.
public struct OutputFile: Sendable, Equatable, Codable {
    /// Path relative to the output directory (`lod1.obj`, `views/lod0-view3.png`).
    public var path: String
    public var sha256: String
}

/// `report.json`: everything a user or a script needs about a finished (or
/// failed) job. The same document for `meshfarm run` and `meshfarm fetch`.
public struct JobReport: Sendable, Equatable, Codable {
    public struct LOD: Sendable, Equatable, Codable {
        public var index: Int
        public var ratio: Double
        public var triangles: Int
        public var error: Double
        public var errorAbsolute: Double
        public var method: String
        public var file: String
        /// Parts it was reduced in, when split across workers.
        public var parts: Int?
    }

    public struct View: Sendable, Equatable, Codable {
        public var lod: Int
        public var index: Int
        public var file: String
        public var depth: String?
        public var normals: String?
        public var camera: JSONValue
    }

    public struct Timings: Sendable, Equatable, Codable {
        /// Submission to the end of the last task.
        public var wallSeconds: Double
        /// Sum of the handlers' run times over every attempt.
        public var computeSeconds: Double
    }

    public var job: String
    public var status: String
    public var error: String?
    /// The analysis of the input plus `file` and `sha256`.
    public var input: JSONValue?
    public var lods: [LOD]
    public var views: [View]
    public var contactSheet: String?
    public var tasks: [TaskView]
    public var timings: Timings

    /// The report of `job` and the files that go with it.
    public init(job: JobRecord, now: Date = Date()) {
        self.job = job.id
        status = job.status.rawValue
        error = job.error
        let analysis = job.analysisResult
        if let analysis, case .object(var fields) = analysis.analysis {
            fields["file"] = .string(job.fileName)
            fields["sha256"] = .string(job.model)
            input = .object(fields)
        } else {
            input = .object(["file": .string(job.fileName), "sha256": .string(job.model)])
        }
        lods = job.spec.lodRatios.enumerated().compactMap { lod, ratio in
            if ratio == 1 {
                guard let analysis else { return nil }
                return LOD(
                    index: lod, ratio: 1, triangles: analysis.triangles, error: 0, errorAbsolute: 0, method: "none",
                    file: "lod\(lod).obj")
            }
            guard let reduced = job.reduceResult(lod: lod) else { return nil }
            return LOD(
                index: lod, ratio: ratio, triangles: reduced.triangles, error: reduced.error,
                errorAbsolute: reduced.errorAbsolute, method: reduced.method, file: "lod\(lod).obj",
                parts: job.splitParts(lod: lod))
        }
        views = job.renderedViews().map { lod, view in
            View(
                lod: lod, index: view.index, file: Self.viewPath(lod: lod, index: view.index),
                depth: view.depth.map { _ in Self.viewPath(lod: lod, index: view.index, suffix: "-depth.pfm") },
                normals: view.normals.map { _ in Self.viewPath(lod: lod, index: view.index, suffix: "-normals.png") },
                camera: view.camera)
        }.sorted { ($0.lod, $0.index) < ($1.lod, $1.index) }
        contactSheet = job.finalizeResult.map { _ in "contact-sheet.png" }
        tasks = job.tasks.map(TaskView.init)
        let end = job.finishedAt ?? job.tasks.compactMap(\.finishedAt).max() ?? now
        timings = Timings(
            wallSeconds: max(0, end.timeIntervalSince(job.createdAt)),
            computeSeconds: job.tasks.reduce(0) { $0 + $1.computeSeconds })
    }

    static func viewPath(lod: Int, index: Int, suffix: String = ".png") -> String {
        "views/lod\(lod)-view\(index)\(suffix)"
    }

    /// The artifact files of the output directory (report.json aside).
    public static func outputFiles(_ job: JobRecord) -> [OutputFile] {
        var files: [OutputFile] = []
        if let analysis = job.analysisResult {
            for (lod, ratio) in job.spec.lodRatios.enumerated() where ratio == 1 {
                files.append(OutputFile(path: "lod\(lod).obj", sha256: analysis.obj))
            }
        }
        for (lod, _) in job.spec.lodRatios.enumerated() {
            if let reduced = job.reduceResult(lod: lod) {
                files.append(OutputFile(path: "lod\(lod).obj", sha256: reduced.obj))
            }
        }
        for (lod, view) in job.renderedViews() {
            files.append(OutputFile(path: viewPath(lod: lod, index: view.index), sha256: view.image))
            if let depth = view.depth {
                files.append(
                    OutputFile(path: viewPath(lod: lod, index: view.index, suffix: "-depth.pfm"), sha256: depth))
            }
            if let normals = view.normals {
                files.append(
                    OutputFile(path: viewPath(lod: lod, index: view.index, suffix: "-normals.png"), sha256: normals))
            }
        }
        if let finalize = job.finalizeResult {
            files.append(OutputFile(path: "contact-sheet.png", sha256: finalize.contactSheet))
        }
        return files.sorted { $0.path < $1.path }
    }

    enum CodingKeys: String, CodingKey {
        case job, status, error, input, lods, views, contactSheet, tasks, timings
    }

    /// Writes `error` and `contactSheet` as `null` when absent: every key of
    /// the layout is always present.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(job, forKey: .job)
        try c.encode(status, forKey: .status)
        try c.encode(error, forKey: .error)
        try c.encode(input, forKey: .input)
        try c.encode(lods, forKey: .lods)
        try c.encode(views, forKey: .views)
        try c.encode(contactSheet, forKey: .contactSheet)
        try c.encode(tasks, forKey: .tasks)
        try c.encode(timings, forKey: .timings)
    }

    /// JSON with sorted keys and times in ISO-8601 with milliseconds (``TimeStamps``).
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = TimeStamps.encoding
        return try encoder.encode(self)
    }
}
