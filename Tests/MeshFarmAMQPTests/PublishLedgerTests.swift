import MeshFarmAMQP
import Testing

/// The publish ledger's decisions, as plain values: no broker.
@Suite struct PublishLedgerTests {
    typealias Ledger = PublishLedger<String>

    /// A ledger with `names` written in order, each to the exchange before its dash ("tasks-1").
    func ledger(_ names: [String]) -> Ledger {
        var ledger = Ledger()
        for name in names {
            ledger.enqueue(name, exchange: exchange(name), routingKey: "key", messageID: "id-\(name)")
        }
        while let record = ledger.nextUnsent() { ledger.written(record) }
        return ledger
    }

    func exchange(_ name: String) -> String { String(name.split(separator: "-").first!) }

    func succeeded(_ outcomes: [Ledger.Outcome]) -> [String] {
        outcomes.compactMap { if case .succeeded(let e) = $0 { e } else { nil } }
    }

    func failed(_ outcomes: [Ledger.Outcome]) -> [String: AMQPError] {
        var result: [String: AMQPError] = [:]
        for case .failed(let entry, let error) in outcomes { result[entry] = error }
        return result
    }

    @Test func sequencesStartAtOneAndConfirmsSettleThem() {
        var l = Ledger()
        l.enqueue("a", exchange: "x", routingKey: "k", messageID: "1")
        l.enqueue("b", exchange: "x", routingKey: "k", messageID: "2")
        #expect(l.written(l.nextUnsent()!) == 1)
        #expect(l.written(l.nextUnsent()!) == 2)
        #expect(succeeded(l.confirm(tag: 2, multiple: false, ack: true)) == ["b"])
        #expect(succeeded(l.confirm(tag: 1, multiple: false, ack: true)) == ["a"])
        #expect(l.isEmpty)
    }

    @Test func multipleConfirmsEverythingUpToTheTagInOrder() {
        var l = ledger(["t-1", "t-2", "t-3", "t-4"])
        #expect(succeeded(l.confirm(tag: 3, multiple: true, ack: true)) == ["t-1", "t-2", "t-3"])
        #expect(l.inflightCount == 1)
        #expect(l.confirm(tag: 3, multiple: true, ack: true).isEmpty)  // already settled
        #expect(l.confirm(tag: 99, multiple: false, ack: true).isEmpty)  // unknown
    }

    @Test func nacksFail() {
        var l = ledger(["t-1", "t-2"])
        #expect(failed(l.confirm(tag: 2, multiple: true, ack: false)) == ["t-1": .nacked, "t-2": .nacked])
    }

    @Test func aReturnedMandatoryPublishFailsOnItsConfirm() {
        var l = ledger(["t-1", "t-2"])
        l.returned(exchange: "t", routingKey: "key", messageID: "id-t-2", code: 312, reason: "NO_ROUTE")
        let outcomes = l.confirm(tag: 2, multiple: true, ack: true)
        #expect(succeeded(outcomes) == ["t-1"])
        #expect(failed(outcomes) == ["t-2": .unroutable(exchange: "t", routingKey: "key", reason: "312 NO_ROUTE")])
    }

    @Test func aReturnIsTheOldestUnconfirmedPublishOfItsExchangeKeyAndMessageID() {
        var l = Ledger()
        // Same message id to another key, then twice the same message (a
        // republished event), then one without an id.
        l.enqueue("other-key", exchange: "x", routingKey: "k2", messageID: "m")
        l.enqueue("first", exchange: "x", routingKey: "k", messageID: "m")
        l.enqueue("second", exchange: "x", routingKey: "k", messageID: "m")
        l.enqueue("no-id", exchange: "x", routingKey: "k", messageID: nil)
        while let record = l.nextUnsent() { l.written(record) }
        // The broker returns in publish order: the first return of (x, k,
        // m) is "first", the next "second"; a message without an id matches
        // only publishes without one.
        l.returned(exchange: "x", routingKey: "k", messageID: "m", code: 312, reason: "NO_ROUTE")
        l.returned(exchange: "x", routingKey: "k", messageID: nil, code: 312, reason: "NO_ROUTE")
        var outcomes = l.confirm(tag: 2, multiple: true, ack: true)
        #expect(succeeded(outcomes) == ["other-key"])
        #expect(failed(outcomes).keys.sorted() == ["first"])
        outcomes = l.confirm(tag: 4, multiple: true, ack: true)
        #expect(succeeded(outcomes) == ["second"])
        #expect(failed(outcomes).keys.sorted() == ["no-id"])
        // A return nothing matches (its publish was confirmed already) changes nothing.
        l.returned(exchange: "x", routingKey: "k", messageID: "m", code: 312, reason: "NO_ROUTE")
        #expect(l.isEmpty)
    }

