import Foundation
import MeshFarmAPI
import MeshFarmAuth
import MeshFarmTestSupport
import Testing

/// schemathesis (from PyPI; `scripts/test` installs it into `.venv`) against
/// `docs/openapi.json` and a live submit service with authentication on:
/// every operation, generated and mutated requests, stateful sequences.
/// No 5xx, every response as the document says, and the service keeps
/// serving. The seed is fixed (`MESHFARM_API_FUZZ_SEED` changes it) so a
/// run is repeatable; `MESHFARM_API_FUZZ_EXAMPLES` sets the examples per
/// operation (10 here).
///
/// One check is left out: `positive_data_acceptance`, which expects every
/// request the schema allows to be accepted. The document cannot say that a
/// job's `model` must name an existing upload, nor that an upload must not
/// be empty; the service refuses those with 422 and 400 and says why.
@Suite(.serialized) struct APIFuzzTests {
    @Test func schemathesisFindsNoServerErrorsAndNoResponseOutsideTheDocument() async throws {
        let schemathesis = TestEnvironment.packageRoot.appendingPathComponent(".venv/bin/schemathesis").path
        guard FileManager.default.isExecutableFile(atPath: schemathesis) else {
            Issue.record("schemathesis is not installed: scripts/test installs it into .venv")
            return
        }
        let directory = TestEnvironment.outputDirectory("api-fuzz")
        let admin = AccessToken.generate()
        let tokens = directory.appendingPathComponent("tokens")
        try TokenBook.line(for: Principal(name: "fuzz", role: .admin), token: admin)
            .write(to: tokens, atomically: true, encoding: .utf8)
        let farm = FarmCluster(submitArguments: ["--tokens-file", tokens.path])
        defer { farm.stopAll() }
        let service = try farm.startSubmit()
        let environment = ProcessInfo.processInfo.environment
        let seed = environment["MESHFARM_API_FUZZ_SEED"] ?? "20261130"
        let examples = environment["MESHFARM_API_FUZZ_EXAMPLES"] ?? "10"
        let run = try await onThread {
            try ChildProcess.run(
                schemathesis,
                [
                    "run", TestEnvironment.packageRoot.appendingPathComponent("docs/openapi.json").path,
                    "--url", farm.serverURL.absoluteString, "--header", "Authorization: Bearer \(admin)",
                    "--checks", "all", "--exclude-checks", "positive_data_acceptance", "--max-examples", examples,
                    // A stream without end has no response to check; the farm and browser tests cover it.
                    "--exclude-path", "/v1/events",
                    "--seed", seed, "--no-color",
                    // A job's event stream lasts until the job ends, and jobs
                    // here never run (no workers): such a request ends at the
                    // timeout, which is no failure. Every other answer takes
                    // milliseconds.
                    "--request-timeout", "3",
                ], timeout: 900)
        }
        try run.stdoutText.write(
            to: directory.appendingPathComponent("schemathesis.txt"), atomically: true, encoding: .utf8)
        #expect(
            run.status == 0,
            "schemathesis found problems (\(directory.path)/schemathesis.txt):\n\(run.stdoutText.suffix(4000))")
        #expect(run.stdoutText.contains("Tested: \(APIRoutes.all.count - 1)"), "\(run.stdoutText.suffix(2000))")
        // Still serving, the same process.
        #expect(service.isRunning)
        do {
            _ = try await APIClient(baseURL: farm.serverURL, timeout: 10, token: admin).job("j-none")
            Issue.record("a job that does not exist was found")
        } catch let error as APIError {
            #expect(error.status == 404)  // answered: the service serves
        }
    }
}
