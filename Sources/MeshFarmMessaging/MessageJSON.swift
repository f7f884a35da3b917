import Foundation

// The JSON of task envelopes and events, written and read by hand: at a
// no-op task's scale Foundation's coders were a fifth of the worker
// runtime's CPU (an envelope read, two events written; the coordinator
// writes the envelope and reads the result). What these two types carry
// inside (a payload, a result) stays its own type's `Codable`, except
// ``JSONValue``, which is written and read here directly.
//
// The output is the same JSON as Foundation's with sorted keys and dates
// as seconds since 1970 (a number), so readers of either kind read it;
// the reader takes any valid JSON, whitespace and key order included.

/// Appends JSON to a byte buffer. The caller writes keys in the order it
/// wants (sorted, for MeshFarm's messages) and says where values go.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []
    /// Whether the next member or element needs a comma before it.
    private var needsComma = false
    /// Objects and arrays open: deeper than ``JSONReader/maximumDepth``,
    /// nothing is written that could not be read back.
    private var depth = 0

    init(capacity: Int = 512) { bytes.reserveCapacity(capacity) }

    mutating func beginObject() { begin(UInt8(ascii: "{")) }
    mutating func endObject() { end(UInt8(ascii: "}")) }
    mutating func beginArray() { begin(UInt8(ascii: "[")) }
    mutating func endArray() { end(UInt8(ascii: "]")) }

    private mutating func begin(_ bracket: UInt8) {
        separate()
        bytes.append(bracket)
        needsComma = false
        depth += 1
    }

    private mutating func end(_ bracket: UInt8) {
        bytes.append(bracket)
        needsComma = true
        depth -= 1
    }

    /// A member's key; its value follows. `key` needs no escaping (the
    /// messages' own keys); ``JSONValue`` objects go through ``string(_:)``.
    ///
    /// Strings are escaped as Foundation escapes them (`\/` included), so
    /// the bytes are the same as its encoder's with sorted keys.
    mutating func key(_ key: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        key.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        needsComma = false
    }

    /// A member: its key, then its value.
    mutating func member(_ key: StaticString, _ value: String) {
        self.key(key)
        string(value)
    }

    mutating func member(_ key: StaticString, _ value: Int) {
        self.key(key)
        int(value)
    }

    mutating func member(_ key: StaticString, _ value: Bool) {
        self.key(key)
        bool(value)
    }

    mutating func member(_ key: StaticString, number value: Double) throws {
        self.key(key)
        try double(value)
    }

    mutating func string(_ value: String) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            var start = 0
            for i in utf8.indices {
                let byte = utf8[i]
                guard
                    byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "/")
                else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<i]))
                start = i + 1
                switch byte {
                case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
                case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
                case UInt8(ascii: "/"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "/")])
                case 0x08: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
                case 0x0C: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
                case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
                case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
                case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
                default:
                    let hex = Array("0123456789abcdef".utf8)
                    bytes.append(contentsOf: Array("\\u00".utf8))
                    bytes.append(contentsOf: [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...]))
        }
        bytes.append(UInt8(ascii: "\""))
        needsComma = true
    }

    mutating func int(_ value: Int) {
        separate()
        bytes.append(contentsOf: String(value).utf8)
        needsComma = true
    }

    /// A finite number, in the shortest form that reads back the same
    /// `Double`, whole numbers without ".0" (as Foundation writes them).
    /// JSON has no infinities or NaN: those throw, as Foundation's encoder
    /// does.
    mutating func double(_ value: Double) throws {
        guard value.isFinite else { throw MessageCodingError("\(value) is not a JSON number") }
        separate()
        let text = value.description
        bytes.append(contentsOf: text.hasSuffix(".0") ? text.utf8.dropLast(2) : text.utf8[...])
        needsComma = true
    }

    mutating func bool(_ value: Bool) {
        separate()
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
        needsComma = true
    }

    mutating func null() {
        separate()
        bytes.append(contentsOf: "null".utf8)
        needsComma = true
    }

    /// A value already encoded as JSON (a payload by its own `Codable`).
    mutating func raw(_ json: Data) {
        separate()
        bytes.append(contentsOf: json)
        needsComma = true
    }

    mutating func value(_ value: JSONValue) throws {
        switch value {
        case .array, .object:
            guard depth < JSONReader.maximumDepth else {
                throw MessageCodingError("nesting deeper than \(JSONReader.maximumDepth)")
            }
        default: break
        }
        switch value {
        case .null: null()
        case .bool(let b): bool(b)
        case .number(let n): try double(n)
        case .string(let s): string(s)
        case .array(let elements):
            beginArray()
            for element in elements { try self.value(element) }
            endArray()
        case .object(let members):
            beginObject()
            // Sorted by UTF-8 bytes, as Foundation sorts keys.
            for (name, member) in members.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
                string(name)
                bytes.append(UInt8(ascii: ":"))
                needsComma = false
                try self.value(member)
            }
            endObject()
        }
    }

    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }
}

