import ArgumentParser

/// `meshfarm`: the command-line client.
@main
struct MeshFarmCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "meshfarm",
        abstract: "MeshFarm: analysis, levels of detail and renders of 3D models.",
        subcommands: [
            SubmitJobCommand.self, StatusCommand.self, WatchCommand.self, JobsCommand.self, CancelCommand.self,
            RetryCommand.self,
            PriorityCommand.self, LogsCommand.self, DeleteCommand.self, FetchCommand.self, WorkersCommand.self,
            DrainCommand.self,
            RunCommand.self,
            SummarizeCommand.self, AnalyzeCommand.self, ReduceCommand.self, RenderCommand.self, DevicesCommand.self,
            TokenCommand.self,
        ])
}
