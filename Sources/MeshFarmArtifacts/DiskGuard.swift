import Foundation

/// Free space decides what the service accepts, as a pure value.
///
/// Above `minimumFree` everything is accepted. Under it new work is
/// refused (uploads, jobs: 507) while results of jobs already accepted are
/// still stored. Under `floor` those are refused too (507; workers wait
/// and try again) and the coordinator holds tasks that have not started,
/// so nothing accepted fails for a full disk: it waits for space.
public struct DiskGuard: Sendable, Equatable {
    public var minimumFree: Int64
    public var floor: Int64

    public init(minimumFree: Int64 = 2 << 30, floor: Int64 = 512 << 20) {
        self.minimumFree = max(minimumFree, floor)
        self.floor = floor
    }

    public enum Verdict: Sendable, Equatable {
        /// Everything is accepted.
        case accepting
        /// New uploads and jobs are refused; results are stored.
        case refusingNewWork
        /// Nothing is stored; tasks wait.
        case full
    }

    public func verdict(free: Int64) -> Verdict {
        if free < floor { return .full }
        if free < minimumFree { return .refusingNewWork }
        return .accepting
    }

    /// What asks for space.
    public enum Work: Sendable {
        /// An upload or a new job: refused under ``minimumFree``.
        case newWork
        /// A result of a job already accepted: refused under ``floor``.
        case result
    }

    /// Why `work` of `bytes` (an upload's announced length; 0 for a job)
    /// is refused with `free` bytes free, or nil when it is accepted.
    public func refusal(of work: Work, bytes: Int64, free: Int64) -> String? {
        switch work {
        case .newWork:
            guard free - bytes < minimumFree else { return nil }
            return Self.describe(
                free: free, under: minimumFree,
                what: "new uploads and jobs are refused until space is freed (delete finished jobs, or shorten "
                    + "the retention); jobs already accepted go on")
        case .result:
            guard free - bytes < floor else { return nil }
            return Self.describe(
                free: free, under: floor,
                what: "results are not stored until space is freed; workers keep them and try again, and tasks "
                    + "not started wait")
        }
    }

    /// Why no task should start with `free` bytes free (under the floor,
    /// as its result could not be stored), or nil: the coordinator's hold.
    public func holdReason(free: Int64) -> String? {
        guard verdict(free: free) == .full else { return nil }
        return Self.describe(free: free, under: floor, what: "tasks wait for space")
    }

    static func describe(free: Int64, under threshold: Int64, what: String) -> String {
        "the farm's storage is nearly full (\(bytes(free)) free, under the \(bytes(threshold)) it keeps); \(what)"
    }

    /// Bytes in words ("1.5 GB", binary units).
    public static func bytes(_ count: Int64) -> String {
        ByteCountFormatter.string(fromByteCount: count, countStyle: .binary)
    }
}

/// Free bytes of the file system holding a directory.
public protocol FreeSpaceReader: Sendable {
    func freeBytes() throws -> Int64
}

/// ``FreeSpaceReader`` through `statvfs(3)`: the bytes available to an
/// unprivileged process.
public struct FileSystemFreeSpace: FreeSpaceReader {
    public let path: String

    public init(path: String) { self.path = path }

    public func freeBytes() throws -> Int64 {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else {
            throw StorageError.io("cannot read the free space of \(path): \(String(cString: strerror(errno)))")
        }
        return Int64(info.f_bavail) * Int64(info.f_frsize)
    }
}

/// ``FreeSpaceReader`` with a value set by hand (tests).
public final class FixedFreeSpace: FreeSpaceReader, @unchecked Sendable {
    private let lock = NSLock()
    private var value: Int64

    public init(_ value: Int64) { self.value = value }

    public var bytes: Int64 {
        get { lock.withLock { value } }
        set { lock.withLock { value = newValue } }
    }

    public func freeBytes() throws -> Int64 { bytes }
}
