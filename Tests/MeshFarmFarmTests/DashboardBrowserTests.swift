import Foundation
import MeshFarmAPI
import MeshFarmAuth
import MeshFarmJobs
import MeshFarmTestSupport
import Testing

/// The dashboard in a real browser: headless Chromium driven by selenium
/// (`Tests/Browser/dashboard.py`; both installed by `scripts/test`) against
/// a farm of real processes with authentication on. The script signs in,
/// watches a job's gallery fill in from its event stream (the GPU worker
/// starts only once the page is open), opens a large view and a task's
/// log, retries a failed job and deletes it, drains and resumes a worker,
/// and looks at the farm; screenshots of each step land in
/// `dashboard-shots`. Jobs are alice's (a submitter); the browser signs in
/// as an admin, who may act on them and on workers.
@Suite(.serialized) struct DashboardBrowserTests {
    @Test func theDashboardShowsAJobFillingInLiveAndActsOnJobs() async throws {
        let python = TestEnvironment.packageRoot.appendingPathComponent(".venv/bin/python").path
        let script = TestEnvironment.packageRoot.appendingPathComponent("Tests/Browser/dashboard.py").path
        try #require(
            FileManager.default.isExecutableFile(atPath: python)
                && FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver"),
            "scripts/test installs selenium into .venv and Debian's chromium-driver")
        let directory = TestEnvironment.outputDirectory("dashboard")
        let shots = TestEnvironment.outputDirectory("dashboard-shots")
        let (worker, alice, ops) = (AccessToken.generate(), AccessToken.generate(), AccessToken.generate())
        let tokens = directory.appendingPathComponent("tokens")
        try [
            TokenBook.line(for: Principal(name: "workers", role: .worker), token: worker),
            TokenBook.line(for: Principal(name: "alice", role: .submitter), token: alice),
            TokenBook.line(for: Principal(name: "ops", role: .admin), token: ops),
        ].joined(separator: "\n").write(to: tokens, atomically: true, encoding: .utf8)
        let farm = FarmCluster(submitArguments: ["--tokens-file", tokens.path])
        defer { farm.stopAll() }
        try farm.startSubmit()
        try farm.startWorker("cpu", name: "cpu-1", arguments: ["--token", worker])
        let client = APIClient(baseURL: farm.serverURL, token: alice)

        // A job that fails (a model cut in half), and one whose renders wait for a GPU worker.
        let spot = TestEnvironment.modelsDirectory.appendingPathComponent("spot.obj")
        let corrupt = directory.appendingPathComponent("broken.obj")
        let whole = try Data(contentsOf: spot)
        try (whole.prefix(whole.count / 2) + Data("\nf 1 2 999999\n".utf8)).write(to: corrupt)
        let spec = JobSpec(lodRatios: [1, 0.25], viewsPerLOD: 4, imageSize: 96, viewsPerTask: 2)
        func submit(_ file: URL) async throws -> JobView {
            let upload = try await client.upload(file: file)
            return try await client.createJob(
                CreateJobRequest(model: upload.sha256, name: file.lastPathComponent, spec: spec))
        }
        let bad = try await submit(corrupt)
        let good = try await submit(spot)
        let deadline = Date().addingTimeInterval(60)
        while try await client.job(bad.id).status != "failed", Date() < deadline {
            try await Task.sleep(for: .milliseconds(100))
        }

        let environment = [
            "MESHFARM_URL": farm.serverURL.absoluteString, "MESHFARM_TOKEN": ops, "GOOD_JOB": good.id,
            "BAD_JOB": bad.id, "IMAGE_SIZE": "96", "VIEWS": "8", "SHOTS": shots.path,
        ]
        async let browser = onThread {
            try ChildProcess.run(python, [script], environment: environment, timeout: 240)
        }
        // The renders start once the page has had time to open.
        try await Task.sleep(for: .seconds(6))
        try farm.startWorker("gpu", name: "gpu-1", arguments: ["--token", worker])
        let outcome = try await browser
        #expect(
            outcome.status == 0 && outcome.stdoutText.contains("dashboard: ok"),
            "\(outcome.stdoutText)\n\(outcome.stderrText)\n(screenshots: \(shots.path))")
        for name in ["2-jobs", "3-job-waiting", "4-job-done", "5-task-log", "7-workers", "8-farm"] {
            #expect(FileManager.default.fileExists(atPath: shots.appendingPathComponent("\(name).png").path), "\(name)")
        }
    }
}
