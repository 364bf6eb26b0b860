import Foundation

/// Sealed secrets in SQLite; `SecretVault` seals and opens them.
extension SQLiteEventStore: SecretStore, SealedSecretStore {
    package func secretPut(name: String, sealed: SecretCipher.Sealed, now: Millis) async throws {
        _ = try await writer.perform { db in
            try db.run(
                """
                INSERT INTO secrets (name, nonce, ciphertext, created_at, updated_at) VALUES (?,?,?,?,?)
                ON CONFLICT(name) DO UPDATE SET nonce = excluded.nonce, ciphertext = excluded.ciphertext, updated_at = excluded.updated_at
                """,
                [.text(name), .text(Data(sealed.nonce).base64EncodedString()), .text(Data(sealed.ciphertext).base64EncodedString()), .int(now), .int(now)])
        }
    }

    package func secretGet(name: String) async throws -> SecretCipher.Sealed? {
        try await reader.perform { db in
            try db.query("SELECT nonce, ciphertext FROM secrets WHERE name = ?", [.text(name)]) { row in
                SecretCipher.Sealed(
                    nonce: Array(Data(base64Encoded: row.textValue(0)) ?? Data()),
                    ciphertext: Array(Data(base64Encoded: row.textValue(1)) ?? Data()))
            }.first
        }
    }

    public func secretList() async throws -> [SecretInfo] {
        try await reader.perform { db in
            try db.query("SELECT name, created_at, updated_at FROM secrets ORDER BY name", []) {
                SecretInfo(name: $0.textValue(0), createdAt: $0.intValue(1), updatedAt: $0.intValue(2))
            }
        }
    }

    public func secretDelete(name: String) async throws -> Bool {
        try await writer.perform { db in try db.run("DELETE FROM secrets WHERE name = ?", [.text(name)]) == 1 }
    }

    package func secretDeleteAll() async throws -> Int {
        try await writer.perform { db in
            let n = try db.run("DELETE FROM secrets")
            try db.run("DELETE FROM settings WHERE key = ?", [.text(SecretVault.keyCheckSetting)])
            return n
        }
    }
}
