import Foundation
import SlothRunner

/// API tokens in PostgreSQL: hashes only.
extension PostgresEventStore: TokenStore {
    package func tokenCreate(_ token: APIToken, hash: String) async throws {
        try await write { tx in
            let inserted = try await tx.run(
                "INSERT INTO api_tokens (name, role, token_hash, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING RETURNING 1",
                [.text(token.name), .text(token.role.rawValue), .text(hash), .int(token.createdAt)])
            guard inserted == 1 else {
                throw SlothError.conflict("a token named '\(token.name)' exists already (revoked tokens keep their name); pick another name")
            }
        }
    }

    private static func token(from row: PGRow) -> APIToken {
        APIToken(name: row.textValue(0), role: APIToken.Role(rawValue: row.textValue(1)) ?? .read, createdAt: row.intValue(2), revokedAt: row.int(3))
    }

    package func tokenList() async throws -> [APIToken] {
        try await pool.query("SELECT name, role, created_at, revoked_at FROM api_tokens ORDER BY name COLLATE \"C\"", [], Self.token(from:))
    }

    package func tokenRevoke(name: String, now: Millis) async throws -> Bool {
        try await write { tx in
            try await tx.run("UPDATE api_tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL RETURNING 1", [.int(now), .text(name)]) == 1
        }
    }

    package func liveTokens() async throws -> [String: APIToken] {
        let rows = try await pool.query("SELECT token_hash, name, role, created_at, revoked_at FROM api_tokens WHERE revoked_at IS NULL", []) {
            ($0.textValue(0), Self.token(from: $0.shifted(by: 1)))
        }
        return Dictionary(rows, uniquingKeysWith: { first, _ in first })
    }

    package func hasLiveTokens() async throws -> Bool {
        try await pool.scalarInt("SELECT 1 FROM api_tokens WHERE revoked_at IS NULL LIMIT 1") != nil
    }
}
