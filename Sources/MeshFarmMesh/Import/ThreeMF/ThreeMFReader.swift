import Foundation
import MeshFarmZip

/// Reads 3MF files with MeshFarm's own code, not assimp's (whose 3MF reader
/// in 5.2 aborts or segfaults on files that break small rules of the spec
/// and on valid files using the production extension).
///
/// 1. The zip container is opened by ``ZipArchive``, which checks every
///    size its directory declares against the limits before inflating.
/// 2. The OPC layer: `[Content_Types].xml`, the package relationships, the
///    one StartPart relationship to the root 3D model part.
/// 3. Model parts are streamed from the inflater through libxml2 (SAX) into
///    per-object vertex and triangle arrays, each rule checked on the way
///    (``ThreeMFModelParser``). Parts named by the production extension's
///    `p:path` are read when first referenced.
/// 4. Build items are expanded: components (nested, with transforms) and
///    item transforms are applied; the triangle total is computed from the
///    object counts and checked against the limit before the output is
///    allocated, so a "component bomb" is refused by arithmetic. Mirroring
///    transforms (negative determinant) flip the winding, so volumes keep
///    their sign (core spec 3.3).
struct ThreeMFReader {
    let limits: ImportLimits

    struct Result {
        var mesh: Mesh
        var unit: LengthUnit
    }

    var zipLimits: ZipLimits {
        ZipLimits(
            maxEntries: limits.maxArchiveEntries, maxEntryBytes: limits.maxUncompressedBytes,
            maxTotalBytes: limits.maxUncompressedBytes)
    }

    static func zipError(_ error: ZipError) -> MeshError {
        if case .overLimit(let reason) = error { return .malformed(format: "3MF", reason: reason) }
        return .malformed(format: "3MF", reason: "the zip container is unusable: \(error)")
    }

    func read(_ archive: ZipArchive) throws(MeshError) -> Result {
        let package = try ThreeMFPackage(archive: archive)
        let rootName = try startPart(package)
        var loader = PartLoader(package: package, limits: limits)
        let root = try loader.load(rootName, isRoot: true)
        // Relationships from the root part to other model parts (production extension) must resolve.
        for relationship in try package.relationships(of: rootName)
        where relationship.type == ThreeMFSpec.modelRelationship {
            guard let target = relationship.target, package.entry(forPart: target) != nil else {
                throw ThreeMFSpec.violation(
                    "\(rootName) has a model relationship to \(relationship.rawTarget), which is not in the package",
                    rule: "production extension 3.3 (referenced model parts are in the package)")
            }
        }
        var expander = Expander(loader: loader, rootName: rootName, root: root, limits: limits)
        let mesh = try expander.expand()
        return Result(mesh: mesh, unit: root.unit)
    }

    /// The root 3D model part named by the package's StartPart relationship.
    private func startPart(_ package: ThreeMFPackage) throws(MeshError) -> String {
        let models = try package.relationships(of: "/").filter { $0.type == ThreeMFSpec.modelRelationship }
        guard !models.isEmpty else {
            let hasRels = package.archive.entry(named: "_rels/.rels") != nil
            throw ThreeMFSpec.violation(
                hasRels
                    ? "_rels/.rels has no relationship of type \(ThreeMFSpec.modelRelationship)"
                    : "the package has no _rels/.rels, so no StartPart relationship",
                rule: "core spec 2.1.1 (the StartPart relationship points to the root 3D model part)")
        }
        guard models.count == 1 else {
            throw ThreeMFSpec.violation(
                "_rels/.rels has \(models.count) StartPart relationships to 3D models",
                rule: "core spec 2.1 (only one primary 3D payload)")
        }
        guard let target = models[0].target else {
            throw ThreeMFSpec.violation(
                "the StartPart relationship targets '\(models[0].rawTarget)', outside the package",
                rule: "core spec 2.1.1")
        }
        guard package.entry(forPart: target) != nil else {
            throw ThreeMFSpec.violation(
                "the StartPart relationship targets \(target), which is not in the package",
                rule: "core spec 2.1.1 (a consumer must report a missing StartPart target)")
        }
        return target
    }
}

/// Loads model parts on first use, sharing one triangle and vertex budget.
struct PartLoader {
    let package: ThreeMFPackage
    let limits: ImportLimits
    private(set) var parts: [String: ThreeMFModelPart] = [:]
    private var triangleBudget: Int
    private var vertexBudget: Int

    init(package: ThreeMFPackage, limits: ImportLimits) {
        self.package = package
        self.limits = limits
        triangleBudget = limits.maxTriangles
        vertexBudget = 3 * limits.maxTriangles
    }

    mutating func load(_ name: String, isRoot: Bool) throws(MeshError) -> ThreeMFModelPart {
        if let part = parts[name.lowercased()] { return part }
        guard let entry = package.entry(forPart: name) else {
            throw ThreeMFSpec.violation(
                "p:path names \(name), which is not in the package",
                rule: "production extension 3.1 (path is a model part of the package)")
        }
        let type = package.contentType(ofPart: name)
        guard type == ThreeMFSpec.modelContentType else {
            throw ThreeMFSpec.violation(
                "\(name) has content type '\(type ?? "none")', not \(ThreeMFSpec.modelContentType)",
                rule: "core spec 2.1.1 (each part uses its content type from appendix C)")
        }
        let parser = ThreeMFModelParser(
            partName: name, isRoot: isRoot, triangleBudget: triangleBudget, vertexBudget: vertexBudget,
            triangleLimit: limits.maxTriangles)
        try ThreeMFPackage.stream(package.archive, entry, partName: name, handler: parser, requireUTF8: true)
        triangleBudget = parser.triangleBudget
        vertexBudget = parser.vertexBudget
        parts[name.lowercased()] = parser.part
        return parser.part
    }
}

