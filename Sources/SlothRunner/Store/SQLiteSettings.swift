/// The store's own settings in SQLite.
extension SQLiteEventStore: StoreSettings {
    package func setting(_ key: String) async throws -> String? {
        try await reader.perform { db in
            try db.query("SELECT value FROM settings WHERE key = ?", [.text(key)]) { $0.textValue(0) }.first
        }
    }

    package func setSettingIfAbsent(_ key: String, value: String) async throws -> String {
        try await writer.perform { db in
            try db.run("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING", [.text(key), .text(value)])
            return try db.query("SELECT value FROM settings WHERE key = ?", [.text(key)]) { $0.textValue(0) }.first ?? value
        }
    }

    package func setSetting(_ key: String, value: String) async throws {
        _ = try await writer.perform { db in
            try db.run("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", [.text(key), .text(value)])
        }
    }
}
