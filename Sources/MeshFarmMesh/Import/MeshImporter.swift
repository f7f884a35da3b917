import Foundation
import MeshFarmZip

/// A model loaded from a file: its welded mesh plus what the import learned.
public struct ImportedModel: Sendable {
    /// Welded mesh: exactly identical positions share one vertex.
    public var mesh: Mesh
    /// The detected format (of the model inside, for a zip upload).
    public var format: ModelFormat
    /// Size of the uploaded file in bytes.
    public var fileBytes: Int
    /// The unit of the mesh's coordinates, when the format declares one.
    public var unit: LengthUnit?
    /// For a zip upload: the model's path inside the archive.
    public var packagePath: String?

    public init(
        mesh: Mesh, format: ModelFormat, fileBytes: Int, unit: LengthUnit? = nil, packagePath: String? = nil
    ) {
        self.mesh = mesh
        self.format = format
        self.fileBytes = fileBytes
        self.unit = unit
        self.packagePath = packagePath
    }
}

/// Something that turns a model file into a mesh: ``MeshImporter`` in this
/// process, or a contained importer that runs it in a child process.
public protocol ModelLoading: Sendable {
    /// Imports the model at `path`; blocking. A ``MeshError`` says the file
    /// is at fault; any other error, that the loader could not do its work.
    func load(path: String) throws -> ImportedModel
    /// The same, giving up early once `stop` returns true (the task was
    /// abandoned); what it throws then does not matter.
    func load(path: String, stop: @escaping @Sendable () -> Bool) throws -> ImportedModel
}

extension ModelLoading {
    /// A loader that cannot stop midway finishes, then gives up.
    public func load(path: String, stop: @escaping @Sendable () -> Bool) throws -> ImportedModel {
        let model = try load(path: path)
        if stop() { throw CancellationError() }
        return model
    }
}

/// Imports model files, in this process, with format detection from
/// content, size claims checked before allocating, and validation.
///
/// | format | reader |
/// |---|---|
/// | PLY (ASCII, binary LE/BE; faces and tristrips) | ``PLYReader`` (own) |
/// | 3MF (core, components, production `p:path`) | ``ThreeMFReader`` (own, on ``ZipArchive`` and libxml2) |
/// | zip of a model and its side files | ``ModelArchive``, then the model's reader |
/// | OBJ, STL, glTF/GLB, OFF, COLLADA, FBX | assimp, files confined by ``AssimpConfinedIO`` |
///
/// Importing blocks, and C importers can crash or run away on hostile
/// files: services run it in a child process with limits (see
/// `MeshFarmSandbox`), never on Swift's cooperative pool.
public struct MeshImporter: ModelLoading {
    public var limits: ImportLimits
    /// Where zip uploads are unpacked (a fresh folder per import, removed after).
    public var scratchDirectory: URL

    public init(limits: ImportLimits = ImportLimits(), scratchDirectory: URL = FileManager.default.temporaryDirectory) {
        self.limits = limits
        self.scratchDirectory = scratchDirectory
    }

    /// Imports the model at `path`.
    public func load(path: String) throws(MeshError) -> ImportedModel {
        try load(path: path, archiveRoot: nil)
    }

    /// `archiveRoot`: the folder a zip upload was unpacked into, when `path` is inside it.
    private func load(path: String, archiveRoot: String?) throws(MeshError) -> ImportedModel {
        let (fileSize, prefix) = try Self.inspect(path)
        if fileSize == 0 { throw .emptyFile }
        if fileSize > limits.maxFileBytes { throw .fileTooLarge(bytes: fileSize, limit: limits.maxFileBytes) }
        let fileExtension = (path as NSString).pathExtension.lowercased()
        let format = try Self.detectFormat(prefix: prefix, fileSize: fileSize, fileExtension: fileExtension)
        switch format {
        case .threeMF, .zip:
            return try loadContainer(
                path: path, fileSize: fileSize, fileExtension: fileExtension, nested: archiveRoot != nil)
        default:
            try checkClaims(FormatDetector.claims(prefix: prefix, format: format), format: format, fileSize: fileSize)
            return try loadModel(
                path: path, format: format, fileSize: fileSize, fileExtension: fileExtension, sideFileRoot: archiveRoot)
        }
    }

