import Foundation
import MeshFarmTestSupport
import Testing

/// `scripts/bench messaging`, short: both variants run to the end on the
/// test broker and the figures the issue names are printed. Speed is the
/// benchmark's business, not this test's: machines are shared and noisy.
@Suite struct MessagingBenchTests {
    @Test func theShortBenchRunsBothVariantsAndPrintsItsFigures() throws {
        let run = try ChildProcess.run(
            TestEnvironment.executable("meshfarm-bench"),
            [
                "messaging", "--broker", BrokerNode.shared.url, "--tasks", "200", "--rounds", "1",
                "--round-trips", "20",
            ], timeout: 300)
        #expect(run.status == 0, "\(run.stderrText)")
        var figures: [String: Double] = [:]
        for line in run.stdoutText.split(separator: "\n") {
            let parts = line.split(separator: ":")
            guard parts.count == 2, parts[0].hasPrefix("messaging."),
                let value = Double(parts[1].trimmingCharacters(in: .whitespaces))
            else { continue }
            figures[String(parts[0])] = value
        }
        for name in ["messaging.coding_speedup", "messaging.tasks_per_s", "messaging.throughput_ratio"] {
            #expect((figures[name] ?? 0) > 0, "\(name) missing in:\n\(run.stdoutText)")
        }
        // Both variants completed every task (a lost task would hang the bench, not pass).
        let rows = run.stdoutText.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        #expect(rows.contains { $0.starts(with: ["runtime", "200"]) })
        #expect(rows.contains { $0.starts(with: ["bare", "librabbitmq", "200"]) })
    }
}
