import ArgumentParser
import Foundation
import MeshFarmAPI
import MeshFarmJobs

/// Where the submit service is, for the client commands.
struct ServerOption: ParsableArguments {
    @Option(help: "Submit service URL (MESHFARM_SERVER_URL).")
    var server: String = Env.string("MESHFARM_SERVER_URL", Env.defaultServer)

    @Option(help: "Bearer token, when the service has a tokens file (MESHFARM_TOKEN).")
    var token: String = Env.string("MESHFARM_TOKEN", "")

    func client() throws -> APIClient {
        guard let url = URL(string: server), url.scheme == "http" || url.scheme == "https" else {
            throw ValidationError("--server must be an http:// or https:// URL")
        }
        return APIClient(baseURL: url, token: token)
    }
}

/// Client failures print one line and exit 1.
func reportingAPIErrors<T>(_ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch let error as APIError {
        FileHandle.standardError.write(Data("error: \(error.description)\n".utf8))
        throw ExitCode.failure
    }
}

/// `meshfarm submit MODEL [spec] [--wait] [--out DIR]`.
struct SubmitJobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit", abstract: "Upload a model and create a job on the farm.")

    @Argument(
        help: """
            Model file: OBJ, STL, PLY, glTF/GLB, 3MF, OFF, COLLADA, FBX, or a .zip of one model and its \
            files. A .gltf or .obj that names side files (buffers, materials, textures) in its folder \
            is sent as a zip with them.
            """)
    var model: String

    @OptionGroup var spec: SpecOptions
    @OptionGroup var server: ServerOption

    @Flag(help: "Wait for the job, showing progress.")
    var wait = false

    @Option(help: "With --wait: fetch the results into this directory.")
    var out: String?

    @Flag(help: "No progress bar.")
    var quiet = false

    func run() async throws {
        let jobSpec = try spec.spec()
        let client = try server.client()
        guard FileManager.default.isReadableFile(atPath: model) else {
            throw ValidationError("\(model) is not readable")
        }
        let packed = try PackedModel(model)
        defer { packed.cleanUp() }
        let job = try await reportingAPIErrors {
            let upload = try await client.upload(file: URL(fileURLWithPath: packed.path))
            return try await client.createJobRetrying(
                CreateJobRequest(model: upload.sha256, name: (model as NSString).lastPathComponent, spec: jobSpec))
        }
        FileHandle.standardOutput.write(Data("\(job.id)\n".utf8))  // unbuffered: before the progress bar
        guard wait || out != nil else { return }
        let final = try await Watch.untilFinished(job.id, client: client, quiet: quiet)
        if let out { try await Fetch.results(of: final.id, client: client, to: URL(fileURLWithPath: out)) }
        if final.status != "succeeded" {
            FileHandle.standardError.write(Data("job \(final.id) \(final.status): \(final.error ?? "")\n".utf8))
            throw ExitCode.failure
        }
    }
}

/// `meshfarm status JOB`.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show a job's status and tasks.")

    @Argument var job: String
    @OptionGroup var server: ServerOption

    @Flag(help: "Print the full JSON.")
    var json = false

    func run() async throws {
        let view = try await reportingAPIErrors { try await server.client().job(job) }
        if json {
            let encoder = APICoding.encoder()
            encoder.outputFormatting.insert(.prettyPrinted)
            print(String(decoding: try encoder.encode(view), as: UTF8.self))
            return
        }
        print("\(view.id)  \(view.name)  \(view.status)  \(view.stage)\(view.error.map { "  error: \($0)" } ?? "")")
        for task in view.tasks {
            let progress = task.progress.map { String(format: " %3.0f%%", $0 * 100) } ?? ""
            print(
                "  \(task.id.padding(toLength: 28, withPad: " ", startingAt: 0)) \(task.state.padding(toLength: 10, withPad: " ", startingAt: 0)) attempts \(task.attempts)\(progress)  \(task.worker ?? "")\(task.error.map { "  \($0)" } ?? "")"
            )
        }
    }
}

