import ArgumentParser
import Foundation
import MeshFarmMesh

/// `meshfarm-bench split-phase`: one step of a split reduction (or the
/// unsplit one) on files, in a process of its own, so that the benchmark
/// reads each step's peak memory from the kernel. The same library calls
/// as the farm's handlers, without the HTTP transfers.
struct SplitPhase: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "split-phase", abstract: "One step of a split reduction on files (used by `split`).",
        shouldDisplay: false)

    @Option(help: "File to write this process's peak resident bytes to.")
    var report: String

    @Argument(
        help:
            "unsplit MESH RATIO OUT | partition MESH PARTS DIR | reduce-part PART RATIO OUT | stitch TARGET OUT PART..."
    )
    var words: [String]

    func run() throws {
        guard let phase = words.first else { throw ValidationError("no phase") }
        let rest = Array(words.dropFirst())
        switch (phase, rest.count) {
        case ("unsplit", 3):
            let mesh = try MeshArtifact.read(path: rest[0])
            let result = try Simplifier().simplify(mesh, to: .ratio(Double(rest[1])!))
            try MeshArtifact.write(result.mesh, to: rest[2])
        case ("partition", 3):
            let mesh = try MeshArtifact.read(path: rest[0])
            try MeshPartition.split(mesh, parts: Int(rest[1])!) { index, part in
                try PartArtifact.encode(part).write(to: URL(fileURLWithPath: "\(rest[2])/part-\(index)"))
            }
        case ("reduce-part", 3):
            let part = try PartArtifact.read(path: rest[0])
            let (reduced, _) = try part.reduced(ratio: Double(rest[1])!)
            try PartArtifact.encode(reduced).write(to: URL(fileURLWithPath: rest[2]))
        case ("stitch", 3...):
            let parts = try rest.dropFirst(2).map { try PartArtifact.read(path: $0) }
            let result = try MeshStitcher.stitch(parts, targetTriangles: Int(rest[0])!, partsErrorAbsolute: 0)
            try MeshArtifact.write(result.mesh, to: rest[1])
        default:
            throw ValidationError("unknown phase or wrong arguments: \(words.joined(separator: " "))")
        }
        // VmHWM: the peak of this program's own memory. (`wait4`'s
        // `ru_maxrss` would not do: a spawned child's starts at its
        // parent's peak, which the kernel carries across `exec`.)
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
        let kib = Int(line.split(whereSeparator: \.isWhitespace).dropFirst().first ?? "") ?? 0
        try "\(kib * 1024)".write(toFile: report, atomically: true, encoding: .utf8)
    }

    /// Runs a phase in a child process: its wall seconds and peak resident
    /// memory (bytes).
    static func measure(_ words: [String]) throws -> (seconds: Double, peakBytes: Int) {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let report = FileManager.default.temporaryDirectory.appendingPathComponent("split-phase-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: report) }
        let argv = [executable, "split-phase", "--report", report] + words
        var cArguments = argv.map { strdup($0) } + [nil]
        defer { for argument in cArguments { free(argument) } }
        var pid: pid_t = 0
        let start = DispatchTime.now().uptimeNanoseconds
        guard posix_spawn(&pid, executable, nil, nil, &cArguments, environ) == 0 else {
            throw ValidationError("cannot start \(executable)")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw ValidationError("waitpid failed: errno \(errno)") }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        guard status == 0, let peak = Int(try String(contentsOfFile: report, encoding: .utf8)) else {
            throw ValidationError("split-phase \(words.joined(separator: " ")) failed")
        }
        return (seconds, peak)
    }
}
