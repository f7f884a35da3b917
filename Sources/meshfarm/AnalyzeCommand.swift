import ArgumentParser
import Foundation
import MeshFarmMesh

/// Import limits as command-line options, shared by the mesh subcommands.
struct ImportLimitOptions: ParsableArguments {
    @Option(help: "Reject files larger than this many bytes.")
    var maxBytes: Int = ImportLimits().maxFileBytes

    @Option(help: "Reject models with more triangles than this.")
    var maxTriangles: Int = ImportLimits().maxTriangles

    var limits: ImportLimits { ImportLimits(maxFileBytes: maxBytes, maxTriangles: maxTriangles) }
}

/// `meshfarm analyze FILE`: imports, validates and prints the analysis JSON.
struct AnalyzeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze",
        abstract: "Check a model and print its analysis as JSON.",
        discussion: """
            Prints format, vertices (after welding identical positions), triangles, bounds, \
            surfaceArea, volume, watertight, boundaryEdges, nonManifoldEdges, windingConsistent, \
            components and degenerateTriangles. An unusable file exits 1 with the reason on stderr.
            """)

    @Argument(help: "Model file (OBJ, STL, PLY, glTF/GLB, 3MF, OFF, COLLADA, FBX).")
    var file: String

    @OptionGroup var importLimits: ImportLimitOptions

    func run() throws {
        let model = try CLI.reportingErrors { try MeshImporter(limits: importLimits.limits).load(path: file) }
        try CLI.printJSON(MeshAnalysis(mesh: model.mesh, format: model.format))
    }
}

/// Small helpers shared by the subcommands.
enum CLI {
    /// Pretty JSON with sorted keys, so output diffs cleanly.
    static func printJSON<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    /// Runs `body`; a ``MeshError`` becomes a one-line message and exit code 1.
    static func reportingErrors<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as MeshError {
            FileHandle.standardError.write(Data("error: \(error.description)\n".utf8))
            throw ExitCode.failure
        }
    }
}
