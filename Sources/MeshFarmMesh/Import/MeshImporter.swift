import CAssimp
import CMeshOptimizer
import Foundation

/// A model loaded from a file: its welded mesh plus what the import learned.
public struct ImportedModel: Sendable {
    /// Welded mesh: exactly identical positions share one vertex.
    public var mesh: Mesh
    /// The detected format.
    public var format: ModelFormat
    /// Size of the source file in bytes.
    public var fileBytes: Int
}

/// Imports model files through assimp, with format detection from content,
/// header sanity checks and validation.
///
/// assimp keeps its last error in a process-wide variable and its loggers
/// are global, so imports are serialized by a lock. Importing blocks: call it
/// from a dedicated thread, not from Swift's cooperative pool.
public struct MeshImporter: Sendable {
    public var limits: ImportLimits

    public init(limits: ImportLimits = ImportLimits()) {
        self.limits = limits
    }

    /// Post-processing asked of assimp: triangulate polygons, split meshes by
    /// primitive type (so points and lines are easy to skip), bake the node
    /// hierarchy's transforms into the vertices (glTF, COLLADA and FBX scenes
    /// place meshes with node matrices) and validate indices.
    static let postProcess: UInt32 =
        aiProcess_Triangulate.rawValue | aiProcess_SortByPType.rawValue
        | aiProcess_PreTransformVertices.rawValue | aiProcess_ValidateDataStructure.rawValue

    private static let lock = NSLock()

