import CAssimp
import Foundation

/// The only files assimp may open during one import: the model itself and,
/// for formats with side files (`.gltf` + `.bin`, `.obj` + `.mtl`), files
/// inside one folder (the unpacked upload). Everything else (an absolute
/// buffer URI such as `/etc/passwd`, a `../` climb to another customer's
/// artifact) is refused as if it did not exist, so a model cannot pull
/// other files' bytes into its geometry. Read-only: assimp never writes.
///
/// assimp calls back through a C `aiFileIO` table; `UserData` carries this
/// object, and each open `aiFile` carries its `FILE *`.
final class AssimpConfinedIO {
    /// The path handed to assimp for the model (its extension picks the importer).
    let modelPath: String
    /// The real file behind `modelPath`.
    let realModelPath: String
    /// Side files must resolve inside this folder (no trailing slash); nil: none allowed.
    let sideFileRoot: String?
    /// Paths that were refused, for the error message.
    private(set) var refused: [String] = []

    init(modelPath: String, realModelPath: String, sideFileRoot: String?) {
        self.modelPath = modelPath
        self.realModelPath = Self.canonical(realModelPath) ?? realModelPath
        self.sideFileRoot = sideFileRoot.flatMap(Self.canonical)
    }

    static func canonical(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The real file to open for `requested`, or nil when it is not allowed.
    func resolve(_ requested: String) -> String? {
        if requested == modelPath { return realModelPath }
        guard let real = Self.canonical(requested) else { return nil }
        if real == realModelPath { return real }
        if let sideFileRoot, real.hasPrefix(sideFileRoot + "/") { return real }
        refused.append(requested)
        return nil
    }

    /// Runs `body` with an `aiFileIO` table bound to this object.
    func withFileIO<R>(_ body: (UnsafeMutablePointer<aiFileIO>) -> R) -> R {
        var io = aiFileIO()
        io.UserData = Unmanaged.passUnretained(self).toOpaque().assumingMemoryBound(to: CChar.self)
        io.OpenProc = { io, path, mode in
            guard let io, let path, let user = io.pointee.UserData else { return nil }
            let me = Unmanaged<AssimpConfinedIO>.fromOpaque(UnsafeRawPointer(user)).takeUnretainedValue()
            let modeText = mode.map { String(cString: $0) } ?? "rb"
            guard !modeText.contains("w"), !modeText.contains("a"), !modeText.contains("+") else { return nil }
            guard let real = me.resolve(String(cString: path)), let handle = fopen(real, "rb") else { return nil }
            let file = UnsafeMutablePointer<aiFile>.allocate(capacity: 1)
            file.initialize(to: aiFile())
            file.pointee.UserData = UnsafeMutableRawPointer(handle).assumingMemoryBound(to: CChar.self)
            file.pointee.ReadProc = { file, buffer, size, count in
                guard let file, let buffer, let handle = AssimpConfinedIO.handle(file) else { return 0 }
                return fread(buffer, size, count, handle)
            }
            file.pointee.WriteProc = { _, _, _, _ in 0 }
            file.pointee.TellProc = { file in
                guard let file, let handle = AssimpConfinedIO.handle(file) else { return 0 }
                return Int(max(0, ftello(handle)))
            }
            file.pointee.FileSizeProc = { file in
                guard let file, let handle = AssimpConfinedIO.handle(file) else { return 0 }
                var info = stat()
                return fstat(fileno(handle), &info) == 0 ? Int(info.st_size) : 0
            }
            file.pointee.SeekProc = { file, offset, origin in
                guard let file, let handle = AssimpConfinedIO.handle(file) else { return aiReturn_FAILURE }
                let whence: Int32 =
                    switch origin {
                    case aiOrigin_CUR: SEEK_CUR
                    case aiOrigin_END: SEEK_END
                    default: SEEK_SET
                    }
                return fseeko(handle, off_t(offset), whence) == 0 ? aiReturn_SUCCESS : aiReturn_FAILURE
            }
            file.pointee.FlushProc = { _ in }
            return file
        }
        io.CloseProc = { _, file in
            guard let file else { return }
            if let handle = AssimpConfinedIO.handle(file) { fclose(handle) }
            file.deinitialize(count: 1)
            file.deallocate()
        }
        return withExtendedLifetime(self) { body(&io) }
    }

    private static func handle(_ file: UnsafeMutablePointer<aiFile>) -> UnsafeMutablePointer<FILE>? {
        file.pointee.UserData.map { UnsafeMutableRawPointer($0).assumingMemoryBound(to: FILE.self) }
    }
}
