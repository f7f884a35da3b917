import ArgumentParser
import Foundation
import MeshFarmJobs

/// `meshfarm summarize DIR...`: one table row per result directory.
struct SummarizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summarize", abstract: "Print a table of result directories (their report.json).")

    @Argument(help: "Result directories (from run or fetch).")
    var directories: [String]

    func run() throws {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = TimeStamps.decoding
        var rows: [[String]] = [["model", "status", "triangles", "LODs (triangles)", "views", "wall s", "results"]]
        for directory in directories {
            let url = URL(fileURLWithPath: directory).appendingPathComponent("report.json")
            guard let data = try? Data(contentsOf: url), let report = try? decoder.decode(JobReport.self, from: data)
            else {
                rows.append([directory, "no report", "", "", "", "", directory])
                continue
            }
            let file = report.input?["file"].flatMap { if case .string(let s) = $0 { s } else { nil } } ?? "?"
            let triangles =
                report.input?["triangles"].flatMap { if case .number(let n) = $0 { String(Int(n)) } else { nil } }
                ?? "?"
            rows.append([
                file, report.status, triangles, report.lods.map { String($0.triangles) }.joined(separator: " / "),
                String(report.views.count), String(format: "%.1f", report.timings.wallSeconds), directory,
            ])
        }
        print(Table.render(rows))
    }
}

/// A plain-text table: the first row is the header, underlined; columns
/// padded to their widest cell.
enum Table {
    static func render(_ rows: [[String]]) -> String {
        guard let header = rows.first else { return "" }
        let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(
                separator: "  "
            ).trimmingTrailingSpaces
        }
        let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
        return ([line(header), rule] + rows.dropFirst().map(line)).joined(separator: "\n")
    }
}

extension String {
    fileprivate var trimmingTrailingSpaces: String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }
}
