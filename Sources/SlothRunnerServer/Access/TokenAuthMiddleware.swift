import Hummingbird
import SlothRunner

/// Who may call the API. With no live token the API is open — and then `serve` listens only on
/// loopback. Once any token exists, every `/api` request needs `Authorization: Bearer TOKEN`
/// with a role that covers it: `read` every GET, `write` also dispatch, retry, delete events and
/// change state, `admin` also hooks (a dry run executes code). Tokens are looked up by their
/// SHA-256 in the `TokenBook`, so a token created or revoked by the CLI counts within 100 ms.
struct TokenAuthMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    let tokens: TokenBook
    /// With a rate limit, requests refused for a missing or bad token count against their
    /// address's budget: guessing tokens is throttled like anything else.
    var limiter: RateLimiter?
    /// The web UI's sessions: a browser's requests carry a session cookie instead of the token,
    /// and every state-changing one the session's CSRF token.
    var sessions: WebSessions?
    /// Whether the server listens only on loopback: off it, a store without live tokens (all
    /// revoked while serving) refuses every request rather than opening up.
    let loopback: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // `/metrics` is open to this machine; from elsewhere it takes a token like the API.
        let guarded = request.uri.path.hasPrefix("/api/") || (request.uri.path == "/metrics" && !loopback)
        guard guarded else { return try await next(request, context) }
        let needed = Self.role(for: request)
        let live = try await tokens.current()
        guard let header = request.headers[.authorization] else {
            if !live.isEmpty, let session = sessions?.session(of: request, liveTokens: live) {
                guard session.role >= needed else {
                    throw APIError(.forbidden, "forbidden", "you are logged in with token '\(session.tokenName)', role \(session.role.rawValue); \(request.method) \(request.uri.path) needs \(needed.rawValue)")
                }
                if request.method != .get, request.method != .head, request.headers[WebSessions.csrfHeader] != session.csrf {
                    throw APIError(.forbidden, "csrf", "a change from the web UI must carry its CSRF token (X-CSRF-Token); reload the page")
                }
                var context = context
                context.tokenName = session.tokenName
                return try await next(request, context)
            }
            if !live.isEmpty {
                try throttle(context)
                throw Self.unauthorized("this API needs a token: Authorization: Bearer TOKEN (an admin creates one with `sloth-runner token create NAME --role \(needed.rawValue)`)")
            }
            guard loopback else {
                throw Self.unauthorized("no live API token exists and this server is reachable from the network: create one with `sloth-runner token create NAME --role \(needed.rawValue)`")
            }
            return try await next(request, context)
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty else {
            try throttle(context)
            throw Self.unauthorized("the Authorization header must be `Bearer TOKEN`")
        }
        guard let token = live[APIToken.hash(String(parts[1]))] else {
            try throttle(context)
            throw Self.unauthorized("the token is not valid (unknown or revoked)")
        }
        guard token.role >= needed else {
            throw APIError(.forbidden, "forbidden", "token '\(token.name)' has the role \(token.role.rawValue); \(request.method) \(request.uri.path) needs \(needed.rawValue)")
        }
        var context = context
        context.tokenName = token.name
        return try await next(request, context)
    }

    /// `429` instead of `401` once the address has used its budget.
    private func throttle(_ context: Context) throws(APIError) {
        guard let limiter, let wait = limiter.take(RateLimitMiddleware.addressKey(context)) else { return }
        throw RateLimitMiddleware.tooMany(limiter, wait: wait)
    }

    static func role(for request: Request) -> APIToken.Role {
        if request.method == .get || request.method == .head { return .read }
        if request.uri.path.hasPrefix("/api/v1/hooks") || request.uri.path.hasPrefix("/api/v1/secrets") { return .admin }
        return .write
    }

    static func unauthorized(_ message: String) -> APIError {
        var e = APIError(.unauthorized, "unauthorized", message)
        e.headers[.wwwAuthenticate] = "Bearer realm=\"sloth-runner\""
        return e
    }
}