    /// Size and first 4 KiB of a regular file.
    static func inspect(_ path: String) throws(MeshError) -> (size: Int, prefix: [UInt8]) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .unreadable(path: path, reason: "no such file")
        }
        if isDirectory.boolValue { throw .isDirectory(path: path) }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw .unreadable(path: path, reason: "permission denied or not a regular file")
        }
        defer { try? handle.close() }
        do {
            let size = Int(try handle.seekToEnd())
            try handle.seek(toOffset: 0)
            return (size, [UInt8](try handle.read(upToCount: 4096) ?? Data()))
        } catch {
            throw .unreadable(path: path, reason: "\(error)")
        }
    }

    /// A single model file.
    private func loadModel(
        path: String, format: ModelFormat, fileSize: Int, fileExtension: String, sideFileRoot: String?
    )
        throws(MeshError) -> ImportedModel
    {
        try SizeClaims.check(path: path, format: format, fileSize: fileSize, limits: limits, sideFileRoot: sideFileRoot)
        let mesh: Mesh
        if format.isPLY {
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
                throw .unreadable(path: path, reason: "\(error)")
            }
            mesh = try PLYReader(limits: limits).read(data)
        } else {
            mesh = try importWithAssimp(
                path: path, format: format, fileExtension: fileExtension, sideFileRoot: sideFileRoot)
        }
        let unit: LengthUnit? = format == .gltf || format == .glb ? .meter : nil  // glTF 2.0: "units ... are meters"
        return ImportedModel(mesh: try finish(mesh), format: format, fileBytes: fileSize, unit: unit)
    }

    /// A zip container: a 3MF package, or (at the top level only) a zip of
    /// one model and its side files.
    private func loadContainer(path: String, fileSize: Int, fileExtension: String, nested: Bool)
        throws(MeshError) -> ImportedModel
    {
        let reader = ThreeMFReader(limits: limits)
        let archive: ZipArchive
        do {
            archive = try ZipArchive(path: path, limits: reader.zipLimits)
        } catch {
            throw fileExtension == "3mf" ? ThreeMFReader.zipError(error) : ModelArchive.zipError(error)
        }
        if fileExtension == "3mf" || ModelArchive.isThreeMF(archive) {
            let result = try reader.read(archive)
            return ImportedModel(
                mesh: try finish(result.mesh), format: .threeMF, fileBytes: fileSize, unit: result.unit)
        }
        guard !nested else {
            throw .malformed(format: "zip", reason: "a zip archive inside a zip archive is not unpacked")
        }
        let entry = try ModelArchive.modelEntry(in: archive)
        let folder = scratchDirectory.appendingPathComponent("meshfarm-unpack-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw .unreadable(path: folder.path, reason: "cannot create a folder to unpack into: \(error)")
        }
        defer { try? FileManager.default.removeItem(at: folder) }
        try ModelArchive.extract(archive, to: folder)
        var model = try load(path: folder.appendingPathComponent(entry.name).path, archiveRoot: folder.path)
        model.fileBytes = fileSize
        model.packagePath = entry.name
        return model
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
        let supported = "OBJ, STL, PLY, glTF/GLB, 3MF, OFF, COLLADA, FBX, or a zip of one of them with its files"
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

    /// Checks that every coordinate used is finite, then merges vertices with
    /// exactly equal positions (treating -0 as 0) so triangles share edges:
    /// importers emit one vertex per face corner.
    func finish(_ mesh: Mesh) throws(MeshError) -> Mesh {
        if let bad = mesh.positions.firstIndex(where: { !$0.isFinite }) { throw .nonFiniteCoordinate(vertex: bad / 3) }
        return Welding.weld(mesh)
    }
}
