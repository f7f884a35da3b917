import CSandbox
import Foundation
import Logging
import MeshFarmMesh

/// Imports a model in a child process (`meshfarm-import`) under the
/// limits of an ``ImportContainment``, so that a crash, a runaway
/// allocation or a hang in a C importer fails that import with a reason
/// and touches nothing else: not the calling process, not its other tasks.
///
/// The child writes the welded mesh as a mesh artifact and a small JSON
/// report into a scratch folder; the parent reads both back. How the child
/// ended is judged by ``ImportVerdict``. Blocking: call from a thread that
/// may wait (a task thread), not from Swift's cooperative pool.
public struct ContainedImporter: ModelLoading {
    public var containment: ImportContainment
    public var limits: ImportLimits
    public var logger: Logger

    public init(
        containment: ImportContainment, limits: ImportLimits = ImportLimits(),
        logger: Logger = Logger(label: "meshfarm.import")
    ) {
        self.containment = containment
        self.limits = limits
        self.logger = logger
    }

    /// Imports `path`. Throws a ``MeshError`` when the file is at fault
    /// (including crashes, memory, CPU and time limits), a
    /// ``ContainedImportError`` when the importer could not run.
    public func load(path: String) throws -> ImportedModel {
        try load(path: path, artifact: nil)
    }

    /// Imports `path`, killing the child as soon as `stop` returns true.
    public func load(path: String, stop: @escaping @Sendable () -> Bool) throws -> ImportedModel {
        try load(path: path, artifact: nil, stop: stop)
    }

    /// Imports `path`; when `artifact` is given, the mesh artifact the child
    /// wrote is moved there (a caller that stores it saves re-encoding).
    public func load(path: String, artifact: URL?, stop: @Sendable () -> Bool = { false }) throws -> ImportedModel {
        let scratch = containment.scratchDirectory.appendingPathComponent("meshfarm-import-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        } catch {
            throw ContainedImportError.cannotStart("cannot create \(scratch.path): \(error)")
        }
        defer { try? FileManager.default.removeItem(at: scratch) }
        let meshFile = scratch.appendingPathComponent("mesh.mfmesh")
        let reportFile = scratch.appendingPathComponent("report.json")
        let stderrFile = scratch.appendingPathComponent("stderr.log")
        let limitsJSON = String(decoding: try JSONEncoder().encode(limits), as: UTF8.self)
        let arguments = [
            containment.executable, path, "--artifact", meshFile.path, "--report", reportFile.path, "--scratch",
            scratch.path, "--limits", limitsJSON,
        ]
        let exit = try run(
            arguments, stdout: scratch.appendingPathComponent("stdout.log"), stderr: stderrFile, stop: stop)
        let report = (try? Data(contentsOf: reportFile)).flatMap {
            try? JSONDecoder().decode(ImportChildReport.self, from: $0)
        }
        switch ImportVerdict.classify(exit, report: report, containment: containment) {
        case .imported(let success):
            let mesh: Mesh
            do { mesh = try MeshArtifact.read(path: meshFile.path) } catch {
                throw ContainedImportError.protocolBroken("its mesh artifact is unusable: \(error)")
            }
            if let artifact { try FileManager.default.moveItem(at: meshFile, to: artifact) }
            return ImportedModel(
                mesh: mesh, format: success.format, fileBytes: success.fileBytes, unit: success.unit,
                packagePath: success.packagePath)
        case .rejected(let error):
            if case .importCrashed = error { logCrash(error, path: path, stderr: stderrFile, exit: exit) }
            if case .importMemoryExceeded = error { logCrash(error, path: path, stderr: stderrFile, exit: exit) }
            throw error
        case .importerFailed(let reason):
            let detail = (try? String(contentsOf: stderrFile, encoding: .utf8))?.suffix(500) ?? ""
            throw ContainedImportError.protocolBroken("\(reason); its stderr ends: \(detail)")
        }
    }

    private func logCrash(_ error: MeshError, path: String, stderr: URL, exit: ChildExit) {
        // The start of stderr says what happened (glibc's "double free", Swift's "Program crashed: ...").
        let head = (try? String(contentsOf: stderr, encoding: .utf8)).map { String($0.prefix(800)) } ?? ""
        logger.warning(
            "contained import failed",
            metadata: [
                "file": "\(path)", "reason": "\(error)", "peak_vm_mib": "\(exit.peakAddressSpaceBytes >> 20)",
                "cpu_s": "\(exit.cpuSeconds)", "stderr": "\(head)",
            ])
    }

