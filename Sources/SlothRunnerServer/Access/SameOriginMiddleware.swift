import HTTPTypes
import Hummingbird

/// Refuses state-changing requests a browser sends on behalf of another site. A page anywhere
/// can make the browser POST to `http://127.0.0.1:7077` — a `text/plain` body needs no CORS
/// preflight — and without a token the API is open on loopback: a visited page could register a
/// hook that runs commands. Browsers say where a request comes from (`Sec-Fetch-Site`, `Origin`);
/// a cross-site one that would change something is `403 cross_origin`. Programs (curl, SDKs)
/// send neither header and are not affected; reads stay allowed (the answers are not readable
/// cross-origin anyway, CORS is never granted).
struct SameOriginMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    static let fetchSite = HTTPField.Name("Sec-Fetch-Site")!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method != .get, request.method != .head, request.method != .options else { return try await next(request, context) }
        // Webhooks are meant to be called from elsewhere, and prove themselves by signature.
        guard !request.uri.path.hasPrefix("/webhooks/") else { return try await next(request, context) }
        if let site = request.headers[Self.fetchSite], site == "cross-site" || site == "same-site" {
            throw Self.refused("the browser marks this request as sent from another site (Sec-Fetch-Site: \(site))")
        }
        if let origin = request.headers[.origin] {
            let host = request.head.authority ?? ""
            let originHost = origin.split(separator: "/", omittingEmptySubsequences: true).dropFirst().first.map(String.init) ?? ""
            if origin == "null" || originHost.lowercased() != host.lowercased() {
                throw Self.refused("the request comes from the page of another origin (\(origin)); this API does not take changes from other sites")
            }
        }
        return try await next(request, context)
    }

    static func refused(_ message: String) -> APIError {
        APIError(.forbidden, "cross_origin", message)
    }
}
