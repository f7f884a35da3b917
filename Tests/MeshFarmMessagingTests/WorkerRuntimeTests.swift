import Foundation
import MeshFarmMessaging
import Synchronization
import Testing

/// Collects the events a worker publishes.
struct EventCollector {
    let stream: MessageStream

    init(transport: any MessageTransport, farm: FarmTopology) async throws {
        stream = try await transport.consume(queue: farm.coordinatorQueue, prefetch: 100)
    }

    func next(_ count: Int, where predicate: @escaping (JSONTaskEvent) -> Bool = { _ in true }) async throws
        -> [JSONTaskEvent]
    {
        var events: [JSONTaskEvent] = []
        for await delivery in stream {
            try await delivery.ack()
            // Workers' status reports share the events exchange; tests that want them read them apart.
            if delivery.message.routingKey == WorkerStatus.routingKey { continue }
            let event = try MessageCoding.decodeEvent(delivery.message.body, as: JSONTaskEvent.self)
            if predicate(event) { events.append(event) }
            if events.count == count { break }
        }
        return events
    }
}

@Suite struct WorkerRuntimeTests {
    let farm = FarmTopology(prefix: "w", deliveryLimit: 3)

    func publishTask(
        _ transport: any MessageTransport, _ id: String, kind: String, payload: JSONValue = .null,
        jobID: String = "job"
    ) async throws {
        let task = JSONTask(taskID: id, attempt: 1, kind: kind, pool: "cpu", jobID: jobID, payload: payload)
        try await transport.publish(
            OutgoingMessage(
                exchange: farm.tasksExchange, routingKey: task.routingKey,
                body: try MessageCoding.encoder().encode(task),
                messageID: task.messageID))
    }

    func runtime(
        _ transport: any MessageTransport, handlers: [String: any TaskHandler<JSONValue, JSONValue>],
        timeLimit: Double = 60, stuckGrace: Double = 60, heartbeatInterval: Double = 30,
        onStuck: (@Sendable (JSONTask) -> Void)? = nil
    ) -> WorkerRuntime<JSONValue, JSONValue> {
        WorkerRuntime<JSONValue, JSONValue>(
            transport: transport,
            configuration: WorkerConfiguration(
                queue: farm.cpuQueue, eventsExchange: farm.eventsExchange, controlExchange: farm.controlExchange,
                concurrency: 2, workerName: "test",
                defaultTimeLimit: timeLimit, stuckGrace: stuckGrace, shutdownGrace: 0.2, progressInterval: 0,
                heartbeatInterval: heartbeatInterval),
            handlers: handlers, onStuck: onStuck)
    }

    /// The farm's topology on a fresh in-memory broker, and what its
    /// workers publish.
    func farmWithEvents() async throws -> (InMemoryTransport, EventCollector) {
        let transport = await InMemoryTransport()
        try await transport.declare(farm.topology)
        return (transport, try await EventCollector(transport: transport, farm: farm))
    }

