import Foundation

/// The limits a contained import runs under, and where its program is.
///
/// Defaults: memory is this machine's (or container's) memory divided by the
/// number of imports that may run at once, so the child and not its parent
/// is what runs out; CPU time and wall time 10 minutes each.
public struct ImportContainment: Sendable, Equatable {
    /// The importer program (`meshfarm-import`).
    public var executable: String
    /// Address-space limit of the child, bytes (RLIMIT_AS).
    public var memoryBytes: Int
    /// CPU-time limit, seconds (RLIMIT_CPU).
    public var cpuSeconds: Int
    /// Wall-clock limit, seconds; the parent kills the child after it.
    public var wallSeconds: Double
    /// Where each import gets its scratch folder (artifact, report, unpacked zips).
    public var scratchDirectory: URL

    public init(
        executable: String, memoryBytes: Int, cpuSeconds: Int = 600, wallSeconds: Double = 600,
        scratchDirectory: URL = FileManager.default.temporaryDirectory
    ) {
        self.executable = executable
        self.memoryBytes = memoryBytes
        self.cpuSeconds = cpuSeconds
        self.wallSeconds = wallSeconds
        self.scratchDirectory = scratchDirectory
    }

    /// Defaults for a process running `concurrency` imports at once, with
    /// the importer found by ``defaultExecutable()``.
    public static func defaults(concurrency: Int = 1) throws -> ImportContainment {
        ImportContainment(
            executable: try defaultExecutable(), memoryBytes: machineMemoryBytes() / max(1, concurrency))
    }

    /// `MESHFARM_IMPORTER`, else `meshfarm-import` beside the running program.
    public static func defaultExecutable() throws -> String {
        if let path = ProcessInfo.processInfo.environment["MESHFARM_IMPORTER"], !path.isEmpty { return path }
        let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let sibling = me.deletingLastPathComponent().appendingPathComponent("meshfarm-import").path
        guard FileManager.default.isExecutableFile(atPath: sibling) else {
            throw ContainedImportError.noImporter(
                "meshfarm-import is not beside \(me.path); install it there or name it with --importer / MESHFARM_IMPORTER"
            )
        }
        return sibling
    }

    /// The memory this process may use: its cgroup's limit (v2, then v1)
    /// when one is set, else the machine's physical memory.
    public static func machineMemoryBytes() -> Int {
        let physical = Int(ProcessInfo.processInfo.physicalMemory)
        for file in ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"] {
            if let text = try? String(contentsOfFile: file, encoding: .utf8),
                let limit = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), limit > 0, limit < physical
            {
                return limit
            }
        }
        return physical
    }
}

/// Byte sizes as people write them: `8GiB`, `512M`, `1.5G`, `1048576`.
public enum ByteSize {
    public static func parse(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        let number = trimmed.prefix { $0.isNumber || $0 == "." }
        guard let value = Double(number), value >= 0 else { return nil }
        let unit = trimmed.dropFirst(number.count).trimmingCharacters(in: .whitespaces)
        let scale: Double
        switch unit {
        case "", "b": scale = 1
        case "k", "kb", "kib": scale = 1024
        case "m", "mb", "mib": scale = 1_048_576
        case "g", "gb", "gib": scale = 1_073_741_824
        case "t", "tb", "tib": scale = 1_099_511_627_776
        default: return nil
        }
        let bytes = value * scale
        return bytes < Double(Int.max / 2) ? Int(bytes) : nil
    }
}

/// The importer could not be run at all: a problem of this worker (a
/// missing program, no disk for the scratch folder), not of the file.
public enum ContainedImportError: Error, Sendable, CustomStringConvertible {
    case noImporter(String)
    case cannotStart(String)
    case protocolBroken(String)
    /// The caller gave up (its task was abandoned); the child was killed.
    case stopped

    public var description: String {
        switch self {
        case .noImporter(let reason): "no importer: \(reason)"
        case .cannotStart(let reason): "cannot start the importer: \(reason)"
        case .protocolBroken(let reason): "the importer misbehaved: \(reason)"
        case .stopped: "the import was stopped: its task was abandoned"
        }
    }
}
