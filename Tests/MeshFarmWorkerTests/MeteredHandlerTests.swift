import Foundation
import MeshFarmJobs
import MeshFarmMesh
import MeshFarmMessaging
import MeshFarmWorker
import Prometheus
import Testing

/// A worker's `/metrics` counts its tasks by kind and outcome and times them.
@Suite struct MeteredHandlerTests {
    @Test func countsOutcomesAsTheRuntimeReportsThem() throws {
        let registry = PrometheusCollectorRegistry()
        let factory = PrometheusMetricsFactory(registry: registry)
        let finalize = JobTask(
            taskID: "j.finalize", attempt: 1, kind: "finalize", pool: "cpu", jobID: "j",
            payload: .finalize(FinalizePayload(rows: [], cellSize: 8)))
        let ok = MeteredHandler(
            kind: "finalize",
            ClosureTaskHandler { _, _ in .finalize(FinalizeResult(contactSheet: "s")) }, factory: factory)
        let bad = MeteredHandler(
            kind: "finalize", ClosureTaskHandler { _, _ in throw MeshError.emptyFile }, factory: factory)
        _ = try ok.run(finalize, context: TaskContext())
        _ = try ok.run(finalize, context: TaskContext())
        #expect(throws: TaskFailure.self) { try bad.run(finalize, context: TaskContext()) }
        let text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        #expect(text.contains(#"meshfarm_tasks_total{kind="finalize",outcome="succeeded"} 2"#), "\(text)")
        #expect(text.contains(#"meshfarm_tasks_total{kind="finalize",outcome="failed_permanent"} 1"#), "\(text)")
        #expect(text.contains(#"meshfarm_task_duration_seconds_count{kind="finalize"} 3"#), "\(text)")
    }
}