    /// Environment variables the child gets; everything else is withheld.
    static let passedVariables: Set<String> = [
        "PATH", "TMPDIR", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "GLIBC_TUNABLES", "SWIFT_BACKTRACE",
    ]

    static let allocatorTunables =
        "glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=33554432:glibc.malloc.top_pad=67108864"

    /// Starts the child with the limits, waits for it (killing it at the
    /// wall-clock deadline, or when `stop` says so) and reports how it
    /// ended.
    func run(_ arguments: [String], stdout: URL, stderr: URL, stop: () -> Bool = { false }) throws -> ChildExit {
        var childLimits = meshfarm_child_limits(
            address_space_bytes: UInt64(containment.memoryBytes), cpu_seconds: UInt64(containment.cpuSeconds),
            // Big enough for any artifact within the triangle limit and any unpacked archive.
            file_size_bytes: UInt64(max(limits.maxUncompressedBytes, 48 * limits.maxTriangles) + (64 << 20)))
        // Only what an importer needs: not the worker's broker URL and credentials, in case a
        // hostile file gets code running in the child.
        var variables = ProcessInfo.processInfo.environment.filter { Self.passedVariables.contains($0.key) }
        // The child is short-lived and allocates its whole working set fresh: transparent huge pages
        // for its heap (and no mmap per large block) turn ~40,000 page faults per million triangles
        // into ~2,000. Tunables the operator set still apply (later entries win).
        variables["GLIBC_TUNABLES"] = ([Self.allocatorTunables] + [variables["GLIBC_TUNABLES"]].compactMap { $0 })
            .joined(separator: ":")
        let environment = variables.map { "\($0)=\($1)" }
        var pid: pid_t = 0
        let status = withCStrings(arguments) { argv in
            withCStrings(environment) { envp in
                meshfarm_spawn_contained(
                    containment.executable, argv, envp, stdout.path, stderr.path, &childLimits, &pid)
            }
        }
        guard status == 0 else {
            throw ContainedImportError.cannotStart("\(containment.executable): \(String(cString: strerror(status)))")
        }
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(containment.wallSeconds * 1e9)
        var killed = false
        var waitStatus: Int32 = 0
        var usage = rusage()
        var peak = 0
        while true {
            // Wake every 50 ms to sample the child's address space (for the verdict on a crash).
            let now = DispatchTime.now().uptimeNanoseconds
            let remaining = deadline > now ? Int64((deadline - now) / 1_000_000) + 1 : 0
            let done = meshfarm_wait_timeout(pid, min(remaining, 50), &waitStatus, &usage)
            if done == pid { break }
            if done < 0 { throw ContainedImportError.protocolBroken("waiting for it failed: errno \(errno)") }
            peak = max(peak, Self.addressSpacePeak(pid))
            if stop() {
                kill(pid, SIGKILL)
                _ = meshfarm_wait(pid, 0, &waitStatus, &usage)
                throw ContainedImportError.stopped
            }
            if DispatchTime.now().uptimeNanoseconds >= deadline {
                kill(pid, SIGKILL)
                killed = true
                _ = meshfarm_wait(pid, 0, &waitStatus, &usage)
                break
            }
        }
        let signal = meshfarm_term_signal(waitStatus)
        let cpu =
            Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
            + Double(usage.ru_stime.tv_usec) / 1e6
        let errors = (try? FileHandle(forReadingFrom: stderr).read(upToCount: 4096)).flatMap { $0 }.map {
            String(decoding: $0, as: UTF8.self).lowercased()
        }
        let allocationFailed = ["bad_alloc", "could not allocate", "cannot allocate memory", "out of memory"].contains {
            errors?.contains($0) == true
        }
        return ChildExit(
            end: signal != 0 ? .signaled(signal) : .exited(meshfarm_exit_code(waitStatus)),
            killedAtDeadline: killed, cpuSeconds: cpu, peakAddressSpaceBytes: peak,
            reportedAllocationFailure: allocationFailed)
    }
}

extension ContainedImporter {
    /// `VmPeak` of a running process, bytes; 0 when it cannot be read.
    static func addressSpacePeak(_ pid: pid_t) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmPeak:") })
        else { return 0 }
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
    }
}

/// NUL-terminated copies of `strings` as a NULL-terminated `char *[]`.
func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    let pointers = strings.map { strdup($0) } + [nil]
    defer { pointers.forEach { free($0) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
