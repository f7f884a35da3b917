import Foundation
import MeshFarmMessaging
import Testing

/// Task envelopes and events are written and read by hand
/// (`MessageCoding`): checked against Foundation's coders, which wrote and
/// read them before (and still do in a worker or coordinator of the
/// previous release).
@Suite struct MessageCodingTests {
    /// A seeded generator, so a failure repeats.
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let alphabet: [String] = [
        "a", "Z", "0", " ", "/", "\\", "\"", "\n", "\t", "\r", "\u{8}", "\u{c}", "\u{0}", "\u{1f}", "\u{7f}", "é",
        "😀", "\u{2028}", "日本", ":", "{", "}", "[", ",",
    ]

    func text(_ g: inout Seeded, max: Int = 12) -> String {
        (0..<Int.random(in: 0...max, using: &g)).map { _ in Self.alphabet.randomElement(using: &g)! }.joined()
    }

    func number(_ g: inout Seeded) -> Double {
        switch Int.random(in: 0..<6, using: &g) {
        case 0: Double(Int.random(in: -1000...1000, using: &g))
        case 1: Double.random(in: -1...1, using: &g)
        case 2: Double.random(in: 0...2e9, using: &g)  // a date
        case 3: Double.random(in: -1e-300...1e-300, using: &g)
        case 4: [0.1, 1e-5, 5e-324, 1.7976931348623157e308, -0.0, 1e21, 123456789012345678].randomElement(using: &g)!
        default: Double(bitPattern: g.next() & 0x7FEF_FFFF_FFFF_FFFF)  // any finite positive
        }
    }

    /// A date whose seconds since 1970 survive `Date`'s own arithmetic
    /// (it counts from 2001): whole 1/1024ths of a second.
    func date(_ g: inout Seeded) -> Date {
        Date(
            timeIntervalSince1970: Double(Int.random(in: 0...2_000_000_000, using: &g))
                + Double(Int.random(in: 0..<1024, using: &g)) / 1024)
    }

    func json(_ g: inout Seeded, depth: Int = 0) -> JSONValue {
        switch Int.random(in: 0..<(depth > 3 ? 4 : 6), using: &g) {
        case 0: .null
        case 1: .bool(Bool.random(using: &g))
        case 2: .number(number(&g))
        case 3: .string(text(&g))
        case 4: .array((0..<Int.random(in: 0...4, using: &g)).map { _ in json(&g, depth: depth + 1) })
        default:
            .object(
                Dictionary(
                    (0..<Int.random(in: 0...4, using: &g)).map { _ in (text(&g, max: 4), json(&g, depth: depth + 1)) },
                    uniquingKeysWith: { a, _ in a }))
        }
    }

    func envelope(_ g: inout Seeded) -> JSONTask {
        JSONTask(
            taskID: text(&g), attempt: Int.random(in: 1...1_000_000, using: &g), kind: text(&g), pool: text(&g),
            jobID: text(&g), payload: json(&g), traceID: text(&g),
            createdAt: date(&g))
    }

    func event(_ g: inout Seeded) -> JSONTaskEvent {
        let kind = [JSONTaskEvent.Kind.started, .progress, .succeeded, .failed, .cancelled].randomElement(using: &g)!
        func maybe<T>(_ make: (inout Seeded) -> T) -> T? { Bool.random(using: &g) ? make(&g) : nil }
        // A result of `null` reads back as no result (as Foundation read it).
        var result = maybe { json(&$0) }
        if result == .null { result = nil }
        let failure = maybe {
            JSONTaskEvent.Failure(
                message: text(&$0, max: 40), retryable: Bool.random(using: &$0),
                handedBack: [nil, true, false].randomElement(using: &$0)!)
        }
        let log = maybe { g in
            (0..<Int.random(in: 0...3, using: &g)).map { _ in
                TaskLogLine(
                    at: date(&g), source: text(&g),
                    level: [.info, .warning, .error].randomElement(using: &g)!, text: text(&g, max: 30))
            }
        }
        var event = JSONTaskEvent(
            kind: kind, task: envelope(&g), worker: text(&g), at: date(&g),
            progress: maybe { number(&$0) }, stage: maybe { text(&$0) }, result: result, failure: failure,
            deliveryCount: Int.random(in: 0...10, using: &g), seconds: maybe { number(&$0) }, log: log)
        if Bool.random(using: &g) { event.taskKind = nil }  // an event of the previous release
        return event
    }

