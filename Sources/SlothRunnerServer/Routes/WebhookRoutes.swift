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
    let maxBodyBytes: Int
    let loopback: Bool

    static let accepted = Counter(label: "sloth_events_accepted_total", dimensions: [("source", "webhook")])
    static let endpoints: [(HTTPRequest.Method, String)] = [(.post, "webhooks/{name}")]
    /// Headers never copied into the event: credentials and signatures.
    static let privateHeaders: Set<String> = ["authorization", "cookie", "x-hub-signature", "x-hub-signature-256", "stripe-signature"]

    func register(on router: Router<BasicRequestContext>) {
        router.post("webhooks/{name}", use: deliver)
    }

    @Sendable func deliver(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let name = try context.parameters.require("name")
        guard let hook = try await engine.driver.webhook(named: name) else { throw APIError.notFound("no webhook named '\(name)'") }
        let body: [UInt8]
        do { body = Array(buffer: try await request.body.collect(upTo: maxBodyBytes)) } catch is NIOTooManyBytesError {
            throw reject(hook, "too_large", APIError(.contentTooLarge, "payload_too_large", "the delivery is larger than \(maxBodyBytes) bytes"))
        }
        try await verify(hook, request: request, body: body)

        let header: (String) -> String? = { name in HTTPField.Name(name).flatMap { request.headers[$0] } }
        let type: String
        do { type = try hook.eventType(header: header) } catch { throw APIError(error) }
        var payload = try Self.payload(body, contentType: request.headers[.contentType])
        var delivery: String?
        switch hook.verification {
        case .github: delivery = header("X-GitHub-Delivery")
        case .stripe: delivery = payload["id"]?.stringValue
        default: break
        }
        if let custom = hook.deliveryHeader { delivery = header(custom) ?? delivery }
        var headers: [String: JSONValue] = [:]
        for field in request.headers where !Self.privateHeaders.contains(field.name.canonicalName) && field.name.canonicalName != hook.signatureHeader?.lowercased() {
            headers[field.name.canonicalName] = .string(field.value)
        }
        payload["_webhook"] = .object(["name": .string(hook.name), "delivery_id": delivery.map(JSONValue.string) ?? .null, "headers": .object(headers)])
        let new = NewEvent(type: type, data: .object(payload), stack: hook.stack)
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
        var response = JSONResponse.make(status: .accepted, stored.event.json)
        if stored.replayed { response.headers[.idempotentReplayed] = "true" }
        return response
    }

    private func verify(_ hook: Webhook, request: Request, body: [UInt8]) async throws {
        if hook.verification == .none {
            guard loopback else {
                throw reject(hook, "unverified", APIError(.forbidden, "forbidden", "webhook '\(hook.name)' verifies nothing, which is allowed only while serve listens on loopback"))
            }
            return
        }
        guard let secretName = hook.secret, let vault = engine.configuration.secrets, let key = try await vault.get(secretName) else {
            throw APIError(.serviceUnavailable, "webhook_misconfigured", "webhook '\(hook.name)' needs the secret '\(hook.secret ?? "")', which is not set (`sloth-runner secret set \(hook.secret ?? "NAME")`)")
        }
        func header(_ name: String) -> String? { HTTPField.Name(name).flatMap { request.headers[$0] } }
        switch hook.verification {
        case .github:
            guard let given = header("X-Hub-Signature-256") else { throw reject(hook, "missing_signature", "the X-Hub-Signature-256 header is missing") }
            guard given.hasPrefix("sha256="), WebhookSignature.matches(String(given.dropFirst(7)), WebhookSignature.hmacHex(key: key, message: body)) else {
                throw reject(hook, "invalid_signature", "the X-Hub-Signature-256 signature does not match the body")
            }
        case .stripe:
            guard let given = header("Stripe-Signature") else { throw reject(hook, "missing_signature", "the Stripe-Signature header is missing") }
            var stamp: Int64?
            var signatures: [String] = []
            for part in given.split(separator: ",") {
                let kv = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard kv.count == 2 else { continue }
                if kv[0] == "t" { stamp = Int64(kv[1]) } else if kv[0] == "v1" { signatures.append(kv[1]) }
            }
            guard let stamp, !signatures.isEmpty else { throw reject(hook, "invalid_signature", "the Stripe-Signature header has no t= and v1= parts") }
            let expected = WebhookSignature.hmacHex(key: key, message: Array("\(stamp).".utf8) + body)
            guard signatures.contains(where: { WebhookSignature.matches($0, expected) }) else {
                throw reject(hook, "invalid_signature", "the Stripe-Signature signature does not match the body")
            }
            let now = nowMillis() / 1000
            guard abs(now - stamp) <= Webhook.stripeTolerance else {
                throw reject(hook, "expired_signature", "the Stripe-Signature timestamp is \(abs(now - stamp)) s from now; at most \(Webhook.stripeTolerance) s is accepted (a replayed delivery?)")
            }
        case .hmacSHA256:
            let name = hook.signatureHeader ?? Webhook.defaultSignatureHeader
            guard var given = header(name) else { throw reject(hook, "missing_signature", "the \(name) header is missing") }
            if given.hasPrefix("sha256=") { given.removeFirst(7) }
            guard WebhookSignature.matches(given, WebhookSignature.hmacHex(key: key, message: body)) else {
                throw reject(hook, "invalid_signature", "the \(name) signature does not match the body")
            }
        case .token:
            guard let given = header("Authorization") else { throw reject(hook, "missing_signature", "the Authorization header is missing (Bearer TOKEN)") }
            guard given.hasPrefix("Bearer "), WebhookSignature.sameToken(String(given.dropFirst(7)), key) else {
                throw reject(hook, "invalid_signature", "the bearer token is not the webhook's")
            }
        case .none:
            break
        }
    }

    private func reject(_ hook: Webhook, _ reason: String, _ message: String) -> APIError {
        reject(hook, reason, APIError(.unauthorized, reason, message))
    }

    private func reject(_ hook: Webhook, _ reason: String, _ error: APIError) -> APIError {
        Counter(label: "sloth_webhook_rejections_total", dimensions: [("webhook", hook.name), ("reason", reason)]).increment()
        return error
    }

    /// The delivery's body as an object: JSON, or a form (`a=1&b=x`), or `{}` when empty.
    static func payload(_ body: [UInt8], contentType: String?) throws -> [String: JSONValue] {
        if body.isEmpty { return [:] }
        if contentType?.lowercased().hasPrefix("application/x-www-form-urlencoded") == true {
            var out: [String: JSONValue] = [:]
            for pair in String(decoding: body, as: UTF8.self).split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1).map { String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String($0) }
                guard let key = kv.first, !key.isEmpty else { continue }
                out[key] = .string(kv.count > 1 ? kv[1] : "")
            }
            return out
        }
        let value: JSONValue
        do { value = try JSONValue.parse(bytes: body) } catch {
            throw APIError.badRequest("invalid_json", "the delivery is neither JSON nor a form: \(error)")
        }
        if case .object(let o) = value { return o }
        return ["body": value]
    }
}
