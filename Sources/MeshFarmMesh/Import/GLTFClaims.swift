import Foundation

/// The sizes a glTF 2.0 document declares, checked against the bytes that
/// exist and the triangle limit before assimp reads the buffers:
///
/// - every buffer's `byteLength` against what backs it: the GLB BIN chunk,
///   a `data:` URI's decoded length, or an external file, which must be a
///   relative path inside the uploaded folder (no scheme, no absolute path,
///   no `..` out of it);
/// - every buffer view inside its buffer, every accessor inside its view;
/// - the node hierarchy is a forest (no cycles, no node with two parents);
/// - the triangles of every mesh instance, summed, against the limit.
struct GLTFClaims {
    let json: [String: Any]
    /// Length of the GLB BIN chunk, if the document came from a GLB.
    let binaryChunkBytes: Int?
    let modelPath: String
    let sideFileRoot: String?

    var format: String { binaryChunkBytes == nil && !modelPath.lowercased().hasSuffix(".glb") ? "glTF" : "GLB" }

    func error(_ reason: String) -> MeshError { .malformed(format: format, reason: reason) }

    func check(limits: ImportLimits) throws(MeshError) {
        if let asset = json["asset"] as? [String: Any], let version = asset["version"] as? String,
            version.hasPrefix("1.")
        {
            return  // glTF 1.0: a different schema, left to assimp under the import's containment
        }
        let buffers = try bufferSizes()
        let views = try viewSizes(buffers: buffers)
        let accessors = try accessorCounts(views: views)
        try checkNodes()
        let triangles = try triangleCount(accessors: accessors)
        if triangles > limits.maxTriangles { throw .tooManyTriangles(count: triangles, limit: limits.maxTriangles) }
    }

    private func array(_ key: String) throws(MeshError) -> [[String: Any]] {
        guard let value = json[key] else { return [] }
        guard let array = value as? [[String: Any]] else { throw error("'\(key)' is not an array of objects") }
        return array
    }

    private func integer(_ object: [String: Any], _ key: String, default value: Int? = nil, what: String)
        throws(MeshError) -> Int
    {
        guard let raw = object[key] else {
            if let value { return value }
            throw error("\(what) has no '\(key)'")
        }
        guard let number = raw as? NSNumber, let int = Int(exactly: number.doubleValue), int >= 0, int < 1 << 53
        else {
            throw error("\(what) has '\(key)' \(raw), not a non-negative integer")
        }
        return int
    }

    /// Declared byte length of each buffer, checked against its source.
    private func bufferSizes() throws(MeshError) -> [Int] {
        try array("buffers").enumerated().map { (i, buffer) throws(MeshError) -> Int in
            let what = "buffer \(i)"
            let length = try integer(buffer, "byteLength", what: what)
            let available: Int
            if let uri = buffer["uri"] as? String {
                available = try bytesBehind(uri: uri, what: what)
            } else if i == 0, let binaryChunkBytes {
                available = binaryChunkBytes
            } else {
                throw error("\(what) has no uri and no GLB BIN chunk")
            }
            guard length <= available else {
                throw error("\(what) declares \(length) bytes but its data holds only \(available)")
            }
            return length
        }
    }

