import Foundation
import MeshFarmZip

/// Packs a model that comes as several files (a `.gltf` with its `.bin`
/// buffers and images, an `.obj` with its `.mtl` libraries and their
/// textures) into one zip, the form the farm accepts: the client sends
/// one upload, and the importer unpacks it into a confined folder.
///
/// Only side files inside the model's folder are taken (relative paths, no
/// `..` out of it, no URLs); a reference to anything else is left out, and
/// the importer will report it.
public enum ModelPackage {
    /// The side files `path` names that exist inside its folder, as paths
    /// relative to that folder; empty for a self-contained model.
    public static func sideFiles(of path: String) -> [String] {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().standardizedFileURL.path
        var found: [String] = []
        func take(_ reference: String, from base: String) {
            let decoded = reference.removingPercentEncoding ?? reference
            guard !decoded.isEmpty, !decoded.contains(":"), !decoded.hasPrefix("/") else { return }
            let full = URL(fileURLWithPath: base).appendingPathComponent(
                decoded.replacingOccurrences(of: "\\", with: "/")
            )
            .standardizedFileURL.path
            guard full.hasPrefix(folder + "/"), FileManager.default.isReadableFile(atPath: full) else { return }
            let relative = String(full.dropFirst(folder.count + 1))
            if !found.contains(relative) { found.append(relative) }
        }
        switch (path as NSString).pathExtension.lowercased() {
        case "gltf":
            guard let data = FileManager.default.contents(atPath: path),
                let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            else { return [] }
            for key in ["buffers", "images"] {
                for item in json[key] as? [[String: Any]] ?? [] {
                    if let uri = item["uri"] as? String { take(uri, from: folder) }
                }
            }
        case "obj":
            for line in lines(of: path, keywords: ["mtllib"]) {
                for name in line.split(separator: " ") { take(String(name), from: folder) }
            }
            for library in found where library.lowercased().hasSuffix(".mtl") {
                let libraryPath = (folder as NSString).appendingPathComponent(library)
                let base = (libraryPath as NSString).deletingLastPathComponent
                let textures: Set = [
                    "map_Kd", "map_Ka", "map_Ks", "map_Ns", "map_d", "map_bump", "bump", "disp", "decal", "norm",
                ]
                // The file name is the last word (options such as "-s 1 1 1" come first).
                for line in lines(of: libraryPath, keywords: textures) {
                    if let name = line.split(separator: " ").last { take(String(name), from: base) }
                }
            }
        default:
            break
        }
        return found
    }

    /// A zip of the model and its side files, or nil when it has none.
    public static func pack(_ path: String) throws -> Data? {
        let sides = sideFiles(of: path)
        guard !sides.isEmpty else { return nil }
        let folder = (path as NSString).deletingLastPathComponent
        var writer = ZipWriter()
        try writer.add((path as NSString).lastPathComponent, try Data(contentsOf: URL(fileURLWithPath: path)))
        for side in sides {
            try writer.add(
                side, try Data(contentsOf: URL(fileURLWithPath: (folder as NSString).appendingPathComponent(side))))
        }
        return writer.finish()
    }

    /// The rest of each line of `path` that starts with one of `keywords`
    /// (first 1 MiB of lines scanned in full), in file order.
    static func lines(of path: String, keywords: Set<String>) -> [String] {
        guard let handle = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? handle.close() }
        // Material libraries are named near the top of an OBJ; materials files are small.
        guard let data = try? handle.read(upToCount: 1 << 20) else { return [] }
        return String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).compactMap { line in
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            let keyword = trimmed.prefix { $0 != " " && $0 != "\t" }
            guard keyword.count < trimmed.count, keywords.contains(String(keyword)) else { return nil }
            return trimmed.dropFirst(keyword.count).trimmingCharacters(in: .whitespaces)
        }
    }
}
