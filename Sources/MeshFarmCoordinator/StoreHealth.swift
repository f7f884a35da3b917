import MeshFarmMessaging

/// The job store's health as the coordinator's loop sees it: consecutive
/// failures, the last error, and how long to leave the store alone after a
/// failure (exponential backoff with jitter, 0.1 s doubling to 10 s),
/// reset by the first success. A pure value: the loop applies it.
///
/// Without the pause, an event whose effect could not be stored went back
/// to the broker at once and came straight back: a hot loop that stalled
/// every job for as long as the store was failing.
public struct StoreHealth: Sendable, Equatable {
    public private(set) var consecutiveFailures = 0
    public private(set) var lastError: String?
    public var backoff = Backoff(initial: 0.1, maximum: 10, jitter: true)

    public init() {}

    /// Records a failure; returns how many seconds to wait before the
    /// store is tried again.
    public mutating func failed(_ error: any Error, random: Double = Double.random(in: 0..<1)) -> Double {
        consecutiveFailures += 1
        lastError = "\(error)"
        return backoff.delay(retry: consecutiveFailures, random: random)
    }

    public mutating func succeeded() {
        consecutiveFailures = 0
        lastError = nil
    }

    /// Why the service is degraded (for `/readyz`); nil while healthy.
    public var problem: String? {
        guard consecutiveFailures > 0, let lastError else { return nil }
        return "the job store is failing (\(consecutiveFailures) times in a row): \(lastError)"
    }
}
