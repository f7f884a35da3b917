import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdAuth
import MeshFarmAPI
import MeshFarmArtifacts
import MeshFarmAuth
import Synchronization

/// Each request's context: Hummingbird's, plus who made it.
public struct APIContext: AuthRequestContext, RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var identity: Principal?

    public init(source: Source) {
        coreContext = .init(source: source)
        identity = nil
    }

    /// Who made the request; the route's middleware made sure there is one.
    var principal: Principal { identity ?? .anonymous }
}

/// How the service knows who calls it.
public struct Authentication: Sendable {
    /// The accepted tokens; nil: no authentication, every request acts as
    /// ``Principal/anonymous`` (loopback development, `--insecure-no-auth`).
    public var tokens: TokenFile?
    /// Session cookies get `Secure` (behind TLS).
    public var secureCookies: Bool
    /// How long a dashboard session lasts.
    public var sessionLifetime: Double

    public init(tokens: TokenFile?, secureCookies: Bool = false, sessionLifetime: Double = 12 * 3600) {
        self.tokens = tokens
        self.secureCookies = secureCookies
        self.sessionLifetime = sessionLifetime
    }

    public static let off = Authentication(tokens: nil)

    /// Whether the service may listen on `host` like this: without a tokens
    /// file only on loopback, unless the operator insists.
    public static func check(host: String, hasTokens: Bool, insecureNoAuth: Bool) throws {
        guard !hasTokens, !insecureNoAuth, !["127.0.0.1", "::1", "localhost"].contains(host) else { return }
        throw AuthenticationRequired(host: host)
    }
}

public struct AuthenticationRequired: Error, CustomStringConvertible {
    public var host: String

    public var description: String {
        "refusing to serve on \(host) without authentication: give --tokens-file (MESHFARM_TOKENS_FILE; create "
            + "tokens with `meshfarm token create`), listen on 127.0.0.1, or pass --insecure-no-auth"
    }
}

/// Finds who made a request: a bearer token from the tokens file, or a
/// dashboard session cookie. A bearer token that matches nothing is
/// refused at once (401); no credentials leave the identity empty, and the
/// route's ``RouteAccess`` decides.
struct TokenAuthenticator: AuthenticatorMiddleware {
    typealias Context = APIContext
    let authentication: Authentication
    let sessions: Sessions

    func authenticate(request: Request, context: Context) async throws -> Principal? {
        guard let tokens = authentication.tokens else { return .anonymous }
        if let bearer = request.headers.bearer {
            guard let principal = tokens.book.principal(for: bearer.token) else {
                throw APIFailure(.unauthorized, "unauthorized", "the bearer token is not valid (revoked or mistyped)")
            }
            return principal
        }
        if let session = request.cookies[Sessions.cookieName]?.value {
            return sessions.principal(session, book: tokens.book)
        }
        return nil
    }
}

/// A route's roles (``APIRoute/roles``): 401 without credentials, 403 for
/// a role the route is not for.
struct RouteAccess {
    static func middleware(for roles: Set<Role>) -> AuthorizationPolicyMiddleware<
        ClosureAuthorizationPolicy<Principal>, APIContext, APIFailure
    > {
        AuthorizationPolicyMiddleware(
            ClosureAuthorizationPolicy { principal, _ in roles.contains(principal.role) },
            deniedError: APIFailure(
                .forbidden, "forbidden",
                "this route is for the roles \(roles.map(\.rawValue).sorted().joined(separator: ", "))"),
            context: APIContext.self)
    }
}

/// Dashboard sessions, in memory: a random id (the cookie) for a token's
/// holder. A session ends when it expires, when its holder signs out, or
/// when its token leaves the tokens file. Lost on restart: sign in again.
final class Sessions: Sendable {
    static let cookieName = "meshfarm_session"

    private struct Session {
        var name: String
        var tokenHash: String
        var expires: Date
    }

    private let sessions = Mutex<[String: Session]>([:])
    let lifetime: Double

    init(lifetime: Double) { self.lifetime = lifetime }

    /// A new session for the holder of `token`.
    func create(for principal: Principal, token: String, now: Date = Date()) -> String {
        let id = RandomSessionID.make()
        sessions.withLock { all in
            all = all.filter { $0.value.expires > now }
            all[id] = Session(name: principal.name, tokenHash: AccessToken.hash(token), expires: now + lifetime)
        }
        return id
    }

    func end(_ id: String) { _ = sessions.withLock { $0.removeValue(forKey: id) } }

    func principal(_ id: String, book: TokenBook, now: Date = Date()) -> Principal? {
        guard let session = sessions.withLock({ $0[id] }), session.expires > now else { return nil }
        // Still granted: the token may have been removed (revoked) or given another role.
        return book.entries.first { AccessToken.constantTimeEqual($0.hash, session.tokenHash) }?.principal
    }
}

enum RandomSessionID {
    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<4).map { _ in String(generator.next() as UInt64, radix: 16) }.joined(separator: "-")
    }
}

/// Operator actions, one JSON line each: who, what, when. Appended to
/// `audit.log` in the data directory.
final class AuditLog: Sendable {
    struct Entry: Codable {
        var at: Date
        var who: String
        var role: String
        var action: String
        var job: String?
    }

    let url: URL?
    private let lock = Mutex(())

    init(url: URL?) { self.url = url }

    func record(_ principal: Principal, _ action: String, job: String? = nil) async {
        guard let url else { return }
        let entry = Entry(at: Date(), who: principal.name, role: principal.role.rawValue, action: action, job: job)
        guard var line = try? APICoding.encoder().encode(entry) else { return }
        line.append(0x0A)
        let data = line
        try? await BlockingIO.run { [self] in try append(data, to: url) }
    }

    private func append(_ data: Data, to url: URL) throws {
        try lock.withLock { _ in
            if !FileManager.default.fileExists(atPath: url.path) {
                _ = FileManager.default.createFile(atPath: url.path, contents: nil)
            }
            let handle = try FileHandle(forWritingTo: url)
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: data)
        }
    }
}
