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

/// A big model's reductions split across workers: planned once the
/// analysis has counted its triangles.
@Suite struct SplitPlanningTests {
    let spec = JobSpec(lodRatios: [1, 0.25, 0.05], viewsPerLOD: 4, viewsPerTask: 4)

    @Test func aModelJustUnderSplitAboveIsReducedWhole() {
        let tasks = Planner.plan(jobID: "j", spec: spec)
        #expect(Planner.splitParts(triangles: JobSpec.defaultSplitAbove, spec: spec) == nil)
        #expect(Planner.split(tasks, jobID: "j", spec: spec, triangles: JobSpec.defaultSplitAbove) == nil)
    }

    @Test func aModelJustOverSplitAboveIsSplitIntoParts() throws {
        let tasks = Planner.plan(jobID: "j", spec: spec)
        let triangles = JobSpec.defaultSplitAbove + 1
        #expect(Planner.splitParts(triangles: triangles, spec: spec) == 3)
        let split = try #require(Planner.split(tasks, jobID: "j", spec: spec, triangles: triangles))
        let kinds = Dictionary(grouping: split, by: \.kind).mapValues(\.count)
        #expect(kinds == [.analyze: 1, .partition: 1, .reducePart: 6, .stitch: 2, .render: 3, .finalize: 1])
        #expect(split.map(\.id).prefix(2) == ["j.analyze", "j.partition"])
        #expect(split.first { $0.id == "j.partition" }?.dependencies == ["j.analyze"])
        #expect(split.first { $0.id == "j.reduce-part-1-2" }?.dependencies == ["j.partition"])
        #expect(
            split.first { $0.id == "j.stitch-2" }?.dependencies == [
                "j.reduce-part-2-0", "j.reduce-part-2-1", "j.reduce-part-2-2",
            ])
        #expect(split.first { $0.id == "j.render-2-0" }?.dependencies == ["j.analyze", "j.stitch-2"])
        #expect(split.first { $0.id == "j.render-0-0" }?.dependencies == ["j.analyze"])
        #expect(
            Set(split.last!.dependencies) == [
                "j.analyze", "j.stitch-1", "j.stitch-2", "j.render-0-0", "j.render-1-0", "j.render-2-0",
            ])
        // Topological: every dependency comes first.
        for (i, task) in split.enumerated() {
            #expect(task.dependencies.allSatisfy { d in split.prefix(i).contains { $0.id == d } })
        }
        #expect(split.filter { $0.kind != .render }.allSatisfy { $0.pool == "cpu" })
        // Once split, not again.
        #expect(Planner.split(split, jobID: "j", spec: spec, triangles: triangles) == nil)
    }

    @Test func theSpecOverridesTheDefaultsAndPartsAreBounded() {
        let own = JobSpec(lodRatios: [0.1], splitAbove: 1000, partTriangles: 500_000)
        #expect(Planner.splitParts(triangles: 2_500_000, spec: own) == 5)
        #expect(Planner.splitParts(triangles: 2_500_001, spec: own) == 6)
        #expect(Planner.splitParts(triangles: 400_000, spec: own) == nil)  // one part: nothing to split
        #expect(Planner.splitParts(triangles: 1_000_000_000, spec: JobSpec(partTriangles: 1000)) == Planner.maxParts)
        // Only levels below 1 are reduced: nothing to split without one.
        #expect(
            Planner.split(
                Planner.plan(jobID: "j", spec: JobSpec(lodRatios: [1])), jobID: "j", spec: own, triangles: 9_000_000)
                == nil)
        #expect(own.withSplitDefaults(splitAbove: 7, partTriangles: 9000) == own)
        #expect(JobSpec().withSplitDefaults(splitAbove: 7, partTriangles: 9000).splitAbove == 7)
    }

    @Test func levelsFromPointEightUpAreReducedWhole() throws {
        let spec = JobSpec(lodRatios: [1, 0.9, 0.5], viewsPerLOD: 4, viewsPerTask: 4, splitAbove: 10)
        let split = try #require(
            Planner.split(Planner.plan(jobID: "j", spec: spec), jobID: "j", spec: spec, triangles: 5_000_000))
        #expect(split.contains { $0.id == "j.reduce-1" } && !split.contains { $0.id == "j.stitch-1" })
        #expect(split.contains { $0.id == "j.stitch-2" } && !split.contains { $0.id == "j.reduce-2" })
        #expect(split.first { $0.id == "j.render-1-0" }?.dependencies == ["j.analyze", "j.reduce-1"])
        let whole = JobSpec(lodRatios: [1, 0.9], viewsPerLOD: 4, viewsPerTask: 4, splitAbove: 10)
        #expect(
            Planner.split(Planner.plan(jobID: "j", spec: whole), jobID: "j", spec: whole, triangles: 5_000_000) == nil)
    }

    @Test func splitTaskIDsReadBack() {
        for text in ["j-1.partition", "j-1.reduce-part-2-13", "j-1.stitch-2"] {
            #expect(TaskID(text)?.description == text)
        }
        func parse(_ text: String) -> TaskID? { TaskID(text) }
        #expect(parse("j.reduce-part-2") == nil && parse("j.stitch") == nil && parse("j.part-1-2") == nil)
        #expect(parse("j.reduce-part-2-3")?.part == 3 && parse("j.reduce-part-2-3")?.lod == 2)
        let order: [TaskID] = [
            "j.analyze", "j.partition", "j.reduce-1", "j.reduce-part-1-0", "j.reduce-part-1-1", "j.stitch-1",
            "j.render-0-0", "j.finalize",
        ]
        #expect(order.shuffled().sorted() == order)
    }

    @Test func invalidSplitFieldsAreNamed() {
        for (spec, field) in [(JobSpec(splitAbove: -1), "splitAbove"), (JobSpec(partTriangles: 999), "partTriangles")] {
            do {
                try spec.validate()
                Issue.record("\(field) accepted")
            } catch { #expect(error.field == field) }
        }
    }
}
