/// Every publish from the moment it is queued until the broker has
/// confirmed or refused it, and the decisions about them: which publishes
/// succeeded, which failed with which error, which must be sent again.
///
/// A pure value: the connection loop feeds it what happened (a publish was
/// written, a `basic.ack`/`basic.nack` arrived, a `basic.return`, the
/// publish channel or the connection closed) and applies the outcomes it
/// returns. `Entry` is whatever the loop needs to answer the caller (a
/// ``PendingPublish``); tests use plain values.
///
/// Sequence numbers follow RabbitMQ's publisher confirms: 1 for the first
/// publish on a channel in confirm mode, +1 for each after it; a confirm
/// names one sequence or, with `multiple`, every one up to it.
public struct PublishLedger<Entry> {
    public init() {}

    /// A publish the ledger tracks. Exchange, routing key and message id
    /// tell which publish a `basic.return` gives back.
    public struct Record {
        public let entry: Entry
        public let exchange: String
        public let routingKey: String
        public let messageID: String?
        public var returned: (code: Int, reason: String)?

        /// As sent again: what the broker said of the earlier send is void.
        var unsent: Record {
            var record = self
            record.returned = nil
            return record
        }
    }

    /// What became of a publish.
    public enum Outcome {
        case succeeded(Entry)
        case failed(Entry, AMQPError)

        public var entry: Entry {
            switch self {
            case .succeeded(let entry), .failed(let entry, _): entry
            }
        }
    }

    /// Waiting to be written, oldest first (while disconnected, or after a
    /// channel or connection failure, for sending again).
    public private(set) var unsent: [Record] = []
    /// Written, waiting for the broker's confirm, in sequence order.
    private var inflight: [(sequence: UInt64, record: Record)] = []
    private var nextSequence: UInt64 = 1

    public var isEmpty: Bool { unsent.isEmpty && inflight.isEmpty }
    public var inflightCount: Int { inflight.count }

    /// Queues a publish for sending.
    public mutating func enqueue(_ entry: Entry, exchange: String, routingKey: String, messageID: String?) {
        unsent.append(Record(entry: entry, exchange: exchange, routingKey: routingKey, messageID: messageID))
    }

    /// Takes the oldest unsent publish to write.
    public mutating func nextUnsent() -> Record? { unsent.isEmpty ? nil : unsent.removeFirst() }

    /// Puts back a publish whose write failed (the connection is going down).
    public mutating func unsendable(_ record: Record) { unsent.insert(record, at: 0) }

    /// A publish was written to the confirm-mode channel; returns its sequence.
    @discardableResult
    public mutating func written(_ record: Record) -> UInt64 {
        defer { nextSequence += 1 }
        inflight.append((nextSequence, record))
        return nextSequence
    }

    /// A `basic.return` of a mandatory publish nobody could route. Its
    /// confirm follows and then fails it.
    ///
    /// Which publish it is: the oldest unconfirmed one to the same
    /// exchange and routing key, with the same message id, not returned
    /// already. The broker routes a channel's publishes in order and sends
    /// a publish's return before its confirm, so every older publish still
    /// unconfirmed was routed (or returned before this one); one of them
    /// could only be taken for this one if it had the same exchange, key
    /// and message id and was routed while this one was not, which takes
    /// the bindings changing between the two. The messages carry nothing
    /// else for this (a header per publish cost the broker measurably).
    public mutating func returned(exchange: String, routingKey: String, messageID: String?, code: Int, reason: String) {
        let i = inflight.firstIndex {
            $0.record.returned == nil && $0.record.exchange == exchange && $0.record.routingKey == routingKey
                && $0.record.messageID == messageID
        }
        if let i { inflight[i].record.returned = (code, reason) }
    }

