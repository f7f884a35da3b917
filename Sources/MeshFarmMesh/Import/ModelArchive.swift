import Foundation
import MeshFarmZip

/// A zip upload holding one model and its side files (`.gltf` + `.bin` +
/// images, `.obj` + `.mtl`): the model file is found by its extension,
/// and the archive is unpacked into a private folder so the importer can
/// resolve side files, confined to that folder.
///
/// Names are checked by ``ZipArchive`` (relative, no `..`, no links, no
/// duplicates) and sizes against the limits before anything is written.
enum ModelArchive {
    /// Extensions of model files looked for inside an archive.
    static let modelExtensions: Set<String> = ["obj", "stl", "ply", "gltf", "glb", "3mf", "off", "dae", "fbx"]

    /// True for entries that are not part of the model: macOS resource forks
    /// (`__MACOSX/`, `._name`) and hidden files.
    static func isClutter(_ name: String) -> Bool {
        name.hasPrefix("__MACOSX/") || name.split(separator: "/").contains { $0.hasPrefix(".") }
    }

    /// The one model file in `archive`; a clear error when there is none or several.
    static func modelEntry(in archive: ZipArchive) throws(MeshError) -> ZipEntry {
        let models = archive.entries.filter { entry in
            !entry.isDirectory && !isClutter(entry.name)
                && modelExtensions.contains((entry.name as NSString).pathExtension.lowercased())
        }
        guard let model = models.first else {
            let names = modelExtensions.sorted().map { ".\($0)" }.joined(separator: ", ")
            throw .malformed(format: "zip", reason: "the archive holds no model file (looked for \(names))")
        }
        guard models.count == 1 else {
            let listed = models.prefix(5).map(\.name).joined(separator: ", ")
            throw .malformed(
                format: "zip",
                reason:
                    "the archive holds \(models.count) model files (\(listed)\(models.count > 5 ? ", ..." : "")): upload one model per archive"
            )
        }
        return model
    }

    /// Unpacks every file of `archive` under `folder` (which must exist).
    static func extract(_ archive: ZipArchive, to folder: URL) throws(MeshError) {
        for entry in archive.entries where !entry.isDirectory && !isClutter(entry.name) {
            let destination = folder.appendingPathComponent(entry.name)
            do {
                try FileManager.default.createDirectory(
                    at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
                try archive.extract(entry, to: destination)
            } catch let error as ZipError {
                throw zipError(error)
            } catch {
                throw .malformed(format: "zip", reason: "cannot unpack '\(entry.name)': \(error)")
            }
        }
    }

    static func zipError(_ error: ZipError) -> MeshError {
        if case .overLimit(let reason) = error { return .malformed(format: "zip", reason: reason) }
        return .malformed(format: "zip", reason: "\(error)")
    }

    /// True when the archive is a 3MF package (OPC content types or package
    /// relationships, or 3D model parts) rather than a zip of model files.
    static func isThreeMF(_ archive: ZipArchive) -> Bool {
        archive.entry(named: "[Content_Types].xml") != nil || archive.entry(named: "_rels/.rels") != nil
            || archive.entries.contains { $0.name.lowercased().hasSuffix(".model") }
    }
}
