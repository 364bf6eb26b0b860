/// The hook registry in SQLite: hooks with their source, their runs' record, and a version every
/// change bumps (a running engine reloads only when it moved).
extension SQLiteEventStore: HookRegistryStore, VersionedHookRegistry {
    static let hookColumns = "id, name, description, event_type, file_path, stack, enabled, created_at, updated_at, last_run, run_count, source, source_hash, timeout_ms, memory_limit_bytes, instruction_limit, max_attempts, retry_delay_ms, permissions, filter, nodes, controls"

    static func hook(from row: SQLiteConnection.Row) -> Hook {
        let permissions = row.text(18).flatMap { try? JSONValue.parse($0) }.flatMap { try? HookPermissions.parse($0) }
        let filter = row.text(19).flatMap { try? JSONValue.parse($0) }.flatMap { try? DataFilter.parse($0) }
        return Hook(
            id: row.textValue(0), name: row.textValue(1), description: row.text(2),
            eventTypes: row.textValue(3).split(separator: ",").map(String.init), filePath: row.textValue(4),
            stack: row.text(5), enabled: row.intValue(6) != 0, createdAt: row.intValue(7), updatedAt: row.intValue(8),
            lastRun: row.int(9), runCount: Int(row.intValue(10)), source: row.textValue(11), sourceHash: row.textValue(12),
            limits: HookLimits(timeoutMillis: row.intValue(13), memoryBytes: Int(row.intValue(14)), instructions: row.intValue(15)),
            maxAttempts: Int(row.intValue(16)), retryDelayMillis: row.intValue(17), permissions: permissions,
            filter: filter, nodeTags: Hook.tags(stored: row.text(20)), controls: HookControls.stored(row.text(21)))
    }

    private static func bumpHooksVersion(_ db: SQLiteConnection) throws(SlothError) {
        try db.run("UPDATE meta SET value = value + 1 WHERE key = 'hooks_version'")
    }

    private static func hookArgs(_ h: Hook) -> [SQLValue] {
        [.text(h.id), .text(h.name), optionalText(h.description), .text(h.eventTypeText), .text(h.filePath), optionalText(h.stack),
         .int(h.enabled ? 1 : 0), .int(h.createdAt), .int(h.updatedAt), optionalInt(h.lastRun), .int(Int64(h.runCount)),
         .text(h.source), .text(h.sourceHash), .int(h.limits.timeoutMillis), .int(Int64(h.limits.memoryBytes)),
         .int(h.limits.instructions), .int(Int64(h.maxAttempts)), .int(h.retryDelayMillis),
         optionalText(h.permissions?.json.serialized()), optionalText(h.filter?.json.serialized()), optionalText(Hook.storedTags(h.nodeTags)),
         optionalText(h.controls.storedText)]
    }

    public func addHook(_ hook: Hook) async throws {
        try await writer.perform { db in
            if try db.scalarInt("SELECT 1 FROM hooks WHERE name = ?", [.text(hook.name)]) != nil {
                throw SlothError.conflict("a hook named '\(hook.name)' is already registered; use `sloth-runner hook update \(hook.name) FILE` to change it, or pick another --name")
            }
            try db.run("INSERT INTO hooks (\(SQLiteEventStore.hookColumns)) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", Self.hookArgs(hook))
            try Self.bumpHooksVersion(db)
        }
    }

    public func replaceHook(_ hook: Hook) async throws {
        try await writer.perform { db in
            let changed = try db.run(
                """
                UPDATE hooks SET description = ?, event_type = ?, file_path = ?, stack = ?, enabled = ?, updated_at = ?, source = ?,
                    source_hash = ?, timeout_ms = ?, memory_limit_bytes = ?, instruction_limit = ?, max_attempts = ?, retry_delay_ms = ?,
                    permissions = ?, filter = ?, nodes = ?, controls = ?
                WHERE id = ?
                """,
                [Self.optionalText(hook.description), .text(hook.eventTypeText), .text(hook.filePath), Self.optionalText(hook.stack),
                 .int(hook.enabled ? 1 : 0), .int(hook.updatedAt), .text(hook.source), .text(hook.sourceHash),
                 .int(hook.limits.timeoutMillis), .int(Int64(hook.limits.memoryBytes)), .int(hook.limits.instructions),
                 .int(Int64(hook.maxAttempts)), .int(hook.retryDelayMillis), Self.optionalText(hook.permissions?.json.serialized()),
                 Self.optionalText(hook.filter?.json.serialized()), Self.optionalText(Hook.storedTags(hook.nodeTags)),
                 Self.optionalText(hook.controls.storedText), .text(hook.id)])
            guard changed == 1 else { throw SlothError.notFound("no hook with id \(hook.id)") }
            try Self.bumpHooksVersion(db)
        }
    }

