import MeshFarmAMQP
import Testing

/// Which ack frames go out for the acks asked for, as plain values: no broker.
@Suite struct AckCoalescerTests {
    typealias Ack = AckCoalescer.Ack

    func delivered(_ tags: ClosedRange<UInt64>, on channel: UInt16 = 3) -> AckCoalescer {
        var c = AckCoalescer()
        for tag in tags { c.delivered(channel: channel, tag: tag) }
        return c
    }

    @Test func theOldestDeliveriesAckedTogetherGoOutAsOneMultipleAck() {
        var c = delivered(1...5)
        for tag: UInt64 in [2, 1, 3] { c.ack(channel: 3, tag: tag) }
        #expect(c.flush() == [Ack(channel: 3, tag: 3, multiple: true)])
        #expect(!c.hasPending)
        // 4 and 5 are still unsettled; acking 5 alone must not cover 4.
        c.ack(channel: 3, tag: 5)
        #expect(c.flush() == [Ack(channel: 3, tag: 5, multiple: false)])
        c.ack(channel: 3, tag: 4)
        #expect(c.flush() == [Ack(channel: 3, tag: 4, multiple: false)])
    }

    @Test func aDeliveryStillRunningStopsTheRunAndLaterAcksGoOutOneEach() {
        var c = delivered(1...6)
        for tag: UInt64 in [1, 2, 4, 6] { c.ack(channel: 3, tag: tag) }
        #expect(
            c.flush() == [
                Ack(channel: 3, tag: 2, multiple: true), Ack(channel: 3, tag: 4, multiple: false),
                Ack(channel: 3, tag: 6, multiple: false),
            ])
        // Once 3 and 5 are acked, they are the channel's only unsettled
        // deliveries (4 and 6 went out already): one multiple ack at 5.
        c.ack(channel: 3, tag: 5)
        c.ack(channel: 3, tag: 3)
        #expect(c.flush() == [Ack(channel: 3, tag: 5, multiple: true)])
    }

    @Test func aSingleHeadAckIsNotMultiple() {
        var c = delivered(7...9)
        c.ack(channel: 3, tag: 7)
        #expect(c.flush() == [Ack(channel: 3, tag: 7, multiple: false)])
    }

    @Test func aRequeuedOrRejectedDeliveryIsNotCoveredAndDoesNotStopTheRun() {
        var c = delivered(1...4)
        c.settledOtherwise(channel: 3, tag: 2)  // requeued: the broker holds it again
        for tag: UInt64 in [1, 3] { c.ack(channel: 3, tag: tag) }
        // A multiple ack at 3 covers only deliveries the broker still
        // counts as unacknowledged on the channel: 1 and 3.
        #expect(c.flush() == [Ack(channel: 3, tag: 3, multiple: true)])
        c.ack(channel: 3, tag: 4)
        c.settledOtherwise(channel: 3, tag: 4)  // rejected after all: the ack is withdrawn
        #expect(c.flush().isEmpty)
    }

    @Test func channelsAreCoalescedApart() {
        var c = delivered(1...3, on: 3)
        for tag: UInt64 in 1...2 { c.delivered(channel: 4, tag: tag) }
        for tag: UInt64 in [1, 2] {
            c.ack(channel: 3, tag: tag)
            c.ack(channel: 4, tag: tag)
        }
        #expect(c.flush() == [Ack(channel: 3, tag: 2, multiple: true), Ack(channel: 4, tag: 2, multiple: true)])
    }

    @Test func acksForUnknownDeliveriesAreIgnored() {
        var c = delivered(1...2)
        c.ack(channel: 3, tag: 9)
        c.ack(channel: 5, tag: 1)
        #expect(!c.hasPending)
        #expect(c.flush().isEmpty)
    }

    @Test func aClosedChannelOrALostConnectionDropsWhatWasAsked() {
        var c = delivered(1...3)
        c.ack(channel: 3, tag: 1)
        c.channelGone(3)
        #expect(c.flush().isEmpty)
        // The reopened channel numbers its deliveries from 1 again.
        c.delivered(channel: 3, tag: 1)
        c.ack(channel: 3, tag: 1)
        #expect(c.flush() == [Ack(channel: 3, tag: 1, multiple: false)])
        c.delivered(channel: 3, tag: 2)
        c.ack(channel: 3, tag: 2)
        c.connectionLost()
        #expect(c.flush().isEmpty)
    }
}
