/// Which `basic.ack` frames to send for the acknowledgements asked for since
/// the last flush: one `multiple` ack covers every delivery of a channel up
/// to a tag, so when the oldest unsettled deliveries of a channel are all
/// acknowledged together they go out as one frame instead of one each.
///
/// A pure value, kept by the connection loop. It knows every delivery of a
/// consumer channel that is not settled yet (``delivered(channel:tag:)``),
/// so a `multiple` ack never covers a delivery nobody acknowledged: a
/// delivery still being worked on stops the run, and one requeued or
/// rejected (``settledOtherwise(channel:tag:)``, sent at once) is left out
/// of it, the broker no longer counting it.
///
/// The loop flushes before it waits on the socket and before it closes, so
/// coalescing never holds an acknowledgement back while the loop sleeps.
/// Acks asked for on a channel that closed are dropped
/// (``channelGone(_:)``): the broker has requeued those deliveries.
public struct AckCoalescer: Sendable, Equatable {
    /// One frame to send.
    public struct Ack: Sendable, Equatable {
        public var channel: UInt16
        public var tag: UInt64
        public var multiple: Bool

        public init(channel: UInt16, tag: UInt64, multiple: Bool) {
            self.channel = channel
            self.tag = tag
            self.multiple = multiple
        }
    }

    /// Per channel: unsettled delivery tags, ascending (the broker numbers
    /// a channel's deliveries in order), and the acks asked for among them.
    private var unsettled: [UInt16: [UInt64]] = [:]
    private var requested: [UInt16: Set<UInt64>] = [:]

    public init() {}

    /// Whether acknowledgements wait to be flushed.
    public var hasPending: Bool { !requested.isEmpty }

    /// A delivery arrived on `channel`.
    public mutating func delivered(channel: UInt16, tag: UInt64) {
        unsettled[channel, default: []].append(tag)
    }

    /// The consumer acknowledged delivery `tag` of `channel`.
    public mutating func ack(channel: UInt16, tag: UInt64) {
        guard let tags = unsettled[channel], Self.index(of: tag, in: tags) != nil else { return }
        requested[channel, default: []].insert(tag)
    }

    /// Delivery `tag` was requeued or rejected (sent at once, on its own):
    /// a later `multiple` ack must not cover it.
    public mutating func settledOtherwise(channel: UInt16, tag: UInt64) {
        guard var tags = unsettled[channel], let index = Self.index(of: tag, in: tags) else { return }
        tags.remove(at: index)
        unsettled[channel] = tags.isEmpty ? nil : tags
        requested[channel]?.remove(tag)
        if requested[channel]?.isEmpty == true { requested[channel] = nil }
    }

    /// The frames for every ack asked for, channel by channel: one
    /// `multiple` ack for the longest run of acknowledged deliveries at the
    /// head of the channel's unsettled ones (when the run has more than
    /// one), then one ack each for the rest.
    public mutating func flush() -> [Ack] {
        var frames: [Ack] = []
        for channel in requested.keys.sorted() {
            guard let acked = requested[channel], var tags = unsettled[channel] else { continue }
            var run = 0
            while run < tags.count, acked.contains(tags[run]) { run += 1 }
            if run > 0 { frames.append(Ack(channel: channel, tag: tags[run - 1], multiple: run > 1)) }
            let rest = tags[run...].filter(acked.contains)
            frames += rest.map { Ack(channel: channel, tag: $0, multiple: false) }
            tags.removeFirst(run)
            tags.removeAll(where: acked.contains)
            unsettled[channel] = tags.isEmpty ? nil : tags
        }
        requested = [:]
        return frames
    }

    /// Where `tag` is in ascending `tags` (binary search).
    private static func index(of tag: UInt64, in tags: [UInt64]) -> Int? {
        var low = 0
        var high = tags.count
        while low < high {
            let middle = (low + high) / 2
            if tags[middle] < tag { low = middle + 1 } else { high = middle }
        }
        return low < tags.count && tags[low] == tag ? low : nil
    }

    /// `channel` closed: its deliveries are requeued by the broker, and
    /// nothing asked for on it is sent.
    public mutating func channelGone(_ channel: UInt16) {
        unsettled[channel] = nil
        requested[channel] = nil
    }

    /// The connection is gone: every delivery with it.
    public mutating func connectionLost() {
        unsettled = [:]
        requested = [:]
    }
}
