import Foundation
import Synchronization

/// One line of a task's log: what its worker or the coordinator noted
/// (timings, warnings, errors), shown by `GET /v1/jobs/{id}/tasks/{task}/log`.
public struct TaskLogLine: Sendable, Equatable, Codable {
    public enum Level: String, Sendable, Codable { case info, warning, error }

    public var at: Date
    /// A worker's name, or `coordinator`.
    public var source: String
    public var level: Level
    public var text: String

    public init(at: Date, source: String, level: Level = .info, text: String) {
        self.at = at
        self.source = source
        self.level = level
        self.text = String(text.prefix(Self.maximumLength))
    }

    /// Characters kept of one line.
    public static let maximumLength = 500
}

/// The lines a worker notes while it runs one attempt of a task, sent with
/// the attempt's last event. Bounded: past ``limit`` lines only the count
/// of the lines left out is kept, so a chatty handler cannot swell a
/// message.
public final class TaskLog: Sendable {
    public static let limit = 50
    let source: String
    private let state = Mutex<(lines: [TaskLogLine], dropped: Int)>(([], 0))

    public init(source: String) { self.source = source }

    public func note(_ text: String, level: TaskLogLine.Level = .info, at: Date = Date()) {
        state.withLock {
            if $0.lines.count < Self.limit {
                $0.lines.append(TaskLogLine(at: at, source: source, level: level, text: text))
            } else {
                $0.dropped += 1
            }
        }
    }

    /// The lines so far, and a last one saying how many were left out.
    public var lines: [TaskLogLine] {
        state.withLock { state in
            guard state.dropped > 0 else { return state.lines }
            return state.lines + [
                TaskLogLine(
                    at: Date(), source: source, level: .warning,
                    text: "\(state.dropped) more lines left out (at most \(Self.limit) per attempt)")
            ]
        }
    }
}
