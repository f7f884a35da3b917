import Foundation
import MeshFarmMesh
import MeshFarmZip

/// Builds 3MF packages by hand for the tests: every part is a string the
/// test can break on purpose.
struct ThreeMFBuilder {
    static let coreNamespace = "http://schemas.microsoft.com/3dmanufacturing/core/2015/02"
    static let productionNamespace = "http://schemas.microsoft.com/3dmanufacturing/production/2015/06"
    static let modelType = "http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"

    static let contentTypes = """
        <?xml version="1.0" encoding="UTF-8"?>
        <Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">\
        <Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>\
        <Default Extension="model" ContentType="application/vnd.ms-package.3dmanufacturing-3dmodel+xml"/>\
        <Default Extension="png" ContentType="image/png"/></Types>
        """

    static func relationships(_ targets: [String], type: String = modelType) -> String {
        let entries = targets.enumerated().map { i, target in
            "<Relationship Target=\"\(target)\" Id=\"rel\(i)\" Type=\"\(type)\"/>"
        }
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">\(entries.joined())</Relationships>
            """
    }

    /// `<mesh>` of `mesh`, vertices and triangles in order.
    static func meshXML(_ mesh: Mesh) -> String {
        var xml = "<mesh><vertices>"
        for v in 0..<mesh.vertexCount {
            let p = mesh.position(v)
            xml += "<vertex x=\"\(p.x)\" y=\"\(p.y)\" z=\"\(p.z)\"/>"
        }
        xml += "</vertices><triangles>"
        for t in 0..<mesh.triangleCount {
            xml +=
                "<triangle v1=\"\(mesh.indices[3 * t])\" v2=\"\(mesh.indices[3 * t + 1])\" v3=\"\(mesh.indices[3 * t + 2])\"/>"
        }
        return xml + "</triangles></mesh>"
    }

    /// A `<model>` document around `resources` and `build` (inner XML).
    static func model(
        resources: String, build: String, unit: String? = nil, extra: String = "", head: String = "",
        attributes: String = ""
    ) -> String {
        let unitAttribute = unit.map { " unit=\"\($0)\"" } ?? ""
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <model\(unitAttribute) xml:lang="en-US" xmlns="\(coreNamespace)" xmlns:p="\(productionNamespace)"\(attributes)>\
            \(head)<resources>\(resources)</resources><build>\(build)</build>\(extra)</model>
            """
    }

    /// Parts by name (without the leading slash).
    var parts: [(String, String)] = []

    init(model: String, rootTarget: String = "/3D/3dmodel.model") {
        parts = [
            ("[Content_Types].xml", Self.contentTypes), ("_rels/.rels", Self.relationships([rootTarget])),
            ("3D/3dmodel.model", model),
        ]
    }

    mutating func set(_ name: String, _ content: String?) {
        parts.removeAll { $0.0 == name }
        if let content { parts.append((name, content)) }
    }

    func data() throws -> Data {
        var writer = ZipWriter()
        for (name, content) in parts { try writer.add(name, Data(content.utf8)) }
        return writer.finish()
    }

    func write(to directory: URL, name: String = "model.3mf") throws -> String {
        let path = directory.appendingPathComponent(name).path
        try data().write(to: URL(fileURLWithPath: path))
        return path
    }
}
