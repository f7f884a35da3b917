import ArgumentParser

/// `meshfarm-bench`: side-by-side benchmarks; each subcommand prints a
/// table and ends with the `name: value` line its issue names.
@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "meshfarm-bench",
        abstract: "MeshFarm benchmarks (run through scripts/bench).",
        subcommands: [
            MeshBench.self, RenderBench.self, MessagingBench.self, FarmBench.self, SplitBench.self, SplitPhase.self,
        ])
}
