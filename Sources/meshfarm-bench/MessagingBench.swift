import ArgumentParser
import Foundation
import Logging
import MeshFarmAMQP
import MeshFarmMessaging

/// `meshfarm-bench messaging`: no-op task round trips through the broker
/// with the worker runtime, next to a bare librabbitmq loop making the same
/// AMQP calls (publish task; consume; publish `started` and the result
/// event with confirms; ack; consume the event) without the runtime.
struct MessagingBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "messaging", abstract: "Task round trips: worker runtime vs bare librabbitmq loop.")

    @Option(help: "Broker URL.")
    var broker: String = "amqp://guest:guest@127.0.0.1:5672/"

    @Option(help: "Tasks per run.")
    var tasks: Int = 3000

    @Option(help: "Worker concurrency (= prefetch) in both variants.")
    var concurrency: Int = 8

    @Option(help: "Alternating runs of each variant (medians are reported), after one short warm-up run of each.")
    var rounds: Int = 5

    @Option(help: "Run only one variant (runtime or bare), e.g. to profile it.")
    var only: String?

    @Option(help: "Tasks of the one-at-a-time round trip (publish, wait for the result, repeat).")
    var roundTrips: Int = 300

    func run() throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        var runtime: [RunResult] = []
        var bare: [RunResult] = []
        // Warm-up, not counted: the first run of each variant in a process
        // pays for loading code, first allocations and threads.
        let warmUp = min(300, tasks)
        if only != "bare" { _ = try blockingAwait { try await runtimeRun(tasks: warmUp) } }
        if only != "runtime" { _ = try bareRun(tasks: warmUp) }
        for _ in 0..<rounds {
            if only != "bare" { runtime.append(try blockingAwait { try await runtimeRun() }) }
            if only != "runtime" { bare.append(try bareRun()) }
        }
        if let only {
            let result = (only == "bare" ? bare : runtime).sorted { $0.throughput < $1.throughput }[rounds / 2]
            print("\(only): \(result.throughput.formatted(0)) tasks/s")
            return
        }
        let r = runtime.sorted { $0.throughput < $1.throughput }[rounds / 2]
        let b = bare.sorted { $0.throughput < $1.throughput }[rounds / 2]
        let runtimeTrips = try blockingAwait { try await runtimeRun(oneAtATime: true) }
        let bareTrips = try bareRun(oneAtATime: true)
        var table = Table(header: ["variant", "tasks", "seconds", "tasks/s", "p50 ms", "p99 ms"])
        for (name, result) in [("runtime", r), ("bare librabbitmq", b)] {
            table.add([
                name, "\(tasks)", result.seconds.formatted(2), result.throughput.formatted(0),
                (result.p50 * 1000).formatted(1), (result.p99 * 1000).formatted(1),
            ])
        }
        print(
            "No-op tasks, concurrency \(concurrency), median of \(rounds) alternating runs; latency = publish to result event."
        )
        print(table.render())
        print("\nOne task at a time (publish a task, wait for its result event, repeat), \(roundTrips) tasks:")
        var trips = Table(header: ["variant", "p50 ms", "p99 ms"])
        for (name, result) in [("runtime", runtimeTrips), ("bare librabbitmq", bareTrips)] {
            trips.add([name, (result.p50 * 1000).formatted(2), (result.p99 * 1000).formatted(2)])
        }
        print(trips.render())
        let coding = codingCost()
        print("\nOne task's messages coded (envelope written and read, started and succeeded written, succeeded read):")
        var codingTable = Table(header: ["coder", "µs a task"])
        codingTable.add(["Foundation JSONEncoder/JSONDecoder", coding.foundation.formatted(2)])
        codingTable.add(["MessageCoding (hand-written)", coding.handWritten.formatted(2)])
        print(codingTable.render())
        print("messaging.coding_speedup: \((coding.foundation / coding.handWritten).formatted(2))")
        print("messaging.tasks_per_s: \(r.throughput.formatted(0))")
        print("messaging.throughput_ratio: \((r.throughput / b.throughput).formatted(3))")
    }

    struct RunResult {
        var seconds: Double
        var latencies: [Double]
        var throughput: Double { Double(latencies.count) / seconds }
        var p50: Double { percentile(0.5) }
        var p99: Double { percentile(0.99) }
        func percentile(_ p: Double) -> Double {
            let sorted = latencies.sorted()
            return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
        }
    }

    // MARK: - Message coding

    /// Microseconds to code one no-op task's messages, the runtime's way
    /// and with Foundation's coders (which wrote them before): medians of 5
    /// runs of 2,000 tasks, alternating.
    func codingCost() -> (foundation: Double, handWritten: Double) {
        let task = JSONTask(taskID: "1234", attempt: 1, kind: "noop", pool: "cpu", jobID: "bench", payload: .null)
        let log = TaskLog(source: "bench")
        log.note("started attempt 1")
        log.note("succeeded in 0.000 s")
        let started = JSONTaskEvent(kind: .started, task: task, worker: "bench")
        let succeeded = JSONTaskEvent(
            kind: .succeeded, task: task, worker: "bench", result: .null, seconds: 0.0001, log: log.lines)
        let encoder = MessageCoding.encoder()
        let decoder = MessageCoding.decoder()
        func foundation() throws {
            _ = try decoder.decode(JSONTask.self, from: try encoder.encode(task))
            _ = try encoder.encode(started)
            _ = try decoder.decode(JSONTaskEvent.self, from: try encoder.encode(succeeded))
        }
        func handWritten() throws {
            _ = try MessageCoding.decodeTask(try MessageCoding.encode(task), as: JSONTask.self)
            _ = try MessageCoding.encode(started)
            _ = try MessageCoding.decodeEvent(try MessageCoding.encode(succeeded), as: JSONTaskEvent.self)
        }
        func microseconds(_ body: () throws -> Void) -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<2000 { try! body() }
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 2000 / 1000
        }
        var a: [Double] = []
        var b: [Double] = []
        for _ in 0..<5 {
            a.append(microseconds(foundation))
            b.append(microseconds(handWritten))
        }
        return (a.sorted()[2], b.sorted()[2])
    }

    // MARK: - Runtime

    func runtimeRun(oneAtATime: Bool = false, tasks: Int? = nil) async throws -> RunResult {
        let tasks = tasks ?? (oneAtATime ? roundTrips : self.tasks)
        let farm = FarmTopology(prefix: "bench-\(UUID().uuidString.prefix(8))")
        let url = try AMQPURL(broker)
        let client = AMQPTransport(configuration: .init(url: url))
        let workerTransport = AMQPTransport(configuration: .init(url: url))
        try await client.declare(farm.topology)
        let worker = WorkerRuntime<JSONValue, JSONValue>(
            transport: workerTransport,
            configuration: WorkerConfiguration(
                queue: farm.cpuQueue, eventsExchange: farm.eventsExchange, concurrency: concurrency, workerName: "bench"
            ),
            handlers: ["noop": JSONTaskHandler { _, _ in .null }])
        let workerTask = Task { try await worker.run() }
        let clock = Clock()
        let events = try await client.consume(queue: farm.coordinatorQueue, prefetch: 500)
        let done = AsyncStream<Int>.makeStream()
        let collector = Task { () -> [Double] in
            var latencies: [Double] = []
            for await delivery in events {
                // Only result events are decoded (routing key `<kind>.<job>`).
                if delivery.message.routingKey.hasPrefix("succeeded.") {
                    let event = try MessageCoding.decodeEvent(delivery.message.body, as: TaskEvent<JSONValue>.self)
                    if let id = Int(event.taskID) {
                        latencies.append(clock.now() - clock.sent(id))
                        done.continuation.yield(id)
                    }
                }
                try await delivery.ack()
                if latencies.count == tasks { break }
            }
            return latencies
        }
        let start = clock.now()
        if oneAtATime {
            var results = done.stream.makeAsyncIterator()
            for id in 0..<tasks {
                let task = TaskEnvelope<JSONValue>(
                    taskID: "\(id)", attempt: 1, kind: "noop", pool: "cpu", jobID: "bench", payload: .null)
                clock.markSent(id)
                try await client.publish(
                    OutgoingMessage(
                        exchange: farm.tasksExchange, routingKey: task.routingKey, body: try MessageCoding.encode(task),
                        messageID: task.messageID))
                _ = await results.next()
            }
        } else {
            // Like the coordinator: publishes handed to the transport with a
            // completion, up to 64 unconfirmed at once.
            let window = PublishWindow(limit: 64)
            for id in 0..<tasks {
                await window.acquire()
                let task = TaskEnvelope<JSONValue>(
                    taskID: "\(id)", attempt: 1, kind: "noop", pool: "cpu", jobID: "bench", payload: .null)
                clock.markSent(id)
                client.publish(
                    OutgoingMessage(
                        exchange: farm.tasksExchange, routingKey: task.routingKey, body: try MessageCoding.encode(task),
                        messageID: task.messageID), thenAck: nil
                ) { error in
                    // The collector would wait for this task forever: stop here, saying why.
                    if let error { fatalError("the benchmark could not publish a task: \(error)") }
                    window.release()
                }
            }
        }
        let latencies = try await collector.value
        let seconds = clock.now() - start
        await worker.shutdown()
        workerTask.cancel()
        await workerTransport.close()
        try await cleanup(client, farm)
        await client.close()
        return RunResult(seconds: seconds, latencies: latencies)
    }

    func cleanup(_ transport: AMQPTransport, _ farm: FarmTopology) async throws {
        let connection = try AMQPConnection(url: try AMQPURL(broker))
        defer { connection.close() }
        try connection.openChannel(1)
        for queue in [farm.cpuQueue, farm.gpuQueue, farm.coordinatorQueue, farm.deadLetterQueue] {
            try? connection.deleteQueue(channel: 1, name: queue)
        }
    }

    // MARK: - Bare librabbitmq

    func bareRun(oneAtATime: Bool = false, tasks: Int? = nil) throws -> RunResult {
        let tasks = tasks ?? (oneAtATime ? roundTrips : self.tasks)
        let resultArrived = DispatchSemaphore(value: 0)
        let farm = FarmTopology(prefix: "bare-\(UUID().uuidString.prefix(8))")
        let url = try AMQPURL(broker)
        let setup = try AMQPConnection(url: url)
        try setup.openChannel(1)
        // The runtime's queues, declared the same way (delivery limit,
        // at-least-once dead-lettering): the broker's work per message is
        // the same in both variants.
        try setup.declare(farm.topology, channel: 1)
        let clock = Clock()
        let body = Data(repeating: 0x20, count: 300)  // about the size of a task envelope
        let done = DispatchGroup()
        let collected = Locked<[Double]>([])

        // Worker: consume, publish "started" and the result, ack once the
        // result is confirmed.
        let worker = Thread {
            let connection = try! AMQPConnection(url: url)
            try! connection.openChannel(1)
            try! connection.confirmSelect(channel: 1)
            try! connection.openChannel(2)
            try! connection.qos(channel: 2, prefetch: concurrency)
            _ = try! connection.consume(channel: 2, queue: farm.cpuQueue)
            var sequence: UInt64 = 0
            var ackAfter: [UInt64: UInt64] = [:]  // result confirm -> delivery tag
            var handled = 0
            while handled < tasks {
                guard let event = try! connection.nextEvent(timeout: 1) else { continue }
                switch event {
                case .delivery(_, let tag, _, let message):
                    for kind in ["started", "succeeded"] {
                        try! connection.publish(
                            channel: 1,
                            OutgoingMessage(
                                exchange: farm.eventsExchange, routingKey: "\(kind).bench", body: message.body,
                                messageID: message.messageID))
                        sequence += 1
                    }
                    ackAfter[sequence] = tag
                case .confirm(_, let confirmed, let multiple, _):
                    for seq in ackAfter.keys where seq == confirmed || (multiple && seq <= confirmed) {
                        try! connection.ack(channel: 2, deliveryTag: ackAfter.removeValue(forKey: seq)!)
                        handled += 1
                    }
                default: break
                }
            }
            connection.close()
        }
        // Collector: consume events, record latency of results.
        let collector = Thread {
            let connection = try! AMQPConnection(url: url)
            try! connection.openChannel(1)
            try! connection.qos(channel: 1, prefetch: 500)
            _ = try! connection.consume(channel: 1, queue: farm.coordinatorQueue)
            var latencies: [Double] = []
            while latencies.count < tasks {
                guard case .delivery(_, let tag, _, let message)? = try! connection.nextEvent(timeout: 1) else {
                    continue
                }
                if message.routingKey.hasPrefix("succeeded"), let id = Int(message.messageID ?? "") {
                    latencies.append(clock.now() - clock.sent(id))
                    if oneAtATime { resultArrived.signal() }
                }
                try! connection.ack(channel: 1, deliveryTag: tag)
            }
            collected.set(latencies)
            connection.close()
            done.leave()
        }
        done.enter()
        worker.start()
        collector.start()
        Thread.sleep(forTimeInterval: 0.3)

        // Publisher: confirmed publishes, up to 64 outstanding.
        let start = clock.now()
        let publisher = try AMQPConnection(url: url)
        try publisher.openChannel(1)
        try publisher.confirmSelect(channel: 1)
        var confirmed: UInt64 = 0
        for id in 0..<tasks {
            while UInt64(id) - confirmed >= 64 {
                if case .confirm(_, let tag, let multiple, _)? = try publisher.nextEvent(timeout: 1) {
                    confirmed = multiple ? tag : confirmed + 1
                }
            }
            clock.markSent(id)
            try publisher.publish(
                channel: 1,
                OutgoingMessage(exchange: farm.tasksExchange, routingKey: "cpu.noop", body: body, messageID: "\(id)"))
            if oneAtATime {
                // Confirmed, then the result: one task in the system at a time.
                while confirmed < UInt64(id + 1) {
                    if case .confirm(_, let tag, let multiple, _)? = try publisher.nextEvent(timeout: 1) {
                        confirmed = multiple ? tag : confirmed + 1
                    }
                }
                resultArrived.wait()
            }
        }
        done.wait()
        let seconds = clock.now() - start
        publisher.close()
        for queue in farm.topology.queues { try? setup.deleteQueue(channel: 1, name: queue.name) }
        setup.close()
        return RunResult(seconds: seconds, latencies: collected.value)
    }
}

