/// The exchanges, queues and bindings MeshFarm declares at start-up, every
/// time a connection (re)opens. Declarations are idempotent.
public struct Topology: Sendable, Equatable {
    public struct Exchange: Sendable, Equatable {
        public var name: String
        /// `topic`, `fanout`, `direct`.
        public var type: String

        public init(name: String, type: String) {
            self.name = name
            self.type = type
        }
    }

    public struct Queue: Sendable, Equatable {
        public var name: String
        /// Quorum queues replicate and count deliveries; classic ones do not.
        public var quorum: Bool
        /// Deliveries after which a message is dead-lettered (quorum only).
        public var deliveryLimit: Int?
        /// Exchange receiving this queue's dead letters.
        public var deadLetterExchange: String?
        /// A worker's own queue (its control queue): classic, not durable,
        /// deleted once its consumer is gone (auto-delete) or, never
        /// consumed, after five minutes. Not exclusive: after a dropped
        /// connection the broker may not yet have noticed, and an exclusive
        /// queue would refuse the new connection (405 RESOURCE_LOCKED).
        public var transient: Bool

        public init(
            name: String, quorum: Bool, deliveryLimit: Int? = nil, deadLetterExchange: String? = nil,
            transient: Bool = false
        ) {
            self.name = name
            self.quorum = quorum && !transient
            self.deliveryLimit = deliveryLimit
            self.deadLetterExchange = deadLetterExchange
            self.transient = transient
        }

        /// The `queue.declare` arguments that give the queue these
        /// properties.
        public var arguments: [String: HeaderValue] {
            var arguments: [String: HeaderValue] = [:]
            if quorum { arguments["x-queue-type"] = .string("quorum") }
            if let deliveryLimit { arguments["x-delivery-limit"] = .int(Int64(deliveryLimit)) }
            if let deadLetterExchange {
                arguments["x-dead-letter-exchange"] = .string(deadLetterExchange)
                if quorum {
                    // At-least-once dead-lettering: the dead letter is only
                    // dropped here once the target queue confirmed it.
                    arguments["x-dead-letter-strategy"] = .string("at-least-once")
                    arguments["x-overflow"] = .string("reject-publish")
                }
            }
            if transient { arguments["x-expires"] = .int(300_000) }
            return arguments
        }
    }

    public struct Binding: Sendable, Equatable {
        public var queue: String
        public var exchange: String
        public var pattern: String

        public init(queue: String, exchange: String, pattern: String) {
            self.queue = queue
            self.exchange = exchange
            self.pattern = pattern
        }
    }

    public var exchanges: [Exchange]
    public var queues: [Queue]
    public var bindings: [Binding]

    public init(exchanges: [Exchange], queues: [Queue], bindings: [Binding]) {
        self.exchanges = exchanges
        self.queues = queues
        self.bindings = bindings
    }
}

/// MeshFarm's names and limits; `prefix` isolates test runs from each other.
public struct FarmTopology: Sendable, Equatable {
    public var prefix: String
    /// Deliveries of one message before it is dead-lettered: a task that
    /// keeps killing its worker stops after this many tries.
    public var deliveryLimit: Int

    public init(prefix: String = "meshfarm", deliveryLimit: Int = 5) {
        self.prefix = prefix
        self.deliveryLimit = deliveryLimit
    }

    public var tasksExchange: String { "\(prefix).tasks" }
    public var eventsExchange: String { "\(prefix).events" }
    public var deadExchange: String { "\(prefix).dead" }
    /// Fanout from the coordinator to every worker (``ControlMessage``);
    /// each worker binds its own transient queue.
    public var controlExchange: String { "\(prefix).control" }
    public var cpuQueue: String { "\(prefix).cpu" }
    public var gpuQueue: String { "\(prefix).gpu" }
    public var coordinatorQueue: String { "\(prefix).coordinator" }
    public var deadLetterQueue: String { "\(prefix).dead-letter" }

    /// The queue consumed by a worker pool (`cpu`, `gpu`).
    public func queue(forPool pool: String) -> String { "\(prefix).\(pool)" }

    /// The pool whose tasks `queue` holds (its name after the prefix).
    public func pool(ofQueue queue: String) -> String {
        queue.hasPrefix(prefix + ".") ? String(queue.dropFirst(prefix.count + 1)) : queue
    }

    /// Topic exchanges for tasks and events; fanout exchanges for dead
    /// letters and for control messages to the workers;
    /// quorum task queues with a delivery limit, dead-lettered at least once
    /// (which needs `x-overflow: reject-publish`); the coordinator's event
    /// queue; the dead-letter queue the coordinator also reads.
    public var topology: Topology {
        Topology(
            exchanges: [
                .init(name: tasksExchange, type: "topic"), .init(name: eventsExchange, type: "topic"),
                .init(name: deadExchange, type: "fanout"), .init(name: controlExchange, type: "fanout"),
            ],
            queues: [
                .init(name: cpuQueue, quorum: true, deliveryLimit: deliveryLimit, deadLetterExchange: deadExchange),
                .init(name: gpuQueue, quorum: true, deliveryLimit: deliveryLimit, deadLetterExchange: deadExchange),
                .init(name: coordinatorQueue, quorum: true, deliveryLimit: nil, deadLetterExchange: nil),
                .init(name: deadLetterQueue, quorum: true, deliveryLimit: nil, deadLetterExchange: nil),
            ],
            bindings: [
                .init(queue: cpuQueue, exchange: tasksExchange, pattern: "cpu.#"),
                .init(queue: gpuQueue, exchange: tasksExchange, pattern: "gpu.#"),
                .init(queue: coordinatorQueue, exchange: eventsExchange, pattern: "#"),
                .init(queue: deadLetterQueue, exchange: deadExchange, pattern: "#"),
            ])
    }
}

/// AMQP topic matching: words separated by `.`, `*` matches exactly one
/// word, `#` matches zero or more.
public enum TopicPattern {
    public static func matches(_ pattern: String, _ key: String) -> Bool {
        match(
            pattern.split(separator: ".", omittingEmptySubsequences: false)[...],
            key.split(separator: ".", omittingEmptySubsequences: false)[...])
    }

    private static func match(_ p: ArraySlice<Substring>, _ k: ArraySlice<Substring>) -> Bool {
        guard let head = p.first else { return k.isEmpty }
        if head == "#" {
            let rest = p.dropFirst()
            if rest.isEmpty { return true }
            for i in k.indices.startIndex...k.endIndex where match(rest, k[i...]) { return true }
            return false
        }
        guard let word = k.first else { return false }
        return (head == "*" || head == word) && match(p.dropFirst(), k.dropFirst())
    }
}
