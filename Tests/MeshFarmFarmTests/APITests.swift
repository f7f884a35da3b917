import Foundation
import MeshFarmAPI
import MeshFarmService
import MeshFarmTestSupport
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The API's answers to bad input, and its route table against the
/// OpenAPI document.
@Suite(.serialized) struct APITests {
    func request(_ url: URL, method: String, body: Data? = nil, contentType: String? = "application/json") async throws
        -> (Int, [String: Any]?)
    {
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.httpBody = body
        if let contentType { request.setValue(contentType, forHTTPHeaderField: "Content-Type") }
        let (data, response) = try await URLSession.shared.data(for: request)
        return (
            (response as! HTTPURLResponse).statusCode, try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        )
    }

    func errorMessage(_ json: [String: Any]?) -> String? {
        (json?["error"] as? [String: Any])?["message"] as? String
    }

    @Test func badInputGetsAJSONErrorAndTheServiceKeepsRunning() async throws {
        let farm = FarmCluster(submitArguments: ["--max-upload-bytes", "100000"])
        defer { farm.stopAll() }
        try farm.startSubmit()
        let base = farm.serverURL
        let jobs = base.appendingPathComponent("v1/jobs")

        let cases: [(String, Data, Int, String)] = [
            ("missing fields", Data("{}".utf8), 400, "missing field 'model'"),
            ("wrong type", Data(#"{"model": 42, "name": "x"}"#.utf8), 400, "model"),
            ("not JSON", Data("{nope".utf8), 400, "not valid JSON"),
            ("bad hash", Data(#"{"model": "abc", "name": "x"}"#.utf8), 400, "sha256"),
            (
                "unknown upload", Data(#"{"model": "\#(String(repeating: "a", count: 64))", "name": "x"}"#.utf8), 422,
                "no upload"
            ),
        ]
        for (label, body, status, fragment) in cases {
            let (code, json) = try await request(jobs, method: "POST", body: body)
            #expect(code == status, "\(label)")
            #expect(errorMessage(json)?.contains(fragment) == true, "\(label): \(json ?? [:])")
        }

        // An upload over the limit.
        var upload = URLComponents(url: base.appendingPathComponent("v1/uploads"), resolvingAgainstBaseURL: false)!
        upload.queryItems = [URLQueryItem(name: "name", value: "huge.obj")]
        let (tooLarge, tooLargeJSON) = try await request(
            upload.url!, method: "PUT", body: Data(count: 300_000), contentType: "application/octet-stream")
        #expect(tooLarge == 413 && errorMessage(tooLargeJSON)?.contains("limit") == true)
        let (noName, _) = try await request(
            base.appendingPathComponent("v1/uploads"), method: "PUT", body: Data("v 0 0 0".utf8),
            contentType: "application/octet-stream")
        #expect(noName == 400)

        // A valid upload, then a spec out of range.
        let client = APIClient(baseURL: base)
        let blob = try await client.upload(file: TestEnvironment.modelsDirectory.appendingPathComponent("suzanne.obj"))
        let (badSpec, badSpecJSON) = try await request(
            jobs, method: "POST",
            body: Data(#"{"model": "\#(blob.sha256)", "name": "s.obj", "spec": {"ssaa": 3}}"#.utf8))
        #expect(badSpec == 422 && errorMessage(badSpecJSON)?.contains("ssaa") == true)

        // Unknown ids and hashes.
        for path in ["v1/jobs/j-nope", "v1/jobs/j-nope/artifacts", "v1/artifacts/\(String(repeating: "b", count: 64))"]
        {
            let (code, json) = try await request(base.appendingPathComponent(path), method: "GET")
            #expect(code == 404 && errorMessage(json) != nil, "\(path)")
        }
        let (cancelMissing, _) = try await request(base.appendingPathComponent("v1/jobs/j-nope/cancel"), method: "POST")
        #expect(cancelMissing == 404)
        let (badHash, _) = try await request(base.appendingPathComponent("v1/artifacts/xyz"), method: "GET")
        #expect(badHash == 400)
        let (badStatus, _) = try await request(
            URL(string: base.absoluteString + "/v1/jobs?status=weird")!, method: "GET")
        #expect(badStatus == 400)

        // Still alive and well.
        let (health, _) = try await request(base.appendingPathComponent("healthz"), method: "GET")
        #expect(health == 200)
        #expect(farm.submit?.isRunning == true)
    }

    @Test func routesAndOpenAPIDocumentAgree() throws {
        let url = TestEnvironment.packageRoot.appendingPathComponent("docs/openapi.json")
        let document = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        var documented: Set<String> = []
        for (path, operations) in paths {
            for method in operations.keys where ["get", "put", "post", "delete", "patch"].contains(method) {
                documented.insert("\(method.uppercased()) \(path)")
            }
        }
        let table = Set(APIRoutes.all.map { "\($0.method.rawValue) \($0.openAPIPath)" })
        let registered = Set(SubmitAPI.registeredRoutes.map { "\($0.method.rawValue) \($0.openAPIPath)" })
        #expect(registered == table, "the router does not register exactly the route table")
        #expect(
            documented == table,
            "undocumented: \(table.subtracting(documented)); stale: \(documented.subtracting(table))")
    }
}
