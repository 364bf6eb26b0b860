import Foundation
import HTTPTypes
import Hummingbird
import Metrics
import NIOCore
import SlothRunner

/// `POST /webhooks/{name}`: a delivery from GitHub, Stripe or anything that signs with HMAC or
/// a bearer token becomes an event — once verified, in constant time, with the key from the
/// secret vault. A bad or missing signature is `401` and stores nothing; a redelivery (same
/// delivery id) returns the first event and stores nothing.
struct WebhookRoutes {
    let engine: Engine
    let book: WebhookBook
    let activity: WebhookActivity
    let maxBodyBytes: Int
    let loopback: Bool

    static let accepted = Counter(label: "sloth_events_accepted_total", dimensions: [("source", "webhook")])
    static let endpoints: [(HTTPRequest.Method, String)] = [(.post, "webhooks/{name}")]

    func register(on router: Router<APIRequestContext>) {
        router.post("webhooks/{name}", use: deliver)
    }

    @Sendable func deliver(_ request: Request, context: APIRequestContext) async throws -> Response {
        let name = try context.parameters.require("name")
        guard let entry = try await book.entry(named: name) else { throw APIError.notFound("no webhook named '\(name)'") }
        let hook = entry.webhook
        let body: [UInt8]
        do { body = Array(buffer: try await request.body.collect(upTo: maxBodyBytes)) } catch is NIOTooManyBytesError {
            throw reject(hook, "too_large", APIError(.contentTooLarge, "payload_too_large", "the delivery is larger than \(maxBodyBytes) bytes"))
        }
        if hook.verification == .none, !loopback {
            throw reject(hook, "unverified", APIError(.forbidden, "forbidden", "webhook '\(hook.name)' verifies nothing, which is allowed only while serve listens on loopback"))
        }
        let key = entry.key
        if hook.verification != .none, key == nil {
            throw APIError(.serviceUnavailable, "webhook_misconfigured", "webhook '\(hook.name)' needs the secret '\(hook.secret ?? "")', which is not set (`sloth-runner secret set \(hook.secret ?? "NAME")`)")
        }
        let header: (String) -> String? = { name in HTTPField.Name(name).flatMap { request.headers[$0] } }
        if let rejection = hook.verify(body: body, key: key, now: nowMillis(), header: header) {
            throw reject(hook, rejection.reason, APIError(.unauthorized, rejection.reason, rejection.message))
        }
        let headers = request.headers.map { ($0.name.canonicalName, $0.value) }
        let new: NewEvent, delivery: String?
        do { (new, delivery) = try hook.event(body: body, contentType: request.headers[.contentType], headers: headers) } catch {
            if case .invalidInput(let m) = error, m.hasPrefix("the delivery is neither") { throw APIError.badRequest("invalid_json", m) }
            throw APIError(error)
        }
        let stored: (event: Event, replayed: Bool)
        do {
            if let delivery {
                stored = try await engine.dispatch(new, originKey: "webhook:\(hook.name):\(delivery)")
            } else {
                stored = (try await engine.dispatch(new), false)
            }
        } catch {
            throw APIError(error)
        }
        if !stored.replayed { Self.accepted.increment() }
        activity.delivered(hook.name, eventID: stored.event.id, deliveryID: delivery)
        var response = JSONResponse.make(status: .accepted, stored.event.json)
        if stored.replayed { response.headers[.idempotentReplayed] = "true" }
        return response
    }

    private func reject(_ hook: Webhook, _ reason: String, _ error: APIError) -> APIError {
        activity.rejected(hook.name, reason: reason, message: error.message)
        Counter(label: "sloth_webhook_rejections_total", dimensions: [("webhook", hook.name), ("reason", reason)]).increment()
        return error
    }
}