/// Why a message's JSON could not be written or read: where, and what was
/// wrong.
public struct MessageCodingError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Reads JSON from bytes, one value at a time, checking each against the
/// grammar as it goes, with Foundation's leniencies (a comma before a
/// closing bracket; values skipped are checked no closer than it checks
/// them), so that it reads every message a release reading with
/// Foundation read. The caller asks for what it expects (an object's
/// members, a string, a number) and skips what it does not know, so a
/// newer writer's extra keys are ignored.
///
/// Untrusted input: every read checks the bounds first, strings are
/// validated as UTF-8, and nesting is limited (``maximumDepth``), so a
/// hostile message costs at most its own length and ends in an error.
struct JSONReader: ~Copyable {
    /// Arrays and objects nested deeper than this are refused.
    static let maximumDepth = 512  // Foundation's limit too

    private let bytes: UnsafeRawBufferPointer
    private var index = 0
    private var depth = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// Reads `data` as one JSON value with `body`, then checks that only
    /// whitespace follows.
    static func read<T>(_ data: Data, _ body: (inout JSONReader) throws -> T) throws -> T {
        try data.withUnsafeBytes { buffer in
            var reader = JSONReader(buffer)
            let value = try body(&reader)
            reader.skipWhitespace()
            guard reader.index == buffer.count else { throw reader.error("unexpected bytes after the value") }
            return value
        }
    }

    func error(_ what: String) -> MessageCodingError { MessageCodingError("\(what) at byte \(index)") }

    // MARK: - Structure

    /// Calls `member` with each key of an object; `member` reads (or
    /// skips) the key's value. A key repeated keeps its first value, as
    /// Foundation's reader keeps it; the later ones are skipped.
    mutating func object(_ member: (String, inout JSONReader) throws -> Void) throws {
        var seen: [String] = []
        seen.reserveCapacity(16)  // one allocation for a message's keys
        try items(open: UInt8(ascii: "{"), close: UInt8(ascii: "}"), "an object", "unterminated object") { r in
            let key = try r.string()
            try r.expect(UInt8(ascii: ":"), "':'")
            if seen.contains(key) {
                _ = try r.skipValue()
                return
            }
            seen.append(key)
            try member(key, &r)
        }
    }

    /// Calls `element` for each element of an array.
    mutating func array(_ element: (inout JSONReader) throws -> Void) throws {
        try items(open: UInt8(ascii: "["), close: UInt8(ascii: "]"), "an array", "unterminated array", element)
    }

    /// The items of an object or array, between `open` and `close`,
    /// separated by commas.
    private mutating func items(
        open: UInt8, close: UInt8, _ what: String, _ unterminated: String, _ item: (inout JSONReader) throws -> Void
    ) throws {
        try expect(open, what)
        try enter()
        defer { depth -= 1 }
        skipWhitespace()
        if peek() == close {
            index += 1
            return
        }
        while true {
            try item(&self)
            skipWhitespace()
            guard let next = peek() else { throw error(unterminated) }
            index += 1
            if next == close { return }
            guard next == UInt8(ascii: ",") else {
                throw error(close == UInt8(ascii: "}") ? "expected ',' or '}'" : "expected ',' or ']'")
            }
            // A comma before the close, as Foundation's reader allows.
            skipWhitespace()
            if peek() == close {
                index += 1
                return
            }
        }
    }