/// `meshfarm cancel JOB`.
struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cancel", abstract: "Cancel a job.")

    @Argument var job: String
    @OptionGroup var server: ServerOption

    func run() async throws {
        let view = try await reportingAPIErrors { try await server.client().cancel(job) }
        print("\(view.id) \(view.status)")
    }
}

/// `meshfarm logs JOB [TASK...]`.
struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs", abstract: "Print the logs of a job's tasks (all of them, or those named).")

    @Argument var job: String
    @Argument(help: "Task ids, in full or after the job's id (render-0-0); none: every task.")
    var tasks: [String] = []
    @OptionGroup var server: ServerOption

    func run() async throws {
        let client = try server.client()
        try await reportingAPIErrors {
            let names = tasks.isEmpty ? try await client.job(job).tasks.map(\.id) : tasks
            for name in names {
                let log = try await client.taskLog(job, task: name)
                print("== \(log.task)")
                for line in log.lines {
                    print("\(TimeStamps.format(line.at))  \(line.source)  \(line.level.rawValue)  \(line.text)")
                }
            }
        }
    }
}

/// `meshfarm retry JOB`.
struct RetryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry",
        abstract: "Run a failed or cancelled job's failed and cancelled tasks again, keeping what succeeded.")

    @Argument var job: String
    @OptionGroup var server: ServerOption

    func run() async throws {
        let view = try await reportingAPIErrors { try await server.client().retry(job) }
        let again = view.tasks.filter { $0.state != "succeeded" }.count
        print("\(view.id) \(view.status): \(again) tasks to run again")
    }
}

/// `meshfarm priority JOB N`.
struct PriorityCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "priority", abstract: "Change a job's priority (0...9; higher goes first among waiting tasks).")

    @Argument var job: String
    @Argument var priority: Int
    @OptionGroup var server: ServerOption

    func validate() throws {
        guard (0...9).contains(priority) else { throw ValidationError("priority must be 0...9") }
    }

    func run() async throws {
        let view = try await reportingAPIErrors { try await server.client().setPriority(job, priority) }
        print("\(view.id) priority \(view.spec.priority)")
    }
}

/// `meshfarm jobs [--status S] [--limit N]`.
struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs", abstract: "List the newest jobs (a submitter's own).")

    @Option(help: "Only jobs of this status: queued, running, succeeded, failed, cancelled.")
    var status: String?
    @Option(help: "How many, 1...500.")
    var limit = 50
    @OptionGroup var server: ServerOption

    func run() async throws {
        let list = try await reportingAPIErrors { try await server.client().jobs(status: status, limit: limit) }
        let rows = list.jobs.map { job in
            [
                job.id, job.status, job.stage, job.owner ?? "-", job.name, TimeStamps.format(job.createdAt),
                job.error ?? "",
            ]
        }
        print(Table.render([["job", "status", "stage", "owner", "model", "created", "error"]] + rows))
    }
}

/// `meshfarm drain WORKER` and `meshfarm resume WORKER`.
struct DrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain",
        abstract: "Drain a worker: it finishes the tasks it runs and takes no more, until resumed (admins).")

    @Argument(help: "The worker's name (meshfarm workers lists them).")
    var worker: String
    @Flag(help: "Resume it instead: take tasks again.")
    var resume = false
    @OptionGroup var server: ServerOption

    func run() async throws {
        let view = try await reportingAPIErrors { try await server.client().setDraining(worker, !resume) }
        print("\(view.name) \(view.state)")
    }
}

/// `meshfarm workers`.
struct WorkersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workers", abstract: "List the workers seen in the last ten minutes.")

    @OptionGroup var server: ServerOption

    func run() async throws {
        let workers = try await reportingAPIErrors { try await server.client().workers() }
        let rows = workers.map { worker in
            [
                worker.name, worker.pool, worker.state, TimeStamps.format(worker.lastSeen),
                (worker.currentTask ?? "-") + (worker.progress.map { String(format: " %.0f%%", $0 * 100) } ?? ""),
                String(worker.tasksFinished), String(worker.tasksFailed),
            ]
        }
        print(
            Table.render([["worker", "pool", "state", "last seen", "current task", "tasks done", "failed"]] + rows))
    }
}

