import Foundation
import SlothRunner

/// Shared state in PostgreSQL: `incr` and `compare_and_set` take a transaction-level advisory lock
/// on the key, so two nodes creating one key do not both read "absent".
extension PostgresEventStore: SharedStateStore, AtomicStateStore {
    private static func currentState(_ ex: some PGExecutor, _ stack: String, _ key: String, _ now: Millis, lock: Bool) async throws -> JSONValue? {
        let text = try await ex.query(
            "SELECT value::text FROM state WHERE stack = $1 AND key = $2 AND (expires_at IS NULL OR expires_at > $3)\(lock ? " FOR UPDATE" : "")",
            [.text(stack), .text(key), .int(now)]) { $0.textValue(0) }.first
        guard let text else { return nil }
        do { return try JSONValue.parse(text) } catch { throw SlothError.storage("state \(key) holds unreadable JSON: \(error)") }
    }

    private static func writeState(_ tx: PGTransaction, _ stack: String, _ key: String, _ value: JSONValue, _ expiresAt: Millis?, _ now: Millis) async throws {
        try await tx.run(
            """
            INSERT INTO state (stack, key, value, expires_at, updated_at) VALUES ($1,$2,$3::jsonb,$4,$5)
            ON CONFLICT (stack, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at, updated_at = excluded.updated_at
            RETURNING 1
            """, [.text(stack), .text(key), .text(value.serialized()), .int(expiresAt), .int(now)])
    }

    /// Takes the key's row lock even when the row does not exist yet, so two nodes' `incr` or
    /// `compare_and_set` of a new key serialise instead of both reading "absent".
    private static func lockKey(_ tx: PGTransaction, _ stack: String, _ key: String) async throws {
        try await tx.run("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [.text(stack + "\u{1}" + key)])
    }

    public func stateGet(stack: String, key: String, now: Millis) async throws -> JSONValue? {
        try await Self.currentState(pool, stack, key, now, lock: false)
    }

    public func stateSet(stack: String, key: String, value: JSONValue, expiresAt: Millis?, now: Millis) async throws {
        try await write { tx in try await Self.writeState(tx, stack, key, value, expiresAt, now) }
    }

    public func stateDelete(stack: String, key: String) async throws -> Bool {
        try await write { tx in try await tx.run("DELETE FROM state WHERE stack = $1 AND key = $2 RETURNING 1", [.text(stack), .text(key)]) == 1 }
    }

    package func stateIncrement(stack: String, key: String, by: Int64, now: Millis) async throws -> Int64 {
        try await write { tx in
            try await Self.lockKey(tx, stack, key)
            let sum = try StateIncrement.sum(try await Self.currentState(tx, stack, key, now, lock: true), by: by, key: key)
            try await Self.writeState(tx, stack, key, .int(sum), nil, now)
            return sum
        }
    }

    package func stateCompareAndSet(stack: String, key: String, expected: JSONValue?, value: JSONValue, expiresAt: Millis?, now: Millis) async throws -> Bool {
        try await write { tx in
            try await Self.lockKey(tx, stack, key)
            let current = try await Self.currentState(tx, stack, key, now, lock: true)
            guard current == expected else { return false }
            try await Self.writeState(tx, stack, key, value, expiresAt, now)
            return true
        }
    }

    public func stateEntries(stack: String?, prefix: String, now: Millis) async throws -> [StateEntry] {
        let rows = try await pool.query(
            """
            SELECT stack, key, value::text, expires_at, updated_at FROM state
            WHERE ($1::text IS NULL OR stack = $1) AND left(key, length($2)) = $2 AND (expires_at IS NULL OR expires_at > $3)
            ORDER BY stack COLLATE "C", key COLLATE "C" LIMIT 10000
            """, [.text(stack), .text(prefix), .int(now)]
        ) { ($0.textValue(0), $0.textValue(1), $0.textValue(2), $0.int(3), $0.intValue(4)) }
        return rows.map { r in
            StateEntry(stack: r.0, key: r.1, value: (try? JSONValue.parse(r.2)) ?? .string(r.2), expiresAt: r.3, updatedAt: r.4)
        }
    }

    package func pruneExpiredState(now: Millis) async throws -> Int {
        try await write { tx in try await tx.run("DELETE FROM state WHERE expires_at IS NOT NULL AND expires_at <= $1 RETURNING 1", [.int(now)]) }
    }
}
