import Crypto

/// A token of the HTTP API: a name, a role, and the SHA-256 of the secret part (the token itself
/// is shown once, when it is created, and never stored).
package struct APIToken: Sendable, Equatable {
    /// What a token may do; each role includes the ones before it.
    package enum Role: String, Sendable, CaseIterable, Comparable {
        /// Read: every GET.
        case read
        /// Also dispatch and retry events, change state.
        case write
        /// Also manage hooks (and run them in a dry run), webhooks and tokens.
        case admin

        private var rank: Int { Role.allCases.firstIndex(of: self)! }
        package static func < (a: Role, b: Role) -> Bool { a.rank < b.rank }
    }

    package var name: String
    package var role: Role
    package var createdAt: Millis
    package var revokedAt: Millis?

    package init(name: String, role: Role, createdAt: Millis, revokedAt: Millis? = nil) {
        self.name = name
        self.role = role
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }

    /// A new secret token: `srt_` and 32 random bytes in hex (256 bits, so a hash lookup is
    /// as good as a comparison: nothing about a token leaks through the time a guess takes).
    package static func generate() -> String { "srt_" + Hex.encode(SecureRandom.bytes(32)) }

    /// What the store keeps of a token.
    package static func hash(_ token: String) -> String { Hex.encode(SHA256.hash(data: Array(token.utf8))) }

    package static func validateName(_ name: String) throws(SlothError) {
        guard !name.isEmpty, name.utf8.count <= 64,
            name.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F || $0 == 0x2D || $0 == 0x2E })
        else {
            throw .invalidInput("token name '\(name)' must be 1-64 characters of letters, digits, '_', '-' or '.'")
        }
    }

    package var json: JSONValue {
        var o: [String: JSONValue] = ["name": .string(name), "role": .string(role.rawValue), "revoked": .bool(revokedAt != nil)]
        JSONValue.stamp(&o, "created_at", createdAt)
        JSONValue.stamp(&o, "revoked_at", revokedAt)
        return .object(o)
    }
}
