import Foundation
import SlothRunner

/// Sealed secrets in PostgreSQL; `SecretVault` seals and opens them.
extension PostgresEventStore: SecretStore, SealedSecretStore {
    package func secretPut(name: String, sealed: SecretCipher.Sealed, now: Millis) async throws {
        try await write { tx in
            try await tx.run(
                """
                INSERT INTO secrets (name, nonce, ciphertext, created_at, updated_at) VALUES ($1,$2,$3,$4,$5)
                ON CONFLICT (name) DO UPDATE SET nonce = excluded.nonce, ciphertext = excluded.ciphertext, updated_at = excluded.updated_at
                RETURNING 1
                """,
                [.text(name), .text(Data(sealed.nonce).base64EncodedString()), .text(Data(sealed.ciphertext).base64EncodedString()), .int(now), .int(now)])
        }
    }

    package func secretGet(name: String) async throws -> SecretCipher.Sealed? {
        try await pool.query("SELECT nonce, ciphertext FROM secrets WHERE name = $1", [.text(name)]) { row in
            SecretCipher.Sealed(
                nonce: Array(Data(base64Encoded: row.textValue(0)) ?? Data()), ciphertext: Array(Data(base64Encoded: row.textValue(1)) ?? Data()))
        }.first
    }

    public func secretList() async throws -> [SecretInfo] {
        try await pool.query("SELECT name, created_at, updated_at FROM secrets ORDER BY name COLLATE \"C\"", []) {
            SecretInfo(name: $0.textValue(0), createdAt: $0.intValue(1), updatedAt: $0.intValue(2))
        }
    }

    public func secretDelete(name: String) async throws -> Bool {
        try await write { tx in try await tx.run("DELETE FROM secrets WHERE name = $1 RETURNING 1", [.text(name)]) == 1 }
    }

    package func secretDeleteAll() async throws -> Int {
        try await write { tx in
            let n = try await tx.run("DELETE FROM secrets RETURNING 1")
            try await tx.run("DELETE FROM settings WHERE key = $1 RETURNING 1", [.text(SecretVault.keyCheckSetting)])
            return n
        }
    }
}