    /// Bytes a buffer URI provides: a data URI's decoded size, or an
    /// external file's size, confined to the uploaded folder.
    private func bytesBehind(uri: String, what: String) throws(MeshError) -> Int {
        if uri.hasPrefix("data:") {
            guard let comma = uri.firstIndex(of: ",") else { throw error("\(what) has a data URI without data") }
            let header = uri[..<comma]
            let payload = uri.utf8.count - header.utf8.count - 1
            return header.hasSuffix(";base64") ? payload / 4 * 3 : payload
        }
        let decoded = uri.removingPercentEncoding ?? uri
        guard !decoded.contains(":"), !decoded.hasPrefix("/"), !decoded.hasPrefix("\\") else {
            throw error("\(what) points outside the upload ('\(uri)'): only relative paths and data URIs are read")
        }
        guard let sideFileRoot else {
            throw error(
                "\(what) is the external file '\(uri)', which was not uploaded with the model: upload a .zip holding the .gltf and its files, or a .glb"
            )
        }
        let folder = (modelPath as NSString).deletingLastPathComponent
        let path = ((folder as NSString).appendingPathComponent(decoded) as NSString).standardizingPath
        guard let real = AssimpConfinedIO.canonical(path), let root = AssimpConfinedIO.canonical(sideFileRoot),
            real.hasPrefix(root + "/")
        else {
            throw error("\(what) is '\(uri)', which is not in the uploaded archive")
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: real)[.size] as? Int) ?? nil
        return size ?? 0
    }

    private func viewSizes(buffers: [Int]) throws(MeshError) -> [(length: Int, stride: Int?)] {
        try array("bufferViews").enumerated().map { (i, view) throws(MeshError) in
            let what = "buffer view \(i)"
            let buffer = try integer(view, "buffer", what: what)
            guard buffer < buffers.count else { throw error("\(what) names buffer \(buffer), which does not exist") }
            let offset = try integer(view, "byteOffset", default: 0, what: what)
            let length = try integer(view, "byteLength", what: what)
            guard offset <= buffers[buffer], length <= buffers[buffer] - offset else {
                throw error(
                    "\(what) spans bytes \(offset)..<\(offset + length) of buffer \(buffer), which has \(buffers[buffer])"
                )
            }
            let stride = view["byteStride"] == nil ? nil : try integer(view, "byteStride", what: what)
            if let stride, stride < 4 || stride > 252 { throw error("\(what) has byteStride \(stride), not 4...252") }
            return (length, stride)
        }
    }

    /// Element count of each accessor, checked to fit in its view.
    private func accessorCounts(views: [(length: Int, stride: Int?)]) throws(MeshError) -> [Int] {
        let componentSizes = [5120: 1, 5121: 1, 5122: 2, 5123: 2, 5125: 4, 5126: 4]
        let componentCounts = ["SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16]
        return try array("accessors").enumerated().map { (i, accessor) throws(MeshError) in
            let what = "accessor \(i)"
            let count = try integer(accessor, "count", what: what)
            let componentType = try integer(accessor, "componentType", what: what)
            guard let componentSize = componentSizes[componentType] else {
                throw error("\(what) has componentType \(componentType), not a glTF component type")
            }
            guard let type = accessor["type"] as? String, let components = componentCounts[type] else {
                throw error("\(what) has no valid 'type'")
            }
            guard accessor["bufferView"] != nil else { return count }  // all zeros (or sparse): no bytes claimed
            let view = try integer(accessor, "bufferView", what: what)
            guard view < views.count else { throw error("\(what) names buffer view \(view), which does not exist") }
            let offset = try integer(accessor, "byteOffset", default: 0, what: what)
            let element = componentSize * components
            let stride = views[view].stride ?? element
            guard count >= 1 else { throw error("\(what) has count 0") }
            let (span, overflow) = stride.multipliedReportingOverflow(by: count - 1)
            guard !overflow, offset <= views[view].length, span <= views[view].length - offset - element else {
                throw error(
                    "\(what) claims \(count) elements of \(element) bytes, more than buffer view \(view) (\(views[view].length) bytes) holds"
                )
            }
            return count
        }
    }

    /// Nodes must form a forest: no cycles, no node with two parents.
    private func checkNodes() throws(MeshError) {
        let nodes = try array("nodes")
        var parent = [Int?](repeating: nil, count: nodes.count)
        for (i, node) in nodes.enumerated() {
            guard let children = node["children"] else { continue }
            guard let list = children as? [NSNumber] else { throw error("node \(i) has children that are not indices") }
            for child in list.map(\.intValue) {
                guard child >= 0, child < nodes.count else {
                    throw error("node \(i) has child \(child), which does not exist")
                }
                guard parent[child] == nil, child != i else {
                    throw error("node \(child) has two parents or is its own child: the nodes must form trees")
                }
                parent[child] = i
            }
        }
        for start in nodes.indices {  // climbing parents from any node must end at a root
            var node = start
            var steps = 0
            while let up = parent[node] {
                node = up
                steps += 1
                if steps > nodes.count { throw error("the node hierarchy has a cycle") }
            }
        }
    }

    /// Triangles of all mesh instances: each node naming a mesh places it
    /// once; a mesh no node names is counted once (assimp still reads it).
    private func triangleCount(accessors: [Int]) throws(MeshError) -> Int {
        let meshes = try array("meshes")
        var perMesh: [Int] = []
        for (m, mesh) in meshes.enumerated() {
            guard let primitives = mesh["primitives"] as? [[String: Any]] else {
                throw error("mesh \(m) has no primitives array")
            }
            var total = 0
            for (p, primitive) in primitives.enumerated() {
                let what = "primitive \(p) of mesh \(m)"
                let mode = try integer(primitive, "mode", default: 4, what: what)
                let count: Int
                if primitive["indices"] != nil {
                    let index = try integer(primitive, "indices", what: what)
                    guard index < accessors.count else {
                        throw error("\(what) names accessor \(index), which does not exist")
                    }
                    count = accessors[index]
                } else {
                    guard let attributes = primitive["attributes"] as? [String: Any], attributes["POSITION"] != nil
                    else { throw error("\(what) has no POSITION attribute") }
                    let index = try integer(attributes, "POSITION", what: what)
                    guard index < accessors.count else {
                        throw error("\(what) names accessor \(index), which does not exist")
                    }
                    count = accessors[index]
                }
                switch mode {
                case 4: total += count / 3
                case 5, 6: total += max(0, count - 2)
                default: break  // points and lines
                }
            }
            perMesh.append(total)
        }
        var placed = [Bool](repeating: false, count: meshes.count)
        var triangles = 0
        for (i, node) in try array("nodes").enumerated() where node["mesh"] != nil {
            let mesh = try integer(node, "mesh", what: "node \(i)")
            guard mesh < meshes.count else { throw error("node \(i) names mesh \(mesh), which does not exist") }
            triangles += perMesh[mesh]
            placed[mesh] = true
        }
        for (mesh, isPlaced) in placed.enumerated() where !isPlaced { triangles += perMesh[mesh] }
        return triangles
    }
}
