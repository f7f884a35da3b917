import Foundation
import MeshFarmAPI
import Testing

/// The client's reading of server-sent events.
@Suite struct EventStreamTests {
    @Test func eventsAreCutAtBlankLinesWhereverTheChunksEnd() {
        var parser = EventStreamParser()
        let stream =
            "event: job\ndata: {\"a\":1}\n\n: a comment\n\nevent: job\r\ndata: line one\r\ndata:line two\r\n\r\ndata: x\n"
        var events: [EventStreamParser.Event] = []
        // Fed a few bytes at a time, as a network delivers them.
        let bytes = Array(stream.utf8)
        for start in stride(from: 0, to: bytes.count, by: 7) {
            events += parser.feed(Data(bytes[start..<min(bytes.count, start + 7)]))
        }
        #expect(
            events == [
                .init(name: "job", data: "{\"a\":1}"), .init(name: "job", data: "line one\nline two"),
            ])
        // The unfinished last event comes once its blank line does.
        #expect(parser.feed(Data("\n".utf8)) == [.init(name: "message", data: "x")])
    }
}
