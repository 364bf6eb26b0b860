/// What the daemon's event sources report, in SQLite (`sloth-runner sources` reads it from
/// another process).
extension SQLiteEventStore: SourceStatusStore {
    package func sourceStatusReplace(_ statuses: [SourceStatus]) async throws {
        try await writer.perform { db in
            try db.run("DELETE FROM source_status")
            for s in statuses {
                try db.run(
                    "INSERT INTO source_status (name, kind, state, error, last_event_at, last_event_type, emitted, updated_at) VALUES (?,?,?,?,?,?,?,?)",
                    [.text(s.name), .text(s.kind), .text(s.state.rawValue), Self.optionalText(s.error), Self.optionalInt(s.lastEventAt),
                     Self.optionalText(s.lastEventType), .int(s.emitted), .int(s.updatedAt)])
            }
        }
    }

    package func sourceStatusList() async throws -> [SourceStatus] {
        try await reader.perform { db in
            try db.query("SELECT name, kind, state, error, last_event_at, last_event_type, emitted, updated_at FROM source_status ORDER BY name", []) { row in
                SourceStatus(
                    name: row.textValue(0), kind: row.textValue(1), state: SourceStatus.State(rawValue: row.textValue(2)) ?? .stopped,
                    error: row.text(3), lastEventAt: row.int(4), lastEventType: row.text(5), emitted: row.intValue(6), updatedAt: row.intValue(7))
            }
        }
    }
}
