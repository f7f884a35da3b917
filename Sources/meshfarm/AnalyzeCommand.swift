import ArgumentParser
import Foundation
import Logging
import MeshFarmMesh
import MeshFarmSandbox

/// How the mesh subcommands import a model: the limits checked before
/// allocating, and the containment (a child process with memory, CPU and
/// wall-time limits) every import runs in, as in the farm's CPU workers.
struct ImportOptions: ParsableArguments {
    @Option(help: "Reject files larger than this many bytes.")
    var maxBytes: Int = ImportLimits().maxFileBytes

    @Option(help: "Reject models with more triangles than this.")
    var maxTriangles: Int = ImportLimits().maxTriangles

    @OptionGroup var containment: ImportContainmentOptions

    var limits: ImportLimits { ImportLimits(maxFileBytes: maxBytes, maxTriangles: maxTriangles) }

    /// Imports `model` contained, packed with its side files first if it names any.
    func load(_ model: String) throws -> ImportedModel {
        let packed = try PackedModel(model)
        defer { packed.cleanUp() }
        var imported = try importer().load(path: packed.path)
        imported.packagePath = nil  // a zip the command made, not the user's
        return imported
    }

    /// The contained importer for a process running `concurrency` imports at once.
    func importer(concurrency: Int = 1) throws -> ContainedImporter {
        var logger = Logger(label: "meshfarm.import")
        logger.logLevel = .error  // the command prints the reason itself
        return ContainedImporter(
            containment: try containment.containment(concurrency: concurrency), limits: limits, logger: logger)
    }
}

/// `meshfarm analyze FILE`: imports, validates and prints the analysis JSON.
struct AnalyzeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze",
        abstract: "Check a model and print its analysis as JSON.",
        discussion: """
            Prints format, vertices (after welding identical positions), triangles, bounds, \
            surfaceArea, volume, watertight, boundaryEdges, nonManifoldEdges, windingConsistent, \
            components, degenerateTriangles and unit (with sizes in millimetres when the format \
            declares a unit). The import runs in a child process with memory, CPU and time limits. \
            An unusable file exits 1 with the reason on stderr.
            """)

    @Argument(help: "Model file (OBJ, STL, PLY, glTF/GLB, 3MF, OFF, COLLADA, FBX, or a .zip of one with its files).")
    var file: String

    @OptionGroup var importOptions: ImportOptions

    func run() throws {
        let model = try CLI.reportingErrors { try importOptions.load(file) }
        try CLI.printJSON(MeshAnalysis(model: model))
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

    /// Runs `body`; a ``MeshError`` (or an importer that cannot run)
    /// becomes a one-line message and exit code 1.
    static func reportingErrors<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as MeshError {
            FileHandle.standardError.write(Data("error: \(error.description)\n".utf8))
            throw ExitCode.failure
        } catch let error as ContainedImportError {
            FileHandle.standardError.write(Data("error: \(error.description)\n".utf8))
            throw ExitCode.failure
        }
    }
}
