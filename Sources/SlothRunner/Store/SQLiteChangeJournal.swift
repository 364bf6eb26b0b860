import Foundation

/// The change journal in SQLite (`GET /stream`): rows written by the store's own statements, read
/// with the event as it is now.
extension SQLiteEventStore: ChangeJournalStore {
    /// The event's columns for a journal entry, without its data (parsing up to 1 MiB per entry
    /// would be the whole cost of a busy stream; a live view shows state, not payloads).
    static let changeEventColumns = eventColumns.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        .map { $0 == "data" ? "'{}'" : "e." + $0 }.joined(separator: ", ")

    static let changeExecutionColumns = executionColumns.split(separator: ",").map { "x." + $0.trimmingCharacters(in: .whitespaces) }
        .joined(separator: ", ")

    package func changes(after seq: Int64, limit: Int) async throws -> [EventChange] {
        try await reader.perform { db in
            try db.query(
                """
                SELECT c.seq, c.at, c.event_id, c.status, c.execution_id, c.type, c.stack, \(Self.changeEventColumns), \(Self.changeExecutionColumns)
                FROM changes c
                LEFT JOIN events e ON e.id = c.event_id
                LEFT JOIN event_hook_executions x ON x.id = c.execution_id
                WHERE c.seq > ? ORDER BY c.seq LIMIT ?
                """, [.int(seq), .int(Int64(limit))]
            ) { row throws(SlothError) in
                let event = row.text(7) == nil ? nil : try Self.event(from: row.shifted(by: 7))
                let execution = row.int(7 + Self.eventColumnCount) == nil ? nil : Self.execution(from: row.shifted(by: 7 + Self.eventColumnCount))
                return EventChange(
                    journalSeq: row.intValue(0), at: row.intValue(1), eventID: row.textValue(2), status: row.text(3), executionID: row.int(4),
                    type: row.text(5), stack: row.text(6), event: event, execution: execution)
            }
        }
    }

    package func changeBounds() async throws -> (first: Int64?, last: Int64?) {
        try await reader.perform { db in
            let first = try db.scalarInt("SELECT MIN(seq) FROM changes")
            let last = try db.scalarInt("SELECT MAX(seq) FROM changes")
            return (first, last)
        }
    }

    package func pruneChanges(olderThan cutoff: Millis) async throws -> Int {
        var total = 0
        while true {
            // In batches, like event cleanup, so a dispatch never waits behind a long delete.
            let n = try await writer.perform { db in
                try db.run(
                    "DELETE FROM changes WHERE seq IN (SELECT seq FROM changes WHERE at < ? AND seq < (SELECT MAX(seq) FROM changes) ORDER BY seq LIMIT ?)",
                    [.int(cutoff), .int(Int64(Self.deleteBatch * 10))])
            }
            total += n
            if n < Self.deleteBatch * 10 { return total }
        }
    }
}