    /// Imports the model at `path`.
    public func load(path: String) throws(MeshError) -> ImportedModel {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .unreadable(path: path, reason: "no such file")
        }
        if isDirectory.boolValue { throw .isDirectory(path: path) }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw .unreadable(path: path, reason: "permission denied or not a regular file")
        }
        defer { try? handle.close() }
        let fileSize: Int
        let prefix: [UInt8]
        do {
            fileSize = Int(try handle.seekToEnd())
            try handle.seek(toOffset: 0)
            prefix = [UInt8](try handle.read(upToCount: 4096) ?? Data())
        } catch {
            throw .unreadable(path: path, reason: "\(error)")
        }
        if fileSize == 0 { throw .emptyFile }
        if fileSize > limits.maxFileBytes { throw .fileTooLarge(bytes: fileSize, limit: limits.maxFileBytes) }

        let fileExtension = (path as NSString).pathExtension.lowercased()
        let format = try Self.detectFormat(prefix: prefix, fileSize: fileSize, fileExtension: fileExtension)
        try checkClaims(FormatDetector.claims(prefix: prefix, format: format), format: format, fileSize: fileSize)

        let mesh: Mesh
        if format.isPLY {
            mesh = try load(data: try Self.readAll(path), format: format)
        } else if format.extensions.contains(fileExtension) {
            // By path, so formats with side files (.gltf + .bin, .obj + .mtl) resolve them.
            mesh = try importScene(format: format) { flags in aiImportFile(path, flags) }
        } else {
            // Misnamed file: feed the bytes with the detected format as the hint.
            mesh = try load(data: try Self.readAll(path), format: format)
        }
        return ImportedModel(mesh: mesh, format: format, fileBytes: fileSize)
    }

    /// Imports a model held in memory (self-contained formats only: a glTF
    /// with external buffers needs ``load(path:)``).
    public func load(data: Data) throws(MeshError) -> ImportedModel {
        if data.isEmpty { throw .emptyFile }
        if data.count > limits.maxFileBytes { throw .fileTooLarge(bytes: data.count, limit: limits.maxFileBytes) }
        let prefix = [UInt8](data.prefix(4096))
        let format = try Self.detectFormat(prefix: prefix, fileSize: data.count, fileExtension: "")
        try checkClaims(FormatDetector.claims(prefix: prefix, format: format), format: format, fileSize: data.count)
        return ImportedModel(mesh: try load(data: data, format: format), format: format, fileBytes: data.count)
    }

    private static func readAll(_ path: String) throws(MeshError) -> Data {
        do { return try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw .unreadable(path: path, reason: "\(error)")
        }
    }

    private func load(data: Data, format: ModelFormat) throws(MeshError) -> Mesh {
        if format.isPLY { return try finish(try PLYReader(limits: limits).read(data)) }
        return try importScene(format: format) { flags in
            data.withUnsafeBytes { bytes in
                aiImportFileFromMemory(
                    bytes.baseAddress!.assumingMemoryBound(to: CChar.self), UInt32(bytes.count), flags,
                    format.assimpHint)
            }
        }
    }

    static func detectFormat(prefix: [UInt8], fileSize: Int, fileExtension: String) throws(MeshError) -> ModelFormat {
        if let format = FormatDetector.detect(prefix: prefix, fileSize: fileSize) { return format }
        if fileExtension == "stl", fileSize >= 84, prefix.count >= 84 {
            let count = Int(FormatDetector.littleEndianUInt32(prefix, at: 80))
            throw .malformed(
                format: "binary STL",
                reason:
                    "truncated or padded: the header announces \(count) triangles (\(84 + 50 * count) bytes) but the file has \(fileSize) bytes"
            )
        }
        if fileExtension == "stl" { throw .malformed(format: "binary STL", reason: "shorter than the 84-byte header") }
        let supported = "OBJ, STL, PLY, glTF/GLB, 3MF, OFF, COLLADA, FBX"
        throw .unsupportedFormat(detail: "the content matches none of \(supported)")
    }

    private func checkClaims(_ claims: FormatDetector.Claims, format: ModelFormat, fileSize: Int) throws(MeshError) {
        if let faces = claims.faces, faces > limits.maxTriangles {
            throw .tooManyTriangles(count: faces, limit: limits.maxTriangles)
        }
        if let minimum = claims.minimumBytes, minimum > fileSize {
            throw .malformed(
                format: format.rawValue,
                reason:
                    "the header announces \(claims.faces ?? 0) faces and \(claims.vertices ?? 0) vertices, which need at least \(minimum) bytes, but the file has \(fileSize)"
            )
        }
    }

    /// Runs one assimp import under the global lock and converts the scene.
    private func importScene(
        format: ModelFormat, _ run: (UInt32) -> UnsafePointer<aiScene>?
    ) throws(MeshError) -> Mesh {
        Self.lock.lock()
        defer { Self.lock.unlock() }
        guard let scene = run(Self.postProcess) else {
            let reason = String(cString: aiGetErrorString())
            throw .malformed(format: format.rawValue, reason: reason.isEmpty ? "assimp could not read it" : reason)
        }
        defer { aiReleaseImport(scene) }
        return try finish(try extractTriangles(scene.pointee))
    }

    /// Concatenates the triangles of every mesh in the scene, skipping point
    /// and line primitives.
    private func extractTriangles(_ scene: aiScene) throws(MeshError) -> Mesh {
        let meshes = (0..<Int(scene.mNumMeshes)).compactMap { scene.mMeshes[$0]?.pointee }
        var triangleTotal = 0
        var vertexTotal = 0
        for mesh in meshes where mesh.mPrimitiveTypes & aiPrimitiveType_TRIANGLE.rawValue != 0 {
            triangleTotal += Int(mesh.mNumFaces)
            vertexTotal += Int(mesh.mNumVertices)
        }
        if triangleTotal == 0 { throw .noTriangles }
        if triangleTotal > limits.maxTriangles {
            throw .tooManyTriangles(count: triangleTotal, limit: limits.maxTriangles)
        }

        var positions = [Float]()
        positions.reserveCapacity(vertexTotal * 3)
        var indices = [UInt32]()
        indices.reserveCapacity(triangleTotal * 3)
        for mesh in meshes where mesh.mPrimitiveTypes & aiPrimitiveType_TRIANGLE.rawValue != 0 {
            let base = UInt32(positions.count / 3)
            let vertexCount = Int(mesh.mNumVertices)
            for v in 0..<vertexCount {
                let p = mesh.mVertices[v]
                positions.append(p.x)
                positions.append(p.y)
                positions.append(p.z)
            }
            for f in 0..<Int(mesh.mNumFaces) {
                let face = mesh.mFaces[f]
                guard face.mNumIndices == 3 else { continue }  // stray point/line in a mixed mesh
                for corner in 0..<3 {
                    let index = Int(face.mIndices[corner])
                    guard index < vertexCount else {
                        throw .indexOutOfRange(triangle: indices.count / 3, index: index, vertexCount: vertexCount)
                    }
                    indices.append(base + UInt32(index))
                }
            }
        }
        if indices.isEmpty { throw .noTriangles }
        return Mesh(positions: positions, indices: indices)
    }

    /// Checks that every coordinate used is finite, then merges vertices with
    /// exactly equal positions (treating -0 as 0) so triangles share edges:
    /// importers emit one vertex per face corner.
    private func finish(_ mesh: Mesh) throws(MeshError) -> Mesh {
        if let bad = mesh.positions.firstIndex(where: { !$0.isFinite }) { throw .nonFiniteCoordinate(vertex: bad / 3) }
        return Welding.weld(mesh)
    }
}
