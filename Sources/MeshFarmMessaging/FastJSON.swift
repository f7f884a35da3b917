import Foundation

/// A direct JSON writer for the messages every task produces (task
/// envelopes and events).
///
/// `JSONEncoder` goes through `Encodable`'s generic containers and was the
/// largest single cost of a no-op task's round trip. This writer emits the
/// same document (sorted keys, dates as seconds since 1970) with plain
/// string appends; `MessageCoding` still decodes with `JSONDecoder`, and a
/// test checks that the two agree.
struct FastJSON {
    private(set) var text = ""

    init() { text.reserveCapacity(512) }

    mutating func object(_ body: (inout ObjectWriter) -> Void) {
        var writer = ObjectWriter(json: self)
        text = ""
        writer.open()
        body(&writer)
        writer.close()
        self = writer.json
    }

    mutating func string(_ s: String) {
        text.append("\"")
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": text.append("\\\"")
            case "\\": text.append("\\\\")
            case "\n": text.append("\\n")
            case "\r": text.append("\\r")
            case "\t": text.append("\\t")
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                text.append("\\u" + String(repeating: "0", count: 4 - hex.count) + hex)
            default: text.unicodeScalars.append(scalar)
            }
        }
        text.append("\"")
    }

    mutating func number(_ d: Double) {
        // JSON has no NaN or infinity; MeshFarm never produces them, but a
        // handler's result could: write null rather than invalid JSON.
        guard d.isFinite else {
            text.append("null")
            return
        }
        if d == d.rounded(), abs(d) < 1e15 {
            text.append(String(Int64(d)))
        } else {
            text.append(d.description)
        }
    }

    mutating func value(_ v: JSONValue) {
        switch v {
        case .null: text.append("null")
        case .bool(let b): text.append(b ? "true" : "false")
        case .number(let n): number(n)
        case .string(let s): string(s)
        case .array(let a):
            text.append("[")
            for (i, element) in a.enumerated() {
                if i > 0 { text.append(",") }
                value(element)
            }
            text.append("]")
        case .object(let o):
            text.append("{")
            for (i, key) in o.keys.sorted().enumerated() {
                if i > 0 { text.append(",") }
                string(key)
                text.append(":")
                value(o[key]!)
            }
            text.append("}")
        }
    }

    var data: Data { Data(text.utf8) }

    /// Writes `"key":value` pairs; callers add keys in sorted order.
    struct ObjectWriter {
        var json: FastJSON
        private var first = true

        init(json: FastJSON) { self.json = json }

        mutating func open() { json.text.append("{") }
        mutating func close() { json.text.append("}") }

        private mutating func key(_ k: String) {
            if !first { json.text.append(",") }
            first = false
            json.string(k)
            json.text.append(":")
        }

        mutating func add(_ k: String, _ s: String) {
            key(k)
            json.string(s)
        }

        mutating func add(_ k: String, _ i: Int) {
            key(k)
            json.text.append(String(i))
        }

        mutating func add(_ k: String, _ d: Double) {
            key(k)
            json.number(d)
        }

        mutating func add(_ k: String, _ v: JSONValue) {
            key(k)
            json.value(v)
        }

        mutating func add(_ k: String, object body: (inout ObjectWriter) -> Void) {
            key(k)
            var nested = ObjectWriter(json: json)
            nested.open()
            body(&nested)
            nested.close()
            json = nested.json
        }
    }
}

extension TaskEnvelope {
    /// The envelope as JSON (what `MessageCoding.encoder()` would write).
    public func jsonData() -> Data {
        var json = FastJSON()
        json.object { o in
            o.add("attempt", attempt)
            o.add("createdAt", createdAt.timeIntervalSince1970)
            o.add("jobID", jobID)
            o.add("kind", kind)
            o.add("payload", payload)
            o.add("pool", pool)
            o.add("taskID", taskID)
            o.add("traceID", traceID)
            o.add("version", version)
        }
        return json.data
    }
}

extension TaskEvent {
    /// The event as JSON (what `MessageCoding.encoder()` would write; nil
    /// optionals are omitted).
    public func jsonData() -> Data {
        var json = FastJSON()
        json.object { o in
            o.add("at", at.timeIntervalSince1970)
            o.add("attempt", attempt)
            o.add("deliveryCount", deliveryCount)
            if let failure {
                o.add("failure") { f in
                    f.add("message", failure.message)
                    f.add("retryable", .bool(failure.retryable))
                }
            }
            o.add("jobID", jobID)
            o.add("kind", kind.rawValue)
            if let progress { o.add("progress", progress) }
            if let result { o.add("result", result) }
            if let seconds { o.add("seconds", seconds) }
            if let stage { o.add("stage", stage) }
            o.add("taskID", taskID)
            o.add("traceID", traceID)
            o.add("version", version)
            o.add("worker", worker)
        }
        return json.data
    }
}
