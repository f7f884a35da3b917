import Foundation
import MeshFarmMesh

/// How a contained import ended, as the parent saw it.
public struct ChildExit: Sendable, Equatable {
    public enum End: Sendable, Equatable {
        case exited(Int32)
        case signaled(Int32)
    }

    public var end: End
    /// The parent killed it at the wall-clock deadline.
    public var killedAtDeadline: Bool
    /// User + system CPU time it used.
    public var cpuSeconds: Double
    /// The largest address space it was seen to use (its `VmPeak`, sampled
    /// while it ran: `wait4`'s `ru_maxrss` cannot be used, because exec
    /// records the pre-exec high-water mark, the parent's, in it).
    public var peakAddressSpaceBytes: Int
    /// Whether its stderr reports a failed allocation (`std::bad_alloc`,
    /// Swift's "could not allocate memory", glibc's "Cannot allocate memory").
    public var reportedAllocationFailure: Bool

    public init(
        end: End, killedAtDeadline: Bool = false, cpuSeconds: Double = 0, peakAddressSpaceBytes: Int = 0,
        reportedAllocationFailure: Bool = false
    ) {
        self.end = end
        self.killedAtDeadline = killedAtDeadline
        self.cpuSeconds = cpuSeconds
        self.peakAddressSpaceBytes = peakAddressSpaceBytes
        self.reportedAllocationFailure = reportedAllocationFailure
    }
}

/// Turns a child's end into the import's outcome. Pure: tested without processes.
///
/// | the child... | outcome |
/// |---|---|
/// | was killed at the wall-clock deadline | ``MeshError/importTimedOut(seconds:)`` |
/// | got SIGXCPU, or SIGKILL after using its CPU time | ``MeshError/importCPUExceeded(seconds:)`` |
/// | exited 0 with a success report | the result |
/// | exited 1 with an error report | that ``MeshError`` (the file's fault) |
/// | exited 3 (an allocation failed) | ``MeshError/importMemoryExceeded(limitBytes:)`` |
/// | got SIGKILL from someone else (the OOM killer) | ``MeshError/importMemoryExceeded(limitBytes:)`` |
/// | died of another signal after an allocation failed (its address space seen at 3/4 of the limit or more, or its stderr says so) | ``MeshError/importMemoryExceeded(limitBytes:)`` |
/// | died of another signal | ``MeshError/importCrashed(signal:)`` |
/// | exited otherwise, or without a readable report | ``ContainedImportError/protocolBroken(_:)`` |
///
/// Every ``MeshError`` outcome is permanent: the file did it, and the same
/// file will do it again.
public enum ImportVerdict {
    public enum Outcome: Sendable, Equatable {
        case imported(ImportChildReport.Success)
        case rejected(MeshError)
        /// Not the file's fault (a broken importer installation).
        case importerFailed(String)
    }

    public static func classify(_ exit: ChildExit, report: ImportChildReport?, containment: ImportContainment)
        -> Outcome
    {
        if exit.killedAtDeadline { return .rejected(.importTimedOut(seconds: containment.wallSeconds)) }
        let memory = MeshError.importMemoryExceeded(limitBytes: containment.memoryBytes)
        switch exit.end {
        case .signaled(let signal):
            if signal == SIGXCPU || (signal == SIGKILL && exit.cpuSeconds >= Double(containment.cpuSeconds) - 0.5) {
                return .rejected(.importCPUExceeded(seconds: Double(containment.cpuSeconds)))
            }
            if signal == SIGKILL { return .rejected(memory) }
            // An allocation that failed at the limit often ends in a crash (a C importer
            // dereferencing NULL, Swift's runtime trapping, an uncaught bad_alloc).
            if exit.reportedAllocationFailure || exit.peakAddressSpaceBytes >= containment.memoryBytes / 4 * 3 {
                return .rejected(memory)
            }
            return .rejected(.importCrashed(signal: signalName(signal)))
        case .exited(ImportChildReport.ExitCode.outOfMemory):
            return .rejected(memory)
        case .exited(ImportChildReport.ExitCode.imported):
            guard let success = report?.success else { return .importerFailed("it exited 0 without a result") }
            return .imported(success)
        case .exited(ImportChildReport.ExitCode.rejected):
            guard let error = report?.error else { return .importerFailed("it exited 1 without an error report") }
            if error == .outOfMemory { return .rejected(memory) }
            return .rejected(error)
        case .exited(let code):
            return .importerFailed("it exited with status \(code)")
        }
    }

    /// "SIGSEGV", or "signal N" for one without a usual name.
    public static func signalName(_ signal: Int32) -> String {
        let names: [Int32: String] = [
            SIGSEGV: "SIGSEGV", SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGILL: "SIGILL", SIGFPE: "SIGFPE",
            SIGTRAP: "SIGTRAP", SIGKILL: "SIGKILL", SIGTERM: "SIGTERM", SIGXCPU: "SIGXCPU", SIGXFSZ: "SIGXFSZ",
            SIGSYS: "SIGSYS", SIGPIPE: "SIGPIPE",
        ]
        return names[signal] ?? "signal \(signal)"
    }
}
