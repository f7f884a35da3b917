import Foundation
import Hummingbird
import MeshFarmAPI
import MeshFarmArtifacts
import MeshFarmTestSupport
import MeshFarmWorker
import NIOCore
import Synchronization
import Testing

@Suite struct TransferRetryTests {
    @Test func transientFailuresAreTriedAgainWithinTheBudget() {
        let retry = TransferRetry(budget: 300)
        let unreachable = APIError(status: 0, code: "unreachable", message: "connection refused")
        #expect(retry.delay(after: unreachable, attempt: 1, elapsed: 0, random: 0) == 0.25)
        #expect(
            retry.delay(after: APIError(status: 503, code: "", message: ""), attempt: 3, elapsed: 10, random: 0) == 1)
        #expect(retry.delay(after: APIError(status: 429, code: "", message: ""), attempt: 1, elapsed: 0) != nil)
        #expect(retry.delay(after: TransferError.downloadCorrupted("x"), attempt: 1, elapsed: 0) != nil)
        // Capped at 30 s, and never past the budget.
        #expect(retry.delay(after: unreachable, attempt: 20, elapsed: 0, random: 0.999) ?? 0 <= 30)
        #expect(retry.delay(after: unreachable, attempt: 2, elapsed: 299.9, random: 0) == nil)
        // The answer, not a blip: no second try.
        for status in [400, 404, 413, 422] {
            #expect(retry.delay(after: APIError(status: status, code: "", message: ""), attempt: 1, elapsed: 0) == nil)
        }
        #expect(retry.delay(after: CocoaError(.fileNoSuchFile), attempt: 1, elapsed: 0) == nil)
    }

    @Test func aFullDiskOnTheServiceIsWaitedOutLonger() {
        let retry = TransferRetry(budget: 300, storageBudget: 3600)
        let full = APIError(status: 507, code: "insufficient-storage", message: "disk full")
        let failing = APIError(status: 500, code: "", message: "")
        #expect(retry.delay(after: failing, attempt: 10, elapsed: 299, random: 0) == nil)
        #expect(retry.delay(after: full, attempt: 10, elapsed: 299, random: 0) == 15)
        #expect(retry.delay(after: full, attempt: 10, elapsed: 3584, random: 0) == 15)
        #expect(retry.delay(after: full, attempt: 10, elapsed: 3586, random: 0) == nil)
        // Never shorter than the ordinary budget.
        #expect(TransferRetry(budget: 300, storageBudget: 10).storageBudget == 300)
    }

    /// An artifact service on a real socket that fails on demand: GETs
    /// answer 503, PUTs store the bytes and then answer 500 (a response
    /// lost after the work was done).
    final class FlakyArtifactServer: Sendable {
        let blobs = Mutex<[String: Data]>([:])
        let failingGets = Atomic<Int>(0)
        let failingPuts = Atomic<Int>(0)
        let requests = Atomic<Int>(0)

        func router() -> Router<BasicRequestContext> {
            let router = Router()
            router.put("/v1/artifacts") { request, _ -> Response in
                self.requests.add(1, ordering: .relaxed)
                var request = request
                let data = Data(buffer: try await request.collectBody(upTo: 1 << 20))
                let sha = SHA256Hasher.hex(data)
                self.blobs.withLock { $0[sha] = data }
                if self.failingPuts.subtract(1, ordering: .relaxed).newValue >= 0 {
                    return Response(status: .internalServerError)
                }
                let body = try APICoding.encoder().encode(StoredBlob(sha256: sha, bytes: data.count))
                return Response(status: .created, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
            }
            router.get("/v1/artifacts/{sha}") { _, context -> Response in
                self.requests.add(1, ordering: .relaxed)
                if self.failingGets.subtract(1, ordering: .relaxed).newValue >= 0 {
                    return Response(status: .serviceUnavailable)
                }
                let sha = try context.parameters.require("sha")
                guard let data = self.blobs.withLock({ $0[sha] }) else { return Response(status: .notFound) }
                return Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
            }
            return router
        }

        /// Serves until `body` returns.
        func serving(_ body: @escaping @Sendable (URL) async throws -> Void) async throws {
            try await servingLive(router(), body)
        }
    }

    func access(_ url: URL, budget: Double) throws -> HTTPArtifactAccess {
        var retry = TransferRetry(budget: budget)
        retry.backoff = .init(initial: 0.05, maximum: 0.2, jitter: true)
        let cache = FileManager.default.temporaryDirectory.appendingPathComponent("transfer-\(UUID().uuidString)")
        return try HTTPArtifactAccess(client: APIClient(baseURL: url, timeout: 10), cacheDirectory: cache, retry: retry)
    }

    @Test func uploadsAndDownloadsRideOutAFailingServiceAndALostResponse() async throws {
        let server = FlakyArtifactServer()
        try await server.serving { url in
            let access = try access(url, budget: 30)
            let bytes = Data("an hour of compute".utf8)
            // Two responses lost after the blob was stored: the third try is
            // answered with the same hash, and the blob is stored once.
            server.failingPuts.store(2, ordering: .relaxed)
            let sha = try await onThread { try access.store(data: bytes) }
            #expect(sha == SHA256Hasher.hex(bytes))
            #expect(server.blobs.withLock { $0.count } == 1)
            #expect(server.requests.load(ordering: .relaxed) == 3)
            // Two 503s, then the download.
            server.failingGets.store(2, ordering: .relaxed)
            let file = try await onThread { try access.fetch(sha) }
            #expect(try Data(contentsOf: file) == bytes)
            #expect(server.requests.load(ordering: .relaxed) == 6)
        }
    }

    @Test func aMissingArtifactFailsAtOnceAndAnOutageFailsAfterTheBudget() async throws {
        let server = FlakyArtifactServer()
        try await server.serving { url in
            let access = try access(url, budget: 1)
            let missing = String(repeating: "c", count: 64)
            await #expect(throws: APIError.self) { try await onThread { try access.fetch(missing) } }
            #expect(server.requests.load(ordering: .relaxed) == 1)

            server.failingGets.store(1000, ordering: .relaxed)
            let start = Date()
            do {
                _ = try await onThread { try access.fetch(String(repeating: "d", count: 64)) }
                Issue.record("a service that always fails cannot deliver")
            } catch {
                #expect("\(error)".contains("failed after"), "\(error)")
                #expect(Date().timeIntervalSince(start) <= 3)
                #expect(server.requests.load(ordering: .relaxed) > 3)
            }
        }
    }
}
