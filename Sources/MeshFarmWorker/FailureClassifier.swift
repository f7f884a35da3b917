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
}

/// How every handler, CPU or GPU, classes what went wrong: bad content is
/// permanent (retrying cannot help), and so is an import that crashed or ran
/// over its limits in its child process: the same file does it again.
/// Transient I/O (an artifact download, a missing importer program, a file
/// that cannot be read right now) is worth a retry, as is anything unknown.
public enum FailureClassifier {
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
