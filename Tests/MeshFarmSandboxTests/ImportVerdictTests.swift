import Foundation
import MeshFarmMesh
import MeshFarmSandbox
import Testing

/// How a child's end becomes an outcome, as plain values.
@Suite struct ImportVerdictTests {
    static let containment = ImportContainment(
        executable: "/bin/false", memoryBytes: 8 << 30, cpuSeconds: 120, wallSeconds: 600)
    static let success = ImportChildReport.Success(format: .obj, fileBytes: 10, unit: nil, packagePath: nil)

    func classify(_ exit: ChildExit, _ report: ImportChildReport? = nil) -> ImportVerdict.Outcome {
        ImportVerdict.classify(exit, report: report, containment: Self.containment)
    }

    @Test func cleanEnds() {
        #expect(
            classify(ChildExit(end: .exited(0)), ImportChildReport(success: Self.success)) == .imported(Self.success))
        #expect(classify(ChildExit(end: .exited(1)), ImportChildReport(error: .noTriangles)) == .rejected(.noTriangles))
        #expect(
            classify(ChildExit(end: .exited(1)), ImportChildReport(error: .outOfMemory))
                == .rejected(.importMemoryExceeded(limitBytes: 8 << 30)))
    }

    @Test func limits() {
        let timeout = classify(ChildExit(end: .signaled(SIGKILL), killedAtDeadline: true, cpuSeconds: 3))
        #expect(timeout == .rejected(.importTimedOut(seconds: 600)))
        #expect("\(MeshError.importTimedOut(seconds: 600))" == "import took longer than 10 minutes")
        #expect(
            classify(ChildExit(end: .signaled(SIGXCPU), cpuSeconds: 120)) == .rejected(.importCPUExceeded(seconds: 120))
        )
        // The hard CPU limit (soft + 5 s) ends in SIGKILL.
        #expect(
            classify(ChildExit(end: .signaled(SIGKILL), cpuSeconds: 125)) == .rejected(.importCPUExceeded(seconds: 120))
        )
        #expect(classify(ChildExit(end: .exited(3))) == .rejected(.importMemoryExceeded(limitBytes: 8 << 30)))
        #expect("\(MeshError.importMemoryExceeded(limitBytes: 8 << 30))" == "import exceeded its 8 GiB memory limit")
    }

    @Test func crashesAndTheOOMKiller() {
        #expect(
            classify(ChildExit(end: .signaled(SIGSEGV), peakAddressSpaceBytes: 400 << 20))
                == .rejected(.importCrashed(signal: "SIGSEGV")))
        #expect("\(MeshError.importCrashed(signal: "SIGSEGV"))" == "the importer crashed on this file (SIGSEGV)")
        #expect(classify(ChildExit(end: .signaled(SIGABRT))) == .rejected(.importCrashed(signal: "SIGABRT")))
        // An uncaught std::bad_alloc aborts: the stderr says why.
        #expect(
            classify(ChildExit(end: .signaled(SIGABRT), reportedAllocationFailure: true))
                == .rejected(.importMemoryExceeded(limitBytes: 8 << 30)))
        // A crash while holding most of the allowed memory: an allocation failed.
        #expect(
            classify(ChildExit(end: .signaled(SIGSEGV), peakAddressSpaceBytes: 7 << 30))
                == .rejected(.importMemoryExceeded(limitBytes: 8 << 30)))
        // SIGKILL that the parent did not send, early in CPU time: the kernel's OOM killer.
        #expect(
            classify(ChildExit(end: .signaled(SIGKILL), cpuSeconds: 2))
                == .rejected(.importMemoryExceeded(limitBytes: 8 << 30)))
    }

    @Test func brokenImporterIsNotTheFilesFault() {
        guard case .importerFailed = classify(ChildExit(end: .exited(0))) else {
            Issue.record("exit 0 without a report must not count as imported")
            return
        }
        guard case .importerFailed = classify(ChildExit(end: .exited(2))) else {
            Issue.record("a usage error is the installation's fault")
            return
        }
    }

    @Test func sizesAndDurationsReadWell() {
        #expect(
            ByteSize.parse("8GiB") == 8 << 30 && ByteSize.parse("512M") == 512 << 20
                && ByteSize.parse("1.5g") == 3 << 29)
        #expect(ByteSize.parse("100") == 100 && ByteSize.parse("lots") == nil && ByteSize.parse("-1G") == nil)
        #expect("\(MeshError.importCPUExceeded(seconds: 90))" == "import used more than 1.5 minutes of CPU time")
        #expect("\(MeshError.importTimedOut(seconds: 2))" == "import took longer than 2 seconds")
        #expect("\(MeshError.importTimedOut(seconds: 3600))" == "import took longer than 1 hour")
    }
}