    /// A `basic.ack` (`ack`) or `basic.nack` for `tag`, or for every
    /// sequence up to it when `multiple`.
    public mutating func confirm(tag: UInt64, multiple: Bool, ack: Bool) -> [Outcome] {
        let confirmed: [Record]
        if multiple {
            let end = inflight.firstIndex { $0.sequence > tag } ?? inflight.endIndex
            confirmed = inflight[..<end].map(\.record)
            inflight.removeSubrange(..<end)
        } else if let i = inflight.firstIndex(where: { $0.sequence == tag }) {
            confirmed = [inflight.remove(at: i).record]
        } else {
            confirmed = []
        }
        return confirmed.map { record in
            if !ack { return .failed(record.entry, .nacked) }
            if let returned = record.returned {
                return .failed(
                    record.entry,
                    .unroutable(
                        exchange: record.exchange, routingKey: record.routingKey,
                        reason: "\(returned.code) \(returned.reason)"))
            }
            return .succeeded(record.entry)
        }
    }

    /// The broker closed the publish channel with `code` and `reason`.
    /// The publishes that caused it fail; every other unconfirmed publish
    /// goes back to the head of the unsent queue, in order, for the next
    /// channel (sequence numbers restart there).
    ///
    /// Which publishes caused it: when the broker names an exchange it
    /// refused (404 "no exchange", 403 "access to exchange ... refused"),
    /// every unconfirmed publish to that exchange (they would all be
    /// refused); otherwise, or when none went to it, the oldest unconfirmed
    /// publish: the broker processes publishes in order, so the culprit is
    /// never behind one it has not seen yet.
    public mutating func channelClosed(code: Int, reason: String) -> [Outcome] {
        let pending = inflight.map(\.record)
        inflight = []
        nextSequence = 1
        guard !pending.isEmpty else { return [] }
        let error = AMQPError.channelClosed(code: code, reason: reason)
        var culprits: [Int] = []
        if let exchange = BrokerRefusal(code: code, reason: reason).exchange {
            culprits = pending.indices.filter { pending[$0].exchange == exchange }
        }
        if culprits.isEmpty { culprits = [0] }
        var failed: [Outcome] = []
        var resend: [Record] = []
        for (i, record) in pending.enumerated() {
            if culprits.contains(i) {
                failed.append(.failed(record.entry, error))
            } else {
                resend.append(record.unsent)
            }
        }
        unsent = resend + unsent
        return failed
    }

    /// The connection is gone: every unconfirmed publish is sent again after
    /// the reconnect, before the ones that were never sent (the broker may
    /// see duplicates: delivery is at least once).
    public mutating func connectionLost() {
        unsent = inflight.map(\.record.unsent) + unsent
        inflight = []
        nextSequence = 1
    }

    /// Fails every publish, queued or written, that `isExpired` picks.
    public mutating func expire(where isExpired: (Entry) -> Bool, error: AMQPError) -> [Outcome] {
        var outcomes: [Outcome] = []
        unsent.removeAll { record in
            guard isExpired(record.entry) else { return false }
            outcomes.append(.failed(record.entry, error))
            return true
        }
        inflight.removeAll { item in
            guard isExpired(item.record.entry) else { return false }
            outcomes.append(.failed(item.record.entry, error))
            return true
        }
        return outcomes
    }

    /// The transport is closing: everything fails with `error`.
    public mutating func shutDown(_ error: AMQPError) -> [Outcome] {
        let all = inflight.map(\.record) + unsent
        inflight = []
        unsent = []
        return all.map { .failed($0.entry, error) }
    }
}

/// What the broker's reason for closing a channel says, in the parts
/// MeshFarm acts on. RabbitMQ words them "NOT_FOUND - no exchange 'x' in
/// vhost '/'" and "ACCESS_REFUSED - access to exchange 'x' in vhost '/'
/// refused for user 'u'".
public struct BrokerRefusal: Equatable {
    /// The exchange the broker refused, when the reason names one.
    public let exchange: String?

    public init(code: Int, reason: String) {
        guard code == 404 || code == 403, let range = reason.range(of: "exchange '") else {
            exchange = nil
            return
        }
        let rest = reason[range.upperBound...]
        exchange = rest.firstIndex(of: "'").map { String(rest[..<$0]) }
    }
}
