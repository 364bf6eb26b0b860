/// Shared state in SQLite: one writer thread, so `incr` and `compare_and_set` are atomic by
/// running read and write in one of its transactions.
extension SQLiteEventStore: SharedStateStore, AtomicStateStore {
    private static func currentState(_ db: SQLiteConnection, _ stack: String, _ key: String, _ now: Millis) throws(SlothError) -> JSONValue? {
        let text = try db.query(
            "SELECT value FROM state WHERE stack = ? AND key = ? AND (expires_at IS NULL OR expires_at > ?)",
            [.text(stack), .text(key), .int(now)]) { $0.textValue(0) }.first
        guard let text else { return nil }
        do { return try JSONValue.parse(text) } catch { throw .storage("state \(key) holds unreadable JSON: \(error)") }
    }

    private static func writeState(_ db: SQLiteConnection, _ stack: String, _ key: String, _ value: JSONValue, _ expiresAt: Millis?, _ now: Millis) throws(SlothError) {
        try db.run(
            """
            INSERT INTO state (stack, key, value, expires_at, updated_at) VALUES (?,?,?,?,?)
            ON CONFLICT(stack, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at, updated_at = excluded.updated_at
            """, [.text(stack), .text(key), .text(value.serialized()), optionalInt(expiresAt), .int(now)])
    }

    public func stateGet(stack: String, key: String, now: Millis) async throws -> JSONValue? {
        try await reader.perform { db in try Self.currentState(db, stack, key, now) }
    }

    public func stateSet(stack: String, key: String, value: JSONValue, expiresAt: Millis?, now: Millis) async throws {
        try await writer.perform { db in try Self.writeState(db, stack, key, value, expiresAt, now) }
    }

    public func stateDelete(stack: String, key: String) async throws -> Bool {
        try await writer.perform { db in try db.run("DELETE FROM state WHERE stack = ? AND key = ?", [.text(stack), .text(key)]) == 1 }
    }

    package func stateIncrement(stack: String, key: String, by: Int64, now: Millis) async throws -> Int64 {
        try await writer.perform { db in
            let sum = try StateIncrement.sum(try Self.currentState(db, stack, key, now), by: by, key: key)
            try Self.writeState(db, stack, key, .int(sum), nil, now)
            return sum
        }
    }

    package func stateCompareAndSet(stack: String, key: String, expected: JSONValue?, value: JSONValue, expiresAt: Millis?, now: Millis) async throws -> Bool {
        try await writer.perform { db in
            let current = try Self.currentState(db, stack, key, now)
            guard current == expected else { return false }
            try Self.writeState(db, stack, key, value, expiresAt, now)
            return true
        }
    }

    public func stateEntries(stack: String?, prefix: String, now: Millis) async throws -> [StateEntry] {
        try await reader.perform { db in
            let rows = try db.query(
                """
                SELECT stack, key, value, expires_at, updated_at FROM state
                WHERE (?1 IS NULL OR stack = ?1) AND substr(key, 1, length(?2)) = ?2 AND (expires_at IS NULL OR expires_at > ?3)
                ORDER BY stack, key LIMIT 10000
                """, [Self.optionalText(stack), .text(prefix), .int(now)]
            ) { ($0.textValue(0), $0.textValue(1), $0.textValue(2), $0.int(3), $0.intValue(4)) }
            return rows.map { r in
                StateEntry(stack: r.0, key: r.1, value: (try? JSONValue.parse(r.2)) ?? .string(r.2), expiresAt: r.3, updatedAt: r.4)
            }
        }
    }

    package func pruneExpiredState(now: Millis) async throws -> Int {
        try await writer.perform { db in try db.run("DELETE FROM state WHERE expires_at IS NOT NULL AND expires_at <= ?", [.int(now)]) }
    }
}
