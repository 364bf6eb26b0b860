import Hummingbird
import NIOCore
import SlothRunner

/// JSON in and out of the API, on the engine's own `JSONValue` (integers stay integers, and a
/// parse error says line and column).
enum JSONResponse {
    static func make(status: HTTPResponse.Status, _ value: JSONValue) -> Response {
        let text = value.serialized()
        var buffer = ByteBufferAllocator().buffer(capacity: text.utf8.count + 1)
        buffer.writeString(text)
        buffer.writeString("\n")
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
    }
}

extension Request {
    /// The body parsed as JSON, at most `limit` bytes: a bigger body is `413`, bad JSON `400`
    /// with where it went wrong, a body that is not an object `422`.
    func jsonObject(limit: Int) async throws -> [String: JSONValue] {
        guard let object = try await jsonObjectIfAny(limit: limit) else {
            throw APIError.badRequest("empty_body", "the request has no body; send a JSON object")
        }
        return object
    }

    /// As `jsonObject`, for a request whose body is optional: nil when it has none.
    func jsonObjectIfAny(limit: Int) async throws -> [String: JSONValue]? {
        let buffer: ByteBuffer
        do {
            buffer = try await body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "payload_too_large", "the request body is larger than \(limit) bytes")
        }
        guard buffer.readableBytes > 0 else { return nil }
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes: Array(buffer: buffer))
        } catch {
            throw APIError.badRequest("invalid_json", "the body is not JSON: \(error)")
        }
        guard case .object(let object) = value else {
            throw APIError.unprocessable("invalid_input", "the body must be a JSON object, not \(value.typeName)")
        }
        return object
    }
}
