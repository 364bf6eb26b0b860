/// API tokens in SQLite: hashes only.
extension SQLiteEventStore: TokenStore {
    package func tokenCreate(_ token: APIToken, hash: String) async throws {
        try await writer.perform { db in
            if try db.scalarInt("SELECT 1 FROM api_tokens WHERE name = ?", [.text(token.name)]) != nil {
                throw SlothError.conflict("a token named '\(token.name)' exists already (revoked tokens keep their name); pick another name")
            }
            _ = try db.run(
                "INSERT INTO api_tokens (name, role, token_hash, created_at) VALUES (?, ?, ?, ?)",
                [.text(token.name), .text(token.role.rawValue), .text(hash), .int(token.createdAt)])
        }
    }

    package func tokenList() async throws -> [APIToken] {
        try await reader.perform { db in
            try db.query("SELECT name, role, created_at, revoked_at FROM api_tokens ORDER BY name", [], Self.token(from:))
        }
    }

    package func tokenRevoke(name: String, now: Millis) async throws -> Bool {
        try await writer.perform { db in
            try db.run("UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", [.int(now), .text(name)]) == 1
        }
    }

    package func liveTokens() async throws -> [String: APIToken] {
        try await reader.perform { db in
            let rows = try db.query("SELECT token_hash, name, role, created_at, revoked_at FROM api_tokens WHERE revoked_at IS NULL", []) {
                ($0.textValue(0), Self.token(from: $0.shifted(by: 1)))
            }
            return Dictionary(rows, uniquingKeysWith: { first, _ in first })
        }
    }

    package func hasLiveTokens() async throws -> Bool {
        try await reader.perform { db in try db.scalarInt("SELECT 1 FROM api_tokens WHERE revoked_at IS NULL LIMIT 1", []) != nil }
    }

    private static func token(from row: SQLiteConnection.Row) -> APIToken {
        APIToken(
            name: row.textValue(0), role: APIToken.Role(rawValue: row.textValue(1)) ?? .read, createdAt: row.intValue(2),
            revokedAt: row.int(3))
    }
}
