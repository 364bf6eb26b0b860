import Foundation
import SlothRunner

/// The hook registry in PostgreSQL, and the versions every catalog change bumps (hooks, schedules,
/// checks, watches), which running nodes poll cheaply.
extension PostgresEventStore: HookRegistryStore, VersionedHookRegistry {
    static let hookColumns = "id, name, description, event_type, file_path, stack, enabled, created_at, updated_at, last_run, run_count, source, source_hash, timeout_ms, memory_limit_bytes, instruction_limit, max_attempts, retry_delay_ms, permissions, filter, nodes, controls"

    static let hookSelect = hookColumns.replacingOccurrences(of: "permissions, filter", with: "permissions::text, filter::text")

    static func hook(from row: PGRow) -> Hook {
        let permissions = row.text(18).flatMap { try? JSONValue.parse($0) }.flatMap { try? HookPermissions.parse($0) }
        let filter = row.text(19).flatMap { try? JSONValue.parse($0) }.flatMap { try? DataFilter.parse($0) }
        return Hook(
            id: row.textValue(0), name: row.textValue(1), description: row.text(2),
            eventTypes: row.textValue(3).split(separator: ",").map(String.init), filePath: row.textValue(4),
            stack: row.text(5), enabled: row.bool(6), createdAt: row.intValue(7), updatedAt: row.intValue(8),
            lastRun: row.int(9), runCount: Int(row.intValue(10)), source: row.textValue(11), sourceHash: row.textValue(12),
            limits: HookLimits(timeoutMillis: row.intValue(13), memoryBytes: Int(row.intValue(14)), instructions: row.intValue(15)),
            maxAttempts: Int(row.intValue(16)), retryDelayMillis: row.intValue(17), permissions: permissions, filter: filter,
            nodeTags: Hook.tags(stored: row.text(20)), controls: HookControls.stored(row.text(21)))
    }

    /// Bumps one of the catalog versions (`hooks_version`, `schedules_version`, …) in the
    /// change's transaction.
    static func bumpVersion(_ key: String, _ tx: PGTransaction) async throws {
        try await tx.run("UPDATE meta SET value = value + 1 WHERE key = $1 RETURNING 1", [.text(key)])
    }

    func version(_ key: String) async throws -> Int64 {
        try await pool.scalarInt("SELECT value FROM meta WHERE key = $1", [.text(key)]) ?? 0
    }

    public func addHook(_ hook: Hook) async throws {
        try await write { tx in
            let inserted = try await tx.run(
                """
                INSERT INTO hooks (\(Self.hookColumns)) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19::jsonb,$20::jsonb,$21,$22)
                ON CONFLICT (name) DO NOTHING RETURNING 1
                """,
                [.text(hook.id), .text(hook.name), .text(hook.description), .text(hook.eventTypeText), .text(hook.filePath), .text(hook.stack),
                 .bool(hook.enabled), .int(hook.createdAt), .int(hook.updatedAt), .int(hook.lastRun), .int(hook.runCount),
                 .text(hook.source), .text(hook.sourceHash), .int(hook.limits.timeoutMillis), .int(hook.limits.memoryBytes),
                 .int(hook.limits.instructions), .int(hook.maxAttempts), .int(hook.retryDelayMillis),
                 .text(hook.permissions?.json.serialized()), .text(hook.filter?.json.serialized()), .text(Hook.storedTags(hook.nodeTags)),
                 .text(hook.controls.storedText)])
            guard inserted == 1 else {
                throw SlothError.conflict("a hook named '\(hook.name)' is already registered; use `sloth-runner hook update \(hook.name) FILE` to change it, or pick another --name")
            }
            try await Self.bumpVersion("hooks_version", tx)
        }
    }

