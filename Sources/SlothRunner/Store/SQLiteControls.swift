/// Storm-control state and skips in SQLite (see `EventStoreDriver`).
extension SQLiteEventStore: StormControlStore {
    package func skips(eventID: String) async throws -> [HookSkip] {
        try await readerPerform { db in
            try db.query(
                "SELECT event_id, hook_id, hook_name, reason, detail, related_event_id, at FROM hook_skips WHERE event_id = ? ORDER BY hook_name",
                [.text(eventID)]
            ) { HookSkip(eventID: $0.textValue(0), hookID: $0.textValue(1), hookName: $0.textValue(2), reason: $0.textValue(3), detail: $0.textValue(4), relatedEventID: $0.text(5), at: $0.intValue(6)) }
        }
    }

    static let controlColumns = "hook_id, control, group_key, value, version, expires_at, updated_at"

    static func controlState(from row: SQLiteConnection.Row) -> ControlState {
        ControlState(
            hookID: row.textValue(0), control: row.textValue(1), group: row.textValue(2),
            value: (try? JSONValue.parse(row.textValue(3))) ?? .null, version: row.intValue(4), expiresAt: row.int(5), updatedAt: row.intValue(6))
    }

    package func controlState(hookID: String, control: String, group: String, now: Millis) async throws -> ControlState? {
        try await readerPerform { db in
            try db.query(
                "SELECT \(Self.controlColumns) FROM hook_controls WHERE hook_id = ? AND control = ? AND group_key = ? AND (expires_at IS NULL OR expires_at > ?)",
                [.text(hookID), .text(control), .text(group), .int(now)], Self.controlState(from:)
            ).first
        }
    }

    package func controlStateSwap(hookID: String, control: String, group: String, expected: Int64?, value: JSONValue?, expiresAt: Millis?, now: Millis) async throws -> Bool {
        try await writerPerform { db in
            let key: [SQLValue] = [.text(hookID), .text(control), .text(group)]
            switch (expected, value) {
            case (nil, nil):
                try db.run("DELETE FROM hook_controls WHERE hook_id = ? AND control = ? AND group_key = ? AND expires_at <= ?", key + [.int(now)])
                return try db.scalarInt("SELECT 1 FROM hook_controls WHERE hook_id = ? AND control = ? AND group_key = ?", key) == nil
            case (nil, let value?):
                // Absent, or expired: an expired row is taken over in the same statement.
                return try db.run(
                    """
                    INSERT INTO hook_controls (\(Self.controlColumns)) VALUES (?, ?, ?, ?, 1, ?, ?)
                    ON CONFLICT (hook_id, control, group_key) DO UPDATE SET value = excluded.value, version = hook_controls.version + 1,
                        expires_at = excluded.expires_at, updated_at = excluded.updated_at
                    WHERE hook_controls.expires_at IS NOT NULL AND hook_controls.expires_at <= ?
                    """, key + [.text(value.serialized()), Self.optionalInt(expiresAt), .int(now), .int(now)]) == 1
            case (let version?, nil):
                return try db.run(
                    "DELETE FROM hook_controls WHERE hook_id = ? AND control = ? AND group_key = ? AND version = ?", key + [.int(version)]) == 1
            case (let version?, let value?):
                return try db.run(
                    """
                    UPDATE hook_controls SET value = ?, version = version + 1, expires_at = ?, updated_at = ?
                    WHERE hook_id = ? AND control = ? AND group_key = ? AND version = ? AND (expires_at IS NULL OR expires_at > ?)
                    """, [.text(value.serialized()), Self.optionalInt(expiresAt), .int(now)] + key + [.int(version), .int(now)]) == 1
            }
        }
    }

    package func controlStates(hookID: String, now: Millis) async throws -> [ControlState] {
        try await readerPerform { db in
            try db.query(
                "SELECT \(Self.controlColumns) FROM hook_controls WHERE hook_id = ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY control, group_key",
                [.text(hookID), .int(now)], Self.controlState(from:))
        }
    }

    package func pruneControlStates(now: Millis) async throws -> Int {
        try await writerPerform { db in try db.run("DELETE FROM hook_controls WHERE expires_at <= ?", [.int(now)]) }
    }
}

/// The effect journal in SQLite (see `EventStoreDriver`).
extension SQLiteEventStore: EffectJournalStore {
    static let effectColumns = "event_id, hook_id, position, kind, fingerprint, summary, result, attempt, recorded_at, reused"

    static func effect(from row: SQLiteConnection.Row) -> EffectRecord {
        EffectRecord(
            eventID: row.textValue(0), hookID: row.textValue(1), position: Int(row.intValue(2)), kind: row.textValue(3), fingerprint: row.textValue(4),
            summary: row.textValue(5), result: (try? JSONValue.parse(row.textValue(6))) ?? .null, attempt: Int(row.intValue(7)),
            recordedAt: row.intValue(8), reused: Int(row.intValue(9)))
    }

    package func effectJournal(eventID: String, hookID: String?) async throws -> [EffectRecord] {
        try await readerPerform { db in
            try db.query(
                "SELECT \(Self.effectColumns) FROM effect_journal WHERE event_id = ? AND (? IS NULL OR hook_id = ?) ORDER BY hook_id, position",
                [.text(eventID), Self.optionalText(hookID), Self.optionalText(hookID)], Self.effect(from:))
        }
    }

    package func recordEffect(_ r: EffectRecord) async throws {
        try await writerPerform { db in
            try db.run(
                """
                INSERT INTO effect_journal (\(Self.effectColumns)) VALUES (?,?,?,?,?,?,?,?,?,0)
                ON CONFLICT (event_id, hook_id, position) DO UPDATE SET kind = excluded.kind, fingerprint = excluded.fingerprint,
                    summary = excluded.summary, result = excluded.result, attempt = excluded.attempt, recorded_at = excluded.recorded_at, reused = 0
                """,
                [.text(r.eventID), .text(r.hookID), .int(Int64(r.position)), .text(r.kind), .text(r.fingerprint), .text(r.summary),
                 .text(r.result.serialized()), .int(Int64(r.attempt)), .int(r.recordedAt)])
        }
    }

    package func noteEffectReused(eventID: String, hookID: String, position: Int) async throws {
        try await writerPerform { db in
            try db.run("UPDATE effect_journal SET reused = reused + 1 WHERE event_id = ? AND hook_id = ? AND position = ?", [.text(eventID), .text(hookID), .int(Int64(position))])
        }
    }
}
