import CAssimp
import Foundation

/// The formats assimp reads (OBJ, STL, glTF/GLB, OFF, COLLADA, FBX): one
/// import under a process-wide lock (assimp's last-error string and loggers
/// are global), with file access confined by ``AssimpConfinedIO``.
extension MeshImporter {
    /// Post-processing asked of assimp: triangulate polygons, split meshes by
    /// primitive type (so points and lines are easy to skip), bake the node
    /// hierarchy's transforms into the vertices (glTF, COLLADA and FBX scenes
    /// place meshes with node matrices) and validate indices.
    static let postProcess: UInt32 =
        aiProcess_Triangulate.rawValue | aiProcess_SortByPType.rawValue
        | aiProcess_PreTransformVertices.rawValue | aiProcess_ValidateDataStructure.rawValue

    private static let lock = NSLock()

    /// Imports `path` as `format`. A file whose name does not carry the
    /// format's extension is presented to assimp under a name that does
    /// (assimp picks its importer by extension). `sideFileRoot`: the folder
    /// side files may come from (an unpacked upload); nil allows none.
    func importWithAssimp(path: String, format: ModelFormat, fileExtension: String, sideFileRoot: String?)
        throws(MeshError) -> Mesh
    {
        let folder = (path as NSString).deletingLastPathComponent
        let presented =
            format.extensions.contains(fileExtension)
            ? path : (folder as NSString).appendingPathComponent("meshfarm-model.\(format.assimpHint)")
        let io = AssimpConfinedIO(modelPath: presented, realModelPath: path, sideFileRoot: sideFileRoot)
        Self.lock.lock()
        defer { Self.lock.unlock() }
        let scene = io.withFileIO { fileIO in aiImportFileEx(presented, Self.postProcess, fileIO) }
        guard let scene else {
            var reason = String(cString: aiGetErrorString())
            if reason.isEmpty { reason = "assimp could not read it" }
            if reason.contains("bad_alloc") { throw .outOfMemory }
            if let refused = io.refused.first {
                reason += " (it refers to '\(refused)', outside the uploaded files)"
            }
            throw .malformed(format: format.rawValue, reason: reason)
        }
        defer { aiReleaseImport(scene) }
        return try extractTriangles(scene.pointee)
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

}