/// At most `limit` publishes unconfirmed: `acquire` waits for a free
/// place, `release` (from a publish's completion) frees one. One caller
/// acquires at a time (the bench's publishing loop).
final class PublishWindow: @unchecked Sendable {
    private let lock = NSLock()
    private var free: Int
    private var waiter: CheckedContinuation<Void, Never>?

    init(limit: Int) { free = limit }

    func acquire() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = lock.withLock { () -> Bool in
                if free > 0 {
                    free -= 1
                    return true
                }
                waiter = c
                return false
            }
            if now { c.resume() }
        }
    }

    func release() {
        let waiting = lock.withLock { () -> CheckedContinuation<Void, Never>? in
            if let w = waiter {
                waiter = nil
                return w
            }
            free += 1
            return nil
        }
        waiting?.resume()
    }
}

/// Send times by task number, shared between threads.
final class Clock: @unchecked Sendable {
    private let lock = NSLock()
    private var sentAt: [Int: Double] = [:]
    func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
    func markSent(_ id: Int) { lock.withLock { sentAt[id] = now() } }
    func sent(_ id: Int) -> Double { lock.withLock { sentAt[id] ?? now() } }
}

/// A value behind a lock.
final class Locked<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T { lock.withLock { stored } }
    func set(_ value: T) { lock.withLock { stored = value } }
}

/// Runs async work from synchronous command code.
func blockingAwait<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let result = Locked<Result<T, Error>?>(nil)
    let semaphore = DispatchSemaphore(value: 0)
    Task.detached {
        do { result.set(.success(try await body())) } catch { result.set(.failure(error)) }
        semaphore.signal()
    }
    semaphore.wait()
    return try result.value!.get()
}
