import Hummingbird
import Metrics
import NIOCore

/// `429 rate_limited` with `Retry-After` once a client has used its budget (`--http-rate-limit`):
/// per API token when the request carries a valid one, per address otherwise (so made-up
/// tokens do not buy fresh budgets; requests the token check refuses count against their
/// address too, see `TokenAuthMiddleware`). Covers `/api` and `/webhooks`; health checks and
/// `/metrics` are never limited (a monitor must see a node that is being flooded).
struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    let limiter: RateLimiter
    static let limited = Counter(label: "sloth_http_rate_limited_total")

    static func addressKey(_ context: Context) -> String {
        "address:" + (context.remoteAddress?.ipAddress ?? "unknown")
    }

    static func tooMany(_ limiter: RateLimiter, wait: Double) -> APIError {
        limited.increment()
        let seconds = max(1, Int(wait.rounded(.up)))
        var error = APIError(.tooManyRequests, "rate_limited", "more than \(limiter.rate) requests from this client; try again in \(seconds) s")
        error.headers[.retryAfter] = String(seconds)
        return error
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        guard path.hasPrefix("/api/") || path.hasPrefix("/webhooks/") else { return try await next(request, context) }
        let key = context.tokenName.map { "token:" + $0 } ?? Self.addressKey(context)
        if let wait = limiter.take(key) { throw Self.tooMany(limiter, wait: wait) }
        return try await next(request, context)
    }
}