    public func replaceHook(_ hook: Hook) async throws {
        try await write { tx in
            let changed = try await tx.run(
                """
                UPDATE hooks SET description = $1, event_type = $2, file_path = $3, stack = $4, enabled = $5, updated_at = $6, source = $7,
                    source_hash = $8, timeout_ms = $9, memory_limit_bytes = $10, instruction_limit = $11, max_attempts = $12, retry_delay_ms = $13,
                    permissions = $14::jsonb, filter = $15::jsonb, nodes = $17, controls = $18
                WHERE id = $16 RETURNING 1
                """,
                [.text(hook.description), .text(hook.eventTypeText), .text(hook.filePath), .text(hook.stack), .bool(hook.enabled), .int(hook.updatedAt),
                 .text(hook.source), .text(hook.sourceHash), .int(hook.limits.timeoutMillis), .int(hook.limits.memoryBytes),
                 .int(hook.limits.instructions), .int(hook.maxAttempts), .int(hook.retryDelayMillis),
                 .text(hook.permissions?.json.serialized()), .text(hook.filter?.json.serialized()), .text(hook.id),
                 .text(Hook.storedTags(hook.nodeTags)), .text(hook.controls.storedText)])
            guard changed == 1 else { throw SlothError.notFound("no hook with id \(hook.id)") }
            try await Self.bumpVersion("hooks_version", tx)
        }
    }

    public func setHookEnabled(name: String, enabled: Bool) async throws {
        try await write { tx in
            let changed = try await tx.run("UPDATE hooks SET enabled = $1, updated_at = $2 WHERE name = $3 RETURNING 1", [.bool(enabled), .int(nowMillis()), .text(name)])
            guard changed == 1 else { throw SlothError.notFound("no hook named '\(name)' (see `sloth-runner hook list`)") }
            try await Self.bumpVersion("hooks_version", tx)
        }
    }

    public func removeHook(name: String) async throws {
        try await write { tx in
            let changed = try await tx.run("DELETE FROM hooks WHERE name = $1 RETURNING 1", [.text(name)])
            guard changed == 1 else { throw SlothError.notFound("no hook named '\(name)' (see `sloth-runner hook list`)") }
            try await Self.bumpVersion("hooks_version", tx)
        }
    }

    public func hook(named name: String) async throws -> Hook? {
        try await pool.query("SELECT \(Self.hookSelect) FROM hooks WHERE name = $1", [.text(name)], Self.hook(from:)).first
    }

    public func listHooks(_ filter: HookFilter) async throws -> [Hook] {
        let all = try await pool.query("SELECT \(Self.hookSelect) FROM hooks ORDER BY name COLLATE \"C\"", [], Self.hook(from:))
        return all.filter { h in
            if let s = filter.stack, h.stack != s { return false }
            if let e = filter.enabled, h.enabled != e { return false }
            if let t = filter.eventType, !h.eventTypes.contains(t) && !h.matches(type: t, stack: h.stack) { return false }
            return true
        }
    }

    package func hooksVersion() async throws -> Int64 { try await version("hooks_version") }

    public func hookHistory(hookID: String, limit: Int, failedOnly: Bool) async throws -> [HookExecution] {
        try await pool.query(
            "SELECT \(Self.executionColumns) FROM event_hook_executions WHERE hook_id = $1 \(failedOnly ? "AND NOT success" : "") ORDER BY executed_at DESC, id DESC LIMIT $2",
            [.text(hookID), .int(limit)], Self.execution(from:))
    }

    public func hookStats(hookID: String) async throws -> HookStats {
        let runs = try await pool.query(
            "SELECT success, duration_ms FROM event_hook_executions WHERE hook_id = $1 ORDER BY executed_at DESC LIMIT $2",
            [.text(hookID), .int(HookStats.window)]) { ($0.bool(0), $0.intValue(1)) }
        let durations = runs.map(\.1).sorted()
        func percentile(_ p: Double) -> Int64? {
            durations.isEmpty ? nil : durations[Int((Double(durations.count - 1) * p).rounded(.down))]
        }
        return HookStats(executions: runs.count, successes: runs.filter(\.0).count, p50Millis: percentile(0.5), p95Millis: percentile(0.95))
    }
}
