import Foundation
import MeshFarmJobs

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Server-sent events as they arrive: bytes in, whole events out. Events
/// end with a blank line; `event:` names one, `data:` lines (joined by
/// newlines) carry it, `:` lines are comments. CR LF line ends are taken
/// as LF.
public struct EventStreamParser: Sendable {
    public struct Event: Sendable, Equatable {
        public var name: String
        public var data: String
        /// Its `id:` field, when it has one (what `Last-Event-ID` resumes from).
        public var id: String?

        public init(name: String, data: String, id: String? = nil) {
            self.name = name
            self.data = data
            self.id = id
        }
    }

    private var buffer = ""
    /// Bytes after the chunk's last newline: perhaps half a character.
    private var partial = Data()

    public init() {}

    public mutating func feed(_ chunk: Data) -> [Event] {
        partial.append(chunk)
        // A newline never falls inside a UTF-8 sequence: up to the last one
        // the bytes decode whole, wherever the network cut them.
        guard let newline = partial.lastIndex(of: 0x0A) else { return [] }
        let whole = partial[...newline]
        partial = Data(partial[partial.index(after: newline)...])
        buffer += String(decoding: whole, as: UTF8.self).replacingOccurrences(of: "\r\n", with: "\n")
        var events: [Event] = []
        while let end = buffer.range(of: "\n\n") {
            let block = buffer[..<end.lowerBound]
            buffer.removeSubrange(..<end.upperBound)
            var name = "message"
            var id: String?
            var data: [Substring] = []
            for line in block.split(separator: "\n", omittingEmptySubsequences: false) where !line.hasPrefix(":") {
                let (field, value) = Self.split(line)
                switch field {
                case "event": name = String(value)
                case "data": data.append(value)
                case "id": id = String(value)
                default: break
                }
            }
            if !data.isEmpty { events.append(Event(name: name, data: data.joined(separator: "\n"), id: id)) }
        }
        return events
    }

    private static func split(_ line: Substring) -> (Substring, Substring) {
        guard let colon = line.firstIndex(of: ":") else { return (line, "") }
        var value = line[line.index(after: colon)...]
        if value.first == " " { value = value.dropFirst() }
        return (line[..<colon], value)
    }
}

extension APIClient {
    /// The job's event stream (`GET /v1/jobs/{id}/events`): its view now
    /// and after every change; ends when the job ends (or the service
    /// stops: look at the job then). Throws ``APIError`` for a refused
    /// request.
    public func jobEvents(_ id: String) -> AsyncThrowingStream<JobView, Error> {
        let events = events("/v1/jobs/\(id)/events")
        return AsyncThrowingStream { continuation in
            let forward = Task {
                do {
                    for try await event in events where event.name == "job" {
                        continuation.yield(try APICoding.decoder().decode(JobView.self, from: Data(event.data.utf8)))
                    }
                    continuation.finish()
                } catch { continuation.finish(throwing: error) }
            }
            continuation.onTermination = { _ in forward.cancel() }
        }
    }

    /// The farm's event stream (`GET /v1/events`), from after `lastEventID`
    /// when given.
    public func farmEvents(after lastEventID: String? = nil) -> AsyncThrowingStream<EventStreamParser.Event, Error> {
        events("/v1/events", lastEventID: lastEventID)
    }

    /// Server-sent events of `path`, as they arrive.
    func events(_ path: String, lastEventID: String? = nil) -> AsyncThrowingStream<EventStreamParser.Event, Error> {
        AsyncThrowingStream { continuation in
            let reader = EventStreamReader { events in
                for event in events { continuation.yield(event) }
            } onEnd: { error in
                continuation.finish(throwing: error)
            }
            let configuration = URLSessionConfiguration.default
            configuration.timeoutIntervalForRequest = 3600  // silence between changes
            configuration.timeoutIntervalForResource = 7 * 24 * 3600
            let session = URLSession(configuration: configuration, delegate: reader, delegateQueue: nil)
            var request = authorized(url(path))
            request.setValue("text/event-stream", forHTTPHeaderField: "Accept")
            if let lastEventID { request.setValue(lastEventID, forHTTPHeaderField: "Last-Event-ID") }
            let task = session.dataTask(with: request)
            continuation.onTermination = { _ in
                task.cancel()
                session.invalidateAndCancel()
            }
            task.resume()
        }
    }
}

/// Feeds a streaming response to an ``EventStreamParser``.
final class EventStreamReader: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    private let lock = NSLock()
    private var parser = EventStreamParser()
    private var refusal: (status: Int, body: Data)?
    private let onEvents: @Sendable ([EventStreamParser.Event]) -> Void
    private let onEnd: @Sendable (Error?) -> Void

    init(
        onEvents: @escaping @Sendable ([EventStreamParser.Event]) -> Void, onEnd: @escaping @Sendable (Error?) -> Void
    ) {
        self.onEvents = onEvents
        self.onEnd = onEnd
    }

    func urlSession(
        _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
        completionHandler: @escaping (URLSession.ResponseDisposition) -> Void
    ) {
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        if status != 200 { lock.withLock { refusal = (status, Data()) } }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        let events = lock.withLock { () -> [EventStreamParser.Event] in
            if refusal != nil {
                refusal?.body.append(data)
                return []
            }
            return parser.feed(data)
        }
        if !events.isEmpty { onEvents(events) }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        if let refusal = lock.withLock({ refusal }) {
            onEnd(APIClient.error(status: refusal.status, body: refusal.body))
        } else if let error {
            onEnd(APIError(status: 0, code: "unreachable", message: error.localizedDescription))
        } else {
            onEnd(nil)
        }
    }
}
