import Foundation
import MeshFarmMesh

/// The child side of a contained import: the whole program of
/// `meshfarm-import`. It imports one file in-process with ``MeshImporter``
/// and writes the mesh artifact and a report where the parent asked; the
/// limits were set by the parent before this program started.
///
///     meshfarm-import MODEL --artifact FILE --report FILE [--scratch DIR] [--limits JSON]
public enum ImportChild {
    public static func main(_ arguments: [String]) -> Int32 {
        var model: String?
        var artifact: String?
        var report: String?
        var scratch: String?
        var limits = ImportLimits()
        var rest = arguments.dropFirst()[...]
        while let argument = rest.popFirst() {
            switch argument {
            case "--artifact": artifact = rest.popFirst()
            case "--report": report = rest.popFirst()
            case "--scratch": scratch = rest.popFirst()
            case "--limits":
                guard let json = rest.popFirst(),
                    let parsed = try? JSONDecoder().decode(ImportLimits.self, from: Data(json.utf8))
                else { return usage("--limits needs the limits as JSON") }
                limits = parsed
            default:
                guard model == nil, !argument.hasPrefix("--") else { return usage("unexpected argument \(argument)") }
                model = argument
            }
        }
        guard let model, let artifact, let report else { return usage("MODEL, --artifact and --report are required") }
        var importer = MeshImporter(limits: limits)
        if let scratch { importer.scratchDirectory = URL(fileURLWithPath: scratch) }
        let outcome: ImportChildReport
        let code: Int32
        do {
            let imported = try importer.load(path: model)
            try MeshArtifact.write(imported.mesh, to: artifact)
            outcome = ImportChildReport(
                success: .init(
                    format: imported.format, fileBytes: imported.fileBytes, unit: imported.unit,
                    packagePath: imported.packagePath))
            code = ImportChildReport.ExitCode.imported
        } catch let error as MeshError {
            if error == .outOfMemory { return ImportChildReport.ExitCode.outOfMemory }
            outcome = ImportChildReport(error: error)
            code = ImportChildReport.ExitCode.rejected
        } catch {
            FileHandle.standardError.write(Data("cannot write \(artifact): \(error)\n".utf8))
            return 4
        }
        do {
            try JSONEncoder().encode(outcome).write(to: URL(fileURLWithPath: report))
        } catch {
            FileHandle.standardError.write(Data("cannot write \(report): \(error)\n".utf8))
            return 4
        }
        return code
    }

    static func usage(_ message: String) -> Int32 {
        FileHandle.standardError.write(
            Data(
                "meshfarm-import: \(message)\nusage: meshfarm-import MODEL --artifact FILE --report FILE [--scratch DIR] [--limits JSON]\n"
                    .utf8))
        return ImportChildReport.ExitCode.usage
    }
}
