import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An error with an HTTP status and a JSON body
/// (`{"error": {"code": ..., "message": ...}}`): every 4xx/5xx of the API.
public struct APIFailure: HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    /// Seconds after which the request may be sent again (`Retry-After`).
    public var retryAfter: Int?
    /// More headers of the response (`Allow` for a 405).
    public var headers: HTTPFields

    public init(
        _ status: HTTPResponse.Status, _ code: String, _ message: String, retryAfter: Int? = nil,
        headers: HTTPFields = [:]
    ) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
        self.headers = headers
    }

    public static func badRequest(_ message: String) -> APIFailure { APIFailure(.badRequest, "bad-request", message) }
    public static func notFound(_ message: String) -> APIFailure { APIFailure(.notFound, "not-found", message) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = try JSONResponse.make(ErrorBody(code: code, message: message), status: status)
        if let retryAfter { response.headers[.retryAfter] = "\(retryAfter)" }
        response.headers.append(contentsOf: headers)
        return response
    }
}

/// JSON responses with the API's coding (ISO-8601 dates, sorted keys).
public enum JSONResponse {
    public static func make<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try APICoding.encoder().encode(value)
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// `/healthz`, `/readyz` and `/metrics` for any MeshFarm process.
public enum HealthRoutes {
    /// `/readyz`'s body: `ready`, or `degraded` with what is.
    struct Readiness: Codable {
        var status: String
        var degraded: [String]?
    }

    /// `ready` decides `/readyz` (503 with the reason, or 200); `degraded`
    /// lists what does not work while the process still serves (200 with
    /// `{"status": "degraded", "degraded": [...]}`).
    public static func add<Context: RequestContext>(
        to router: Router<Context>, ready: @escaping @Sendable () async -> String?,
        degraded: @escaping @Sendable () async -> [String] = { [] }
    ) {
        router.get(RouterPath(stringLiteral: APIRoutes.health.path)) { _, _ in
            try JSONResponse.make(["status": "ok"])
        }
        router.get(RouterPath(stringLiteral: APIRoutes.ready.path)) { _, _ in
            if let problem = await ready() {
                return try JSONResponse.make(
                    ErrorBody(code: "not-ready", message: problem), status: .serviceUnavailable)
            }
            let problems = await degraded()
            return try JSONResponse.make(
                problems.isEmpty ? Readiness(status: "ready") : Readiness(status: "degraded", degraded: problems))
        }
        router.get(RouterPath(stringLiteral: APIRoutes.metrics.path)) { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: Observability.metricsText())))
        }
    }
}
