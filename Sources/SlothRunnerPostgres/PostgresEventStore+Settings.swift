import Foundation
import SlothRunner

/// The store's own settings in PostgreSQL.
extension PostgresEventStore: StoreSettings {
    package func setting(_ key: String) async throws -> String? {
        try await pool.query("SELECT value FROM settings WHERE key = $1", [.text(key)]) { $0.textValue(0) }.first
    }

    package func setSettingIfAbsent(_ key: String, value: String) async throws -> String {
        try await write { tx in
            try await tx.run("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING RETURNING 1", [.text(key), .text(value)])
            return try await tx.query("SELECT value FROM settings WHERE key = $1", [.text(key)]) { $0.textValue(0) }.first ?? value
        }
    }

    package func setSetting(_ key: String, value: String) async throws {
        try await write { tx in
            try await tx.run("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value RETURNING 1", [.text(key), .text(value)])
        }
    }
}
