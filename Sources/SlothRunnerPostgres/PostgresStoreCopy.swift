import Foundation
import SlothRunner

/// `sloth-runner db copy --to postgres://…`: a SQLite database moved into PostgreSQL — hooks with
/// their sources, events with their executions and retry state, shared state, sealed secrets
/// (with the key check: the nodes need the same key), settings, API tokens, webhooks, schedules
/// with their marks, checks, watches with their snapshots, storm-control state, skips and effect
/// journals. Table by table, a page at a time,
/// every row as it was (ids kept). The change journal and the node registry start afresh.
extension PostgresEventStore {
    /// What a copy moved, per table, in copy order.
    public struct CopyReport: Sendable {
        public var tables: [(table: String, rows: Int, skipped: Int)] = []
        public var total: Int { tables.reduce(0) { $0 + $1.rows } }
    }

    /// Tables in an order that satisfies the foreign keys, with the key a page is ordered by.
    static let copiedTables: [(name: String, order: String, condition: String?)] = [
        ("hooks", "id", nil), ("events", "id", nil), ("event_hook_executions", "id", nil), ("hook_attempts", "event_id, hook_id", nil),
        ("state", "stack, key", nil), ("secrets", "name", nil), ("settings", "key", nil), ("api_tokens", "name", nil),
        ("webhooks", "name", nil), ("schedules", "name", nil), ("checks", "name", nil), ("watches", "name", nil),
        ("watch_files", "watch, path", nil), ("meta", "key", "key LIKE 'watch_snapshot:%'"),
        ("hook_skips", "event_id, hook_id", nil), ("effect_journal", "event_id, hook_id, position", nil),
        ("hook_controls", "hook_id, control, group_key", nil),
    ]

    /// Rows already here that a copy would collide with (events, hooks, state, secrets, ...).
    public func holdsData() async throws -> Bool {
        for table in ["events", "hooks", "state", "secrets", "api_tokens", "webhooks", "schedules", "checks", "watches"] {
            if try await pool.scalarInt("SELECT 1 FROM \(table) LIMIT 1") != nil { return true }
        }
        return false
    }

    /// Copies every row of `source` here. Unless `allowNonEmpty`, a database already holding
    /// data is refused (nothing written); with it, rows whose key is taken stay as they are and
    /// are counted as skipped — so a copy cut short is finished by running it again.
    public func copy(from source: SQLiteEventStore, allowNonEmpty: Bool, pageSize: Int = 1000,
                     progress: @Sendable (String, Int) -> Void = { _, _ in }) async throws -> CopyReport {
        if !allowNonEmpty, try await holdsData() {
            throw SlothError.conflict("\(location) already holds sloth-runner data; copy into an empty database, or pass --allow-non-empty to add what is missing (rows already there are kept)")
        }
        var report = CopyReport()
        for (table, order, condition) in Self.copiedTables {
            let types = Dictionary(
                try await pool.query(
                    "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1",
                    [.text(table)]) { ($0.textValue(0), $0.textValue(1)) },
                uniquingKeysWith: { a, _ in a })
            let columns = try await source.exportColumns(of: table).filter { types[$0] != nil }
            guard !columns.isEmpty else { continue }
            let recordColumns = columns.map { "\($0) \(Self.recordType(types[$0]!))" }.joined(separator: ", ")
            let list = columns.joined(separator: ", ")
            var offset = 0, copied = 0, skipped = 0
            while true {
                let rows = try await source.exportRows(of: table, columns: columns, orderBy: order, offset: offset, limit: pageSize, where: condition)
                if rows.isEmpty { break }
                var set = PGRecordSet()
                for row in rows {
                    var text = "{"
                    for (i, value) in row.enumerated() {
                        if i > 0 { text += "," }
                        text += "\"" + columns[i] + "\":" + Self.json(value, as: types[columns[i]]!)
                    }
                    set.raw(text + "}")
                }
                let payload = set.json
                let inserted = try await write { tx in
                    try await tx.run(
                        "INSERT INTO \(table) (\(list)) SELECT \(list) FROM json_to_recordset($1::json) AS r(\(recordColumns)) ON CONFLICT DO NOTHING RETURNING 1",
                        [.text(payload)])
                }
                copied += inserted
                skipped += rows.count - inserted
                offset += rows.count
                progress(table, offset)
                if rows.count < pageSize { break }
            }
            report.tables.append((table, copied, skipped))
        }
        try await write { tx in
            // New executions number on from the copied ones; running nodes reload what changed.
            try await tx.run("SELECT setval('event_hook_executions_id_seq', GREATEST((SELECT COALESCE(MAX(id), 0) FROM event_hook_executions), 1))")
            try await tx.run("UPDATE meta SET value = value + 1 WHERE key IN ('hooks_version', 'schedules_version', 'checks_version', 'watches_version') RETURNING 1")
        }
        return report
    }

    /// The record type `json_to_recordset` reads a column as.
    static func recordType(_ dataType: String) -> String {
        switch dataType {
        case "bigint", "integer", "boolean", "jsonb", "text": return dataType
        default: return "text"
        }
    }

    /// A SQLite cell as JSON for a column of `dataType`: flags as booleans, JSON text embedded
    /// as JSON (an event's data, a hook's permissions), the rest as it is.
    static func json(_ value: SQLiteEventStore.ExportValue, as dataType: String) -> String {
        switch (value, dataType) {
        case (.null, _): return "null"
        case (.int(let i), "boolean"): return i != 0 ? "true" : "false"
        case (.int(let i), "text"): return JSONValue.string(String(i)).serialized()
        case (.int(let i), _): return String(i)
        case (.double(let d), _): return JSONValue.double(d).serialized()
        case (.text(let t), "jsonb"): return (try? JSONValue.parse(t)) != nil ? t : JSONValue.string(t).serialized()
        case (.text(let t), "bigint"), (.text(let t), "integer"): return Int64(t).map(String.init) ?? "null"
        case (.text(let t), "boolean"): return (t == "1" || t == "true") ? "true" : "false"
        case (.text(let t), _): return JSONValue.string(t).serialized()
        }
    }
}