    /// Consumes `null` when it comes next.
    mutating func null() -> Bool {
        skipWhitespace()
        guard matches("null") else { return false }
        index += 4
        return true
    }

    /// Skips one value of any kind, returning where its bytes are.
    mutating func skipValue() throws -> Range<Int> {
        skipWhitespace()
        let start = index
        switch peek() {
        case UInt8(ascii: "{"):
            try items(open: UInt8(ascii: "{"), close: UInt8(ascii: "}"), "an object", "unterminated object") { r in
                try r.skipString()
                try r.expect(UInt8(ascii: ":"), "':'")
                _ = try r.skipValue()
            }
        case UInt8(ascii: "["): try array { reader in _ = try reader.skipValue() }
        case UInt8(ascii: "\""): try skipString()
        case UInt8(ascii: "t"), UInt8(ascii: "f"): _ = try bool()
        case UInt8(ascii: "n"): if !null() { throw error("expected a value") }
        default: try skipNumber()
        }
        return start..<index
    }

    /// Skips a number: its characters, whatever their order (Foundation
    /// reads what it skips no closer).
    private mutating func skipNumber() throws {
        let start = index
        while let byte = peek(), isDigit(byte) || Array("+-.eE".utf8).contains(byte) { index += 1 }
        guard index > start else { throw error("expected a value") }
    }

    /// Skips a string: up to the closing quote, past whatever a backslash
    /// escapes. As lenient as Foundation's reader with a value it does not
    /// decode: a value skipped is never read.
    private mutating func skipString() throws {
        skipWhitespace()
        try expect(UInt8(ascii: "\""), "a string")
        while index < bytes.count {
            let byte = bytes[index]
            index += byte == UInt8(ascii: "\\") ? 2 : 1
            if byte == UInt8(ascii: "\"") { return }
        }
        throw error("unterminated string")
    }

    /// The bytes of `range` (from ``skipValue()``), copied.
    func data(_ range: Range<Int>) -> Data { Data(bytes[range]) }

    // MARK: - Scalars

