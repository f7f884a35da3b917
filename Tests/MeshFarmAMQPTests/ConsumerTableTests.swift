import MeshFarmAMQP
import Testing

/// Consumers, channels and generations, as plain values: no broker.
@Suite struct ConsumerTableTests {
    func table() -> ConsumerTable<String> { ConsumerTable(firstConsumerChannel: 3) }

    @Test func consumersTakeTheLowestFreeChannelAndKeepIt() {
        var t = table()
        let a = t.add(queue: "q.a", prefetch: 1, sink: "a")
        let b = t.add(queue: "q.b", prefetch: 8, sink: "b")
        #expect(t.channel(for: a) == 3)
        t.opened(3)
        t.subscribed(a, channel: 3, tag: "ctag-a")
        #expect(t.channel(for: b) == 4)
        t.opened(4)
        t.subscribed(b, channel: 4, tag: "ctag-b")
        #expect(t.consumer(on: 4)?.sink == "b" && t.consumer(on: 4)?.prefetch == 8)
        #expect(t.channel(for: a) == 3)  // resubscribing reuses its channel
        #expect(t.activeIDs == [a, b])
    }

    @Test func aClosedChannelMakesItsDeliveriesStaleAndNamesTheConsumerToResubscribe() {
        var t = table()
        let a = t.add(queue: "q", prefetch: 1, sink: "a")
        t.subscribed(a, channel: 3, tag: "x")  // before the opening is recorded: generation 0
        let generation = t.opened(3)
        t.subscribed(a, channel: 3, tag: "ctag")
        #expect(t.isCurrent(consumer: a, channel: 3, generation: generation))
        #expect(t.channelClosed(3) == a)
        #expect(!t.isCurrent(consumer: a, channel: 3, generation: generation))
        // Reopened, the same channel number is a new generation: old deliveries stay stale.
        let next = t.opened(3)
        t.subscribed(a, channel: 3, tag: "ctag2")
        #expect(next != generation)
        #expect(!t.isCurrent(consumer: a, channel: 3, generation: generation))
        #expect(t.isCurrent(consumer: a, channel: 3, generation: next))
    }

    @Test func aLostConnectionLeavesNoChannelAndEveryDeliveryStale() {
        var t = table()
        let a = t.add(queue: "q", prefetch: 1, sink: "a")
        let generation = t.opened(3)
        t.subscribed(a, channel: 3, tag: "ctag")
        t.connectionLost()
        #expect(t[a]?.channel == nil && t[a]?.tag == nil)
        #expect(!t.isCurrent(consumer: a, channel: 3, generation: generation))
        #expect(t.activeIDs == [a])  // subscribed again after the reconnect
    }

    @Test func aCancelledConsumerGetsNoDeliveriesButSettlesWhatItHas() {
        var t = table()
        let a = t.add(queue: "q", prefetch: 1, sink: "a")
        let generation = t.opened(3)
        t.subscribed(a, channel: 3, tag: "ctag")
        let cancelled = t.cancel(a)
        #expect(cancelled?.channel == 3 && cancelled?.tag == "ctag")
        #expect(t.cancel(a) == nil)  // once
        #expect(t.consumer(on: 3) == nil)  // new deliveries go back to the queue
        #expect(t.isCurrent(consumer: a, channel: 3, generation: generation))  // old ones can be acked
        #expect(t.activeIDs.isEmpty)
        #expect(t.channelClosed(3) == nil)  // not resubscribed
    }

    @Test func theBrokerCancellingAConsumerEndsIt() {
        var t = table()
        let a = t.add(queue: "q", prefetch: 1, sink: "a")
        t.opened(3)
        t.subscribed(a, channel: 3, tag: "ctag")
        #expect(t.brokerCancelled(channel: 3)?.id == a)
        #expect(t.brokerCancelled(channel: 3) == nil)
        #expect(t.activeIDs.isEmpty)
    }
}
