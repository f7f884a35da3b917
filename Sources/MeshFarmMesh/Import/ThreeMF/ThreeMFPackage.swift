import Foundation
import MeshFarmZip

/// The Open Packaging Conventions layer of a 3MF file: the zip archive, its
/// content types and relationships, and part names.
///
/// Part names are absolute URIs (`/3D/3dmodel.model`), compared without
/// regard to ASCII case (OPC M1.12); a zip entry is the part name without
/// its leading slash, percent-decoded.
struct ThreeMFPackage {
    let archive: ZipArchive
    /// `Default` content types by lowercased extension.
    private var defaults: [String: String] = [:]
    /// `Override` content types by lowercased part name.
    private var overrides: [String: String] = [:]

    /// The XML parts of the package (content types, relationships) are small:
    /// more than this is refused before inflating.
    static let maxSmallPartBytes = 4 << 20

    init(archive: ZipArchive) throws(MeshError) {
        self.archive = archive
        guard let types = archive.entry(named: "[Content_Types].xml") else {
            throw ThreeMFSpec.violation(
                "the package has no [Content_Types].xml", rule: "core spec 2.1 / OPC part 2 (content types stream)")
        }
        let handler = ContentTypesHandler()
        try Self.parseSmall(archive, types, partName: "/[Content_Types].xml", handler: handler)
        defaults = handler.defaults
        overrides = handler.overrides
    }

    /// The entry holding `partName`, or nil.
    func entry(forPart partName: String) -> ZipEntry? {
        archive.entry(named: String(partName.dropFirst()))
    }

    /// The content type of `partName` (an override, else the default for its extension).
    func contentType(ofPart partName: String) -> String? {
        if let type = overrides[partName.lowercased()] { return type }
        let name = partName.split(separator: "/").last.map(String.init) ?? partName
        guard let dot = name.lastIndex(of: ".") else { return nil }
        return defaults[name[name.index(after: dot)...].lowercased()]
    }

    /// The relationships of `sourcePart` (`/` for the package itself), from
    /// its `_rels/<name>.rels` part; empty when there is none.
    func relationships(of sourcePart: String) throws(MeshError) -> [Relationship] {
        let folder = sourcePart == "/" ? "/" : String(sourcePart[...sourcePart.lastIndex(of: "/")!])
        let name =
            sourcePart == "/" ? "" : String(sourcePart[sourcePart.index(after: sourcePart.lastIndex(of: "/")!)...])
        let relsPart = "\(folder)_rels/\(name).rels"
        guard let entry = entry(forPart: relsPart) else { return [] }
        let handler = RelationshipsHandler(source: sourcePart)
        try Self.parseSmall(archive, entry, partName: relsPart, handler: handler)
        return handler.relationships
    }

    static func parseSmall(_ archive: ZipArchive, _ entry: ZipEntry, partName: String, handler: any XMLStreamHandler)
        throws(MeshError)
    {
        guard entry.uncompressedSize <= maxSmallPartBytes else {
            throw ThreeMFSpec.error(
                "\(partName) is \(entry.uncompressedSize) bytes, over the \(maxSmallPartBytes) allowed")
        }
        try stream(archive, entry, partName: partName, handler: handler)
    }

    /// Streams one XML part through `handler`. With `requireUTF8`, a part
    /// that starts with a UTF-16 byte-order mark or declares another
    /// encoding is refused (core spec 2.3.2; OPC alone also allows UTF-16).
    static func stream(
        _ archive: ZipArchive, _ entry: ZipEntry, partName: String, handler: any XMLStreamHandler,
        requireUTF8: Bool = false
    ) throws(MeshError) {
        let reader = XMLStreamReader(handler: handler, partName: partName, format: "3MF")
        var first = requireUTF8
        do {
            try reader.parse { feed in
                try archive.read(entry) { piece in
                    if first {
                        first = false
                        if let encoding = declaredEncoding(piece), encoding != "utf-8", encoding != "utf8" {
                            throw ThreeMFSpec.violation(
                                "\(partName) is encoded as \(encoding)", rule: "core spec 2.3.2 (XML parts are UTF-8)")
                        }
                    }
                    try feed(piece)
                }
            }
        } catch let error as MeshError {
            throw error
        } catch let error as ZipError {
            throw ThreeMFSpec.error("\(partName): \(error)")
        } catch {
            throw ThreeMFSpec.error("\(partName): \(error)")
        }
    }

