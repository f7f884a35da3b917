import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MeshFarmAPI
import MeshFarmAuth
import MeshFarmService
import MeshFarmTestSupport
import NIOCore
import Testing

/// Who may do what, through the real router with a tokens file: 401
/// without credentials, 403 for the wrong role or someone else's job,
/// revocation by editing the file, the dashboard's session cookie, the
/// audit log.
@Suite struct AccessTests {
    let directory = TestEnvironment.outputDirectory("access")
    let names: [(String, Role)] = [
        ("alice", .submitter), ("bob", .submitter), ("vera", .viewer), ("w", .worker), ("root", .admin),
    ]
    let tokens: [String: String]

    init() { tokens = Dictionary(uniqueKeysWithValues: names.map { ($0.0, AccessToken.generate()) }) }

    func writeTokens(except removed: Set<String> = []) throws -> URL {
        let file = directory.appendingPathComponent("tokens")
        let lines = names.filter { !removed.contains($0.0) }.map {
            TokenBook.line(for: Principal(name: $0.0, role: $0.1), token: tokens[$0.0]!)
        }
        try ("# test tokens\n" + lines.joined(separator: "\n") + "\n").write(
            to: file, atomically: true, encoding: .utf8)
        return file
    }

    func bearer(_ name: String) -> HTTPFields { [.authorization: "Bearer \(tokens[name]!)"] }

    func status(
        _ client: any TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, as name: String?,
        body: String? = nil
    ) async throws -> HTTPResponse.Status {
        try await client.execute(
            uri: uri, method: method, headers: name.map(bearer) ?? [:], body: body.map { ByteBuffer(string: $0) }
        ) { $0.status }
    }