    /// 400 random messages: the bytes are Foundation's (sorted keys), and
    /// both coders read them back as the message.
    func checkAgainstFoundation<Message: Codable & Equatable>(
        seed: UInt64, _ make: (inout Seeded) -> Message, encode: (Message) throws -> Data,
        decode: (Data) throws -> Message
    ) throws {
        var g = Seeded(state: seed)
        let foundation = MessageCoding.encoder()
        for _ in 0..<400 {
            let message = make(&g)
            let bytes = try encode(message)
            #expect(bytes == (try foundation.encode(message)), "\(String(decoding: bytes, as: UTF8.self))")
            #expect(try decode(bytes) == message)
            #expect(try MessageCoding.decoder().decode(Message.self, from: bytes) == message)
        }
    }

    @Test func envelopesAreFoundationsBytesAndReadBackBothWays() throws {
        try checkAgainstFoundation(
            seed: 1, envelope, encode: { try MessageCoding.encode($0) }, decode: { try MessageCoding.decodeTask($0) })
    }

    @Test func eventsAreFoundationsBytesAndReadBackBothWays() throws {
        try checkAgainstFoundation(
            seed: 2, event, encode: { try MessageCoding.encode($0) }, decode: { try MessageCoding.decodeEvent($0) })
    }

    @Test func theReaderTakesAnyLayoutAndIgnoresUnknownKeys() throws {
        let json = """
             { "version" : 1,"unknown":{"deep":[1,2.5e3,-0.0,true,false,null,"\\u00e9\\ud83d\\ude00\\/"]},
            \t"taskID":"t\\u0031","taskID":"repeated: the first one stands","attempt":2 ,"kind":"noop","pool":"cpu","jobID":"j","traceID":"x",
            "createdAt":1.5e9,"payload":{"b":[null,],"a":"\\n","a":1,},}\r\n
            """
        let task = try MessageCoding.decodeTask(Data(json.utf8), as: JSONTask.self)
        // Repeated keys, commas before a closing bracket: read as Foundation reads them.
        #expect(try MessageCoding.decoder().decode(JSONTask.self, from: Data(json.utf8)) == task)
        #expect(task.taskID == "t1")
        #expect(task.attempt == 2)
        #expect(task.createdAt == Date(timeIntervalSince1970: 1.5e9))
        #expect(task.payload == .object(["a": .string("\n"), "b": .array([.null])]))
        // Optional keys written as null, an event of the previous release (no taskKind).
        let old =
            #"{"version":1,"kind":"failed","taskID":"t","attempt":1,"jobID":"j","worker":"w","at":0,"#
            + #""deliveryCount":0,"traceID":"x","progress":null,"stage":null,"result":null,"log":null,"#
            + #""failure":{"message":"m","retryable":false,"handedBack":null}}"#
        let event = try MessageCoding.decodeEvent(Data(old.utf8), as: JSONTaskEvent.self)
        #expect(event.failure == JSONTaskEvent.Failure(message: "m", retryable: false))
        #expect(event.result == nil && event.taskKind == nil && event.log == nil)
    }

