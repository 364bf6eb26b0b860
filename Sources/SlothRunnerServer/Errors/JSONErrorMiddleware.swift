import Hummingbird
import Logging
import SlothRunner

/// Turns whatever a route throws into a JSON error answer: our `APIError`s as they are, the
/// engine's `SlothError`s by kind, Hummingbird's own (no such route, wrong method) in the same
/// shape, and anything unexpected into a 500 that is logged with the request, its detail kept
/// out of the answer.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return try error.response(from: request, context: context)
        } catch let error as SlothError {
            return try APIError(error).response(from: request, context: context)
        } catch let error as HTTPError {
            return try translate(error, request: request).response(from: request, context: context)
        } catch {
            logger.error("the API failed answering \(request.method) \(request.uri.path): \(error)", metadata: ["path": "\(request.uri.path)"])
            return try APIError(.internalServerError, "internal", "the server failed to answer; the error is in its log")
                .response(from: request, context: context)
        }
    }

    func translate(_ error: HTTPError, request: Request) -> APIError {
        switch error.status {
        case .notFound:
            let allowed = routes.methods(for: request.uri.path)
            guard allowed.isEmpty else {
                var e = APIError(.methodNotAllowed, "method_not_allowed", "\(request.uri.path) takes \(allowed.map(\.rawValue).joined(separator: ", ")), not \(request.method)")
                e.headers[.allow] = allowed.map(\.rawValue).joined(separator: ", ")
                return e
            }
            return .notFound("no such endpoint: \(request.method) \(request.uri.path) (the endpoints are in docs/http-api.md)")
        case .methodNotAllowed: return APIError(.methodNotAllowed, "method_not_allowed", "\(request.method) is not allowed on \(request.uri.path)")
        case .contentTooLarge: return APIError(.contentTooLarge, "payload_too_large", error.body ?? "the request body is too large")
        default: return APIError(error.status, "http_\(error.status.code)", error.body ?? error.status.reasonPhrase)
        }
    }
}
