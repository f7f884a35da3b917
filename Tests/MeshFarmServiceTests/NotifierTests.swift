import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MeshFarmAPI
import MeshFarmArtifacts
import MeshFarmMessaging
import MeshFarmService
import MeshFarmTestSupport
import NIOCore
import Synchronization
import Testing

/// Job notices: a finished job's callback gets a signed notice, tried
/// again until it is taken.
@Suite struct NotifierTests {
    @Test func theHMACIsRFC4231s() {
        // RFC 4231, test case 2.
        #expect(
            SHA256Hasher.hmac(key: Data("Jefe".utf8), message: Data("what do ya want for nothing?".utf8))
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        // A key longer than the block is hashed first (test case 6).
        #expect(
            SHA256Hasher.hmac(
                key: Data(repeating: 0xaa, count: 131),
                message: Data("Test Using Larger Than Block-Size Key - Hash Key First".utf8))
                == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    @Test func callbacksIntoThisMachineOrAPrivateNetworkAreRefused() async throws {
        let private_ = [
            "localhost", "api.localhost", "printer.local", "db.internal", "127.0.0.1", "10.1.2.3", "172.20.0.1",
            "192.168.1.9", "169.254.169.254", "100.64.0.1", "0.0.0.0", "[::1]", "fd00::1", "fe80::1", "::ffff:10.0.0.1",
        ]
        for host in private_ { #expect(JobNotice.isPrivate(host: host), "\(host)") }
        for host in ["example.com", "8.8.8.8", "172.32.0.1", "192.169.0.1", "2001:db8::1", "hooks.marketplace.example"]
        {
            #expect(!JobNotice.isPrivate(host: host), "\(host)")
        }
        let service = try await SubmitAPITests.Service(callbacks: true)
        try await service.test { client in
            let model = try await SubmitAPITests.upload(client, "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n# private\n")
            let body = #"{"model": "\#(model)", "name": "m.obj", "callback": "http://169.254.169.254/latest"}"#
            try await client.execute(uri: "/v1/jobs", method: .post, body: ByteBuffer(string: body)) { response in
                #expect(response.status == .unprocessableContent)
                #expect(SubmitAPITests.errorMessage(response).contains("public address"))
            }
        }
    }

    /// A receiver on a real socket that refuses the first notice (503) and
    /// takes the next.
    final class Receiver: Sendable {
        let received = Mutex<[(headers: HTTPFields, body: Data)]>([])

        func serving(_ body: @escaping @Sendable (URL) async throws -> Void) async throws {
            let router = Router()
            router.post("/hook") { request, _ -> Response in
                let bytes = try await request.body.collect(upTo: 1 << 20)
                let count = self.received.withLock {
                    $0.append((request.headers, Data(buffer: bytes)))
                    return $0.count
                }
                return Response(status: count == 1 ? .serviceUnavailable : .ok)
            }
            try await servingLive(router, body)
        }
    }

    @Test func aFinishedJobsCallbackGetsASignedNoticeUntilItTakesIt() async throws {
        // The receiver is on this machine: allowed here, refused by default.
        let service = try await SubmitAPITests.Service(callbacks: true, privateCallbacks: true)
        var configuration = Notifier.Configuration(secret: "s3cret", publicURL: "https://farm.example")
        configuration.backoff = Backoff(initial: 0.1, maximum: 0.2)
        let notifier = Notifier(coordinator: service.coordinator, configuration: configuration)
        let notifying = Task { try await notifier.run() }
        let receiver = Receiver()
        try await receiver.serving { url in
            try await service.test { client in
                let model = try await SubmitAPITests.upload(client, "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n# notice\n")
                func create(callback: String) async throws -> (HTTPResponse.Status, [String: Any]?) {
                    let body =
                        #"{"model": "\#(model)", "name": "m.obj", "callback": "\#(callback)", "spec": {"lodRatios": [1], "viewsPerLOD": 1, "viewsPerTask": 1}}"#
                    return try await client.execute(uri: "/v1/jobs", method: .post, body: ByteBuffer(string: body)) {
                        ($0.status, SubmitAPITests.json($0))
                    }
                }
                #expect(try await create(callback: "ftp://example.com/x").0 == .unprocessableContent)
                let (status, job) = try await create(callback: url.appendingPathComponent("hook").absoluteString)
                #expect(status == .created)
                let id = try #require(job?["id"] as? String)
                try await client.execute(uri: "/v1/jobs/\(id)/cancel", method: .post) { #expect($0.status == .ok) }
                // Refused once, taken the second time; then recorded.
                for _ in 0..<200 where try await service.coordinator.job(id)?.notifiedAt == nil {
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(try await service.coordinator.job(id)?.notifiedAt != nil)
            }
        }
        notifying.cancel()
        let received = receiver.received.withLock { $0 }
        #expect(received.count == 2)
        let deliveries = Set(received.map { $0.headers[HTTPField.Name("MeshFarm-Delivery")!] })
        #expect(deliveries.count == 1, "one notice, tried twice")
        for (headers, body) in received {
            let timestamp = try #require(headers[HTTPField.Name("MeshFarm-Timestamp")!].flatMap { Int($0) })
            #expect(
                headers[HTTPField.Name("MeshFarm-Signature")!]
                    == JobNotice.signature(secret: "s3cret", timestamp: timestamp, body: body))
            let notice = try APICoding.decoder().decode(JobNotice.self, from: body)
            #expect(notice.status == "cancelled" && notice.report.hasPrefix("https://farm.example/v1/jobs/"))
        }
        // Without a secret, jobs may not name a callback.
        let plain = try await SubmitAPITests.Service()
        try await plain.test { client in
            let model = try await SubmitAPITests.upload(client, "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n# plain\n")
            let body = #"{"model": "\#(model)", "name": "m.obj", "callback": "https://example.com/hook"}"#
            try await client.execute(uri: "/v1/jobs", method: .post, body: ByteBuffer(string: body)) { response in
                #expect(response.status == .unprocessableContent)
                #expect(StorageLifecycleTests.errorCode(response) == "no-callbacks")
            }
        }
    }
}