    public func setHookEnabled(name: String, enabled: Bool) async throws {
        try await writer.perform { db in
            let changed = try db.run("UPDATE hooks SET enabled = ?, updated_at = ? WHERE name = ?", [.int(enabled ? 1 : 0), .int(nowMillis()), .text(name)])
            guard changed == 1 else { throw SlothError.notFound("no hook named '\(name)' (see `sloth-runner hook list`)") }
            try Self.bumpHooksVersion(db)
        }
    }

    public func removeHook(name: String) async throws {
        try await writer.perform { db in
            let changed = try db.run("DELETE FROM hooks WHERE name = ?", [.text(name)])
            guard changed == 1 else { throw SlothError.notFound("no hook named '\(name)' (see `sloth-runner hook list`)") }
            try Self.bumpHooksVersion(db)
        }
    }

    public func hook(named name: String) async throws -> Hook? {
        try await reader.perform { db in
            try db.query("SELECT \(SQLiteEventStore.hookColumns) FROM hooks WHERE name = ?", [.text(name)], SQLiteEventStore.hook(from:)).first
        }
    }

    public func listHooks(_ filter: HookFilter) async throws -> [Hook] {
        let all = try await reader.perform { db in
            try db.query("SELECT \(SQLiteEventStore.hookColumns) FROM hooks ORDER BY name", [], SQLiteEventStore.hook(from:))
        }
        return all.filter { h in
            if let s = filter.stack, h.stack != s { return false }
            if let e = filter.enabled, h.enabled != e { return false }
            if let t = filter.eventType, !h.eventTypes.contains(t) && !h.matches(type: t, stack: h.stack) { return false }
            return true
        }
    }

    package func hooksVersion() async throws -> Int64 {
        try await reader.perform { db in try db.scalarInt("SELECT value FROM meta WHERE key = 'hooks_version'") ?? 0 }
    }

    public func hookHistory(hookID: String, limit: Int, failedOnly: Bool) async throws -> [HookExecution] {
        try await reader.perform { db in
            try db.query(
                "SELECT \(SQLiteEventStore.executionColumns) FROM event_hook_executions WHERE hook_id = ? \(failedOnly ? "AND success = 0" : "") ORDER BY executed_at DESC, id DESC LIMIT ?",
                [.text(hookID), .int(Int64(limit))], SQLiteEventStore.execution(from:))
        }
    }

    /// Statistics over the hook's most recent runs (at most `HookStats.window`), read newest
    /// first from the (hook_id, executed_at) index: the cost is the window's, however many runs
    /// are stored.
    public func hookStats(hookID: String) async throws -> HookStats {
        try await reader.perform { db in
            let runs = try db.query(
                "SELECT success, duration_ms FROM event_hook_executions WHERE hook_id = ? ORDER BY executed_at DESC LIMIT ?",
                [.text(hookID), .int(Int64(HookStats.window))]
            ) { ($0.intValue(0) != 0, $0.intValue(1)) }
            let durations = runs.map(\.1).sorted()
            func percentile(_ p: Double) -> Int64? {
                durations.isEmpty ? nil : durations[Int((Double(durations.count - 1) * p).rounded(.down))]
            }
            return HookStats(executions: runs.count, successes: runs.filter(\.0).count, p50Millis: percentile(0.5), p95Millis: percentile(0.95))
        }
    }
}
