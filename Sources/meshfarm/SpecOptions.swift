import ArgumentParser
import MeshFarmAPI
import MeshFarmJobs

/// What the turntable views look like: shared by `render` (one model,
/// here) and the job spec of `submit` and `run` (on the farm).
struct ViewOptions: ParsableArguments {
    @Option(help: "Turntable views (per level of detail), evenly spaced around the +Y axis.")
    var views: Int = 8

    @Option(help: "Image width and height, pixels.")
    var size: Int = 512

    @Option(help: "Camera elevation above the horizon, degrees.")
    var elevation: Double = 20

    @Option(help: "Supersampling per axis: 1, 2 or 4.")
    var ssaa: Int = 1

    @Flag(help: "Also write linear depth (PFM) per view (0 = no surface).")
    var depth = false

    @Flag(help: "Also write world-space normals (PNG) per view.")
    var normals = false
}

/// The job spec as command-line options (`submit`, `run`).
struct SpecOptions: ParsableArguments {
    @Option(help: "Levels of detail as fractions of the triangles, comma-separated; 1 is the original.")
    var lods: String = "1,0.25,0.05"

    @OptionGroup var view: ViewOptions

    @Option(help: "Views rendered per GPU task.")
    var viewsPerTask: Int = 4

    @Option(help: "Priority 0-9 (higher first).")
    var priority: Int = 0

    @Option(help: "Split each reduced level across workers when the model has more triangles (default: the farm's).")
    var splitAbove: Int?

    @Option(help: "Triangles per part of a split (default: the farm's).")
    var partTriangles: Int?

    /// The validated spec; a bad value is a usage error naming the option.
    func spec() throws -> JobSpec {
        let ratios = try lods.split(separator: ",").map { part -> Double in
            guard let ratio = Double(part.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("--lods: '\(part)' is not a number")
            }
            return ratio
        }
        let spec = JobSpec(
            lodRatios: ratios, viewsPerLOD: view.views, imageSize: view.size, elevation: view.elevation,
            ssaa: view.ssaa, depth: view.depth, normals: view.normals, viewsPerTask: viewsPerTask, priority: priority,
            splitAbove: splitAbove, partTriangles: partTriangles)
        do { try spec.validate() } catch { throw ValidationError("invalid job spec: \(error)") }
        return spec
    }
}

/// A one-line progress bar for a job, redrawn in place on stderr: the
/// farm's job (`submit --wait`) and a local one (`run`) alike.
enum ProgressLine {
    static func render(_ job: JobView) -> String {
        let cpu = job.progress["cpu"] ?? PoolProgress(done: 0, total: 0)
        let gpu = job.progress["gpu"] ?? PoolProgress(done: 0, total: 0)
        let done = cpu.done + gpu.done
        let total = max(1, cpu.total + gpu.total)
        let width = 30
        let filled = width * done / total
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let line =
            "[\(bar)] \(done)/\(total) tasks  cpu \(cpu.done)/\(cpu.total)  gpu \(gpu.done)/\(gpu.total)  \(job.stage)"
        // Padded so a shorter line fully overwrites a longer one after "\r".
        return line.padding(toLength: max(line.count, 80), withPad: " ", startingAt: 0)
    }
}
