/// The consumers of one transport and the channels they live on: which
/// consumer a delivery's channel belongs to, whether a delivery can still be
/// settled, which consumers to subscribe again after a channel or the
/// connection went away.
///
/// A pure value, kept by the connection loop. Every channel opening gets a
/// generation number unique across connections, so a delivery taken on a
/// channel that has since closed (or on a previous connection) is known to
/// be stale even when a new channel got the same number.
public struct ConsumerTable<Sink> {
    public struct Consumer {
        public let id: Int
        public let queue: String
        public let prefetch: Int
        public let sink: Sink
        /// Channel and its generation while subscribed on the current connection.
        public var channel: UInt16?
        public var generation = 0
        public var tag: String?
        /// False once cancelled by us or by the broker: never subscribed again.
        public var active = true
    }

    /// Channels below this are the transport's own (publish, utility).
    public let firstConsumerChannel: UInt16
    public private(set) var consumers: [Int: Consumer] = [:]
    private var nextID = 0
    private var generations: [UInt16: Int] = [:]
    private var generationCounter = 0

    public init(firstConsumerChannel: UInt16) { self.firstConsumerChannel = firstConsumerChannel }

    /// Registers a consumer (not yet subscribed); returns its id.
    public mutating func add(queue: String, prefetch: Int, sink: Sink) -> Int {
        nextID += 1
        consumers[nextID] = Consumer(id: nextID, queue: queue, prefetch: prefetch, sink: sink)
        return nextID
    }

    public subscript(id: Int) -> Consumer? { consumers[id] }

    /// Active consumers, oldest first: the ones to subscribe after a reconnect.
    public var activeIDs: [Int] { consumers.values.filter(\.active).map(\.id).sorted() }

    /// The channel for consumer `id`: the one it had, else the lowest free one.
    public func channel(for id: Int) -> UInt16 {
        if let channel = consumers[id]?.channel { return channel }
        let used = Set(consumers.values.compactMap(\.channel))
        var channel = firstConsumerChannel
        while used.contains(channel) { channel += 1 }
        return channel
    }

    /// A channel was opened (any channel, the transport's own too): returns
    /// its new generation.
    @discardableResult
    public mutating func opened(_ channel: UInt16) -> Int {
        generationCounter += 1
        generations[channel] = generationCounter
        return generationCounter
    }

    /// Consumer `id` now consumes on `channel` (just opened) with `tag`.
    public mutating func subscribed(_ id: Int, channel: UInt16, tag: String) {
        consumers[id]?.channel = channel
        consumers[id]?.generation = generations[channel] ?? 0
        consumers[id]?.tag = tag
    }

    /// Drops a consumer that could not subscribe.
    public mutating func remove(_ id: Int) { consumers[id] = nil }

    /// The active consumer on `channel`, for a delivery that arrived there.
    public func consumer(on channel: UInt16) -> Consumer? {
        consumers.values.first { $0.channel == channel && $0.active }
    }

    /// Whether a delivery taken by `consumer` on `channel` in `generation`
    /// can still be settled: the channel is the same opening of it.
    public func isCurrent(consumer id: Int, channel: UInt16, generation: Int) -> Bool {
        consumers[id] != nil && generations[channel] == generation
    }

    /// We cancel consumer `id`: returns it as it was (to send `basic.cancel`
    /// on its channel and end its sink), or nil when it was not active. Its
    /// channel stays open: deliveries already handed out are settled on it.
    public mutating func cancel(_ id: Int) -> Consumer? {
        guard let consumer = consumers[id], consumer.active else { return nil }
        consumers[id]!.active = false
        return consumer
    }

    /// The broker cancelled the consumer on `channel` (its queue was deleted).
    public mutating func brokerCancelled(channel: UInt16) -> Consumer? {
        guard let consumer = consumer(on: channel) else { return nil }
        return cancel(consumer.id)
    }

    /// The broker closed `channel`: deliveries taken on it are stale from
    /// now on. Returns the active consumer that lived there, to subscribe
    /// again on a fresh channel (the broker requeued its deliveries).
    public mutating func channelClosed(_ channel: UInt16) -> Int? {
        generations[channel] = nil
        return consumer(on: channel)?.id
    }

    /// The connection is gone: no consumer has a channel any more, and every
    /// delivery taken so far is stale.
    public mutating func connectionLost() {
        for id in consumers.keys {
            consumers[id]!.channel = nil
            consumers[id]!.tag = nil
        }
        generations = [:]
    }

    /// Every consumer, removed (the transport is closing).
    public mutating func removeAll() -> [Consumer] {
        defer { consumers = [:] }
        return Array(consumers.values)
    }
}
