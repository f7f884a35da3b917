/// One 3D model part of a 3MF package, as read: its objects and build items.
struct ThreeMFModelPart {
    enum ObjectType: String { case model, solidsupport, support, surface, other }

    struct Reference {
        var objectID: Int
        var transform: Transform3D
        /// `p:path`: the model part holding the object (production
        /// extension); nil for this part.
        var path: String?
    }

    enum Content {
        /// Positions (x y z per vertex) and triangle corner indices.
        case mesh(positions: [Float], indices: [UInt32])
        case components([Reference])
    }

    struct Object {
        var type: ObjectType
        var content: Content
    }

    var unit: LengthUnit = .millimeter
    var objects: [Int: Object] = [:]
    var build: [Reference] = []
}

/// Reads one 3D model part (core spec chapters 3 and 4, and the production
/// extension's `p:path`) from the XML stream, checking the rules as it goes.
///
/// The counts of vertices and triangles are checked against the import
/// limits as they arrive, before the arrays grow past them.
final class ThreeMFModelParser: XMLStreamHandler {
    let partName: String
    let isRoot: Bool
    /// Triangles and vertices still allowed across the whole package.
    var triangleBudget: Int
    var vertexBudget: Int
    let triangleLimit: Int
    private(set) var part = ThreeMFModelPart()

    private enum Place {
        case document, model, metadata, resources, object, mesh, vertices, triangles, components, build, other
    }

    private var stack: [Place] = []
    private var metadataNames = Set<String>()
    private var sawResources = false
    private var sawBuild = false
    /// Every resource id of the part (objects, materials, textures...): ids
    /// are unique among all resources, and a `pid` must name one defined earlier.
    private var resourceIDs = Set<Int>()
    private var objectID = 0
    private var objectType = ThreeMFModelPart.ObjectType.model
    /// Whether the current object holds a mesh or components (nil: neither yet).
    private var objectContent: Place?
    private var positions: [Float] = []
    private var indices: [UInt32] = []
    private var components: [ThreeMFModelPart.Reference] = []
    private var skipDepth = 0

    init(partName: String, isRoot: Bool, triangleBudget: Int, vertexBudget: Int, triangleLimit: Int) {
        self.partName = partName
        self.isRoot = isRoot
        self.triangleBudget = triangleBudget
        self.vertexBudget = vertexBudget
        self.triangleLimit = triangleLimit
    }

    private func violation(_ what: String, rule: String) -> MeshError {
        ThreeMFSpec.violation("\(partName): \(what)", rule: rule)
    }

    func start(_ element: XMLElementView) throws(MeshError) {
        if skipDepth > 0 {
            skipDepth += 1
            return
        }
        let inCore = element.namespace.map { $0 == ThreeMFSpec.core } == true
        let place = stack.last ?? .document
        // Elements of other namespaces are extensions: skipped whole (core spec 2.3.3.1).
        if place != .document, !inCore {
            skipDepth = 1
            return
        }
        switch place {
        case .document:
            guard element.is("model", in: ThreeMFSpec.core) else {
                throw violation(
                    "the root element is <\(element.localName)>, not <model> in the core namespace \(ThreeMFSpec.core)",
                    rule: "core spec 3.4 (exactly one <model> element)")
            }
            try readModel(element)
            stack.append(.model)
        case .model:
            switch element.localName.string {
            case "metadata":
                guard !sawResources else {
                    throw violation("<metadata> follows <resources>", rule: "core spec 3.4 (element order)")
                }
                let name = element.attribute("name")?.string ?? ""
                guard metadataNames.insert(name).inserted else {
                    throw violation(
                        "two <metadata> elements are named '\(name)'",
                        rule: "core spec 3.4.1 (metadata names must be unique)")
                }
                stack.append(.metadata)
            case "resources":
                guard !sawResources else { throw violation("a second <resources> element", rule: "core spec 3.4") }
                sawResources = true
                stack.append(.resources)
            case "build":
                guard sawResources else {
                    throw violation("<build> before <resources>", rule: "core spec 3.4 (element order)")
                }
                guard !sawBuild else { throw violation("a second <build> element", rule: "core spec 3.4") }
                sawBuild = true
                stack.append(.build)
            default:
                stack.append(.other)
            }
        case .resources:
            let id = element.attribute("id")
            if let id {
                guard let value = id.index(), value >= 1 else {
                    throw violation(
                        "<\(element.localName)> has id '\(id)', not an integer from 1 to 2147483647",
                        rule: "core spec 3.4.2 (ST_ResourceID)")
                }
                guard resourceIDs.insert(value).inserted else {
                    throw violation("two resources have id \(value)", rule: "core spec 3.4.2 (resource ids are unique)")
                }
            }
            if element.localName == "object" {
                guard let id = id?.index() else {
                    throw violation("an <object> has no id", rule: "core spec 4 (object id is required)")
                }
                try beginObject(element, id: id)
                stack.append(.object)
            } else {
                stack.append(.other)  // basematerials and other core resources: geometry does not need them
            }
        case .object:
            guard element.localName == "mesh" || element.localName == "components" else {
                stack.append(.other)
                return
            }
            guard objectContent == nil else {
                throw violation(
                    "object \(objectID) has more than one <mesh> or <components>",
                    rule: "core spec 4 (an object holds exactly one mesh or components)")
            }
            objectContent = element.localName == "mesh" ? .mesh : .components
            stack.append(objectContent!)
        case .mesh:
            if element.localName == "vertices" {
                stack.append(.vertices)
            } else if element.localName == "triangles" {
                stack.append(.triangles)
            } else {
                stack.append(.other)
            }
        case .vertices:
            guard element.localName == "vertex" else { return stack.append(.other) }
            try readVertex(element)
            stack.append(.other)
        case .triangles:
            guard element.localName == "triangle" else { return stack.append(.other) }
            try readTriangle(element)
            stack.append(.other)
        case .components:
            guard element.localName == "component" else { return stack.append(.other) }
            components.append(try readReference(element, what: "component"))
            stack.append(.other)
        case .build:
            guard element.localName == "item" else { return stack.append(.other) }
            let item = try readReference(element, what: "build item")
            if isRoot { part.build.append(item) }  // child parts' build sections are ignored (production spec 2)
            stack.append(.other)
        case .metadata, .other:
            stack.append(.other)
        }
    }

