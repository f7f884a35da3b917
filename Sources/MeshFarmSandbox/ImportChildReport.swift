import MeshFarmMesh

/// What the child writes to its report file: the import's result (the mesh
/// itself goes to the artifact file) or the error. Read by the parent.
public struct ImportChildReport: Codable, Sendable, Equatable {
    public struct Success: Codable, Sendable, Equatable {
        public var format: ModelFormat
        public var fileBytes: Int
        public var unit: LengthUnit?
        public var packagePath: String?

        public init(format: ModelFormat, fileBytes: Int, unit: LengthUnit?, packagePath: String?) {
            self.format = format
            self.fileBytes = fileBytes
            self.unit = unit
            self.packagePath = packagePath
        }
    }

    public var success: Success?
    public var error: MeshError?

    public init(success: Success) { self.success = success }
    public init(error: MeshError) { self.error = error }

    /// Exit codes of the child program.
    public enum ExitCode {
        /// Imported; the report holds `success`, the artifact the mesh.
        public static let imported: Int32 = 0
        /// The file is unusable; the report holds `error`.
        public static let rejected: Int32 = 1
        /// The command line was wrong.
        public static let usage: Int32 = 2
        /// An allocation failed (the memory limit was reached).
        public static let outOfMemory: Int32 = 3
    }
}
