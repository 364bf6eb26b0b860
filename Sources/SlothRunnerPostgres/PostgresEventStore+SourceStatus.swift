import Foundation
import SlothRunner

/// What the daemon's event sources report, in PostgreSQL.
extension PostgresEventStore: SourceStatusStore {
    package func sourceStatusReplace(_ statuses: [SourceStatus]) async throws {
        try await write { tx in
            try await tx.run("DELETE FROM source_status RETURNING 1")
            for s in statuses {
                try await tx.run(
                    "INSERT INTO source_status (name, kind, state, error, last_event_at, last_event_type, emitted, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8) RETURNING 1",
                    [.text(s.name), .text(s.kind), .text(s.state.rawValue), .text(s.error), .int(s.lastEventAt), .text(s.lastEventType), .int(s.emitted), .int(s.updatedAt)])
            }
        }
    }

    package func sourceStatusList() async throws -> [SourceStatus] {
        try await pool.query("SELECT name, kind, state, error, last_event_at, last_event_type, emitted, updated_at FROM source_status ORDER BY name COLLATE \"C\"", []) { row in
            SourceStatus(
                name: row.textValue(0), kind: row.textValue(1), state: SourceStatus.State(rawValue: row.textValue(2)) ?? .stopped,
                error: row.text(3), lastEventAt: row.int(4), lastEventType: row.text(5), emitted: row.intValue(6), updatedAt: row.intValue(7))
        }
    }
}
