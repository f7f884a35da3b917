import Foundation
import MeshFarmTestSupport
import Testing

/// SIGTERM while the broker is away: every executable with nothing running
/// exits promptly and cleanly, instead of waiting for a broker that is not
/// there until its orchestrator's grace period ends and it is killed.
@Suite(.serialized) struct ShutdownTests {
    /// Each executable as an orchestrator runs it, against `broker`.
    func startAll(_ farm: FarmCluster, workersReadyWhen marker: String) throws -> [(String, WorkerProcess)] {
        let submit = try farm.startSubmit()
        return [
            ("meshfarm-submit", submit),
            ("meshfarm-cpu-worker", try farm.startWorker("cpu", name: "cpu-1", readyMarker: marker)),
            ("meshfarm-gpu-worker", try farm.startWorker("gpu", name: "gpu-1", readyMarker: marker)),
        ]
    }

    func expectPromptExit(_ processes: [(String, WorkerProcess)]) {
        for (name, process) in processes {
            guard let exit = process.terminate(within: 10) else {
                Issue.record("\(name) still running 10 s after SIGTERM")
                continue
            }
            #expect(exit.seconds < 5, "\(name) took \(exit.seconds) s to exit")
            #expect(!exit.signaled && exit.status == 0, "\(name) exit status \(exit.status)")
        }
    }

    @Test func everyExecutableExitsPromptlyOnSIGTERMWhenTheBrokerWasNeverReachable() throws {
        // A port nothing listens on.
        let farm = FarmCluster(broker: BrokerNode(port: try TestEnvironment.freePort()))
        defer { farm.stopAll() }
        let processes = try startAll(farm, workersReadyWhen: "started")
        Thread.sleep(forTimeInterval: 1)  // a few connection attempts
        expectPromptExit(processes)
    }

    @Test func everyExecutableExitsPromptlyOnSIGTERMAfterItsBrokerWentAway() throws {
        let node = BrokerNode(
            port: Int(ProcessInfo.processInfo.environment["MESHFARM_SHUTDOWN_AMQP_PORT"] ?? "") ?? 5693)
        try node.start()
        defer { try? node.stop() }
        let farm = FarmCluster(broker: node)
        defer { farm.stopAll() }
        let processes = try startAll(farm, workersReadyWhen: "consuming")
        try node.stop()
        expectPromptExit(processes)
    }
}