/// `meshfarm delete JOB...`.
struct DeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete finished jobs and free their results (a running job must be cancelled first).")

    @Argument(help: "Job ids.")
    var jobs: [String]
    @OptionGroup var server: ServerOption

    func validate() throws {
        guard !jobs.isEmpty else { throw ValidationError("name at least one job") }
    }

    func run() async throws {
        let client = try server.client()
        var failed = false
        for job in jobs {
            do {
                try await client.delete(job)
                print("\(job) deleted")
            } catch let error as APIError {
                FileHandle.standardError.write(Data("error: \(job): \(error.description)\n".utf8))
                failed = true
            }
        }
        if failed { throw ExitCode.failure }
    }
}

/// `meshfarm fetch JOB --out DIR`.
struct FetchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch", abstract: "Download a job's results: report.json, LODs, views, contact sheet.")

    @Argument var job: String
    @OptionGroup var server: ServerOption

    @Option(help: "Output directory.")
    var out: String?

    @Option(help: "Download one zip archive of the results to this file instead.")
    var zip: String?

    func validate() throws {
        guard (out == nil) != (zip == nil) else { throw ValidationError("give --out DIR or --zip FILE") }
    }

    func run() async throws {
        if let zip {
            try await reportingAPIErrors {
                try await server.client().downloadJobArchive(job, to: URL(fileURLWithPath: zip))
            }
            print("archive: \(zip)")
        } else if let out {
            try await Fetch.results(of: job, client: try server.client(), to: URL(fileURLWithPath: out))
            print("results: \(out)")
        }
    }
}

enum Watch {
    /// Follows the job's event stream, redrawing the progress line, until
    /// the job ends. When the stream breaks (the service restarts, the
    /// network drops) it looks at the job and follows again.
    static func untilFinished(_ id: String, client: APIClient, quiet: Bool) async throws -> JobView {
        var shown = ""
        func draw(_ view: JobView) {
            let line = ProgressLine.render(view)
            if !quiet, line != shown {
                FileHandle.standardError.write(Data("\r\(line)".utf8))
                shown = line
            }
        }
        var view = try await reportingAPIErrors { try await client.job(id) }
        draw(view)
        while !view.isFinished {
            do {
                for try await update in client.jobEvents(id) {
                    view = update
                    draw(view)
                }
            } catch let error as APIError where (400..<500).contains(error.status) {
                FileHandle.standardError.write(Data("\nerror: \(error.description)\n".utf8))
                throw ExitCode.failure
            } catch {
                try await Task.sleep(for: .seconds(1))  // then look and follow again
            }
            if !view.isFinished { view = try await reportingAPIErrors { try await client.job(id) } }
        }
        if !quiet { FileHandle.standardError.write(Data("\n".utf8)) }
        return view
    }
}

/// `meshfarm watch JOB`.
struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch", abstract: "Follow a job's progress live until it ends; exit 1 unless it succeeded.")

    @Argument var job: String
    @OptionGroup var server: ServerOption

    func run() async throws {
        let view = try await Watch.untilFinished(job, client: try server.client(), quiet: false)
        print("\(view.id) \(view.status)\(view.error.map { ": \($0)" } ?? "")")
        if view.status != "succeeded" { throw ExitCode.failure }
    }
}

enum Fetch {
    /// Downloads every file of the job's output layout.
    static func results(of id: String, client: APIClient, to directory: URL) async throws {
        try await reportingAPIErrors {
            let list = try await client.artifacts(id)
            for file in list.files {
                try await client.downloadJobFile(id, path: file.path, to: directory.appendingPathComponent(file.path))
            }
        }
    }
}
