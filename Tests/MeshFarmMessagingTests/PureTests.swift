import Foundation
import MeshFarmMessaging
import Testing

@Suite struct TopicPatternTests {
    @Test(arguments: [
        ("cpu.#", "cpu.analyze", true), ("cpu.#", "cpu", true), ("cpu.#", "gpu.render", false),
        ("cpu.*", "cpu.analyze", true), ("cpu.*", "cpu.a.b", false), ("#", "anything.at.all", true),
        ("*.render", "gpu.render", true), ("a.#.z", "a.z", true), ("a.#.z", "a.b.c.z", true), ("a.#.z", "a.b.c", false),
    ])
    func matching(pattern: String, key: String, expected: Bool) {
        #expect(TopicPattern.matches(pattern, key) == expected)
    }
}

@Suite struct BackoffTests {
    @Test func cancelledJobsAreForgottenOnlyWhenNoLongerRepeated() throws {
        let t0 = Date(timeIntervalSince1970: 1_000)
        var jobs = CancelledJobs(memory: 60)
        jobs.heard(["a", "b"], now: t0)
        jobs.heard(["a"], now: t0 + 50)
        #expect(jobs.contains("a") && jobs.contains("b"))
        jobs.heard([], now: t0 + 70)  // b not repeated for 70 s
        #expect(jobs.contains("a") && !jobs.contains("b"))
        jobs.heard([], now: t0 + 111)
        #expect(jobs.count == 0)
        let message = ControlMessage(cancelledJobs: ["a"])
        #expect(try ControlMessage.decode(try message.message(exchange: "x").body) == message)
        // A retried job is forgotten at once; a message of the previous
        // release (no resumedJobs) still reads.
        jobs.heard(["a", "b"], now: t0 + 200)
        jobs.forget(["a"])
        #expect(!jobs.contains("a") && jobs.contains("b"))
        let resumed = ControlMessage(cancelledJobs: [], resumedJobs: ["a"])
        #expect(try ControlMessage.decode(try resumed.message(exchange: "x").body) == resumed)
        #expect(try ControlMessage.decode(Data(#"{"version":1,"cancelledJobs":["c"]}"#.utf8)).resumedJobs == nil)
        #expect(throws: MessagingError.unsupportedVersion(2)) {
            try ControlMessage.decode(Data(#"{"version":2,"cancelledJobs":[]}"#.utf8))
        }
    }

    @Test func kubernetesLikeRetrySchedule() {
        let backoff = Backoff(initial: 10, maximum: 360)
        #expect((1...7).map { backoff.baseDelay(retry: $0) } == [10, 20, 40, 80, 160, 320, 360])
        #expect(backoff.delay(retry: 3, random: 0.99) == 40)
    }

    @Test func jitterStaysWithinHalfToFull() {
        let backoff = Backoff(initial: 1, maximum: 8, jitter: true)
        #expect(backoff.delay(retry: 4, random: 0) == 4)
        #expect(backoff.delay(retry: 4, random: 0.999_999) < 8)
        #expect(backoff.delay(retry: 10, random: 0.5) == 6)
    }
}

@Suite struct EnvelopeTests {
    @Test func taskEnvelopeRoundTrip() throws {
        // A date whose seconds since 1970 are exact in binary, so the
        // round trip through JSON seconds is exact too.
        let task = JSONTask(
            taskID: "t1", attempt: 2, kind: "reduce", pool: "cpu", jobID: "j1",
            payload: .object(["ratio": .number(0.25), "input": .string("abc")]),
            createdAt: Date(timeIntervalSince1970: 1_763_790_000.25))
        let back = try MessageCoding.decodeTask(try MessageCoding.encode(task), as: JSONTask.self)
        #expect(back == task)
        #expect(back.routingKey == "cpu.reduce" && back.messageID == "t1:2")
        #expect(back.payload["ratio"] == .number(0.25))
    }

    @Test func eventsRoundTripWithTheirTaskKind() throws {
        let task = JSONTask(
            taskID: "t\"1\\", attempt: 3, kind: "render", pool: "gpu", jobID: "j\n\t\u{1}é😀",
            payload: .object(["views": .array([.number(0), .number(1.5), .number(-2e-7)]), "flag": .bool(true)]))
        let events = [
            JSONTaskEvent(kind: .started, task: task, worker: "w", deliveryCount: 2),
            JSONTaskEvent(kind: .progress, task: task, worker: "w", progress: 0.25, stage: "view 1/4"),
            JSONTaskEvent(kind: .succeeded, task: task, worker: "w", result: task.payload, seconds: 12.5),
            JSONTaskEvent(
                kind: .failed, task: task, worker: "w", failure: .init(message: "bad \"mesh\"", retryable: false)),
        ]
        for event in events {
            let back = try MessageCoding.decodeEvent(try MessageCoding.encode(event), as: JSONTaskEvent.self)
            #expect(back.taskKind == "render" && back.result == event.result && back.failure == event.failure)
            #expect(back.jobID == event.jobID && abs(back.at.timeIntervalSince(event.at)) < 1e-5)
        }
    }

    @Test func otherVersionsAndGarbageAreRejected() throws {
        var task = JSONTask(taskID: "t", attempt: 1, kind: "k", pool: "cpu", jobID: "j", payload: .null)
        task.version = 99
        #expect(throws: MessagingError.unsupportedVersion(99)) {
            try MessageCoding.decodeTask(try MessageCoding.encode(task), as: JSONTask.self)
        }
        #expect(throws: (any Error).self) { try MessageCoding.decodeTask(Data("{not json".utf8), as: JSONTask.self) }
    }
}

@Suite struct RuntimeFormattingTests {
    @Test func secondsWithThreeDecimalsAsPrintfWritesThem() {
        for seconds in [0, 0.0004, 0.0424, 0.5, 1.5, 12.3456, 59.9996, 3599.25, 86_400.125] {
            #expect(
                WorkerRuntime<JSONValue, JSONValue>.threeDecimals(seconds) == String(format: "%.3f", seconds),
                "\(seconds)")
        }
    }

    @Test func randomIDsAre32HexDigitsAndDistinct() {
        let ids = (0..<1000).map { _ in RandomID.make() }
        #expect(Set(ids).count == 1000)
        #expect(ids.allSatisfy { $0.count == 32 && $0.allSatisfy(\.isHexDigit) })
    }
}
