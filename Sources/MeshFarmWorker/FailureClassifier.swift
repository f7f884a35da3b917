import Foundation
import MeshFarmJobs
import MeshFarmMesh
import MeshFarmMessaging

/// An error that knows whether trying again could help. Libraries' error
/// types conform where the worker modules see them (`MeshError` here,
/// `RenderError` and `VulkanError` in `MeshFarmGPUWorker`), so one
/// classifier serves every handler.
public protocol RetryClassified: Error, CustomStringConvertible {
    /// True for transient trouble (I/O, a device), false for bad content.
    var isRetryable: Bool { get }
    /// True when the worker, not the task, is broken (a lost device): the
    /// task is handed back and the worker steps aside (`WorkerUnhealthy`).
    var breaksTheWorker: Bool { get }
}

extension RetryClassified {
    public var breaksTheWorker: Bool { false }
}

/// How every handler, CPU or GPU, classes what went wrong: bad content is
/// permanent (retrying cannot help), and so is an import that crashed or ran
/// over its limits in its child process: the same file does it again.
/// Transient I/O (an artifact download, a missing importer program, a file
/// that cannot be read right now) is worth a retry, as is anything unknown.
public enum FailureClassifier {
    /// The worker is broken, not the task: a lost device, or no space left
    /// on its disk (`ENOSPC`, from a write of its own).
    public static func unhealthy(_ error: any Error) -> WorkerUnhealthy? {
        switch error {
        case let unhealthy as WorkerUnhealthy: return unhealthy
        case let known as any RetryClassified where known.breaksTheWorker: return WorkerUnhealthy(known.description)
        default:
            let ns = error as NSError
            if (ns.domain == NSPOSIXErrorDomain && ns.code == Int(ENOSPC))
                || (ns.domain == NSCocoaErrorDomain && ns.code == CocoaError.fileWriteOutOfSpace.rawValue)
            {
                return WorkerUnhealthy("no space left on the worker's disk: \(error)")
            }
            return nil
        }
    }

    public static func classify(_ error: any Error) -> TaskFailure {
        switch error {
        case let failure as TaskFailure: failure
        case let known as any RetryClassified:
            known.isRetryable ? .retryable(known.description) : .permanent(known.description)
        case is DecodingError: .permanent("malformed task data: \(error)")
        default: .retryable("\(error)")
        }
    }
}

extension MeshError: RetryClassified {
    /// Only a file that cannot be read right now is worth another try; every
    /// other mesh error is about the content.
    public var isRetryable: Bool {
        if case .unreadable = self { return true }
        return false
    }
}

extension FailureClassifier {
    /// A task routed to the wrong handler (a bug): permanent.
    public static func mismatch(_ task: JobTask) -> TaskFailure {
        .permanent("the \(task.kind) handler got a \(task.payload.kind.rawValue) payload")
    }
}
