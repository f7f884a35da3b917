/// Exponential backoff with optional "equal" jitter (each delay drawn from
/// its upper half, so it never collapses to zero), as a pure function of the
/// attempt number, so its schedule is unit-tested without sleeping.
///
/// Used for broker reconnects (with jitter, so a farm of workers does not
/// reconnect in lockstep after a broker restart) and by the coordinator's
/// task retries (10 s doubling, capped at 6 minutes: Kubernetes Job's
/// defaults).
public struct Backoff: Sendable, Equatable, Codable {
    /// Delay before the first retry, seconds.
    public var initial: Double
    public var multiplier: Double
    /// Upper bound of any delay, seconds.
    public var maximum: Double
    /// Spread delays uniformly over [delay/2, delay].
    public var jitter: Bool

    public init(initial: Double, multiplier: Double = 2, maximum: Double, jitter: Bool = false) {
        self.initial = initial
        self.multiplier = multiplier
        self.maximum = maximum
        self.jitter = jitter
    }

    /// Broker reconnects: 0.2 s doubling to 10 s, jittered.
    public static let reconnect = Backoff(initial: 0.2, maximum: 10, jitter: true)

    /// Delay before retry number `retry` (1 = first retry), before jitter.
    public func baseDelay(retry: Int) -> Double {
        guard retry > 0 else { return 0 }
        var delay = initial
        for _ in 1..<retry {
            delay *= multiplier
            if delay >= maximum { return maximum }
        }
        return min(delay, maximum)
    }

    /// Delay before retry number `retry`, with jitter drawn from `random`
    /// (a value in [0, 1)) when enabled.
    public func delay(retry: Int, random: Double = Double.random(in: 0..<1)) -> Double {
        let base = baseDelay(retry: retry)
        return jitter ? base * (0.5 + 0.5 * random) : base
    }
}