    @Test func successFailureAndMalformedMessages() async throws {
        let (transport, events) = try await farmWithEvents()
        let worker = runtime(
            transport,
            handlers: [
                "double": JSONTaskHandler { task, context in
                    context.progress(0.5, stage: "halfway")
                    context.log("doubling", level: .warning)
                    for index in 0..<60 { context.log("chatty line \(index)") }
                    return .number(try task.payload.decode(Double.self) * 2)
                },
                "bad": JSONTaskHandler { _, _ in throw TaskFailure.permanent("the model is empty") },
            ])
        let running = Task { try await worker.run() }
        try await transport.publish(
            OutgoingMessage(exchange: farm.tasksExchange, routingKey: "cpu.double", body: Data("{garbage".utf8)))
        try await publishTask(transport, "a", kind: "double", payload: .number(21))
        try await publishTask(transport, "b", kind: "bad")
        try await publishTask(transport, "c", kind: "unknown")
        let finished = try await events.next(3) { $0.kind == .succeeded || $0.kind == .failed }
        let byTask = Dictionary(uniqueKeysWithValues: finished.map { ($0.taskID, $0) })
        #expect(byTask["a"]?.kind == .succeeded && byTask["a"]?.result == .number(42))
        #expect(byTask["b"]?.failure == JSONTaskEvent.Failure(message: "the model is empty", retryable: false))
        #expect(byTask["c"]?.failure?.retryable == false)
        // Each result carries its attempt's log, bounded: the runtime's
        // lines and the handler's, the overflow counted in a last line.
        let log = try #require(byTask["a"]?.log)
        #expect(log.count == TaskLog.limit + 1 && log.allSatisfy { $0.source == "test" })
        #expect(
            log[0].text == "started attempt 1"
                && log[1] == TaskLogLine(at: log[1].at, source: "test", level: .warning, text: "doubling"))
        #expect(log.last?.text == "13 more lines left out (at most 50 per attempt)")
        #expect(
            byTask["b"]?.log?.last?.text.hasPrefix("failed after") == true && byTask["b"]?.log?.last?.level == .error)
        #expect(try await transport.messageCount(queue: farm.deadLetterQueue) == 1)  // the garbage
        #expect(try await transport.messageCount(queue: farm.cpuQueue) == 0)
        await worker.shutdown()
        running.cancel()
    }

    @Test func aTaskPastItsTimeLimitFailsPermanentlyOnceAndItsHandlerIsAskedToStop() async throws {
        let (transport, events) = try await farmWithEvents()
        let stopped = Expectation()
        let worker = runtime(
            transport,
            handlers: [
                "slow": JSONTaskHandler { _, context in
                    while !context.isCancelled { Thread.sleep(forTimeInterval: 0.01) }
                    stopped.fulfill("asked to stop")
                    return .string("too late")
                }
            ],
            timeLimit: 0.3, onStuck: { _ in Issue.record("the handler stopped; nothing is stuck") })
        let running = Task { try await worker.run() }
        try await publishTask(transport, "s", kind: "slow")
        let failed = try await events.next(1) { $0.kind == .failed || $0.kind == .succeeded }
        #expect(failed.first?.kind == .failed)
        #expect(failed.first?.failure?.retryable == false)
        #expect(failed.first?.failure?.message.contains("time limit of 0 s") == true)
        #expect(await stopped.wait(seconds: 5) == "asked to stop")
        // Acknowledged with the failure: nothing goes back to the queue, and
        // what the handler returned afterwards is dropped.
        while worker.inFlight > 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(try await transport.messageCount(queue: farm.cpuQueue) == 0)
        #expect(worker.completed == 0)
        await worker.shutdown()
        running.cancel()
    }

    @Test func aDrainedWorkerFinishesWhatItRunsTakesNoMoreAndResumesWhenTold() async throws {
        let (transport, events) = try await farmWithEvents()
        let release = Atomic<Bool>(false)
        let worker = runtime(
            transport,
            handlers: [
                "hold": JSONTaskHandler { _, _ in
                    let end = Date().addingTimeInterval(10)
                    while !release.load(ordering: .relaxed), Date() < end { Thread.sleep(forTimeInterval: 0.01) }
                    return .string("held")
                },
                "echo": JSONTaskHandler { task, _ in task.payload },
            ])
        let running = Task { try await worker.run() }
        try await publishTask(transport, "a", kind: "hold")
        _ = try await events.next(1) { $0.kind == .started }
        #expect(worker.status.state == .busy && worker.status.running == ["a"])
        // Drained (by name) while a task runs: it finishes it...
        try await transport.publish(
            try ControlMessage(cancelledJobs: [], drainWorkers: ["someone-else"]).message(
                exchange: farm.controlExchange))
        try await transport.publish(
            try ControlMessage(cancelledJobs: [], drainWorkers: ["test"]).message(exchange: farm.controlExchange))
        while !worker.isDraining { try await Task.sleep(for: .milliseconds(10)) }
        #expect(worker.status.state == .draining)
        try await Task.sleep(for: .milliseconds(200))  // the consumer's cancel reaches the broker
        try await publishTask(transport, "b", kind: "echo", payload: .number(1))
        release.store(true, ordering: .relaxed)
        #expect(try await events.next(1) { $0.kind == .succeeded }.first?.taskID == "a")
        // ...and takes no more: b waits in the queue.
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await transport.messageCount(queue: farm.cpuQueue) == 1)
        #expect(worker.status.state == .draining && worker.status.running.isEmpty)
        // Resumed, it takes b.
        try await transport.publish(
            try ControlMessage(cancelledJobs: [], resumeWorkers: ["test"]).message(exchange: farm.controlExchange))
        #expect(try await events.next(1) { $0.kind == .succeeded }.first?.taskID == "b")
        while worker.inFlight > 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(!worker.isDraining && worker.status.state == .idle && worker.completed == 2)
        await worker.shutdown()
        running.cancel()
    }

    @Test func aCancelledJobsTasksAreAbandonedWhenRunningAndSkippedWhenDelivered() async throws {
        let (transport, events) = try await farmWithEvents()
        let stopped = Expectation()
        let ran = Mutex<[String]>([])
        let worker = runtime(
            transport,
            handlers: [
                "block": JSONTaskHandler { task, context in
                    ran.withLock { $0.append(task.taskID) }
                    let end = Date().addingTimeInterval(20)
                    while !context.isCancelled, Date() < end { Thread.sleep(forTimeInterval: 0.01) }
                    stopped.fulfill(context.isCancelled ? "asked to stop" : "never asked")
                    return .string("dropped")
                },
                "echo": JSONTaskHandler { task, _ in task.payload },
            ], onStuck: { _ in Issue.record("a cancelled task is not a stuck one") })
        let running = Task { try await worker.run() }
        try await publishTask(transport, "a", kind: "block", jobID: "doomed")
        _ = try await events.next(1) { $0.kind == .started }
        try await transport.publish(
            try ControlMessage(cancelledJobs: ["doomed"]).message(exchange: farm.controlExchange))
        let abandoned = try await events.next(1) { $0.kind != .progress }
        #expect(abandoned.map(\.kind) == [.cancelled] && abandoned.first?.taskID == "a")
        #expect(await stopped.wait(seconds: 5) == "asked to stop")
        // Delivered after the cancellation: skipped, its handler never
        // called; another job's task runs.
        try await publishTask(transport, "b", kind: "block", jobID: "doomed")
        try await publishTask(transport, "c", kind: "echo", payload: .number(7), jobID: "other")
        let rest = try await events.next(2) {
            ($0.kind == .cancelled && $0.taskID == "b") || ($0.kind == .succeeded && $0.taskID == "c")
        }
        #expect(rest.count == 2)
        #expect(ran.withLock { $0 } == ["a"])
        while worker.inFlight > 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(try await transport.messageCount(queue: farm.cpuQueue) == 0)
        #expect(worker.completed == 1)
        await worker.shutdown()
        running.cancel()
    }

    @Test func aHandlerThatIgnoresItsTimeLimitTriggersTheStuckHook() async throws {
        let transport = await InMemoryTransport()
        try await transport.declare(farm.topology)
        let stuck = Expectation()
        let worker = runtime(
            transport,
            handlers: [
                "hang": JSONTaskHandler { _, _ in
                    Thread.sleep(forTimeInterval: 2); return .null
                }
            ],
            timeLimit: 0.1, stuckGrace: 0.3, onStuck: { task in stuck.fulfill(task.taskID) })
        let running = Task { try await worker.run() }
        try await publishTask(transport, "h", kind: "hang")
        #expect(await stuck.wait(seconds: 5) == "h")
        await worker.shutdown()
        running.cancel()
    }

    @Test func aSilentTaskSendsHeartbeats() async throws {
        let (transport, events) = try await farmWithEvents()
        let worker = runtime(
            transport,
            handlers: [
                "quiet": JSONTaskHandler { _, context in
                    context.progress(0.25, stage: "thinking")
                    Thread.sleep(forTimeInterval: 1.6)
                    return .null
                }
            ],
            heartbeatInterval: 0.3)
        let running = Task { try await worker.run() }
        try await publishTask(transport, "q", kind: "quiet")
        var seen: [JSONTaskEvent] = []
        while seen.last?.kind != .succeeded {
            seen += try await events.next(1) { $0.kind == .progress || $0.kind == .succeeded }
        }
        let heartbeats = seen.filter { $0.kind == .progress }
        // The handler's own event, then heartbeats repeating it while it is silent.
        #expect(heartbeats.count >= 3, "\(seen.map(\.kind))")
        #expect(heartbeats.allSatisfy { $0.progress == 0.25 && $0.stage == "thinking" })
        await worker.shutdown()
        running.cancel()
    }

    @Test func timeLimitsStayBelowTheBrokersConsumerTimeout() {
        var configuration = WorkerConfiguration(
            queue: "q", eventsExchange: "e", timeLimits: ["render": 600], defaultTimeLimit: 4 * 3600,
            brokerConsumerTimeout: 3 * 3600)
        #expect(configuration.timeLimit(for: "render") == 600)
        #expect(configuration.timeLimit(for: "reduce") == 3 * 3600 - 60)
        configuration.brokerConsumerTimeout = 20
        #expect(configuration.timeLimit(for: "render") == 15)
        configuration.brokerConsumerTimeout = nil
        #expect(configuration.timeLimit(for: "reduce") == 4 * 3600)
    }

    @Test func cancellingTheRunningTaskShutsTheWorkerDown() async throws {
        let transport = await InMemoryTransport()
        try await transport.declare(farm.topology)
        let worker = runtime(transport, handlers: ["echo": JSONTaskHandler { task, _ in task.payload }])
        let running = Task { try await worker.run() }
        try await publishTask(transport, "x", kind: "echo")
        while worker.completed == 0 { try await Task.sleep(for: .milliseconds(10)) }
        running.cancel()
        try await running.value  // returns: run() honours cancellation
        // No longer consuming: a new task stays in the queue.
        try await publishTask(transport, "y", kind: "echo")
        try await Task.sleep(for: .milliseconds(200))
        #expect(try await transport.messageCount(queue: farm.cpuQueue) == 1)
        #expect(worker.completed == 1)
    }

    @Test func shutdownHandsBackTasksPastTheGracePeriodWithoutARequeue() async throws {
        let (transport, events) = try await farmWithEvents()
        // Held until the test has shut the worker down: a fixed sleep could
        // end before a test starved of CPU saw the task in flight, and the
        // wait below would never end.
        let release = Atomic<Bool>(false)
        let worker = runtime(
            transport,
            handlers: [
                "long": JSONTaskHandler { _, _ in
                    let end = Date().addingTimeInterval(30)
                    while !release.load(ordering: .relaxed), Date() < end { Thread.sleep(forTimeInterval: 0.01) }
                    return .null
                }
            ])
        defer { release.store(true, ordering: .relaxed) }
        let running = Task { try await worker.run() }
        try await publishTask(transport, "l", kind: "long")
        _ = try await events.next(1) { $0.kind == .started }
        #expect(worker.inFlight == 1)
        await worker.shutdown()
        // Acknowledged with a hand-back, not requeued: a requeue would count
        // toward the queue's delivery limit, kept for workers that vanish.
        let back = try await events.next(1) { $0.kind == .failed }
        #expect(back.first?.failure?.handedBack == true && back.first?.failure?.retryable == true)
        #expect(back.first?.failure?.message == "the worker shut down before the task finished")
        #expect(try await transport.messageCount(queue: farm.cpuQueue) == 0)
        running.cancel()
    }

    @Test func anUnhealthyWorkerHandsItsTaskBackAndStopsTakingTasks() async throws {
        let (transport, events) = try await farmWithEvents()
        let reported = Expectation()
        let worker = WorkerRuntime<JSONValue, JSONValue>(
            transport: transport,
            configuration: WorkerConfiguration(
                queue: farm.cpuQueue, eventsExchange: farm.eventsExchange, concurrency: 1, workerName: "sick"),
            handlers: [
                "render": JSONTaskHandler { _, _ in throw WorkerUnhealthy("Vulkan: device lost") },
                "echo": JSONTaskHandler { task, _ in task.payload },
            ],
            onUnhealthy: { reported.fulfill($0) })
        let ended = Expectation()
        let running = Task {
            try await worker.run()
            ended.fulfill("ended")
        }
        try await publishTask(transport, "r", kind: "render")
        let back = try await events.next(1) { $0.kind == .failed }
        #expect(back.first?.failure?.handedBack == true)
        #expect(await reported.wait(seconds: 5) == "Vulkan: device lost")
        #expect(worker.unhealthyReason == "Vulkan: device lost")
        // Stepping aside is not the end of run(): the worker's other tasks
        // and its exit are the unhealthy path's to settle.
        #expect(await ended.wait(seconds: 0.3) == nil)
        // It takes nothing more: the next task waits for a healthy worker.
        try await publishTask(transport, "e", kind: "echo")
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await transport.messageCount(queue: farm.cpuQueue) == 1)
        await worker.shutdown()
        running.cancel()
    }
}

/// A value set once from any thread and awaited with a timeout.
final class Expectation: @unchecked Sendable {
    private let lock = NSLock()
    private var value: String?

    func fulfill(_ v: String) { lock.withLock { if value == nil { value = v } } }

    func wait(seconds: Double) async -> String? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let v = lock.withLock({ value }) { return v }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }
}