/// Expands build items into one mesh.
struct Expander {
    var loader: PartLoader
    let rootName: String
    let root: ThreeMFModelPart
    let limits: ImportLimits
    /// Triangle and vertex counts of (part, object), memoised.
    private var counts: [String: (triangles: Int, vertices: Int)] = [:]

    init(loader: PartLoader, rootName: String, root: ThreeMFModelPart, limits: ImportLimits) {
        self.loader = loader
        self.rootName = rootName
        self.root = root
        self.limits = limits
    }

    mutating func expand() throws(MeshError) -> Mesh {
        // First the counts, so an exponential tree of components is refused before any allocation.
        var triangles = 0
        var vertices = 0
        for item in root.build {
            let part = item.path ?? rootName
            let count = try self.count(part: part, id: item.objectID, depth: 0, from: "a build item")
            triangles = min(triangles + count.triangles, Int.max / 4)
            vertices = min(vertices + count.vertices, Int.max / 4)
        }
        guard triangles > 0 else { throw .noTriangles }
        guard triangles <= limits.maxTriangles else {
            throw .tooManyTriangles(count: triangles, limit: limits.maxTriangles)
        }
        guard vertices <= 3 * limits.maxTriangles else {
            throw .malformed(
                format: "3MF", reason: "the build places \(vertices) vertices, more than 3 per allowed triangle")
        }
        var positions: [Float] = []
        positions.reserveCapacity(3 * vertices)
        var indices: [UInt32] = []
        indices.reserveCapacity(3 * triangles)
        for item in root.build {
            try emit(
                part: item.path ?? rootName, id: item.objectID, transform: item.transform, positions: &positions,
                indices: &indices)
        }
        return Mesh(positions: positions, indices: indices)
    }

    private mutating func object(part: String, id: Int, from: String) throws(MeshError) -> ThreeMFModelPart.Object {
        let model = part == rootName ? root : try loader.load(part, isRoot: false)
        guard let object = model.objects[id] else {
            throw ThreeMFSpec.violation(
                "\(from) references object \(id), which \(part) does not define",
                rule: part == rootName ? "core spec 3.4.3.1 (objectid names an object)" : "production extension 3.1")
        }
        return object
    }

    private mutating func count(part: String, id: Int, depth: Int, from: String) throws(MeshError) -> (
        triangles: Int, vertices: Int
    ) {
        let key = "\(part)#\(id)"
        if let known = counts[key] { return known }
        // Objects are defined before use and child parts cannot reference other parts, so there are
        // no cycles; the depth bound only guards the stack against very deep (legal) nesting.
        guard depth < 64 else {
            throw .malformed(format: "3MF", reason: "components are nested more than 64 deep")
        }
        let object = try self.object(part: part, id: id, from: from)
        var result = (triangles: 0, vertices: 0)
        switch object.content {
        case .mesh(let positions, let indices):
            guard object.type != .other else {
                throw ThreeMFSpec.violation(
                    "the build uses object \(id) of \(part), whose type is 'other'",
                    rule:
                        "core spec 3.4.3.1 (items must not reference objects of type other, directly or through components)"
                )
            }
            result = (indices.count / 3, positions.count / 3)
        case .components(let references):
            for reference in references {
                let child = try count(
                    part: reference.path ?? part, id: reference.objectID, depth: depth + 1, from: "object \(id)")
                result.triangles = min(result.triangles + child.triangles, Int.max / 4)
                result.vertices = min(result.vertices + child.vertices, Int.max / 4)
            }
        }
        counts[key] = result
        return result
    }

    private mutating func emit(
        part: String, id: Int, transform: Transform3D, positions: inout [Float], indices: inout [UInt32]
    ) throws(MeshError) {
        let object = try self.object(part: part, id: id, from: "a build item")
        switch object.content {
        case .components(let references):
            for reference in references {
                try emit(
                    part: reference.path ?? part, id: reference.objectID,
                    transform: reference.transform.then(transform),
                    positions: &positions, indices: &indices)
            }
        case .mesh(let source, let sourceIndices):
            let base = UInt32(positions.count / 3)
            var v = 0
            while v < source.count {
                let p = transform.apply(SIMD3(Double(source[v]), Double(source[v + 1]), Double(source[v + 2])))
                positions.append(Float(p.x))
                positions.append(Float(p.y))
                positions.append(Float(p.z))
                v += 3
            }
            let mirrored = transform.determinant < 0
            var t = 0
            while t < sourceIndices.count {
                indices.append(base + sourceIndices[t])
                indices.append(base + sourceIndices[t + (mirrored ? 2 : 1)])
                indices.append(base + sourceIndices[t + (mirrored ? 1 : 2)])
                t += 3
            }
        }
    }
}
