import Hummingbird

/// Headers every answer carries: a Content-Security-Policy that allows scripts, styles and
/// connections from this server only and no inline script or style (an injected `<script>` in
/// a hook's output could not run even if escaping failed), no framing, no content sniffing.
struct SecurityHeadersMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    static let policy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[.contentSecurityPolicy] = Self.policy
        response.headers[.xFrameOptions] = "DENY"
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.referrerPolicy] = "same-origin"
        return response
    }
}
