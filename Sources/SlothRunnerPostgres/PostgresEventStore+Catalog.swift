import Foundation
import SlothRunner

/// Everything but the event queue: hooks, API tokens, webhooks, the sources' definitions and
/// reports, shared state, secrets and settings — the SQLite store's statements in PostgreSQL's
/// dialect, each write through the writer.
extension PostgresEventStore {
    // MARK: hooks

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

    private static func bumpVersion(_ key: String, _ tx: PGTransaction) async throws {
        try await tx.run("UPDATE meta SET value = value + 1 WHERE key = $1 RETURNING 1", [.text(key)])
    }

    private func version(_ key: String) async throws -> Int64 {
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

    // MARK: API tokens

    package func tokenCreate(_ token: APIToken, hash: String) async throws {
        try await write { tx in
            let inserted = try await tx.run(
                "INSERT INTO api_tokens (name, role, token_hash, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING RETURNING 1",
                [.text(token.name), .text(token.role.rawValue), .text(hash), .int(token.createdAt)])
            guard inserted == 1 else {
                throw SlothError.conflict("a token named '\(token.name)' exists already (revoked tokens keep their name); pick another name")
            }
        }
    }

    private static func token(from row: PGRow) -> APIToken {
        APIToken(name: row.textValue(0), role: APIToken.Role(rawValue: row.textValue(1)) ?? .read, createdAt: row.intValue(2), revokedAt: row.int(3))
    }

    package func tokenList() async throws -> [APIToken] {
        try await pool.query("SELECT name, role, created_at, revoked_at FROM api_tokens ORDER BY name COLLATE \"C\"", [], Self.token(from:))
    }

    package func tokenRevoke(name: String, now: Millis) async throws -> Bool {
        try await write { tx in
            try await tx.run("UPDATE api_tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL RETURNING 1", [.int(now), .text(name)]) == 1
        }
    }

    package func liveTokens() async throws -> [String: APIToken] {
        let rows = try await pool.query("SELECT token_hash, name, role, created_at, revoked_at FROM api_tokens WHERE revoked_at IS NULL", []) {
            ($0.textValue(0), Self.token(from: $0.shifted(by: 1)))
        }
        return Dictionary(rows, uniquingKeysWith: { first, _ in first })
    }

    package func hasLiveTokens() async throws -> Bool {
        try await pool.scalarInt("SELECT 1 FROM api_tokens WHERE revoked_at IS NULL LIMIT 1") != nil
    }

    // MARK: webhooks

    private static let webhookColumns = "name, event_type, verify, secret, stack, signature_header, delivery_header, created_at, declared_in"

    private static func webhook(from row: PGRow) -> Webhook {
        Webhook(
            name: row.textValue(0), eventType: row.textValue(1), verification: Webhook.Verification(rawValue: row.textValue(2)) ?? .token,
            secret: row.text(3), stack: row.text(4), signatureHeader: row.text(5), deliveryHeader: row.text(6), createdAt: row.intValue(7),
            declaredIn: row.text(8))
    }

    private static func webhookValues(_ w: Webhook) -> [PGValue] {
        [.text(w.name), .text(w.eventType), .text(w.verification.rawValue), .text(w.secret), .text(w.stack), .text(w.signatureHeader),
         .text(w.deliveryHeader), .int(w.createdAt), .text(w.declaredIn)]
    }

    package func webhookAdd(_ w: Webhook) async throws {
        try await write { tx in
            let inserted = try await tx.run(
                "INSERT INTO webhooks (\(Self.webhookColumns)) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT (name) DO NOTHING RETURNING 1",
                Self.webhookValues(Webhook(name: w.name, eventType: w.eventType, verification: w.verification, secret: w.secret, stack: w.stack,
                                           signatureHeader: w.signatureHeader, deliveryHeader: w.deliveryHeader, createdAt: w.createdAt, declaredIn: nil)))
            guard inserted == 1 else {
                throw SlothError.conflict("a webhook named '\(w.name)' exists already; remove it first (`sloth-runner webhook remove \(w.name)`)")
            }
        }
    }

    package func webhook(named name: String) async throws -> Webhook? {
        try await pool.query("SELECT \(Self.webhookColumns) FROM webhooks WHERE name = $1", [.text(name)], Self.webhook(from:)).first
    }

    package func webhookList() async throws -> [Webhook] {
        try await pool.query("SELECT \(Self.webhookColumns) FROM webhooks ORDER BY name COLLATE \"C\"", [], Self.webhook(from:))
    }

    package func webhookRemove(name: String) async throws -> Bool {
        try await write { tx in try await tx.run("DELETE FROM webhooks WHERE name = $1 RETURNING 1", [.text(name)]) == 1 }
    }

    package func webhookSync(declared: [Webhook]) async throws -> (added: [String], changed: [String], removed: [String]) {
        let (added, changed, removed) = try await write { tx in
            let before = Dictionary(
                try await tx.query("SELECT \(Self.webhookColumns) FROM webhooks FOR UPDATE", [], Self.webhook(from:)).map { ($0.name, $0) },
                uniquingKeysWith: { a, _ in a })
            var added: [String] = [], changed: [String] = [], removed: [String] = []
            let names = Set(declared.map(\.name))
            for old in before.values where old.declaredIn != nil && !names.contains(old.name) {
                try await tx.run("DELETE FROM webhooks WHERE name = $1 RETURNING 1", [.text(old.name)])
                removed.append(old.name)
            }
            for w in declared {
                var same = before[w.name]
                same?.createdAt = w.createdAt
                if same == w { continue }
                try await tx.run(
                    """
                    INSERT INTO webhooks (\(Self.webhookColumns)) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)
                    ON CONFLICT (name) DO UPDATE SET event_type = excluded.event_type, verify = excluded.verify, secret = excluded.secret,
                        stack = excluded.stack, signature_header = excluded.signature_header, delivery_header = excluded.delivery_header,
                        declared_in = excluded.declared_in
                    RETURNING 1
                    """, Self.webhookValues(w))
                if before[w.name] == nil { added.append(w.name) } else { changed.append(w.name) }
            }
            return (added.sorted(), changed.sorted(), removed.sorted())
        }
        return (added, changed, removed)
    }

    // MARK: schedules

    private static let scheduleColumns = "name, id, cron, timezone, event_type, data, stack, catch_up, max_catch_up, enabled, created_at, fired_through, declared_in"
    private static let scheduleSelect = scheduleColumns.replacingOccurrences(of: " data,", with: " data::text,")
    private static let scheduleInsert = "INSERT INTO schedules (\(scheduleColumns)) VALUES ($1,$2,$3,$4,$5,$6::jsonb,$7,$8,$9,$10,$11,$12,$13)"

    private static func scheduleValues(_ s: Schedule) -> [PGValue] {
        [.text(s.name), .text(s.id), .text(s.cron), .text(s.zone), .text(s.eventType), .text(s.data.serialized()), .text(s.stack),
         .text(s.catchUp.rawValue), .int(s.maxCatchUp), .bool(s.enabled), .int(s.createdAt), .int(s.firedThrough), .text(s.declaredIn)]
    }

    private static func schedule(from row: PGRow) -> Schedule {
        Schedule(
            name: row.textValue(0), id: row.textValue(1), cron: row.textValue(2), zone: row.textValue(3), eventType: row.textValue(4),
            data: (try? JSONValue.parse(row.textValue(5))) ?? .object([:]), stack: row.text(6),
            catchUp: Schedule.CatchUp(rawValue: row.textValue(7)) ?? .skip, maxCatchUp: Int(row.intValue(8)), enabled: row.bool(9),
            createdAt: row.intValue(10), firedThrough: row.intValue(11), declaredIn: row.text(12))
    }

    package func scheduleAdd(_ schedule: Schedule) async throws {
        try await write { tx in
            guard try await tx.run(Self.scheduleInsert + " ON CONFLICT (name) DO NOTHING RETURNING 1", Self.scheduleValues(schedule)) == 1 else {
                throw SlothError.conflict("a schedule named '\(schedule.name)' exists already; remove it first (`sloth-runner schedule remove \(schedule.name)`)")
            }
            try await Self.bumpVersion("schedules_version", tx)
        }
    }

    package func schedule(named name: String) async throws -> Schedule? {
        try await pool.query("SELECT \(Self.scheduleSelect) FROM schedules WHERE name = $1", [.text(name)], Self.schedule(from:)).first
    }

    package func scheduleList() async throws -> [Schedule] {
        try await pool.query("SELECT \(Self.scheduleSelect) FROM schedules ORDER BY name COLLATE \"C\"", [], Self.schedule(from:))
    }

    package func scheduleRemove(name: String) async throws -> Bool {
        try await write { tx in
            let removed = try await tx.run("DELETE FROM schedules WHERE name = $1 RETURNING 1", [.text(name)]) == 1
            if removed { try await Self.bumpVersion("schedules_version", tx) }
            return removed
        }
    }

    package func scheduleSetEnabled(name: String, enabled: Bool, now: Millis) async throws -> Bool {
        try await write { tx in
            let changed = enabled
                ? try await tx.run("UPDATE schedules SET enabled = TRUE, fired_through = GREATEST(fired_through, $1) WHERE name = $2 AND NOT enabled RETURNING 1", [.int(now), .text(name)])
                : try await tx.run("UPDATE schedules SET enabled = FALSE WHERE name = $1 AND enabled RETURNING 1", [.text(name)])
            if changed == 1 { try await Self.bumpVersion("schedules_version", tx) }
            return try await tx.scalarInt("SELECT 1 FROM schedules WHERE name = $1", [.text(name)]) != nil
        }
    }

    package func scheduleFire(name: String, from: Millis, through: Millis, events: [Event]) async throws -> Bool {
        try await write { tx in
            let moved = try await tx.run(
                "UPDATE schedules SET fired_through = $1 WHERE name = $2 AND fired_through = $3 AND enabled RETURNING 1",
                [.int(through), .text(name), .int(from)])
            guard moved == 1 else { return false }
            if !events.isEmpty {
                var set = PGRecordSet()
                for e in events { PostgresBulkWrites.addEvent(e, finishedAs: nil, to: &set) }
                try await PostgresBulkWrites.insertEvents(set, on: tx)
                for e in events { tx.journal(e.id, status: e.status.rawValue) }
            }
            return true
        }
    }

    package func scheduleSync(declared: [Schedule]) async throws -> (added: [String], changed: [String], removed: [String]) {
        let (added, changed, removed) = try await write { tx in
            let before = Dictionary(try await tx.query("SELECT \(Self.scheduleSelect) FROM schedules FOR UPDATE", [], Self.schedule(from:)).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            var added: [String] = [], changed: [String] = [], removed: [String] = []
            let names = Set(declared.map(\.name))
            for old in before.values where old.declaredIn != nil && !names.contains(old.name) {
                try await tx.run("DELETE FROM schedules WHERE name = $1 RETURNING 1", [.text(old.name)])
                removed.append(old.name)
            }
            for var s in declared {
                if let old = before[s.name] {
                    s.id = old.id
                    s.createdAt = old.createdAt
                    s.firedThrough = old.firedThrough
                    s.enabled = old.enabled
                    if old == s { continue }
                    try await tx.run("DELETE FROM schedules WHERE name = $1 RETURNING 1", [.text(s.name)])
                }
                try await tx.run(Self.scheduleInsert + " RETURNING 1", Self.scheduleValues(s))
                if before[s.name] == nil { added.append(s.name) } else { changed.append(s.name) }
            }
            if !(added.isEmpty && changed.isEmpty && removed.isEmpty) { try await Self.bumpVersion("schedules_version", tx) }
            return (added.sorted(), changed.sorted(), removed.sorted())
        }
        return (added, changed, removed)
    }

    package func schedulesVersion() async throws -> Int64 { try await version("schedules_version") }

    // MARK: health checks

    private static let checkColumns = "name, kind, target, service, expect_status, expect_body, interval_ms, timeout_ms, failures, latency_threshold_ms, emit_passed, created_at, declared_in"
    private static let checkInsert = "INSERT INTO checks (\(checkColumns)) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)"

    private static func checkValues(_ c: HealthCheck) -> [PGValue] {
        [.text(c.name), .text(c.kind.rawValue), .text(c.target), .text(c.service), .int(c.expectStatus), .text(c.expectBody),
         .int(c.intervalMillis), .int(c.timeoutMillis), .int(c.failures), .int(c.latencyThresholdMillis), .bool(c.emitPassed),
         .int(c.createdAt), .text(c.declaredIn)]
    }

    private static func check(from row: PGRow) -> HealthCheck {
        HealthCheck(
            name: row.textValue(0), kind: HealthCheck.Kind(rawValue: row.textValue(1)) ?? .http, target: row.textValue(2), service: row.textValue(3),
            expectStatus: Int(row.intValue(4)), expectBody: row.text(5), intervalMillis: row.intValue(6), timeoutMillis: row.intValue(7),
            failures: Int(row.intValue(8)), latencyThresholdMillis: row.int(9), emitPassed: row.bool(10), createdAt: row.intValue(11),
            declaredIn: row.text(12))
    }

    package func checkAdd(_ check: HealthCheck) async throws {
        try await write { tx in
            guard try await tx.run(Self.checkInsert + " ON CONFLICT (name) DO NOTHING RETURNING 1", Self.checkValues(check)) == 1 else {
                throw SlothError.conflict("a check named '\(check.name)' exists already; remove it first (`sloth-runner check remove \(check.name)`)")
            }
            try await Self.bumpVersion("checks_version", tx)
        }
    }

    package func check(named name: String) async throws -> HealthCheck? {
        try await pool.query("SELECT \(Self.checkColumns) FROM checks WHERE name = $1", [.text(name)], Self.check(from:)).first
    }

    package func checkList() async throws -> [HealthCheck] {
        try await pool.query("SELECT \(Self.checkColumns) FROM checks ORDER BY name COLLATE \"C\"", [], Self.check(from:))
    }

    package func checkRemove(name: String) async throws -> Bool {
        try await write { tx in
            let removed = try await tx.run("DELETE FROM checks WHERE name = $1 RETURNING 1", [.text(name)]) == 1
            if removed { try await Self.bumpVersion("checks_version", tx) }
            return removed
        }
    }

    package func checkSync(declared: [HealthCheck]) async throws -> (added: [String], changed: [String], removed: [String]) {
        let (added, changed, removed) = try await write { tx in
            let before = Dictionary(try await tx.query("SELECT \(Self.checkColumns) FROM checks FOR UPDATE", [], Self.check(from:)).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            var added: [String] = [], changed: [String] = [], removed: [String] = []
            let names = Set(declared.map(\.name))
            for old in before.values where old.declaredIn != nil && !names.contains(old.name) {
                try await tx.run("DELETE FROM checks WHERE name = $1 RETURNING 1", [.text(old.name)])
                removed.append(old.name)
            }
            for c in declared {
                var same = before[c.name]
                same?.createdAt = c.createdAt
                if same == c { continue }
                try await tx.run("DELETE FROM checks WHERE name = $1 RETURNING 1", [.text(c.name)])
                try await tx.run(Self.checkInsert + " RETURNING 1", Self.checkValues(c))
                if before[c.name] == nil { added.append(c.name) } else { changed.append(c.name) }
            }
            if !(added.isEmpty && changed.isEmpty && removed.isEmpty) { try await Self.bumpVersion("checks_version", tx) }
            return (added.sorted(), changed.sorted(), removed.sorted())
        }
        return (added, changed, removed)
    }

    package func checksVersion() async throws -> Int64 { try await version("checks_version") }

    // MARK: file watches

    private static let watchColumns = "name, paths, recursive, include, exclude, settle_ms, stack, created_at, declared_in"
    private static let watchSelect = "name, paths::text, recursive, include::text, exclude::text, settle_ms, stack, created_at, declared_in"
    private static let watchInsert = "INSERT INTO watches (\(watchColumns)) VALUES ($1,$2::jsonb,$3,$4::jsonb,$5::jsonb,$6,$7,$8,$9)"

    private static func strings(_ list: [String]) -> PGValue { .text(JSONValue.array(list.map(JSONValue.string)).serialized()) }
    private static func strings(_ text: String) -> [String] { (try? JSONValue.parse(text))?.arrayValue?.compactMap(\.stringValue) ?? [] }

    private static func watchValues(_ w: FileWatch) -> [PGValue] {
        [.text(w.name), strings(w.paths), .bool(w.recursive), strings(w.include), strings(w.exclude), .int(w.settleMillis), .text(w.stack),
         .int(w.createdAt), .text(w.declaredIn)]
    }

    private static func watch(from row: PGRow) -> FileWatch {
        FileWatch(
            name: row.textValue(0), paths: strings(row.textValue(1)), recursive: row.bool(2), include: strings(row.textValue(3)),
            exclude: strings(row.textValue(4)), settleMillis: row.intValue(5), stack: row.text(6), createdAt: row.intValue(7), declaredIn: row.text(8))
    }

    private static func forgetWatch(_ name: String, _ tx: PGTransaction) async throws {
        try await tx.run("DELETE FROM watch_files WHERE watch = $1 RETURNING 1", [.text(name)])
        try await tx.run("DELETE FROM meta WHERE key = $1 RETURNING 1", [.text("watch_snapshot:" + name)])
    }

    package func watchAdd(_ watch: FileWatch) async throws {
        try await write { tx in
            guard try await tx.run(Self.watchInsert + " ON CONFLICT (name) DO NOTHING RETURNING 1", Self.watchValues(watch)) == 1 else {
                throw SlothError.conflict("a watch named '\(watch.name)' exists already; remove it first (`sloth-runner watch remove \(watch.name)`)")
            }
            try await Self.bumpVersion("watches_version", tx)
        }
    }

    package func watch(named name: String) async throws -> FileWatch? {
        try await pool.query("SELECT \(Self.watchSelect) FROM watches WHERE name = $1", [.text(name)], Self.watch(from:)).first
    }

    package func watchList() async throws -> [FileWatch] {
        try await pool.query("SELECT \(Self.watchSelect) FROM watches ORDER BY name COLLATE \"C\"", [], Self.watch(from:))
    }

    package func watchRemove(name: String) async throws -> Bool {
        try await write { tx in
            let removed = try await tx.run("DELETE FROM watches WHERE name = $1 RETURNING 1", [.text(name)]) == 1
            try await Self.forgetWatch(name, tx)
            if removed { try await Self.bumpVersion("watches_version", tx) }
            return removed
        }
    }

    package func watchSync(declared: [FileWatch]) async throws -> (added: [String], changed: [String], removed: [String]) {
        let (added, changed, removed) = try await write { tx in
            let before = Dictionary(try await tx.query("SELECT \(Self.watchSelect) FROM watches FOR UPDATE", [], Self.watch(from:)).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            var added: [String] = [], changed: [String] = [], removed: [String] = []
            let names = Set(declared.map(\.name))
            for old in before.values where old.declaredIn != nil && !names.contains(old.name) {
                try await tx.run("DELETE FROM watches WHERE name = $1 RETURNING 1", [.text(old.name)])
                try await Self.forgetWatch(old.name, tx)
                removed.append(old.name)
            }
            for w in declared {
                var same = before[w.name]
                same?.createdAt = w.createdAt
                if same == w { continue }
                try await tx.run("DELETE FROM watches WHERE name = $1 RETURNING 1", [.text(w.name)])
                try await tx.run(Self.watchInsert + " RETURNING 1", Self.watchValues(w))
                if before[w.name] == nil { added.append(w.name) } else { changed.append(w.name) }
            }
            if !(added.isEmpty && changed.isEmpty && removed.isEmpty) { try await Self.bumpVersion("watches_version", tx) }
            return (added.sorted(), changed.sorted(), removed.sorted())
        }
        return (added, changed, removed)
    }

    package func watchesVersion() async throws -> Int64 { try await version("watches_version") }

    package func watchSnapshot(_ watch: String) async throws -> [String: WatchedFile]? {
        guard try await pool.scalarInt("SELECT value FROM meta WHERE key = $1", [.text("watch_snapshot:" + watch)]) != nil else { return nil }
        let rows = try await pool.query("SELECT path, size, mtime_ns, inode, is_dir FROM watch_files WHERE watch = $1", [.text(watch)]) { row in
            (row.textValue(0), WatchedFile(size: row.intValue(1), mtimeNanos: row.intValue(2), inode: UInt64(bitPattern: row.intValue(3)), isDirectory: row.bool(4)))
        }
        return Dictionary(rows, uniquingKeysWith: { a, _ in a })
    }

    package func watchSnapshotApply(_ watch: String, changed: [String: WatchedFile], removed: [String], replace: Bool) async throws {
        try await write { tx in
            try await tx.run("INSERT INTO meta(key, value) VALUES ($1, 1) ON CONFLICT (key) DO NOTHING RETURNING 1", [.text("watch_snapshot:" + watch)])
            if replace { try await tx.run("DELETE FROM watch_files WHERE watch = $1 RETURNING 1", [.text(watch)]) }
            if !removed.isEmpty { try await tx.run("DELETE FROM watch_files WHERE watch = $1 AND path = ANY($2) RETURNING 1", [.text(watch), .texts(removed)]) }
            if !changed.isEmpty {
                var set = PGRecordSet()
                for (path, f) in changed.sorted(by: { $0.key < $1.key }) {
                    set.row(["path": .text(path), "size": .int(f.size), "mtime_ns": .int(f.mtimeNanos), "inode": .int(Int64(bitPattern: f.inode)), "is_dir": .bool(f.isDirectory)])
                }
                try await tx.run(
                    """
                    INSERT INTO watch_files (watch, path, size, mtime_ns, inode, is_dir)
                    SELECT $1, r.path, r.size, r.mtime_ns, r.inode, r.is_dir FROM jsonb_to_recordset($2::jsonb) AS r(path text, size bigint, mtime_ns bigint, inode bigint, is_dir boolean)
                    ON CONFLICT (watch, path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, inode = excluded.inode, is_dir = excluded.is_dir
                    RETURNING 1
                    """, [.text(watch), .text(set.json)])
            }
        }
    }

    // MARK: source status

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

    // MARK: state

    private static func currentState(_ ex: some PGExecutor, _ stack: String, _ key: String, _ now: Millis, lock: Bool) async throws -> JSONValue? {
        let text = try await ex.query(
            "SELECT value::text FROM state WHERE stack = $1 AND key = $2 AND (expires_at IS NULL OR expires_at > $3)\(lock ? " FOR UPDATE" : "")",
            [.text(stack), .text(key), .int(now)]) { $0.textValue(0) }.first
        guard let text else { return nil }
        do { return try JSONValue.parse(text) } catch { throw SlothError.storage("state \(key) holds unreadable JSON: \(error)") }
    }

    private static func writeState(_ tx: PGTransaction, _ stack: String, _ key: String, _ value: JSONValue, _ expiresAt: Millis?, _ now: Millis) async throws {
        try await tx.run(
            """
            INSERT INTO state (stack, key, value, expires_at, updated_at) VALUES ($1,$2,$3::jsonb,$4,$5)
            ON CONFLICT (stack, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at, updated_at = excluded.updated_at
            RETURNING 1
            """, [.text(stack), .text(key), .text(value.serialized()), .int(expiresAt), .int(now)])
    }

    /// Takes the key's row lock even when the row does not exist yet, so two nodes' `incr` or
    /// `compare_and_set` of a new key serialise instead of both reading "absent".
    private static func lockKey(_ tx: PGTransaction, _ stack: String, _ key: String) async throws {
        try await tx.run("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [.text(stack + "\u{1}" + key)])
    }

    public func stateGet(stack: String, key: String, now: Millis) async throws -> JSONValue? {
        try await Self.currentState(pool, stack, key, now, lock: false)
    }

    public func stateSet(stack: String, key: String, value: JSONValue, expiresAt: Millis?, now: Millis) async throws {
        try await write { tx in try await Self.writeState(tx, stack, key, value, expiresAt, now) }
    }

    public func stateDelete(stack: String, key: String) async throws -> Bool {
        try await write { tx in try await tx.run("DELETE FROM state WHERE stack = $1 AND key = $2 RETURNING 1", [.text(stack), .text(key)]) == 1 }
    }

    package func stateIncrement(stack: String, key: String, by: Int64, now: Millis) async throws -> Int64 {
        try await write { tx in
            try await Self.lockKey(tx, stack, key)
            let current = try await Self.currentState(tx, stack, key, now, lock: true)
            let base: Int64
            switch current {
            case nil, .null?: base = 0
            case .int(let i)?: base = i
            default: throw SlothError.invalidInput("state \(key) holds a \(current!.typeName), not an integer")
            }
            let (sum, overflow) = base.addingReportingOverflow(by)
            if overflow { throw SlothError.invalidInput("state \(key) would overflow") }
            try await Self.writeState(tx, stack, key, .int(sum), nil, now)
            return sum
        }
    }

    package func stateCompareAndSet(stack: String, key: String, expected: JSONValue?, value: JSONValue, expiresAt: Millis?, now: Millis) async throws -> Bool {
        try await write { tx in
            try await Self.lockKey(tx, stack, key)
            let current = try await Self.currentState(tx, stack, key, now, lock: true)
            guard current == expected else { return false }
            try await Self.writeState(tx, stack, key, value, expiresAt, now)
            return true
        }
    }

    public func stateEntries(stack: String?, prefix: String, now: Millis) async throws -> [StateEntry] {
        let rows = try await pool.query(
            """
            SELECT stack, key, value::text, expires_at, updated_at FROM state
            WHERE ($1::text IS NULL OR stack = $1) AND left(key, length($2)) = $2 AND (expires_at IS NULL OR expires_at > $3)
            ORDER BY stack COLLATE "C", key COLLATE "C" LIMIT 10000
            """, [.text(stack), .text(prefix), .int(now)]
        ) { ($0.textValue(0), $0.textValue(1), $0.textValue(2), $0.int(3), $0.intValue(4)) }
        return rows.map { r in
            StateEntry(stack: r.0, key: r.1, value: (try? JSONValue.parse(r.2)) ?? .string(r.2), expiresAt: r.3, updatedAt: r.4)
        }
    }

    package func pruneExpiredState(now: Millis) async throws -> Int {
        try await write { tx in try await tx.run("DELETE FROM state WHERE expires_at IS NOT NULL AND expires_at <= $1 RETURNING 1", [.int(now)]) }
    }

    // MARK: secrets

    package func secretPut(name: String, sealed: SecretCipher.Sealed, now: Millis) async throws {
        try await write { tx in
            try await tx.run(
                """
                INSERT INTO secrets (name, nonce, ciphertext, created_at, updated_at) VALUES ($1,$2,$3,$4,$5)
                ON CONFLICT (name) DO UPDATE SET nonce = excluded.nonce, ciphertext = excluded.ciphertext, updated_at = excluded.updated_at
                RETURNING 1
                """,
                [.text(name), .text(Data(sealed.nonce).base64EncodedString()), .text(Data(sealed.ciphertext).base64EncodedString()), .int(now), .int(now)])
        }
    }

    package func secretGet(name: String) async throws -> SecretCipher.Sealed? {
        try await pool.query("SELECT nonce, ciphertext FROM secrets WHERE name = $1", [.text(name)]) { row in
            SecretCipher.Sealed(
                nonce: Array(Data(base64Encoded: row.textValue(0)) ?? Data()), ciphertext: Array(Data(base64Encoded: row.textValue(1)) ?? Data()))
        }.first
    }

    public func secretList() async throws -> [SecretInfo] {
        try await pool.query("SELECT name, created_at, updated_at FROM secrets ORDER BY name COLLATE \"C\"", []) {
            SecretInfo(name: $0.textValue(0), createdAt: $0.intValue(1), updatedAt: $0.intValue(2))
        }
    }

    public func secretDelete(name: String) async throws -> Bool {
        try await write { tx in try await tx.run("DELETE FROM secrets WHERE name = $1 RETURNING 1", [.text(name)]) == 1 }
    }

    package func secretDeleteAll() async throws -> Int {
        try await write { tx in
            let n = try await tx.run("DELETE FROM secrets RETURNING 1")
            try await tx.run("DELETE FROM settings WHERE key = $1 RETURNING 1", [.text(SecretVault.keyCheckSetting)])
            return n
        }
    }

    // MARK: settings

    package func setting(_ key: String) async throws -> String? {
        try await pool.query("SELECT value FROM settings WHERE key = $1", [.text(key)]) { $0.textValue(0) }.first
    }

    package func setSettingIfAbsent(_ key: String, value: String) async throws -> String {
        try await write { tx in
            try await tx.run("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING RETURNING 1", [.text(key), .text(value)])
            return try await tx.query("SELECT value FROM settings WHERE key = $1", [.text(key)]) { $0.textValue(0) }.first ?? value
        }
    }

    package func setSetting(_ key: String, value: String) async throws {
        try await write { tx in
            try await tx.run("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value RETURNING 1", [.text(key), .text(value)])
        }
    }
}
