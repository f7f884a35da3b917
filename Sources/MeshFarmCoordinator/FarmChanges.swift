import Foundation
import Synchronization

/// Something in the farm that changed: a job (its id) or a worker (its
/// name). What changed is looked up when it is sent, so a stream always
/// shows the present state.
public enum FarmChange: Sendable, Hashable {
    case job(String)
    case worker(String)
}

/// The farm's changes, numbered, for the farm-wide event stream: the last
/// ``memory`` are kept so that a client that reconnects with the id of the
/// last event it saw (`Last-Event-ID`) gets what it missed; one that fell
/// further behind, or that saw another process's ids, is told to reload.
/// Ids are `<epoch>-<sequence>`, the epoch random per process.
public final class FarmChanges: Sendable {
    public static let memory = 1000

    private struct State: ~Copyable {
        var sequence = 0
        var recent: [(sequence: Int, change: FarmChange)] = []
        var subscribers: [UUID: AsyncStream<(id: String, change: FarmChange)>.Continuation] = [:]
    }

    public let epoch = String(UInt32.random(in: 0...UInt32.max), radix: 36)
    private let state = Mutex(State())

    public init() {}

    package func record(_ change: FarmChange) {
        let (id, subscribers) = state.withLock {
            s -> (String, [AsyncStream<(id: String, change: FarmChange)>.Continuation]) in
            s.sequence += 1
            s.recent.append((s.sequence, change))
            if s.recent.count > Self.memory { s.recent.removeFirst(s.recent.count - Self.memory) }
            return ("\(epoch)-\(s.sequence)", Array(s.subscribers.values))
        }
        for subscriber in subscribers { subscriber.yield((id, change)) }
    }

    /// What a subscriber gets: the changes it missed since `lastID`
    /// (each thing once, at its latest id), whether that is all it missed
    /// (false: reload everything), and the changes from now on.
    public struct Subscription: Sendable {
        public var missed: [(id: String, change: FarmChange)]
        public var complete: Bool
        public var live: AsyncStream<(id: String, change: FarmChange)>
    }

    public func subscribe(after lastID: String?) -> Subscription {
        let (live, continuation) = AsyncStream<(id: String, change: FarmChange)>.makeStream(
            bufferingPolicy: .bufferingNewest(Self.memory))
        let key = UUID()
        let (missed, complete) = state.withLock { s -> ([(id: String, change: FarmChange)], Bool) in
            s.subscribers[key] = continuation
            guard let lastID else { return ([], true) }
            let parts = lastID.split(separator: "-")
            guard parts.count == 2, parts[0] == epoch, let seen = Int(parts[1]), seen <= s.sequence else {
                return ([], false)
            }
            let oldest = s.recent.first?.sequence ?? s.sequence + 1
            guard seen + 1 >= oldest || seen == s.sequence else { return ([], false) }
            var latest: [FarmChange: Int] = [:]
            for entry in s.recent where entry.sequence > seen { latest[entry.change] = entry.sequence }
            let missed = latest.sorted { $0.value < $1.value }.map { ("\(epoch)-\($0.value)", $0.key) }
            return (missed, true)
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: key) }
        }
        return Subscription(missed: missed, complete: complete, live: live)
    }
}
