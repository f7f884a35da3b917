import Foundation
import MeshFarmGPUWorker
import MeshFarmMesh
import MeshFarmMessaging
import MeshFarmRender
import MeshFarmWorker
import Testing

/// One classification for every handler: transient trouble is retried, bad
/// content fails the job at once.
@Suite struct FailureClassifierTests {
    struct Unknown: Error {}

    func classify(_ error: any Error) -> (retryable: Bool, message: String) {
        let failure = FailureClassifier.classify(error)
        return (failure.retryable, failure.message)
    }

    @Test func badContentIsPermanent() {
        #expect(classify(MeshError.emptyFile).retryable == false)
        #expect(classify(RenderError("supersampling must be 1, 2 or 4, got 3")).retryable == false)
        #expect(
            classify(DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "x"))).retryable == false)
    }

    @Test func transientTroubleIsRetried() {
        #expect(classify(MeshError.unreadable(path: "/tmp/a.obj", reason: "busy")).retryable)
        #expect(classify(VulkanError("device lost")).retryable)
        #expect(classify(URLError(.timedOut)).retryable)
        #expect(classify(Unknown()).retryable)
    }

    @Test func aLostDeviceOrAFullDiskBreaksTheWorkerNotTheTask() {
        #expect(FailureClassifier.unhealthy(VulkanError("queue submit", result: -4)) != nil)  // VK_ERROR_DEVICE_LOST
        #expect(FailureClassifier.unhealthy(VulkanError("out of memory", result: -2)) == nil)
        #expect(FailureClassifier.unhealthy(POSIXError(.ENOSPC)) != nil)
        #expect(FailureClassifier.unhealthy(CocoaError(.fileWriteOutOfSpace)) != nil)
        #expect(FailureClassifier.unhealthy(MeshError.emptyFile) == nil)
        #expect(FailureClassifier.unhealthy(URLError(.timedOut)) == nil)
    }

    @Test func aHandlersOwnVerdictStandsAndMessagesSayWhatHappened() {
        #expect(classify(TaskFailure.permanent("no such view")) == (false, "no such view"))
        let message = classify(MeshError.emptyFile).message
        #expect(message == MeshError.emptyFile.description)
    }
}
