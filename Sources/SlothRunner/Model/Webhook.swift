import Crypto
import Foundation

/// An HTTP endpoint (`POST /webhooks/{name}`) that turns verified deliveries into events.
package struct Webhook: Sendable, Equatable {
    /// How a delivery proves where it comes from. The key is a named secret of the vault.
    package enum Verification: String, Sendable, CaseIterable {
        /// `X-Hub-Signature-256: sha256=HEX`, HMAC-SHA256 of the body.
        case github
        /// `Stripe-Signature: t=UNIX,v1=HEX`, HMAC-SHA256 of `t.body`, `t` within 5 minutes.
        case stripe
        /// HMAC-SHA256 of the body, hex (optionally `sha256=`), in a header of your choice.
        case hmacSHA256 = "hmac-sha256"
        /// `Authorization: Bearer SECRET`.
        case token
        /// Nothing: accepted only while `serve` listens on loopback.
        case none
    }

    package var name: String
    /// The event type, or a template taking a header: `github.{X-GitHub-Event}`.
    package var eventType: String
    package var verification: Verification
    /// The secret holding the key (nil only with `none`).
    package var secret: String?
    package var stack: String?
    /// For `hmac-sha256`: the header carrying the signature.
    package var signatureHeader: String?
    /// A header whose value identifies a delivery, to drop redeliveries (GitHub's
    /// `X-GitHub-Delivery` and Stripe's event id are used without it).
    package var deliveryHeader: String?
    package var createdAt: Millis
    /// The config file that declares it (`webhooks:`), nil for one added with `webhook add`:
    /// `serve` makes the store match the file at every start.
    package var declaredIn: String?

    package static let defaultSignatureHeader = "X-Signature-256"
    /// How far a Stripe signature's timestamp may be from now.
    package static let stripeTolerance: Int64 = 300

    package init(
        name: String, eventType: String, verification: Verification, secret: String?, stack: String?, signatureHeader: String?,
        deliveryHeader: String?, createdAt: Millis, declaredIn: String? = nil
    ) {
        self.declaredIn = declaredIn
        self.name = name
        self.eventType = eventType
        self.verification = verification
        self.secret = secret
        self.stack = stack
        self.signatureHeader = signatureHeader
        self.deliveryHeader = deliveryHeader
        self.createdAt = createdAt
    }

    /// A webhook from its declaration (`webhook add`'s flags, or a `webhooks:` entry of the
    /// config file), checked the same way for both; `field` names a field as the user wrote it
    /// (`--verify`, or `config.yaml:12: webhooks.github.verify`). `secretExists` is asked for
    /// the secret named.
    package static func declare(
        name: String, eventType: String, verify: String, secret: String?, stack: String?, signatureHeader: String?,
        deliveryHeader: String?, declaredIn: String? = nil, now: Millis, field: (String) -> String, secretExists: (String) -> Bool
    ) throws(SlothError) -> Webhook {
        try validateName(name)
        guard let verification = Verification(rawValue: verify.lowercased()) else {
            let known = Verification.allCases.map(\.rawValue)
            throw .invalidInput("\(field("verify")) must be one of \(known.joined(separator: ", ")), not '\(verify)'\(NameSuggestion.hint(for: verify.lowercased(), among: known))")
        }
        if verification == .none, secret != nil { throw .invalidInput("\(field("verify")) none takes no \(field("secret"))") }
        if verification != .none {
            guard let secret else { throw .invalidInput("\(field("verify")) \(verification.rawValue) needs \(field("secret")) NAME: the secret holding the key") }
            guard secretExists(secret) else {
                throw .notFound("\(field("secret")): secret '\(secret)' does not exist; set it first: `sloth-runner secret set \(secret)`")
            }
        }
        if signatureHeader != nil, verification != .hmacSHA256 { throw .invalidInput("\(field("signature_header")) applies to verify hmac-sha256 only") }
        for header in [signatureHeader, deliveryHeader].compactMap({ $0 }) {
            guard !header.isEmpty, header.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D || $0 == 0x5F }) else {
                throw .invalidInput("'\(header)' is not a header name (letters, digits, '-')")
            }
        }
        if let stack { _ = try NewEvent(type: "custom.x", stack: stack).validated() }
        var hook = Webhook(
            name: name, eventType: eventType, verification: verification, secret: secret, stack: stack, signatureHeader: signatureHeader,
            deliveryHeader: deliveryHeader, createdAt: now)
        hook.declaredIn = declaredIn
        // The type must be valid once its headers are filled in.
        let sample = try hook.eventType { _ in "sample" }
        _ = try NewEvent(type: sample).validated()
        return hook
    }

    package static func validateName(_ name: String) throws(SlothError) {
        guard !name.isEmpty, name.utf8.count <= 64,
            name.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F || $0 == 0x2D })
        else {
            throw .invalidInput("webhook name '\(name)' must be 1-64 lowercase letters, digits, '_' or '-' (it is part of the URL)")
        }
    }

    /// The `{Header-Name}` placeholders of the event type template.
    package var templateHeaders: [String] {
        var out: [String] = []
        var rest = Substring(eventType)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            out.append(String(rest[rest.index(after: open)..<close]))
            rest = rest[rest.index(after: close)...]
        }
        return out
    }

    /// The event type for a delivery: each `{Header}` replaced by that header's value, lowercased,
    /// with anything but letters, digits and `_` made `_` (so `pull_request` stays, `a b` → `a_b`).
    package func eventType(header: (String) -> String?) throws(SlothError) -> String {
        var type = eventType
        for name in templateHeaders {
            guard let value = header(name), !value.isEmpty else {
                throw .invalidInput("the event type comes from the \(name) header, which the delivery lacks")
            }
            let cleaned = String(value.lowercased().unicodeScalars.map { ($0.properties.isAlphabetic && $0.isASCII) || ("0"..."9").contains($0) || $0 == "_" || $0 == "." ? Character($0) : "_" })
            type = type.replacingOccurrences(of: "{\(name)}", with: cleaned)
        }
        return type
    }

    package var json: JSONValue {
        var o: [String: JSONValue] = [
            "name": .string(name), "event_type": .string(eventType), "verify": .string(verification.rawValue),
            "secret": secret.map(JSONValue.string) ?? .null, "stack": stack.map(JSONValue.string) ?? .null,
            "signature_header": signatureHeader.map(JSONValue.string) ?? .null, "delivery_header": deliveryHeader.map(JSONValue.string) ?? .null,
            "path": .string("/webhooks/\(name)"), "declared_in": declaredIn.map(JSONValue.string) ?? .null,
        ]
        JSONValue.stamp(&o, "created_at", createdAt)
        return .object(o)
    }
}

