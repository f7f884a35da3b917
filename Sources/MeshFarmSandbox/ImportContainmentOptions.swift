import ArgumentParser
import Foundation
import MeshFarmMesh

/// Command-line options of the contained import, shared by the CPU worker
/// and the `meshfarm` commands that import models. Each has a `MESHFARM_*`
/// environment variable; the flag wins.
public struct ImportContainmentOptions: ParsableArguments {
    @Option(
        help: "The importer program run for each import (MESHFARM_IMPORTER; default: meshfarm-import beside this one).")
    public var importer: String?

    @Option(
        help: """
            Memory limit of one import, e.g. 4GiB (MESHFARM_IMPORT_MEMORY; default: this machine's or container's \
            memory divided by the imports that may run at once).
            """)
    public var importMemory: String?

    @Option(help: "CPU-time limit of one import in seconds (MESHFARM_IMPORT_CPU_SECONDS; default 600).")
    public var importCpuSeconds: Int?

    @Option(help: "Wall-clock limit of one import in seconds (MESHFARM_IMPORT_TIMEOUT; default 600).")
    public var importTimeout: Double?

    public init() {}

    public func validate() throws {
        if let importMemory = value(importMemory, "MESHFARM_IMPORT_MEMORY"), ByteSize.parse(importMemory) == nil {
            throw ValidationError("--import-memory must be a size such as 4GiB or 512MiB, got '\(importMemory)'")
        }
        if let seconds = importCpuSeconds, seconds < 1 { throw ValidationError("--import-cpu-seconds must be >= 1") }
        if let seconds = importTimeout, !(seconds > 0) { throw ValidationError("--import-timeout must be > 0") }
    }

    /// The containment for a process that runs `concurrency` imports at once.
    public func containment(concurrency: Int) throws -> ImportContainment {
        let environment = ProcessInfo.processInfo.environment
        var containment = ImportContainment(
            executable: try value(importer, "MESHFARM_IMPORTER") ?? ImportContainment.defaultExecutable(),
            memoryBytes: ImportContainment.machineMemoryBytes() / max(1, concurrency))
        if let text = value(importMemory, "MESHFARM_IMPORT_MEMORY") {
            guard let bytes = ByteSize.parse(text) else { throw ValidationError("bad import memory '\(text)'") }
            containment.memoryBytes = bytes
        }
        if let seconds = importCpuSeconds ?? environment["MESHFARM_IMPORT_CPU_SECONDS"].flatMap({ Int($0) }) {
            containment.cpuSeconds = seconds
        }
        if let seconds = importTimeout ?? environment["MESHFARM_IMPORT_TIMEOUT"].flatMap({ Double($0) }) {
            containment.wallSeconds = seconds
        }
        return containment
    }

    private func value(_ flag: String?, _ variable: String) -> String? {
        flag ?? ProcessInfo.processInfo.environment[variable].flatMap { $0.isEmpty ? nil : $0 }
    }
}
