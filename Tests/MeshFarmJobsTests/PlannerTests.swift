import Foundation
import MeshFarmJobs
import Testing

@Suite struct JobSpecTests {
    @Test func emptyJSONIsTheDefaultSpec() throws {
        let spec = try JSONDecoder().decode(JobSpec.self, from: Data("{}".utf8))
        #expect(spec == JobSpec())
        #expect(
            spec.lodRatios == [1, 0.25, 0.05] && spec.viewsPerLOD == 8 && spec.imageSize == 512
                && spec.viewsPerTask == 4)
        try spec.validate()
    }

    @Test(arguments: [
        (JobSpec(lodRatios: []), "lodRatios"), (JobSpec(lodRatios: [1.5]), "lodRatios"),
        (JobSpec(lodRatios: [0.5, 0.5]), "lodRatios"),
        (JobSpec(viewsPerLOD: 0), "viewsPerLOD"), (JobSpec(imageSize: 8), "imageSize"),
        (JobSpec(elevation: 95), "elevation"),
        (JobSpec(ssaa: 3), "ssaa"), (JobSpec(viewsPerLOD: 4, viewsPerTask: 5), "viewsPerTask"),
        (JobSpec(priority: 10), "priority"),
    ])
    func invalidFieldsAreNamed(spec: JobSpec, field: String) {
        #expect(throws: JobSpecError.self) { try spec.validate() }
        do { try spec.validate() } catch { #expect(error.field == field) }
    }
}

@Suite struct PlannerTests {
    @Test func defaultSpecGraph() {
        let tasks = Planner.plan(jobID: "j", spec: JobSpec())
        let kinds = Dictionary(grouping: tasks, by: \.kind).mapValues(\.count)
        // analyze, 2 reductions (ratio 1 needs none), 3 LODs x 2 chunks of 4 views, finalize.
        #expect(kinds == [.analyze: 1, .reduce: 2, .render: 6, .finalize: 1])
        #expect(tasks.first?.id == "j.analyze" && tasks.last?.id == "j.finalize")
        let renders = tasks.filter { $0.kind == .render }
        #expect(renders.first { $0.lod == 0 }?.dependencies == ["j.analyze"])
        #expect(renders.first { $0.lod == 1 }?.dependencies == ["j.analyze", "j.reduce-1"])
        #expect(Set(tasks.last!.dependencies) == Set(tasks.dropLast().map(\.id)))
        #expect(renders.map(\.pool).allSatisfy { $0 == "gpu" })
    }

    @Test func chunkingCoversEveryViewOnce() {
        let spec = JobSpec(lodRatios: [0.5], viewsPerLOD: 7, viewsPerTask: 3)
        let renders = Planner.plan(jobID: "j", spec: spec).filter { $0.kind == .render }
        #expect(renders.map { $0.viewCount! } == [3, 3, 1])
        #expect(renders.flatMap { r in (r.firstView!..<(r.firstView! + r.viewCount!)) } == Array(0..<7))
    }

    @Test func topologicalOrder() {
        let tasks = Planner.plan(jobID: "j", spec: JobSpec(lodRatios: [1, 0.5, 0.1], viewsPerLOD: 5, viewsPerTask: 2))
        var seen: Set<TaskID> = []
        for task in tasks {
            #expect(task.dependencies.allSatisfy(seen.contains), "\(task.id) before its dependencies")
            seen.insert(task.id)
        }
    }
}
