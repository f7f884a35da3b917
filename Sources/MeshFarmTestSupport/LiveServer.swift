import Foundation
import Hummingbird

/// Serves `router` on a free port of this machine until `body` returns:
/// for tests whose client is a real HTTP client (workers' transfers, job
/// notices), where HummingbirdTesting's in-process router cannot stand in.
public func servingLive(
    _ router: Router<BasicRequestContext>, _ body: @escaping @Sendable (URL) async throws -> Void
) async throws {
    let port = AsyncStream<Int>.makeStream()
    let app = Application(
        router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { port.continuation.yield($0.localAddress?.port ?? 0) })
    let server = Task { try await app.runService() }
    defer { server.cancel() }
    var ports = port.stream.makeAsyncIterator()
    guard let bound = await ports.next() else { return }
    try await body(URL(string: "http://127.0.0.1:\(bound)")!)
}
