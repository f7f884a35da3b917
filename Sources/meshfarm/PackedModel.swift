import Foundation
import MeshFarmMesh

/// The one file that stands for a model on its way to an import: the model
/// itself, or, when it names side files (a `.gltf` with its `.bin`, an
/// `.obj` with its `.mtl`), a temporary zip of it and them, which the
/// importer unpacks into a confined folder.
struct PackedModel {
    /// The file to upload or import.
    let path: String
    private let temporary: URL?

    init(_ model: String) throws {
        guard let zip = try ModelPackage.pack(model) else {
            path = model
            temporary = nil
            return
        }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "meshfarm-\(UUID().uuidString.prefix(8))-\((model as NSString).lastPathComponent).zip")
        try zip.write(to: url)
        path = url.path
        temporary = url
    }

    /// Deletes the temporary zip, if one was made.
    func cleanUp() {
        if let temporary { try? FileManager.default.removeItem(at: temporary) }
    }
}
