import Foundation
import SlothRunner

/// What `bench` measures of PostgreSQL itself.
extension PostgresEventStore {
    /// Inserts `rows` events, each with one execution row, `batch` per transaction, into the
    /// store's own tables (under a hook of its own, removed after); returns events per second.
    package func rawInsertRate(rows: Int, batch: Int) async throws -> Double {
        let hookID = "raw-" + UUID().uuidString.lowercased()
        let now = nowMillis()
        try await write { tx in
            try await tx.run(
                """
                INSERT INTO hooks (id, name, event_type, file_path, created_at, updated_at, source, source_hash, timeout_ms, memory_limit_bytes, instruction_limit, max_attempts, retry_delay_ms)
                VALUES ($1, $1, 'raw.event', 'raw.lua', $2, $2, 'return {}', 'h', 1000, 1, 1, 1, 1000) RETURNING 1
                """, [.text(hookID), .int(now)])
        }
        let t0 = monotonicSeconds()
        var done = 0
        while done < rows {
            let n = min(batch, rows - done)
            var events = PGRecordSet(), runs = PGRecordSet()
            for i in 0..<n {
                let id = EventID.make(millis: now + Int64(done + i))
                events.row([
                    "id": .text(id), "type": .text("raw.event"), "data": .json(#"{"seq":\#(done + i),"payload":"benchmark"}"#), "status": .text("completed"),
                    "timestamp": .int(now), "created_at": .int(now), "processed_at": .int(now), "attempts": .int(1), "next_run_at": .int(now),
                    "chain_depth": .int(0),
                ])
                runs.row([
                    "event_id": .text(id), "hook_id": .text(hookID), "hook_name": .text(hookID), "success": .bool(true), "output": .text(""),
                    "duration_ms": .int(0), "executed_at": .int(now), "attempt": .int(1),
                ])
            }
            let (e, r) = (events.json, runs.json)
            try await pool.withConnection { c in
                try await c.rows("BEGIN", [])
                try await c.rows(
                    """
                    INSERT INTO events (id, type, data, status, timestamp, created_at, processed_at, attempts, next_run_at, chain_depth)
                    SELECT id, type, data, status, timestamp, created_at, processed_at, attempts, next_run_at, chain_depth
                    FROM json_to_recordset($1::json) AS r(id text, type text, data jsonb, status text, timestamp bigint, created_at bigint, processed_at bigint, attempts int, next_run_at bigint, chain_depth int)
                    """, [.text(e)])
                try await c.rows(
                    """
                    INSERT INTO event_hook_executions (event_id, hook_id, hook_name, success, output, duration_ms, executed_at, attempt)
                    SELECT event_id, hook_id, hook_name, success, output, duration_ms, executed_at, attempt
                    FROM json_to_recordset($1::json) AS r(event_id text, hook_id text, hook_name text, success boolean, output text, duration_ms bigint, executed_at bigint, attempt int)
                    """, [.text(r)])
                try await c.rows("COMMIT", [])
            }
            done += n
        }
        let elapsed = monotonicSeconds() - t0
        _ = try? await write { tx in try await tx.run("DELETE FROM hooks WHERE id = $1 RETURNING 1", [.text(hookID)]) }
        return Double(rows) / elapsed
    }

    /// Drops the schema this store was opened in (the bench's own, never `public`).
    package func dropOwnSchema(_ schema: String) async throws {
        guard location.schema == schema, schema.hasPrefix("bench_") else { throw SlothError.invalidInput("refusing to drop schema \(schema)") }
        _ = try await pool.rows("DROP SCHEMA \(schema) CASCADE", [])
    }
}
