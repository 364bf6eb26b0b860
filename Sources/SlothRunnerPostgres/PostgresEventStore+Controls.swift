import SlothRunner

/// Storm-control state and skips in PostgreSQL (see `EventStoreDriver`): the compare-and-set
/// is one statement, so nodes racing on a group agree on who won.
extension PostgresEventStore: StormControlStore {
    package func skips(eventID: String) async throws -> [HookSkip] {
        try await pool.query(
            "SELECT event_id, hook_id, hook_name, reason, detail, related_event_id, at FROM hook_skips WHERE event_id = $1 ORDER BY hook_name COLLATE \"C\"",
            [.text(eventID)]
        ) { HookSkip(eventID: $0.textValue(0), hookID: $0.textValue(1), hookName: $0.textValue(2), reason: $0.textValue(3), detail: $0.textValue(4), relatedEventID: $0.text(5), at: $0.intValue(6)) }
    }

    static let controlColumns = "hook_id, control, group_key, value, version, expires_at, updated_at"

    static func controlState(from row: PGRow) -> ControlState {
        ControlState(
            hookID: row.textValue(0), control: row.textValue(1), group: row.textValue(2),
            value: (try? JSONValue.parse(row.textValue(3))) ?? .null, version: row.intValue(4), expiresAt: row.int(5), updatedAt: row.intValue(6))
    }

    package func controlState(hookID: String, control: String, group: String, now: Millis) async throws -> ControlState? {
        try await pool.query(
            "SELECT \(Self.controlColumns) FROM hook_controls WHERE hook_id = $1 AND control = $2 AND group_key = $3 AND (expires_at IS NULL OR expires_at > $4)",
            [.text(hookID), .text(control), .text(group), .int(now)], Self.controlState(from:)
        ).first
    }

    package func controlStateSwap(hookID: String, control: String, group: String, expected: Int64?, value: JSONValue?, expiresAt: Millis?, now: Millis) async throws -> Bool {
        try await write { tx in
            let key: [PGValue] = [.text(hookID), .text(control), .text(group)]
            switch (expected, value) {
            case (nil, nil):
                try await tx.run("DELETE FROM hook_controls WHERE hook_id = $1 AND control = $2 AND group_key = $3 AND expires_at <= $4 RETURNING 1", key + [.int(now)])
                return try await tx.query("SELECT 1 FROM hook_controls WHERE hook_id = $1 AND control = $2 AND group_key = $3", key) { _ in 1 }.isEmpty
            case (nil, let value?):
                return try await tx.run(
                    """
                    INSERT INTO hook_controls (\(Self.controlColumns)) VALUES ($1, $2, $3, $4, 1, $5, $6)
                    ON CONFLICT (hook_id, control, group_key) DO UPDATE SET value = excluded.value, version = hook_controls.version + 1,
                        expires_at = excluded.expires_at, updated_at = excluded.updated_at
                    WHERE hook_controls.expires_at IS NOT NULL AND hook_controls.expires_at <= $6
                    RETURNING 1
                    """, key + [.text(value.serialized()), .int(expiresAt), .int(now)]) == 1
            case (let version?, nil):
                return try await tx.run(
                    "DELETE FROM hook_controls WHERE hook_id = $1 AND control = $2 AND group_key = $3 AND version = $4 RETURNING 1", key + [.int(version)]) == 1
            case (let version?, let value?):
                return try await tx.run(
                    """
                    UPDATE hook_controls SET value = $4, version = version + 1, expires_at = $5, updated_at = $6
                    WHERE hook_id = $1 AND control = $2 AND group_key = $3 AND version = $7 AND (expires_at IS NULL OR expires_at > $6)
                    RETURNING 1
                    """, key + [.text(value.serialized()), .int(expiresAt), .int(now), .int(version)]) == 1
            }
        }
    }

    package func controlStates(hookID: String, now: Millis) async throws -> [ControlState] {
        try await pool.query(
            "SELECT \(Self.controlColumns) FROM hook_controls WHERE hook_id = $1 AND (expires_at IS NULL OR expires_at > $2) ORDER BY control, group_key COLLATE \"C\"",
            [.text(hookID), .int(now)], Self.controlState(from:))
    }

    package func pruneControlStates(now: Millis) async throws -> Int {
        try await write { tx in try await tx.run("DELETE FROM hook_controls WHERE expires_at <= $1 RETURNING 1", [.int(now)]) }
    }
}

/// The effect journal in PostgreSQL (see `EventStoreDriver`).
extension PostgresEventStore: EffectJournalStore {
    static let effectColumns = "event_id, hook_id, position, kind, fingerprint, summary, result, attempt, recorded_at, reused"

    static func effect(from row: PGRow) -> EffectRecord {
        EffectRecord(
            eventID: row.textValue(0), hookID: row.textValue(1), position: Int(row.intValue(2)), kind: row.textValue(3), fingerprint: row.textValue(4),
            summary: row.textValue(5), result: (try? JSONValue.parse(row.textValue(6))) ?? .null, attempt: Int(row.intValue(7)),
            recordedAt: row.intValue(8), reused: Int(row.intValue(9)))
    }

    package func effectJournal(eventID: String, hookID: String?) async throws -> [EffectRecord] {
        if let hookID {
            return try await pool.query(
                "SELECT \(Self.effectColumns) FROM effect_journal WHERE event_id = $1 AND hook_id = $2 ORDER BY position", [.text(eventID), .text(hookID)], Self.effect(from:))
        }
        return try await pool.query(
            "SELECT \(Self.effectColumns) FROM effect_journal WHERE event_id = $1 ORDER BY hook_id COLLATE \"C\", position", [.text(eventID)], Self.effect(from:))
    }

    package func recordEffect(_ r: EffectRecord) async throws {
        try await write { tx in
            try await tx.run(
                """
                INSERT INTO effect_journal (\(Self.effectColumns)) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,0)
                ON CONFLICT (event_id, hook_id, position) DO UPDATE SET kind = excluded.kind, fingerprint = excluded.fingerprint,
                    summary = excluded.summary, result = excluded.result, attempt = excluded.attempt, recorded_at = excluded.recorded_at, reused = 0
                RETURNING 1
                """,
                [.text(r.eventID), .text(r.hookID), .int(Int64(r.position)), .text(r.kind), .text(r.fingerprint), .text(r.summary),
                 .text(r.result.serialized()), .int(Int64(r.attempt)), .int(r.recordedAt)])
        }
    }

    package func noteEffectReused(eventID: String, hookID: String, position: Int) async throws {
        try await write { tx in
            try await tx.run(
                "UPDATE effect_journal SET reused = reused + 1 WHERE event_id = $1 AND hook_id = $2 AND position = $3 RETURNING 1",
                [.text(eventID), .text(hookID), .int(Int64(position))])
        }
    }
}