    func end(namespace: XMLText?, localName: XMLText) throws(MeshError) {
        if skipDepth > 0 {
            skipDepth -= 1
            return
        }
        guard let place = stack.popLast() else { return }
        switch place {
        case .object: try endObject()
        case .model:
            guard sawResources else { throw violation("the model has no <resources>", rule: "core spec 3.4") }
            guard sawBuild else {
                throw violation("the model has no <build> element", rule: "core spec 3.4 (<build> is required)")
            }
        default: break
        }
    }

    // MARK: - Elements

    private func readModel(_ element: XMLElementView) throws(MeshError) {
        if let unit = element.attribute("unit") {
            guard let value = LengthUnit(rawValue: unit.string) else {
                throw violation(
                    "unit '\(unit)' is not one of micron, millimeter, centimeter, inch, foot, meter",
                    rule: "core spec 3.4 (ST_Unit)")
            }
            part.unit = value
        }
        guard let required = element.attribute("requiredextensions")?.string else { return }
        let namespaces = element.declaredNamespaces
        for prefix in required.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }) {
            guard let uri = namespaces[String(prefix)] else {
                throw violation(
                    "requiredextensions names the prefix '\(prefix)', which <model> does not declare",
                    rule: "core spec 3.4 (requiredextensions lists declared prefixes)")
            }
            guard ThreeMFSpec.supportedExtensions.contains(uri) else {
                let name =
                    ThreeMFSpec.knownExtensions[uri].map { "the \($0) extension (\(uri))" } ?? "the extension \(uri)"
                throw violation(
                    "the model requires \(name), which MeshFarm does not support",
                    rule:
                        "core spec 2.3.1: a consumer must not process a file whose required extensions it does not support"
                )
            }
        }
    }

    private func beginObject(_ element: XMLElementView, id: Int) throws(MeshError) {
        objectID = id
        objectContent = nil
        positions = []
        indices = []
        components = []
        if let type = element.attribute("type") {
            guard let value = ThreeMFModelPart.ObjectType(rawValue: type.string) else {
                throw violation(
                    "object \(id) has type '\(type)', not one of model, solidsupport, support, surface, other",
                    rule: "core spec 4 (ST_ObjectType)")
            }
            objectType = value
        } else {
            objectType = .model
        }
        try checkPropertyReference(element, what: "object \(id)")
    }

    private func endObject() throws(MeshError) {
        let content: ThreeMFModelPart.Content
        switch objectContent {
        case nil:
            throw violation(
                "object \(objectID) has neither a <mesh> nor <components>",
                rule: "core spec 4 (an object holds exactly one mesh or components)")
        case .components?:
            guard !components.isEmpty else {
                throw violation(
                    "object \(objectID)'s <components> is empty", rule: "core spec 4.2 (at least one component)")
            }
            content = .components(components)
        default:
            guard positions.count >= 9 else {
                throw violation(
                    "object \(objectID)'s mesh has \(positions.count / 3) vertices",
                    rule: "core spec 4.1.3 (at least three)")
            }
            guard !indices.isEmpty else {
                throw violation(
                    "object \(objectID)'s mesh has no triangles", rule: "core spec 4.1.4 (at least one triangle)")
            }
            content = .mesh(positions: positions, indices: indices)
        }
        part.objects[objectID] = ThreeMFModelPart.Object(type: objectType, content: content)
        positions = []
        indices = []
        components = []
    }

    private func readVertex(_ element: XMLElementView) throws(MeshError) {
        guard vertexBudget > 0 else {
            throw MeshError.tooManyTriangles(count: triangleLimit + 1, limit: triangleLimit)
        }
        vertexBudget -= 1
        for axis in ["x", "y", "z"] as [StaticString] {
            guard let text = element.attribute(axis) else {
                throw violation(
                    "vertex \(positions.count / 3) of object \(objectID) has no \(axis) coordinate",
                    rule: "core spec 4.1.3 (x, y and z are required)")
            }
            guard let value = text.number() else {
                throw violation(
                    "vertex \(positions.count / 3) of object \(objectID) has \(axis)=\"\(text.string.prefix(40))\", not a number",
                    rule: "core spec 4.1.3 (ST_Number)")
            }
            positions.append(Float(value))
        }
    }

    private func readTriangle(_ element: XMLElementView) throws(MeshError) {
        guard triangleBudget > 0 else {
            throw MeshError.tooManyTriangles(count: triangleLimit + 1, limit: triangleLimit)
        }
        triangleBudget -= 1
        let vertexCount = positions.count / 3
        let triangle = indices.count / 3
        var corner: [Int] = [0, 0, 0]
        for (k, name) in (["v1", "v2", "v3"] as [StaticString]).enumerated() {
            guard let text = element.attribute(name), let value = text.index() else {
                throw violation(
                    "triangle \(triangle) of object \(objectID) lacks a valid \(name)",
                    rule: "core spec 4.1.4.1 (v1, v2, v3 are required vertex indices)")
            }
            guard value < vertexCount else {
                throw violation(
                    "triangle \(triangle) of object \(objectID) uses vertex \(value), but the mesh has \(vertexCount) vertices",
                    rule: "core spec 4.1.4.1 (indices reference the mesh's vertices)")
            }
            corner[k] = value
        }
        guard corner[0] != corner[1], corner[1] != corner[2], corner[0] != corner[2] else {
            throw violation(
                "triangle \(triangle) of object \(objectID) repeats a vertex (\(corner[0]) \(corner[1]) \(corner[2]))",
                rule: "core spec 4.1.4.1 (v1, v2 and v3 must be distinct)")
        }
        try checkPropertyReference(element, what: "triangle \(triangle) of object \(objectID)")
        indices.append(UInt32(corner[0]))
        indices.append(UInt32(corner[1]))
        indices.append(UInt32(corner[2]))
    }

    /// A `pid` must name a resource defined earlier in the part.
    private func checkPropertyReference(_ element: XMLElementView, what: @autoclosure () -> String) throws(MeshError) {
        guard let pid = element.attribute("pid") else { return }
        guard let id = pid.index(), resourceIDs.contains(id), id != objectID else {
            throw violation(
                "\(what()) has pid '\(pid)', which names no property resource defined before it",
                rule: "core spec 3.4 (resources are defined before they are referenced)")
        }
    }

    private func readReference(_ element: XMLElementView, what: String) throws(MeshError)
        -> ThreeMFModelPart.Reference
    {
        guard let id = element.attribute("objectid")?.index() else {
            throw violation("a \(what) has no valid objectid", rule: "core spec (objectid is a required ST_ResourceID)")
        }
        var transform = Transform3D.identity
        if let text = element.attribute("transform") {
            guard let parsed = Transform3D(text) else {
                throw violation(
                    "the transform \"\(text.string.prefix(80))\" of a \(what) is not twelve numbers",
                    rule: "core spec 3.3 (ST_Matrix3D)")
            }
            transform = parsed
        }
        var path: String?
        if let raw = element.attribute("path", namespace: ThreeMFSpec.production)?.string {
            guard isRoot else {
                throw violation(
                    "a \(what) has p:path \"\(raw)\" in a non-root model part",
                    rule: "production extension 3.2 (only the root model part may reference other parts)")
            }
            guard let resolved = ThreeMFPackage.resolve(raw, from: "/") else {
                throw violation("p:path \"\(raw)\" leaves the package", rule: "production extension 3.1 (ST_Path)")
            }
            path = resolved == partName ? nil : resolved
        }
        if path == nil {
            guard part.objects[id] != nil else {
                throw violation(
                    "a \(what) references object \(id), which is not defined before it in this part",
                    rule: "core spec 3.4 (elements are defined before they are referenced)")
            }
        }
        return ThreeMFModelPart.Reference(objectID: id, transform: transform, path: path)
    }
}