    @Test func malformedMessagesAreRefusedWithWhereAndWhat() throws {
        let valid = try MessageCoding.encode(
            JSONTask(taskID: "t", attempt: 1, kind: "k", pool: "p", jobID: "j", payload: .null))
        let text = String(decoding: valid, as: UTF8.self)
        let deep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        let cases: [(String, String)] = [
            (String(text.dropLast()), "unterminated object"),
            (text + "x", "unexpected bytes after the value"),
            (text.replacingOccurrences(of: #""pool":"p""#, with: #""pool":"\q""#), "an invalid escape"),
            (text.replacingOccurrences(of: #""pool":"p""#, with: #""pool":"\ud800""#), "an unpaired surrogate"),
            (text.replacingOccurrences(of: #""pool":"p""#, with: "\"pool\":\"\u{1}\""), "a control character"),
            (text.replacingOccurrences(of: #""attempt":1"#, with: #""attempt":01"#), "expected ',' or '}'"),
            (text.replacingOccurrences(of: #""attempt":1"#, with: #""attempt":1."#), "a digit must follow '.'"),
            (text.replacingOccurrences(of: #""attempt":1"#, with: #""attempt":1.5"#), "expected an integer"),
            (text.replacingOccurrences(of: #""attempt":1"#, with: #""attempt":"1""#), "expected a value"),
            (text.replacingOccurrences(of: #""attempt":1,"#, with: ""), "task envelope: missing 'attempt'"),
            (
                text.replacingOccurrences(of: #""payload":null"#, with: #""payload":\#(deep)"#),
                "nesting deeper than 512"
            ),
            ("[]", "expected an object"),
            ("", "expected an object"),
        ]
        for (json, reason) in cases {
            let error = #expect(throws: MessageCodingError.self, "\(json)") {
                try MessageCoding.decodeTask(Data(json.utf8), as: JSONTask.self)
            }
            #expect(error?.description.contains(reason) == true, "\(json): \(error?.description ?? "")")
        }
        var invalidUTF8 = Array(valid)
        invalidUTF8[invalidUTF8.firstIndex(of: UInt8(ascii: "p"))!] = 0xFF
        #expect(throws: MessageCodingError.self) { try MessageCoding.decodeTask(Data(invalidUTF8), as: JSONTask.self) }
        let newer = text.replacingOccurrences(of: #""version":1"#, with: #""version":2"#)
        #expect(throws: MessagingError.unsupportedVersion(2)) {
            try MessageCoding.decodeTask(Data(newer.utf8), as: JSONTask.self)
        }
    }

    @Test func nestingIsBoundedTheSameWayWrittenAndRead() throws {
        func nested(_ depth: Int) -> JSONValue { (0..<depth).reduce(JSONValue.null) { inner, _ in .array([inner]) } }
        // 511 levels of payload inside the envelope's object: 512 in all, Foundation's limit.
        // A whole second: `Date()` would not survive its own arithmetic (see `date`).
        let deep = JSONTask(
            taskID: "t", attempt: 1, kind: "k", pool: "p", jobID: "j", payload: nested(511),
            createdAt: Date(timeIntervalSince1970: 1_700_000_000))
        #expect(try MessageCoding.decodeTask(try MessageCoding.encode(deep), as: JSONTask.self) == deep)
        let deeper = JSONTask(taskID: "t", attempt: 1, kind: "k", pool: "p", jobID: "j", payload: nested(512))
        #expect(throws: MessageCodingError.self) { try MessageCoding.encode(deeper) }
        // An unknown key's value is skipped by its grammar alone, as Foundation skips it.
        var json = String(decoding: try MessageCoding.encode(deep), as: UTF8.self)
        json.insert(
            contentsOf: #""future":[1e400,"\ud800\}",{"\u00e9":-0.5E-3}],"#, at: json.index(after: json.startIndex))
        #expect(try MessageCoding.decodeTask(Data(json.utf8), as: JSONTask.self) == deep)
    }

    /// Broken copies of real messages (bytes changed, dropped, inserted):
    /// the reader never crashes, and whenever Foundation reads a copy too,
    /// both read the same message.
    @Test func brokenMessagesReadAsFoundationReadsThemOrFail() throws {
        var g = Seeded(state: 3)
        let foundation = MessageCoding.decoder()
        var bothRead = 0
        var onlyFoundationRead: [String] = []
        for round in 0..<3000 {
            let original = round % 2 == 0 ? try MessageCoding.encode(envelope(&g)) : try MessageCoding.encode(event(&g))
            var bytes = Array(original)
            for _ in 0..<Int.random(in: 1...3, using: &g) where !bytes.isEmpty {
                let i = Int.random(in: 0..<bytes.count, using: &g)
                let byte = Array(#"{}[],:"0123456789.-+eE\u tfn"#.utf8).randomElement(using: &g)!
                switch Int.random(in: 0..<3, using: &g) {
                case 0: bytes[i] = byte
                case 1: bytes.remove(at: i)
                default: bytes.insert(byte, at: i)
                }
            }
            let data = Data(bytes)
            if round % 2 == 0 {
                let ours = try? MessageCoding.decodeTask(data, as: JSONTask.self)
                // The previous release: Foundation, then the version check.
                let theirs = (try? foundation.decode(JSONTask.self, from: data)).flatMap { $0.version == 1 ? $0 : nil }
                if ours == nil, theirs != nil { onlyFoundationRead.append(String(decoding: data, as: UTF8.self)) }
                if let ours, let theirs {
                    bothRead += 1
                    #expect(ours == theirs, "\(String(decoding: data, as: UTF8.self))")
                }
            } else {
                let ours = try? MessageCoding.decodeEvent(data, as: JSONTaskEvent.self)
                let theirs = (try? foundation.decode(JSONTaskEvent.self, from: data)).flatMap {
                    $0.version == 1 ? $0 : nil
                }
                if ours == nil, theirs != nil { onlyFoundationRead.append(String(decoding: data, as: UTF8.self)) }
                if let ours, let theirs {
                    bothRead += 1
                    #expect(ours == theirs, "\(String(decoding: data, as: UTF8.self))")
                }
            }
        }
        #expect(bothRead > 100)  // the comparison happened
        // What a worker of the previous release read, this one reads too.
        #expect(onlyFoundationRead.isEmpty, "\(onlyFoundationRead.prefix(5))")
    }
}
