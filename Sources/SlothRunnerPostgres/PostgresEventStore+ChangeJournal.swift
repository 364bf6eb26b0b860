import Foundation
import SlothRunner

/// The change journal in PostgreSQL (`GET /stream`), numbered in commit order across nodes.
extension PostgresEventStore: ChangeJournalStore {
    static let changeEventColumns = eventSelect.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        .map { $0 == "data::text" ? "'{}'" : "e." + $0 }.joined(separator: ", ")

    static let changeExecutionColumns = executionColumns.split(separator: ",").map { "x." + $0.trimmingCharacters(in: .whitespaces) }.joined(separator: ", ")

    package func changes(after seq: Int64, limit: Int) async throws -> [EventChange] {
        try await pool.query(
            """
            SELECT c.seq, c.at, c.event_id, c.status, c.execution_id, c.type, c.stack, \(Self.changeEventColumns), \(Self.changeExecutionColumns)
            FROM changes c
            LEFT JOIN events e ON e.id = c.event_id
            LEFT JOIN event_hook_executions x ON x.id = c.execution_id
            WHERE c.seq > $1 ORDER BY c.seq LIMIT $2
            """, [.int(seq), .int(limit)]
        ) { row in
            let event = row.text(7) == nil ? nil : try Self.event(from: row.shifted(by: 7))
            let execution = row.int(7 + Self.eventColumnCount) == nil ? nil : Self.execution(from: row.shifted(by: 7 + Self.eventColumnCount))
            return EventChange(
                journalSeq: row.intValue(0), at: row.intValue(1), eventID: row.textValue(2), status: row.text(3), executionID: row.int(4),
                type: row.text(5), stack: row.text(6), event: event, execution: execution)
        }
    }

    package func changeBounds() async throws -> (first: Int64?, last: Int64?) {
        guard let row = try await pool.rows("SELECT MIN(seq), MAX(seq) FROM changes", []).first else { return (nil, nil) }
        return (row.int(0), row.int(1))
    }

    package func pruneChanges(olderThan cutoff: Millis) async throws -> Int {
        var total = 0
        let batch = Self.deleteBatch * 10
        while true {
            let n = try await write { tx in
                // From the oldest number up, by the primary key: numbers follow commit time, so
                // the first entry not old enough ends the sweep (no index on `at` to keep up).
                try await tx.run(
                    """
                    WITH oldest AS (SELECT seq, at FROM changes ORDER BY seq LIMIT $2)
                    DELETE FROM changes WHERE seq IN (
                        SELECT seq FROM oldest WHERE at < $1 AND seq < (SELECT MAX(seq) FROM changes)
                        AND seq < COALESCE((SELECT MIN(seq) FROM oldest WHERE at >= $1), 9223372036854775807))
                    RETURNING 1
                    """, [.int(cutoff), .int(batch)])
            }
            total += n
            if n < batch { return total }
        }
    }
}