    /// The encoding a document's start declares: "utf-16" for a UTF-16
    /// byte-order mark, else the lowercased `encoding` of the XML
    /// declaration, or nil when there is none (UTF-8 by default).
    static func declaredEncoding(_ start: UnsafeRawBufferPointer) -> String? {
        let bytes = Array(start.prefix(256))
        if bytes.starts(with: [0xFF, 0xFE]) || bytes.starts(with: [0xFE, 0xFF]) { return "utf-16" }
        let text = String(
            decoding: bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? Array(bytes.dropFirst(3)) : bytes, as: UTF8.self)
        guard text.hasPrefix("<?xml"), let close = text.range(of: "?>") else { return nil }
        let declaration = text[..<close.lowerBound]
        guard let key = declaration.range(of: "encoding") else { return nil }
        let rest = declaration[key.upperBound...].drop { $0 == " " || $0 == "=" }
        guard let quote = rest.first, quote == "\"" || quote == "'" else { return nil }
        return String(rest.dropFirst().prefix { $0 != quote }).lowercased()
    }

    /// Resolves a relationship target or a `p:path` to an absolute part
    /// name: absolute targets as they are, relative ones against the source
    /// part's folder; `.` and `..` segments are applied (never above the
    /// root) and percent-escapes decoded. Nil when it would leave the package.
    static func resolve(_ target: String, from sourcePart: String) -> String? {
        let decoded = target.removingPercentEncoding ?? target
        var segments: [Substring] = []
        if !decoded.hasPrefix("/") {
            segments = sourcePart.split(separator: "/")
            if !sourcePart.hasSuffix("/"), !segments.isEmpty { segments.removeLast() }  // the source's own name
        }
        for segment in decoded.split(separator: "/") {
            switch segment {
            case ".": continue
            case "..":
                guard !segments.isEmpty else { return nil }
                segments.removeLast()
            default: segments.append(segment)
            }
        }
        guard !segments.isEmpty else { return nil }
        return "/" + segments.joined(separator: "/")
    }
}

/// One `<Relationship>` of a `.rels` part.
struct Relationship {
    var type: String
    /// The resolved absolute part name; nil for external targets.
    var target: String?
    var rawTarget: String
}

/// Reads `[Content_Types].xml`.
final class ContentTypesHandler: XMLStreamHandler {
    var defaults: [String: String] = [:]
    var overrides: [String: String] = [:]
    private var sawRoot = false

    func start(_ element: XMLElementView) throws(MeshError) {
        if !sawRoot {
            guard element.is("Types", in: ThreeMFSpec.contentTypes) else {
                throw ThreeMFSpec.violation(
                    "[Content_Types].xml does not start with <Types> in the OPC content-types namespace",
                    rule: "core spec 2.1 / OPC part 2")
            }
            sawRoot = true
            return
        }
        guard element.namespace.map({ $0 == ThreeMFSpec.contentTypes }) == true else { return }
        if element.localName == "Default", let ext = element.attribute("Extension"),
            let type = element.attribute("ContentType")
        {
            defaults[ext.string.lowercased()] = type.string
        } else if element.localName == "Override", let part = element.attribute("PartName"),
            let type = element.attribute("ContentType")
        {
            overrides[part.string.lowercased()] = type.string
        }
    }

    func end(namespace: XMLText?, localName: XMLText) throws(MeshError) {}
}

/// Reads a `.rels` part.
final class RelationshipsHandler: XMLStreamHandler {
    let source: String
    var relationships: [Relationship] = []
    private var sawRoot = false

    init(source: String) { self.source = source }

    func start(_ element: XMLElementView) throws(MeshError) {
        if !sawRoot {
            guard element.is("Relationships", in: ThreeMFSpec.relationships) else {
                throw ThreeMFSpec.violation(
                    "a relationships part of \(source) does not start with <Relationships>", rule: "OPC part 2")
            }
            sawRoot = true
            return
        }
        guard element.is("Relationship", in: ThreeMFSpec.relationships) else { return }
        guard let target = element.attribute("Target")?.string, let type = element.attribute("Type")?.string else {
            throw ThreeMFSpec.violation(
                "a relationship of \(source) lacks its Target or Type", rule: "OPC part 2 (Relationship element)")
        }
        let external = element.attribute("TargetMode")?.string == "External"
        relationships.append(
            Relationship(
                type: type, target: external ? nil : ThreeMFPackage.resolve(target, from: source), rawTarget: target))
    }

    func end(namespace: XMLText?, localName: XMLText) throws(MeshError) {}
}