    @Test func aMissingExchangeFailsEveryPublishToItAndResendsTheRest() {
        var l = ledger(["tasks-1", "gone-2", "tasks-3", "gone-4"])
        let reason = "NOT_FOUND - no exchange 'gone' in vhost '/'"
        let outcomes = l.channelClosed(code: 404, reason: reason)
        let error = AMQPError.channelClosed(code: 404, reason: reason)
        #expect(failed(outcomes) == ["gone-2": error, "gone-4": error])
        #expect(l.unsent.map(\.entry) == ["tasks-1", "tasks-3"])
        // The next channel numbers from 1 again.
        #expect(l.written(l.nextUnsent()!) == 1)
    }

    @Test func anAccessRefusalNamesItsExchangeToo() {
        var l = ledger(["tasks-1", "events-2"])
        let reason = "ACCESS_REFUSED - access to exchange 'tasks' in vhost '/' refused for user 'worker'"
        #expect(failed(l.channelClosed(code: 403, reason: reason)).keys.sorted() == ["tasks-1"])
        #expect(l.unsent.map(\.entry) == ["events-2"])
    }

    @Test func withoutANamedExchangeTheOldestUnconfirmedPublishIsTheCulprit() {
        // The broker handles publishes in order: the one that closed the channel is never behind
        // one it has not seen.
        for (code, reason) in [
            (406, "PRECONDITION_FAILED - message size 200000000 is larger than configured max size"),
            (404, "NOT_FOUND - no exchange 'elsewhere' in vhost '/'"),  // none of ours went there
            (541, "INTERNAL_ERROR"),
        ] {
            var l = ledger(["t-1", "t-2", "t-3"])
            let outcomes = l.channelClosed(code: code, reason: reason)
            #expect(failed(outcomes).keys.sorted() == ["t-1"], "\(code)")
            #expect(l.unsent.map(\.entry) == ["t-2", "t-3"])
        }
        var empty = Ledger()
        #expect(empty.channelClosed(code: 406, reason: "x").isEmpty)
    }

    @Test func aResentPublishForgetsItsEarlierReturn() {
        // Returned, then the channel closed before its confirm: sent again
        // on the next channel, it is judged by that send alone.
        var l = ledger(["t-1", "t-2"])
        l.returned(exchange: "t", routingKey: "key", messageID: "id-t-2", code: 312, reason: "NO_ROUTE")
        _ = l.channelClosed(code: 541, reason: "INTERNAL_ERROR")  // t-1 fails, t-2 goes back
        l.written(l.nextUnsent()!)
        #expect(succeeded(l.confirm(tag: 1, multiple: false, ack: true)) == ["t-2"])
        // The same after a lost connection.
        l = ledger(["t-1"])
        l.returned(exchange: "t", routingKey: "key", messageID: "id-t-1", code: 312, reason: "NO_ROUTE")
        l.connectionLost()
        l.written(l.nextUnsent()!)
        #expect(succeeded(l.confirm(tag: 1, multiple: false, ack: true)) == ["t-1"])
    }

    @Test func resentPublishesGoBeforeOnesNeverSent() {
        var l = ledger(["t-1", "t-2"])
        l.enqueue("t-3", exchange: "t", routingKey: "key", messageID: "id-t-3")
        l.connectionLost()
        #expect(l.unsent.map(\.entry) == ["t-1", "t-2", "t-3"])
        #expect(l.written(l.nextUnsent()!) == 1)
    }

    @Test func aFailedWriteGoesBackToTheHead() {
        var l = Ledger()
        l.enqueue("a", exchange: "x", routingKey: "k", messageID: "1")
        l.enqueue("b", exchange: "x", routingKey: "k", messageID: "2")
        let record = l.nextUnsent()!
        l.unsendable(record)
        #expect(l.unsent.map(\.entry) == ["a", "b"])
    }

    @Test func expiryAndShutdownFailWhatTheyTake() {
        var l = ledger(["t-1", "old-2"])
        l.enqueue("old-3", exchange: "old", routingKey: "key", messageID: "id-old-3")
        let expired = l.expire(where: { $0.hasPrefix("old") }, error: .shutdown)
        #expect(failed(expired).keys.sorted() == ["old-2", "old-3"])
        l.enqueue("t-4", exchange: "t", routingKey: "key", messageID: "id-t-4")
        #expect(failed(l.shutDown(.shutdown)).keys.sorted() == ["t-1", "t-4"])
        #expect(l.isEmpty)
    }

    @Test func brokerRefusalsAreReadFromTheReason() {
        #expect(BrokerRefusal(code: 404, reason: "NOT_FOUND - no exchange 'a.b' in vhost '/'").exchange == "a.b")
        #expect(
            BrokerRefusal(code: 403, reason: "ACCESS_REFUSED - access to exchange 'x' in vhost 'v' refused").exchange
                == "x")
        #expect(BrokerRefusal(code: 404, reason: "NOT_FOUND - no queue 'q' in vhost '/'").exchange == nil)
        #expect(BrokerRefusal(code: 406, reason: "PRECONDITION_FAILED - exchange 'x' unknown").exchange == nil)
    }
}