extension Webhook {
    /// Why a delivery was refused: a stable reason (a metric label, the error code) and a message.
    package struct Rejection: Error, Sendable, Equatable {
        package var reason: String
        package var message: String
    }

    /// Checks a delivery's signature with `key` (the secret's value), in constant time; `header`
    /// reads the delivery's headers by name. `none` passes here (where it may be used is the
    /// server's business).
    package func verify(body: [UInt8], key: String?, now: Millis, header: (String) -> String?) -> Rejection? {
        func reject(_ reason: String, _ message: String) -> Rejection { Rejection(reason: reason, message: message) }
        if verification == .none { return nil }
        guard let key else { return reject("misconfigured", "the webhook's secret '\(secret ?? "")' is not set") }
        switch verification {
        case .github:
            guard let given = header("X-Hub-Signature-256") else { return reject("missing_signature", "the X-Hub-Signature-256 header is missing") }
            guard given.hasPrefix("sha256="), WebhookSignature.matches(String(given.dropFirst(7)), WebhookSignature.hmacHex(key: key, message: body)) else {
                return reject("invalid_signature", "the X-Hub-Signature-256 signature does not match the body")
            }
        case .stripe:
            guard let given = header("Stripe-Signature") else { return reject("missing_signature", "the Stripe-Signature header is missing") }
            var stamp: Int64?
            var signatures: [String] = []
            for part in given.split(separator: ",") {
                let kv = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard kv.count == 2 else { continue }
                if kv[0] == "t" { stamp = Int64(kv[1]) } else if kv[0] == "v1" { signatures.append(kv[1]) }
            }
            guard let stamp, !signatures.isEmpty else { return reject("invalid_signature", "the Stripe-Signature header has no t= and v1= parts") }
            let expected = WebhookSignature.hmacHex(key: key, message: Array("\(stamp).".utf8) + body)
            guard signatures.contains(where: { WebhookSignature.matches($0, expected) }) else {
                return reject("invalid_signature", "the Stripe-Signature signature does not match the body")
            }
            let age = abs(now / 1000 - stamp)
            guard age <= Webhook.stripeTolerance else {
                return reject("expired_signature", "the Stripe-Signature timestamp is \(age) s from now; at most \(Webhook.stripeTolerance) s is accepted (a replayed delivery?)")
            }
        case .hmacSHA256:
            let name = signatureHeader ?? Webhook.defaultSignatureHeader
            guard var given = header(name) else { return reject("missing_signature", "the \(name) header is missing") }
            if given.hasPrefix("sha256=") { given.removeFirst(7) }
            guard WebhookSignature.matches(given, WebhookSignature.hmacHex(key: key, message: body)) else {
                return reject("invalid_signature", "the \(name) signature does not match the body")
            }
        case .token:
            guard let given = header("Authorization") else { return reject("missing_signature", "the Authorization header is missing (Bearer TOKEN)") }
            guard given.hasPrefix("Bearer "), WebhookSignature.sameToken(String(given.dropFirst(7)), key) else {
                return reject("invalid_signature", "the bearer token is not the webhook's")
            }
        case .none:
            break
        }
        return nil
    }

