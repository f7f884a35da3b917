import Foundation
import MeshFarmMesh
import MeshFarmSandbox
import MeshFarmTestSupport
import Testing

/// Real child processes: good files import exactly as in-process, and each
/// way an importer can go wrong fails that import with its reason while
/// this (the parent) process carries on.
@Suite(.serialized) struct ContainedImporterTests {
    let directory = TestEnvironment.outputDirectory("contained")

    func containment(memory: Int = 1 << 30, cpu: Int = 30, wall: Double = 30, test: Bool = true) -> ImportContainment {
        ImportContainment(
            executable: TestEnvironment.executable(test ? "meshfarm-test-importer" : "meshfarm-import"),
            memoryBytes: memory, cpuSeconds: cpu, wallSeconds: wall)
    }

    func file(_ name: String, _ content: String) throws -> String {
        let path = directory.appendingPathComponent(name).path
        try content.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func failure(_ path: String, _ containment: ImportContainment) -> Error? {
        do {
            _ = try ContainedImporter(containment: containment).load(path: path)
            return nil
        } catch { return error }
    }

    @Test func goodFilesImportAsInProcess() throws {
        for model in TestEnvironment.sharedModels {
            let contained = try ContainedImporter(containment: containment(test: false)).load(path: model.path)
            let local = try MeshImporter().load(path: model.path)
            #expect(
                contained.mesh == local.mesh && contained.format == local.format
                    && contained.fileBytes == local.fileBytes)
        }
        // The artifact the child wrote can be kept instead of re-encoded.
        let kept = directory.appendingPathComponent("spot.mfmesh")
        let spot = TestEnvironment.modelsDirectory.appendingPathComponent("spot.obj").path
        let model = try ContainedImporter(containment: containment(test: false)).load(path: spot, artifact: kept)
        #expect(try MeshArtifact.read(path: kept.path) == model.mesh)
    }

    @Test func badFilesGiveTheImportersOwnError() throws {
        let empty = try file("empty.obj", "")
        #expect(failure(empty, containment(test: false)) as? MeshError == .emptyFile)
        let broken = try file("broken.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 9\n")
        #expect((failure(broken, containment(test: false)) as? MeshError)?.description.contains("out of range") == true)
    }

    @Test func aCrashIsThatImportsFailure() throws {
        let crash = try file("crash.obj", "MESHFARM-TEST crash\n")
        #expect(failure(crash, containment()) as? MeshError == .importCrashed(signal: "SIGSEGV"))
        let abort = try file("abort.obj", "MESHFARM-TEST abort\n")
        #expect(failure(abort, containment()) as? MeshError == .importCrashed(signal: "SIGABRT"))
    }

    @Test func theChildDoesNotGetTheParentsSecrets() throws {
        setenv("MESHFARM_SECRET_TEST", "amqp://worker:password@broker/", 1)
        defer { unsetenv("MESHFARM_SECRET_TEST") }
        let path = try file("env.obj", "MESHFARM-TEST env\n")
        // Without the variable the importer goes on to read the file, which is no model.
        #expect((failure(path, containment()) as? MeshError)?.code == "unsupported-format")
    }

    @Test func runawayMemoryHitsTheLimit() throws {
        let path = try file("memory.obj", "MESHFARM-TEST eat-memory\n")
        let start = Date()
        #expect(
            failure(path, containment(memory: 512 << 20)) as? MeshError == .importMemoryExceeded(limitBytes: 512 << 20))
        #expect(Date().timeIntervalSince(start) < 20)
    }

    @Test func aHangIsKilledAtTheWallClockLimit() throws {
        let path = try file("hang.obj", "MESHFARM-TEST hang\n")
        let start = Date()
        #expect(failure(path, containment(wall: 1.5)) as? MeshError == .importTimedOut(seconds: 1.5))
        let elapsed = Date().timeIntervalSince(start)
        #expect(elapsed >= 1.5 && elapsed < 5, "\(elapsed)")
    }

    @Test func anAbandonedImportKillsItsChildAtOnce() throws {
        let path = try file("abandoned.obj", "MESHFARM-TEST hang\n")
        let start = Date()
        #expect(throws: ContainedImportError.self) {
            try ContainedImporter(containment: containment(wall: 30)).load(path: path) {
                Date().timeIntervalSince(start) > 0.3
            }
        }
        let elapsed = Date().timeIntervalSince(start)
        #expect(elapsed >= 0.3 && elapsed < 3, "\(elapsed)")
    }

    @Test func spinningHitsTheCPULimit() throws {
        let path = try file("spin.obj", "MESHFARM-TEST spin\n")
        #expect(failure(path, containment(cpu: 1, wall: 30)) as? MeshError == .importCPUExceeded(seconds: 1))
    }

    @Test func aMissingImporterIsTheWorkersProblemNotTheFiles() throws {
        var broken = containment()
        broken.executable = directory.appendingPathComponent("no-such-importer").path
        let error = failure(TestEnvironment.modelsDirectory.appendingPathComponent("spot.obj").path, broken)
        #expect(error is ContainedImportError, "\(String(describing: error))")
        #expect("\(error!)".contains("No such file"))
    }

    @Test func theChildDiesWithItsParent() throws {
        // `meshfarm analyze` is the parent here; SIGKILL it mid-import and its importer goes too.
        let hang = try file("orphan-\(UUID().uuidString.prefix(6)).obj", "MESHFARM-TEST hang\n")
        let parent = Process()
        parent.executableURL = URL(fileURLWithPath: TestEnvironment.executable("meshfarm"))
        parent.arguments = ["analyze", hang, "--importer", TestEnvironment.executable("meshfarm-test-importer")]
        parent.standardOutput = FileHandle.nullDevice
        parent.standardError = FileHandle.nullDevice
        try parent.run()
        var child: Int32?
        let deadline = Date().addingTimeInterval(10)
        while child == nil, Date() < deadline {
            child = Self.processes(withArgument: hang).first { $0 != parent.processIdentifier }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let importer = try #require(child, "the importer child never appeared")
        #expect(Self.oomScoreAdjustment(importer) == 1000)
        kill(parent.processIdentifier, SIGKILL)
        parent.waitUntilExit()
        let gone = Date().addingTimeInterval(5)
        while Date() < gone, Self.processes(withArgument: hang).contains(importer) {
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(!Self.processes(withArgument: hang).contains(importer), "the importer outlived its parent")
    }

    /// Live (non-zombie) processes whose command line contains `argument`.
    static func processes(withArgument argument: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard let cmdline = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                !stat.contains(") Z ")
            else { return false }
            return String(decoding: cmdline, as: UTF8.self).split(separator: "\0").contains { $0 == argument }
        }
    }

    static func oomScoreAdjustment(_ pid: Int32) -> Int? {
        (try? String(contentsOfFile: "/proc/\(pid)/oom_score_adj", encoding: .utf8)).flatMap {
            Int($0.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }
}
