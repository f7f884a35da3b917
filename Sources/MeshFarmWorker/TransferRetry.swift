import Foundation
import MeshFarmAPI
import MeshFarmArtifacts
import MeshFarmMessaging

/// When a worker tries an artifact transfer again, as a pure value: the
/// service unreachable, a 5xx, 408 or 429, or a download that arrived
/// corrupted are transient, and are tried again after 0.5 s doubling to
/// 30 s (jittered) until `budget` seconds (default 5 minutes) have passed
/// since the first try; anything else (no such artifact, too large, a bad
/// request) is the answer and fails at once. An hour of compute is not
/// thrown away for a blip of the submit service. A full disk on the
/// service's side (507) is waited out longer, up to `storageBudget`
/// (default an hour): the result is in hand, and the service takes it once
/// space is freed.
public struct TransferRetry: Sendable, Equatable {
    public var budget: Double
    public var storageBudget: Double
    public var backoff = Backoff(initial: 0.5, maximum: 30, jitter: true)

    public init(budget: Double = 300, storageBudget: Double = 3600) {
        self.budget = budget
        self.storageBudget = max(budget, storageBudget)
    }

    /// The service's disk is full (507 Insufficient Storage).
    public static func isStorageFull(_ error: any Error) -> Bool { (error as? APIError)?.status == 507 }

    public static func isTransient(_ error: any Error) -> Bool {
        switch error {
        case let error as APIError: error.status == 0 || error.status >= 500 || [408, 429].contains(error.status)
        case is TransferError: true
        default: false
        }
    }

    /// Seconds to wait before try number `attempt + 1`, or nil to give up:
    /// the error is not transient, or the wait would end past the budget.
    public func delay(
        after error: any Error, attempt: Int, elapsed: Double, random: Double = Double.random(in: 0..<1)
    ) -> Double? {
        guard Self.isTransient(error) else { return nil }
        let wait = backoff.delay(retry: attempt, random: random)
        return elapsed + wait <= (Self.isStorageFull(error) ? storageBudget : budget) ? wait : nil
    }

    /// Runs `body` on this (task) thread until it succeeds, or fails with an
    /// error that is not transient, or the budget is spent.
    func run<T>(
        _ what: @autoclosure () -> String, sleep: (Double) -> Void = Thread.sleep(forTimeInterval:),
        _ body: () throws -> T
    ) throws -> T {
        let start = Date()
        var attempt = 1
        while true {
            do { return try body() } catch {
                let elapsed = Date().timeIntervalSince(start)
                guard let wait = delay(after: error, attempt: attempt, elapsed: elapsed) else {
                    guard attempt > 1 else { throw error }
                    throw StorageError.io(
                        "\(what()) failed after \(attempt) tries in \(Int(elapsed.rounded())) s: \(error)")
                }
                sleep(wait)
                attempt += 1
            }
        }
    }
}

/// An artifact that did not arrive intact, either way: worth another try.
public enum TransferError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A download whose bytes do not hash to what was asked for.
    case downloadCorrupted(String)
    /// The service stored an upload under another hash than the bytes sent.
    case uploadMismatch(sent: String, stored: String)

    public var description: String {
        switch self {
        case .downloadCorrupted(let sha): "artifact \(sha) arrived corrupted"
        case .uploadMismatch(let sent, let stored): "uploaded \(sent) but the service stored \(stored)"
        }
    }
}
