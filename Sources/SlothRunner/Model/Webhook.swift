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

    package static let defaultSignatureHeader = "X-Signature-256"
    /// How far a Stripe signature's timestamp may be from now.
    package static let stripeTolerance: Int64 = 300

    package init(
        name: String, eventType: String, verification: Verification, secret: String?, stack: String?, signatureHeader: String?,
        deliveryHeader: String?, createdAt: Millis
    ) {
        self.name = name
        self.eventType = eventType
        self.verification = verification
        self.secret = secret
        self.stack = stack
        self.signatureHeader = signatureHeader
        self.deliveryHeader = deliveryHeader
        self.createdAt = createdAt
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
            "path": .string("/webhooks/\(name)"),
        ]
        JSONValue.stamp(&o, "created_at", createdAt)
        return .object(o)
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