    mutating func string() throws -> String {
        skipWhitespace()
        try expect(UInt8(ascii: "\""), "a string")
        let start = index
        // Fast path: no escapes.
        var ascii = true
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                // ASCII is UTF-8 already: no validation (whose generic
                // code was a measurable share of reading a message).
                let text =
                    ascii
                    ? String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                    : try utf8(start..<index)
                index += 1
                return text
            }
            if byte == UInt8(ascii: "\\") { break }
            guard byte >= 0x20 else { throw error("a control character in a string") }
            ascii = ascii && byte < 0x80
            index += 1
        }
        var scalars: [UInt8] = Array(bytes[start..<index])
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                guard let text = String(validating: scalars, as: UTF8.self) else {
                    throw error("a string that is not UTF-8")
                }
                return text
            case UInt8(ascii: "\\"):
                guard index < bytes.count else { break }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(escape)
                case UInt8(ascii: "b"): scalars.append(0x08)
                case UInt8(ascii: "f"): scalars.append(0x0C)
                case UInt8(ascii: "n"): scalars.append(0x0A)
                case UInt8(ascii: "r"): scalars.append(0x0D)
                case UInt8(ascii: "t"): scalars.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xD800..<0xDC00).contains(code) {
                        // A high surrogate must be followed by its low half.
                        guard matches("\\u") else { throw error("an unpaired surrogate") }
                        index += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw error("an unpaired surrogate") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw error("an unpaired surrogate") }
                    scalars.append(contentsOf: String(Character(scalar)).utf8)
                default: throw error("an invalid escape")
                }
            default:
                guard byte >= 0x20 else { throw error("a control character in a string") }
                scalars.append(byte)
            }
        }
        throw error("unterminated string")
    }

    /// A string naming a case of `T` (a message's kind, a log level).
    mutating func named<T: RawRepresentable<String>>(_ type: T.Type, _ what: String) throws -> T {
        let name = try string()
        guard let value = T(rawValue: name) else { throw MessageCodingError("unknown \(what) '\(name)'") }
        return value
    }

    mutating func bool() throws -> Bool {
        skipWhitespace()
        if matches("true") {
            index += 4
            return true
        }
        if matches("false") {
            index += 5
            return false
        }
        throw error("expected true or false")
    }

    /// A number, checked against JSON's grammar.
    mutating func number() throws -> Double {
        let range = try numberBytes()
        let text = String(decoding: bytes[range], as: UTF8.self)
        guard let value = Double(text), value.isFinite else { throw error("a number out of range") }
        return value
    }

    /// An integer: a number without fraction or exponent that fits `Int`
    /// (Foundation reads `1.0` as an integer too; so does this).
    mutating func int() throws -> Int {
        let range = try numberBytes()
        let text = String(decoding: bytes[range], as: UTF8.self)
        if let value = Int(text) { return value }
        guard let value = Double(text), value.rounded() == value, let exact = Int(exactly: value) else {
            throw error("expected an integer")
        }
        return exact
    }

    // MARK: - Bytes

    private mutating func numberBytes() throws -> Range<Int> {
        skipWhitespace()
        let start = index
        if peek() == UInt8(ascii: "-") { index += 1 }
        guard let first = peek(), isDigit(first) else { throw error("expected a value") }
        index += 1
        if first != UInt8(ascii: "0") { skipDigits() }
        if peek() == UInt8(ascii: ".") {
            index += 1
            guard let digit = peek(), isDigit(digit) else { throw error("a digit must follow '.'") }
            skipDigits()
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            index += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
            guard let digit = peek(), isDigit(digit) else { throw error("a digit must follow the exponent") }
            skipDigits()
        }
        return start..<index
    }

    private mutating func skipDigits() {
        while let byte = peek(), isDigit(byte) { index += 1 }
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private mutating func hex4() throws -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("a short \\u escape") }
        var code: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error("a bad \\u escape")
            }
            code = code << 4 | UInt32(digit)
            index += 1
        }
        return code
    }

    private func utf8(_ range: Range<Int>) throws -> String {
        guard let text = String(validating: bytes[range], as: UTF8.self) else {
            throw error("a string that is not UTF-8")
        }
        return text
    }

    private mutating func enter() throws {
        depth += 1
        guard depth <= Self.maximumDepth else { throw error("nesting deeper than \(Self.maximumDepth)") }
    }

    private mutating func expect(_ byte: UInt8, _ what: String) throws {
        skipWhitespace()
        guard peek() == byte else { throw error("expected \(what)") }
        index += 1
    }

    private func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

    private func matches(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { return false }
        return word.withUTF8Buffer { w in (0..<count).allSatisfy { bytes[index + $0] == w[$0] } }
    }

    mutating func skipWhitespace() {
        while let byte = peek(),
            byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r")
                || byte == UInt8(ascii: "\t")
        {
            index += 1
        }
    }
}

extension JSONReader {
    /// Any JSON value.
    mutating func value() throws -> JSONValue {
        skipWhitespace()
        switch peek() {
        case UInt8(ascii: "{"):
            var members: [String: JSONValue] = [:]
            try object { key, reader in members[key] = try reader.value() }
            return .object(members)
        case UInt8(ascii: "["):
            var elements: [JSONValue] = []
            try array { reader in elements.append(try reader.value()) }
            return .array(elements)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return .bool(try bool())
        case UInt8(ascii: "n"):
            guard null() else { throw error("expected a value") }
            return .null
        default: return .number(try number())
        }
    }
}
