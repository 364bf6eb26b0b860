import Hummingbird
import SlothRunner

/// An error the API answers with: a status and `{"error": {"code": ..., "message": ...}}`.
/// Every failure a client can cause ends as one of these, so no answer is a bare status or an
/// HTML page, and the code is stable for programs while the message is for people.
struct APIError: HTTPResponseError {
    let status: HTTPResponse.Status
    /// Stable and machine-readable: `invalid_json`, `not_found`, `payload_too_large`, ...
    let code: String
    let message: String
    /// Extra headers the answer carries (`Allow` with a 405, `Retry-After` with a 503).
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = JSONResponse.make(status: status, .object(["error": .object(["code": .string(code), "message": .string(message)])]))
        for field in headers { response.headers.append(field) }
        return response
    }

    static func badRequest(_ code: String, _ message: String) -> APIError { APIError(.badRequest, code, message) }
    static func notFound(_ message: String) -> APIError { APIError(.notFound, "not_found", message) }
    static func unprocessable(_ code: String, _ message: String) -> APIError { APIError(.unprocessableContent, code, message) }

    /// The engine's own errors, with the status that says what kind they are.
    init(_ error: SlothError) {
        switch error {
        case .invalidInput(let m): self.init(.unprocessableContent, "invalid_input", m)
        case .invalidHook(let m): self.init(.unprocessableContent, "invalid_hook", m)
        case .notFound(let m): self.init(.notFound, "not_found", m)
        case .ambiguous(let m): self.init(.conflict, "ambiguous", m)
        case .conflict(let m): self.init(.conflict, "conflict", m)
        case .storage(let m): self.init(.serviceUnavailable, "storage_unavailable", m)
        case .runtime(let m): self.init(.internalServerError, "internal", m)
        }
    }
}
