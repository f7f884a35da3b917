import ArgumentParser
import Foundation
import MeshFarmMesh

/// `meshfarm reduce FILE (--ratio R | --error E) --out OUT`.
struct ReduceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reduce",
        abstract: "Reduce a model's triangle count with meshoptimizer and write the result.",
        discussion: """
            Prints JSON with triangles (achieved), targetTriangles, error (relative to the largest \
            bounding-box side), errorAbsolute (model units) and method (simplify, or sloppy when \
            simplify cannot get within 1.5x of the target). The output format follows OUT's \
            extension: .obj, .ply, .stl or .glb.
            """)

    @Argument(help: "Model file to reduce.")
    var file: String

    @Option(help: "Fraction of triangles to keep, in (0, 1].")
    var ratio: Double?

    @Option(help: "Largest allowed error, relative to the largest bounding-box side (e.g. 0.01).")
    var error: Double?

    @Flag(help: "Keep open borders in place (for pieces stitched back together later).")
    var lockBorder = false

    @Option(help: "Output file: .obj, .ply, .stl or .glb.")
    var out: String

    @OptionGroup var importOptions: ImportOptions

    func validate() throws {
        guard (ratio == nil) != (error == nil) else { throw ValidationError("give exactly one of --ratio or --error") }
        if let ratio, !(ratio > 0 && ratio <= 1) { throw ValidationError("--ratio must be in (0, 1], got \(ratio)") }
        if let error, !(error >= 0 && error.isFinite) { throw ValidationError("--error must be >= 0, got \(error)") }
        _ = try CLI.reportingErrors { try MeshExporter.Format(path: out) }
    }

    func run() throws {
        let result = try CLI.reportingErrors {
            let model = try importOptions.load(file)
            let target: Simplifier.Target = ratio.map { .ratio($0) } ?? .error(error!)
            return try Simplifier(lockBorder: lockBorder).simplify(model.mesh, to: target)
        }
        try MeshExporter.write(result.mesh, to: out)
        try CLI.printJSON(ReductionReport(result, file: out))
    }
}

/// The JSON printed by `meshfarm reduce`.
struct ReductionReport: Encodable {
    var triangles: Int
    var targetTriangles: Int
    var vertices: Int
    var error: Double
    var errorAbsolute: Double
    var method: String
    var file: String

    init(_ result: Simplifier.Result, file: String) {
        triangles = result.mesh.triangleCount
        targetTriangles = result.targetTriangles
        vertices = result.mesh.vertexCount
        error = result.error
        errorAbsolute = result.errorAbsolute
        method = result.method.rawValue
        self.file = file
    }
}