    @Test func eachRoleReachesItsRoutesAndOnlyItsOwnJobs() async throws {
        let file = try writeTokens()
        let audit = directory.appendingPathComponent("audit.log")
        let service = try await SubmitAPITests.Service(
            authentication: Authentication(tokens: try TokenFile(path: file.path)), auditLog: audit)
        let tokens = self.tokens
        try await service.test { client in
            // Open routes; everything else needs credentials.
            #expect(try await status(client, .get, "/healthz", as: nil) == .ok)
            #expect(try await status(client, .get, "/", as: nil) == .ok)
            #expect(try await status(client, .get, "/v1/jobs", as: nil) == .unauthorized)
            #expect(try await status(client, .put, "/v1/uploads?name=m.obj", as: nil, body: "x") == .unauthorized)
            try await client.execute(
                uri: "/v1/jobs", method: .get, headers: [.authorization: "Bearer mft_not-a-token"]
            ) { response in
                #expect(response.status == .unauthorized)
                #expect(SubmitAPITests.errorMessage(response).contains("not valid"))
            }

            // alice submits; the job is hers.
            let model = try await client.execute(
                uri: "/v1/uploads?name=m.obj", method: .put, headers: bearer("alice"),
                body: ByteBuffer(string: SubmitAPITests.triangle)
            ) { SubmitAPITests.json($0)?["sha256"] as? String ?? "" }
            let id = try await client.execute(
                uri: "/v1/jobs", method: .post, headers: bearer("alice"),
                body: ByteBuffer(string: #"{"model": "\#(model)", "name": "m.obj"}"#)
            ) { response in
                #expect(response.status == .created)
                #expect(SubmitAPITests.json(response)?["owner"] as? String == "alice")
                return SubmitAPITests.json(response)?["id"] as? String ?? ""
            }
            #expect(try await status(client, .get, "/v1/jobs/\(id)", as: "alice") == .ok)
            #expect(try await status(client, .get, "/v1/jobs/\(id)/artifacts/report.json", as: "alice") == .ok)

            // bob, another submitter: not alice's job, not in his list.
            #expect(try await status(client, .get, "/v1/jobs/\(id)", as: "bob") == .forbidden)
            #expect(try await status(client, .get, "/v1/jobs/\(id)/artifacts", as: "bob") == .forbidden)
            #expect(try await status(client, .post, "/v1/jobs/\(id)/cancel", as: "bob") == .forbidden)
            try await client.execute(uri: "/v1/jobs", method: .get, headers: bearer("bob")) { response in
                #expect(response.status == .ok)
                #expect((SubmitAPITests.json(response)?["jobs"] as? [Any])?.isEmpty == true)
            }
            // The viewer reads everything and changes nothing.
            #expect(try await status(client, .get, "/v1/jobs/\(id)", as: "vera") == .ok)
            #expect(try await status(client, .get, "/v1/workers", as: "vera") == .ok)
            #expect(try await status(client, .post, "/v1/jobs/\(id)/cancel", as: "vera") == .forbidden)
            #expect(try await status(client, .put, "/v1/uploads?name=m.obj", as: "vera", body: "x") == .forbidden)
            // The worker: artifacts by hash, no job routes; nobody else gets blobs by hash.
            #expect(try await status(client, .get, "/v1/artifacts/\(model)", as: "w") == .ok)
            #expect(try await status(client, .put, "/v1/artifacts", as: "w", body: "bytes") == .created)
            #expect(try await status(client, .get, "/v1/jobs", as: "w") == .forbidden)
            #expect(try await status(client, .get, "/v1/jobs/\(id)", as: "w") == .forbidden)
            #expect(try await status(client, .get, "/v1/artifacts/\(model)", as: "alice") == .forbidden)
            // The admin may cancel anyone's job, and it is audited.
            #expect(try await status(client, .post, "/v1/jobs/\(id)/cancel", as: "root") == .ok)
            let audited = try String(contentsOf: audit, encoding: .utf8)
            #expect(audited.contains(#""action":"cancel""#) && audited.contains(#""who":"root""#))
            #expect(audited.contains(id))

            // Removing alice's line revokes her token, without a restart.
            _ = try writeTokens(except: ["alice"])
            let deadline = Date().addingTimeInterval(10)
            var revoked = HTTPResponse.Status.ok
            while revoked != .unauthorized, Date() < deadline {
                revoked = try await status(client, .get, "/v1/jobs/\(id)", as: "alice")
                if revoked != .unauthorized { try await Task.sleep(for: .milliseconds(200)) }
            }
            #expect(revoked == .unauthorized)
            _ = tokens
        }
    }

    @Test func withoutATokensFileOnlyLoopbackIsServed() throws {
        try Authentication.check(host: "127.0.0.1", hasTokens: false, insecureNoAuth: false)
        try Authentication.check(host: "0.0.0.0", hasTokens: true, insecureNoAuth: false)
        try Authentication.check(host: "0.0.0.0", hasTokens: false, insecureNoAuth: true)
        #expect(throws: AuthenticationRequired.self) {
            try Authentication.check(host: "0.0.0.0", hasTokens: false, insecureNoAuth: false)
        }
        // The service itself refuses, saying how to fix it.
        let refused = try ChildProcess.run(
            TestEnvironment.executable("meshfarm-submit"),
            ["--host", "0.0.0.0", "--port", "0", "--data-dir", directory.appendingPathComponent("data").path],
            timeout: 60)
        #expect(refused.status != 0)
        #expect(refused.stderrText.contains("--tokens-file") && refused.stderrText.contains("--insecure-no-auth"))
    }

    @Test func theDashboardSignsInForAnHttpOnlySessionCookie() async throws {
        let file = try writeTokens()
        let service = try await SubmitAPITests.Service(
            authentication: Authentication(tokens: try TokenFile(path: file.path), secureCookies: true))
        let vera = tokens["vera"]!
        try await service.test { client in
            #expect(
                try await status(client, .post, "/v1/session", as: nil, body: #"{"token": "mft_wrong"}"#)
                    == .unauthorized)
            let cookie = try await client.execute(
                uri: "/v1/session", method: .post, body: ByteBuffer(string: #"{"token": "\#(vera)"}"#)
            ) { response in
                #expect(response.status == .ok)
                #expect(SubmitAPITests.json(response)?["name"] as? String == "vera")
                let cookie = response.headers[.setCookie] ?? ""
                #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Secure"))
                return String(cookie.split(separator: ";")[0])
            }
            try await client.execute(uri: "/v1/jobs", method: .get, headers: [.cookie: cookie]) { response in
                #expect(response.status == .ok)
            }
            try await client.execute(uri: "/v1/session", method: .get, headers: [.cookie: cookie]) { response in
                #expect(SubmitAPITests.json(response)?["role"] as? String == "viewer")
            }
            // Signing out ends it.
            try await client.execute(uri: "/v1/session", method: .delete, headers: [.cookie: cookie]) { response in
                #expect(response.status == .noContent)
            }
            try await client.execute(uri: "/v1/jobs", method: .get, headers: [.cookie: cookie]) { response in
                #expect(response.status == .unauthorized)
            }
        }
    }
}
