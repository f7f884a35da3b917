import Foundation
import MeshFarmJobs

/// Writes a job's output directory: `report.json`, `lod<k>.obj`,
/// `views/lod<k>-view<j>.png` (and depth/normal files), `contact-sheet.png`.
/// `run` copies from a local store, `fetch` downloads; the layout is one.
enum OutputLayout {
    static func write(_ job: JobRecord, to directory: URL, copy: (OutputFile, URL) async throws -> Void) async throws {
        try FileManager.default.createDirectory(
            at: directory.appendingPathComponent("views"), withIntermediateDirectories: true)
        for file in JobReport.outputFiles(job) {
            let destination = directory.appendingPathComponent(file.path)
            try? FileManager.default.removeItem(at: destination)
            try await copy(file, destination)
        }
        try JobReport(job: job).jsonData().write(to: directory.appendingPathComponent("report.json"), options: .atomic)
    }
}