    /// Headers never copied into the event: credentials and signatures.
    package static let privateHeaders: Set<String> = ["authorization", "cookie", "x-hub-signature", "x-hub-signature-256", "stripe-signature"]

    /// The event a verified delivery becomes: its type (from the template), its data (the body as
    /// an object: JSON, or a form; with `_webhook` {name, delivery_id, headers}), and the
    /// delivery id that deduplicates it. `headers`: every header, lowercased names.
    package func event(body: [UInt8], contentType: String?, headers: [(String, String)]) throws(SlothError) -> (event: NewEvent, delivery: String?) {
        func header(_ name: String) -> String? { headers.first { $0.0 == name.lowercased() }?.1 }
        let type = try eventType(header: header)
        var payload = try Self.payload(body, contentType: contentType)
        var delivery: String?
        switch verification {
        case .github: delivery = header("X-GitHub-Delivery")
        case .stripe: delivery = payload["id"]?.stringValue
        default: break
        }
        if let custom = deliveryHeader { delivery = header(custom) ?? delivery }
        var copied: [String: JSONValue] = [:]
        for (name, value) in headers where !Self.privateHeaders.contains(name) && name != signatureHeader?.lowercased() {
            copied[name] = .string(value)
        }
        payload["_webhook"] = .object(["name": .string(name), "delivery_id": delivery.map(JSONValue.string) ?? .null, "headers": .object(copied)])
        let new = NewEvent(type: type, data: .object(payload), stack: stack)
        _ = try new.validated()
        return (new, delivery)
    }

    /// The body as an object: JSON (a value that is not an object goes under `body`), a form
    /// (`a=1&b=x`), or `{}` when empty.
    static func payload(_ body: [UInt8], contentType: String?) throws(SlothError) -> [String: JSONValue] {
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
            throw .invalidInput("the delivery is neither JSON nor a form: \(error)")
        }
        if case .object(let o) = value { return o }
        return ["body": value]
    }
}

/// Checking a delivery's signature, in constant time.
package enum WebhookSignature {
    package static func hmacHex(key: String, message: [UInt8]) -> String {
        Hex.encode(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Array(key.utf8))))
    }

    /// A bearer token against the key, in constant time.
    package static func sameToken(_ given: String, _ key: String) -> Bool {
        ConstantTime.equal(Array(given.utf8), Array(key.utf8))
    }

    package static func matches(_ given: String, _ expected: String) -> Bool {
        ConstantTime.equal(Array(given.lowercased().utf8), Array(expected.utf8))
    }
}
