import CLinux
import CSQLite
import Synchronization
import Foundation

/// How durable a commit is: `normal` survives a process crash, `full` also a power loss.
public enum SQLiteSynchronous: String, Sendable, CaseIterable {
    case normal, full
}

/// The embedded default store: one SQLite file in WAL mode, one writer thread that commits
/// group-wise, one reader thread for queries.
public final class SQLiteEventStore: EventStore, EventStoreDriver {
    /// The database file.
    public let path: String
    private let writer: SQLiteThread
    /// How many claimed inserts carried their outcome (see `insertClaimed`); read by `bench`.
    package let fusion = FusionCounters()
    /// Transactions of the writer so far; read by `bench`.
    package var writerStats: SQLiteWriterStats { writer.stats.snapshot }
    /// How long a busy writer may hold a claimed insert back for its outcome.
    static let outcomeHoldNanos: UInt64 = 5_000_000
    private let reader: SQLiteThread
    private let checkpointer: SQLiteCheckpointer

    /// The writer thread's priority. Every event passes through this one thread (its insert,
    /// usually with its outcome), so while the writer waits for a CPU the whole pipeline waits:
    /// a modestly raised priority keeps both cores busy at saturation (`bench`: 11 of 12
    /// interleaved pairs faster, +6 % on average, 1.66 → 1.75 cores used). Raising it needs
    /// root or CAP_SYS_NICE; without that the writer runs at the normal priority.
    /// `SLOTH_RUNNER_WRITER_NICE` sets another value (0 leaves the priority alone).
    package static let requestedWriterNice: Int32 = {
        guard let raw = ProcessInfo.processInfo.environment["SLOTH_RUNNER_WRITER_NICE"], let value = Int32(raw) else { return -5 }
        return min(19, max(-20, value))
    }()

    /// The writer's nice value as it took effect (0 when raising it was not allowed).
    package var writerNice: Int32 { writer.nice }

    /// The file the store opened (device and inode), to notice it being deleted or replaced.
    private let identity: FileIdentity

    /// Opens (or creates) the database at `path`. The directory must exist; the file must be a
    /// sloth-runner database, or nothing at all yet. Errors say which of these is wrong.
    ///
    /// - Parameter busyTimeoutMillis: how long a write waits for another process's lock
    ///   before it fails (and is retried by the engine).
    public init(path: String, synchronous: SQLiteSynchronous = .normal, busyTimeoutMillis: Int32 = 10_000) throws {
        try Self.validate(path: path)
        self.path = path
        let writer = try SQLiteThread(name: "sloth-db-writer", batches: true, nice: Self.requestedWriterNice) {
            let db = try SQLiteConnection(path: path, busyTimeoutMillis: busyTimeoutMillis)
            do {
                try SQLiteEventStore.checkOwnership(db, path: path)
                // Before the first write to a new file (switching to WAL is one): see `migrate`.
                if try db.scalarInt("PRAGMA user_version") == 0 { try db.execute("PRAGMA auto_vacuum = INCREMENTAL") }
                try db.execute("PRAGMA journal_mode=WAL")
                try db.execute("PRAGMA synchronous=\(synchronous.rawValue.uppercased())")
                try db.execute("PRAGMA foreign_keys=ON")
                // Debian's SQLite overwrites every deleted row (SECURE_DELETE): a large cleanup
                // then rewrites the pages it frees, through the WAL, while dispatches wait. FAST
                // still clears deleted content on the pages being written anyway.
                try db.execute("PRAGMA secure_delete=FAST")
                try SQLiteEventStore.migrate(db, path: path)
            } catch {
                db.close()
                throw SQLiteEventStore.explain(error, db: db, path: path)
            }
            return db
        }
        do {
            let checkpointer = try SQLiteCheckpointer(path: path)
            self.checkpointer = checkpointer
            try Self.await_(writer) { db in checkpointer.install(on: db) }
            reader = try SQLiteThread(name: "sloth-db-reader", batches: false) {
                let db = try SQLiteConnection(path: path, busyTimeoutMillis: busyTimeoutMillis)
                try db.execute("PRAGMA foreign_keys=ON")
                return db
            }
            guard let identity = FileIdentity(path: path) else { throw SlothError.storage("the database \(path) vanished as it was opened") }
            self.identity = identity
        } catch {
            writer.close()
            throw error
        }
        self.writer = writer
    }

    /// Runs `work` on the writer and waits for it (for set-up, before any async context exists).
    private static func await_(_ thread: SQLiteThread, _ work: @escaping @Sendable (SQLiteConnection) throws -> Void) throws {
        let done = DispatchSemaphore(value: 0)
        let failure = Mutex<(any Error)?>(nil)
        thread.submit({ db in try work(db) }, hold: nil) { result in
            if case .failure(let e) = result { failure.withLock { $0 = e } }
            done.signal()
        }
        done.wait()
        if let e = failure.withLock({ $0 }) { throw e }
    }

    /// What an operator gets wrong with `--db`, refused before SQLite would silently accept it.
    static func validate(path: String) throws(SlothError) {
        guard !path.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw .invalidInput("the database path is empty; give --db PATH (or set SLOTH_RUNNER_HOME)")
        }
        guard path != ":memory:", !path.hasPrefix("file::memory:") else {
            throw .invalidInput("an in-memory database (\(path)) would lose every event when the command exits; give a file path")
        }
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            throw .invalidInput("\(path) is a directory; the database is a file (e.g. \(path)/sloth.db)")
        }
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty {
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) else {
                throw .invalidInput("the directory \(dir) does not exist; create it first (sloth-runner does not create directories for --db)")
            }
            guard isDir.boolValue else { throw .invalidInput("\(dir) is not a directory") }
        }
    }

    /// 'SLTH': marks the file as ours, beside `user_version`, so another application's
    /// database is told apart from an empty file.
    static let applicationID: Int64 = 0x534C_5448

    /// Refuses a database that belongs to something else, or to a newer sloth-runner.
    static func checkOwnership(_ db: SQLiteConnection, path: String) throws(SlothError) {
        if db.isReadOnly {
            throw .invalidInput("the database \(path) is read-only (the file, its directory or the file system cannot be written); sloth-runner writes to its database, even to list")
        }
        let appID = try db.scalarInt("PRAGMA application_id") ?? 0
        let version = Int(try db.scalarInt("PRAGMA user_version") ?? 0)
        let tables = try db.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name", []) { $0.textValue(0) }
        if appID != 0 && appID != applicationID {
            throw .invalidInput("\(path) is the database of another application (application id 0x\(String(appID, radix: 16))); give sloth-runner a file of its own")
        }
        if version == 0 && !tables.isEmpty || version > 0 && appID == 0 && !(tables.contains("events") && tables.contains("hooks")) {
            let shown = tables.prefix(6).joined(separator: ", ") + (tables.count > 6 ? ", ..." : "")
            throw .invalidInput("\(path) is not a sloth-runner database (it holds tables \(shown)); give sloth-runner a file of its own")
        }
        if version > SQLiteSchema.migrations.count {
            throw .invalidInput("\(path) was written by a newer sloth-runner (schema \(version); this one knows up to \(SQLiteSchema.migrations.count)); upgrade sloth-runner")
        }
    }

    /// SQLite's terse errors at open, in the operator's terms.
    static func explain(_ error: any Error, db: SQLiteConnection, path: String) -> any Error {
        let text = "\(error)"
        if text.contains("file is not a database") {
            return SlothError.invalidInput("\(path) is not a SQLite database (is --db the right file?)")
        }
        if text.contains("readonly") || text.contains("unable to open") {
            return SlothError.invalidInput("cannot write to the database \(path) or create its journal beside it (\(text)); sloth-runner needs a writable file and directory")
        }
        return error
    }

    static func migrate(_ db: SQLiteConnection, path: String) throws(SlothError) {
        let version = Int(try db.scalarInt("PRAGMA user_version") ?? 0)
        guard version < SQLiteSchema.migrations.count else { return }
        // A new file frees pages as it goes (incremental auto-vacuum): pruning gives the space
        // back in small steps (`reclaimSpace`) instead of leaving the file at its largest.
        // Only possible before the first table; older files switch with `db vacuum`.
        if version == 0 { try db.execute("PRAGMA auto_vacuum = INCREMENTAL") }
        try db.execute("BEGIN IMMEDIATE")
        do {
            // Another process may have migrated while this one waited for the lock.
            try checkOwnership(db, path: path)
            let current = Int(try db.scalarInt("PRAGMA user_version") ?? 0)
            for (i, sql) in SQLiteSchema.migrations.enumerated() where i >= current {
                try db.execute(sql)
            }
            try db.execute("PRAGMA user_version = \(SQLiteSchema.migrations.count)")
            try db.execute("PRAGMA application_id = \(applicationID)")
            try db.execute("COMMIT")
        } catch {
            try? db.execute("ROLLBACK")
            throw error
        }
    }

    /// Fails once the database file is no longer the one this store opened: deleted (the store
    /// would go on writing to a file nobody can see) or replaced.
    package func verifyStorage() async throws {
        guard let now = FileIdentity(path: path) else {
            throw SlothError.storage("the database file \(path) was deleted while in use; events written since went to a file nobody can open")
        }
        guard now == identity else {
            throw SlothError.storage("the database file \(path) was replaced by another file while in use")
        }
    }

    public func close() async {
        closeNow()
    }

    /// Caps the database at `pages` pages (nil: SQLite's default), for tests: growing past it
    /// fails the way a full disk does (SQLITE_FULL).
    func setMaxPageCount(_ pages: Int?) async throws {
        try await writer.perform { db in
            _ = try db.query("PRAGMA max_page_count = \(pages ?? 4_294_967_294)", []) { $0.intValue(0) }
        }
    }

    /// The database's size in pages, as the writer sees it (WAL included).
    func pageCount() async throws -> Int {
        try await writer.perform { db in Int(try db.scalarInt("PRAGMA page_count") ?? 0) }
    }

    /// Blocking variant of `close` for non-async callers.
    package func closeNow() {
        writer.close()
        reader.close()
        checkpointer.close()
    }

    // MARK: rows

    static let eventColumns = "id, type, data, status, error, timestamp, created_at, processed_at, stack, attempts, next_run_at, lease_owner, lease_expires_at, parent_id, chain_depth, replay_of, replay"
    static let eventColumnCount: Int32 = 17
    /// Built once: this runs for every dispatched event.
    static let insertEventSQL = HotStatement("INSERT INTO events (\(eventColumns), needs_tags) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
    static let insertExecutionSQL = HotStatement(
        """
        INSERT INTO event_hook_executions (event_id, hook_id, hook_name, success, output, error, duration_ms, executed_at, attempt, instructions, peak_memory_bytes, message)
        VALUES (?,?,?,?,?,?,?,?,?,?,?,?)
        """)

    // The change journal (`GET /stream`): a row per status change and per hook run, written by
    // the statements that make the change, in their transaction. (Triggers would catch every
    // writer by themselves, but a write that fires one needs a statement journal: SQLite copies
    // every page the statement touches a second time, which halved the engine's throughput.
    // Every writer of this store goes through these functions, the CLI included.)
    static let journalStatusSQL = HotStatement("INSERT INTO changes (at, event_id, status) VALUES (?, ?, ?)")
    static let journalRunSQL = HotStatement("INSERT INTO changes (at, event_id, execution_id) VALUES (?, ?, ?)")

    static func journal(_ eventID: String, status: String, on db: SQLiteConnection) throws(SlothError) {
        let now = nowMillis()
        try db.run(journalStatusSQL) { b in
            b.bind(1, now)
            b.bind(2, eventID)
            b.bind(3, status)
        }
    }

    /// Runs an UPDATE that moves events to `pending` (it must end with its WHERE clause) and
    /// journals each event it moved; returns how many.
    static func movePending(_ sql: String, _ args: [SQLValue], on db: SQLiteConnection) throws(SlothError) -> Int {
        let ids = try db.query(sql + " RETURNING id", args) { $0.textValue(0) }
        for id in ids { try journal(id, status: EventStatus.pending.rawValue, on: db) }
        return ids.count
    }

    static func event(from row: SQLiteConnection.Row) throws(SlothError) -> Event {
        let dataText = row.textValue(2)
        let data: JSONValue
        do { data = try JSONValue.parse(dataText) } catch { throw .storage("event \(row.textValue(0)) holds unreadable data: \(error)") }
        return Event(
            id: row.textValue(0), type: row.textValue(1), stack: row.text(8), timestamp: row.intValue(5), data: data,
            status: EventStatus(rawValue: row.textValue(3)) ?? .pending, error: row.text(4),
            createdAt: row.intValue(6), processedAt: row.int(7), attempts: Int(row.intValue(9)),
            parentID: row.text(13), chainDepth: Int(row.intValue(14)), nextRunAt: row.intValue(10),
            leaseOwner: row.text(11), leaseExpiresAt: row.int(12), replay: ReplayMark.stored(of: row.text(15), row.text(16)))
    }

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

    static let executionColumns = "id, event_id, hook_id, hook_name, success, output, error, duration_ms, executed_at, attempt, instructions, peak_memory_bytes, message"

    static func execution(from row: SQLiteConnection.Row) -> HookExecution {
        HookExecution(
            id: row.intValue(0), eventID: row.textValue(1), hookID: row.textValue(2), hookName: row.textValue(3),
            success: row.intValue(4) != 0, output: row.textValue(5), error: row.text(6), durationMillis: row.intValue(7),
            executedAt: row.intValue(8), attempt: Int(row.intValue(9)),
            usage: ResourceUsage(instructions: row.intValue(10), peakMemoryBytes: Int(row.intValue(11))), message: row.text(12))
    }

    static func optionalText(_ s: String?) -> SQLValue { s.map(SQLValue.text) ?? .null }
    static func optionalInt(_ i: Int64?) -> SQLValue { i.map(SQLValue.int) ?? .null }

    // MARK: events: hot path

    public func insertEvents(_ events: [Event]) async throws {
        try await writer.perform { db in
            for e in events { try Self.insert(e, on: db) }
        }
    }

    package func insertChildEvent(_ event: Event, originKey: String) async throws -> (event: Event, inserted: Bool) {
        try await writer.perform { db in try Self.insertKeyed(event, originKey: originKey, on: db) }
    }

    package func insertKeyedEvent(_ event: Event, originKey: String, expiredBefore: Millis) async throws -> (event: Event, inserted: Bool) {
        try await writer.perform { db in
            // In the insert's transaction: two requests racing with an expired key still store one event.
            try db.run("UPDATE events SET origin_key = NULL WHERE origin_key = ? AND created_at < ?", [.text(originKey), .int(expiredBefore)])
            return try Self.insertKeyed(event, originKey: originKey, on: db)
        }
    }

    private static func insertKeyed(_ event: Event, originKey: String, on db: SQLiteConnection) throws(SlothError) -> (event: Event, inserted: Bool) {
        let inserted = try db.run(
            """
            INSERT INTO events (\(Self.eventColumns), origin_key) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
            ON CONFLICT(origin_key) WHERE origin_key IS NOT NULL DO NOTHING
            """,
            [.text(event.id), .text(event.type), .text(event.encodedData ?? event.data.serialized()), .text(event.status.rawValue),
             Self.optionalText(event.error), .int(event.timestamp), .int(event.createdAt), Self.optionalInt(event.processedAt),
             Self.optionalText(event.stack), .int(Int64(event.attempts)), .int(event.nextRunAt), Self.optionalText(event.leaseOwner),
             Self.optionalInt(event.leaseExpiresAt), Self.optionalText(event.parentID), .int(Int64(event.chainDepth)),
             Self.optionalText(event.replay?.of), Self.optionalText(event.replay?.stored), .text(originKey)])
        if inserted == 1 {
            try journal(event.id, status: event.status.rawValue, on: db)
            return (event, true)
        }
        guard let existing = try db.query(
            "SELECT \(Self.eventColumns) FROM events WHERE origin_key = ?", [.text(originKey)], Self.event(from:)
        ).first else { throw SlothError.storage("event with origin \(originKey) neither inserted nor found") }
        return (existing, false)
    }

    package func insertClaimed(_ event: Event, slot: OutcomeSlot) async throws {
        let counters = fusion
        let hold = SQLiteThread.Hold(ready: { slot.hasOutcome }, deadline: monotonicNanos() + Self.outcomeHoldNanos)
        try await writer.perform(hold: hold) { db in
            guard let o = slot.takeForInsert() else {
                counters.add(fused: false)
                try Self.insert(event, on: db)
                return
            }
            counters.add(fused: true)
            try Self.insert(event, finishedAs: o, on: db)
            try Self.writeEffects(of: o, on: db)
        }
    }

    static func insert(_ e: Event, on db: SQLiteConnection) throws(SlothError) {
        try insert(e, finishedAs: nil, on: db)
    }

    /// Inserts the event; with `outcome`, in the state that outcome leaves it (lease released),
    /// bound straight from both rather than from a modified copy of the event.
    static func insert(_ e: Event, finishedAs outcome: EventOutcome?, on db: SQLiteConnection) throws(SlothError) {
        try db.run(insertEventSQL) { b in
            b.bind(1, e.id)
            b.bind(2, e.type)
            b.bind(3, e.encodedData ?? e.data.serialized())
            b.bind(4, (outcome?.status ?? e.status).rawValue)
            b.bind(5, outcome.map(\.error) ?? e.error)
            b.bind(6, e.timestamp)
            b.bind(7, e.createdAt)
            b.bind(8, outcome.map(\.processedAt) ?? e.processedAt)
            b.bind(9, e.stack)
            b.bind(10, Int64(e.attempts))
            b.bind(11, outcome?.nextRunAt ?? e.nextRunAt)
            b.bind(12, outcome == nil ? e.leaseOwner : nil)
            b.bind(13, outcome == nil ? e.leaseExpiresAt : nil)
            b.bind(14, e.parentID)
            b.bind(15, Int64(e.chainDepth))
            if let replay = e.replay {
                b.bind(16, replay.of)
                b.bind(17, replay.stored)
            } else {
                b.bind(16, nil as String?)
                b.bind(17, nil as String?)
            }
            b.bind(18, outcome?.needsTags.flatMap(Hook.storedTags))
        }
        try journal(e.id, status: (outcome?.status ?? e.status).rawValue, on: db)
    }

    package func claimEvents(owner: String, leaseMillis: Int64, limit: Int, now: Millis, tags: [String]) async throws -> [Event] {
        try await writer.perform { db in
            try db.query(
                """
                UPDATE events SET status = 'processing', lease_owner = ?1, lease_expires_at = ?2, attempts = attempts + 1
                WHERE id IN (
                    SELECT id FROM events WHERE status = 'pending' AND next_run_at <= ?3
                    AND (needs_tags IS NULL OR NOT EXISTS (
                        SELECT 1 FROM json_each(events.needs_tags) t WHERE t.value NOT IN (SELECT value FROM json_each(?5))))
                    ORDER BY next_run_at, id LIMIT ?4)
                RETURNING \(SQLiteEventStore.eventColumns)
                """, [.text(owner), .int(now + leaseMillis), .int(now), .int(Int64(limit)), .text(Hook.storedTags(tags) ?? "[]")]
            ) { row throws(SlothError) in try SQLiteEventStore.event(from: row) }
            .sorted { $0.id < $1.id }
            .map { event throws(SlothError) in
                try Self.journal(event.id, status: EventStatus.processing.rawValue, on: db)
                return event
            }
        }
    }

    static let savepointOutcome = HotStatement("SAVEPOINT outcome")
    static let releaseOutcome = HotStatement("RELEASE outcome")
    static let rollbackOutcome = HotStatement("ROLLBACK TO outcome")

    package func recordOutcomes(_ outcomes: [EventOutcome]) async throws -> [OutcomeWrite] {
        try await writer.perform { db in
            // A lone outcome needs no savepoint: its failure fails its job, and the writer
            // isolates jobs from each other already.
            if outcomes.count == 1 { return [try Self.record(outcomes[0], on: db) ? .recorded : .superseded] }
            var results: [OutcomeWrite] = []
            results.reserveCapacity(outcomes.count)
            for o in outcomes {
                try db.run(Self.savepointOutcome) { _ in }
                do {
                    let written = try Self.record(o, on: db)
                    try db.run(Self.releaseOutcome) { _ in }
                    results.append(written ? .recorded : .superseded)
                } catch {
                    // A full disk or an I/O error ends the whole transaction: nothing of the
                    // batch stands, so the batch fails as a whole.
                    guard db.inTransaction else { throw error }
                    _ = try? db.run(Self.rollbackOutcome) { _ in }
                    _ = try? db.run(Self.releaseOutcome) { _ in }
                    results.append(.failed("\(error)"))
                }
            }
            return results
        }
    }

    private static func record(_ o: EventOutcome, on db: SQLiteConnection) throws(SlothError) -> Bool {
        let changed = try db.run(
            """
            UPDATE events SET status = ?, error = ?, processed_at = ?, next_run_at = ?, lease_owner = NULL, lease_expires_at = NULL, needs_tags = ?
            WHERE id = ? AND lease_owner = ? AND attempts = ?
            """,
            [.text(o.status.rawValue), Self.optionalText(o.error), Self.optionalInt(o.processedAt), .int(o.nextRunAt),
             Self.optionalText(o.needsTags.flatMap(Hook.storedTags)), .text(o.eventID), .text(o.leaseOwner), .int(Int64(o.claimAttempt))])
        guard changed == 1 else { return false }
        try journal(o.eventID, status: o.status.rawValue, on: db)
        try writeEffects(of: o, on: db)
        return true
    }

    /// Whether the last failure was a constraint that makes a row of an outcome moot rather
    /// than the outcome wrong: its hook was removed while it ran (foreign key), or the hook's
    /// success for this event is recorded already (the one-success index).
    private static func rowIsMoot(_ db: SQLiteConnection) -> Bool {
        let code = db.lastErrorCode
        // SQLITE_CONSTRAINT_FOREIGNKEY (787) and SQLITE_CONSTRAINT_UNIQUE (2067), macros Swift does not import.
        return code == SQLITE_CONSTRAINT | (3 << 8) || code == SQLITE_CONSTRAINT | (8 << 8)
    }

    /// The executions, retry state and hook counters of an outcome. A row whose hook is gone
    /// is skipped: the hook's history went with it, and the event's outcome still stands.
    /// (SQLite reverts just the failed statement; the transaction goes on.)
    private static func writeEffects(of o: EventOutcome, on db: SQLiteConnection) throws(SlothError) {
        for x in o.executions {
            do {
                try insert(x, on: db)
            } catch {
                if rowIsMoot(db) { continue }
                throw error
            }
            Self.countHookRun(x.hookID, at: x.executedAt, on: db)
        }
        for u in o.attemptUpdates {
            do {
                try writeAttempt(u, of: o, on: db)
            } catch {
                if rowIsMoot(db) { continue }
                throw error
            }
        }
        for k in o.skips {
            do {
                try db.run(
                    "INSERT INTO hook_skips (event_id, hook_id, hook_name, reason, detail, related_event_id, at) VALUES (?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                    [.text(k.eventID), .text(k.hookID), .text(k.hookName), .text(k.reason), .text(k.detail), optionalText(k.relatedEventID), .int(k.at)])
            } catch {
                if rowIsMoot(db) { continue }
                throw error
            }
        }
    }

    private static func writeAttempt(_ u: HookAttemptUpdate, of o: EventOutcome, on db: SQLiteConnection) throws(SlothError) {
        try db.run(
                """
                INSERT INTO hook_attempts (event_id, hook_id, hook_name, attempts, dead, last_error, updated_at) VALUES (?,?,?,?,?,?,?)
                ON CONFLICT(event_id, hook_id) DO UPDATE SET attempts = excluded.attempts, dead = excluded.dead,
                    last_error = excluded.last_error, updated_at = excluded.updated_at
                """,
                [.text(o.eventID), .text(u.hookID), .text(u.hookName), .int(Int64(u.attempts)), .int(u.dead ? 1 : 0),
                 Self.optionalText(u.lastError), .int(nowMillis())])
    }

    static func insert(_ x: HookExecution, on db: SQLiteConnection) throws(SlothError) {
        try db.run(insertExecutionSQL) { b in
            b.bind(1, x.eventID)
            b.bind(2, x.hookID)
            b.bind(3, x.hookName)
            b.bind(4, Int64(x.success ? 1 : 0))
            b.bind(5, x.output)
            b.bind(6, x.error)
            b.bind(7, x.durationMillis)
            b.bind(8, x.executedAt)
            b.bind(9, Int64(x.attempt))
            b.bind(10, x.usage.instructions)
            b.bind(11, Int64(x.usage.peakMemoryBytes))
            b.bind(12, x.message)
        }
        let run = db.lastInsertRowID
        try db.run(journalRunSQL) { b in
            b.bind(1, nowMillis())
            b.bind(2, x.eventID)
            b.bind(3, run)
        }
    }

    /// Hook counters are summed over a writer batch and written once per hook at its end:
    /// one row update per hook per commit instead of one per execution.
    static func countHookRun(_ hookID: String, at time: Int64, on db: SQLiteConnection) {
        if db.batchEpilogue == nil {
            db.pendingHookRuns.removeAll(keepingCapacity: true)
            db.batchEpilogue = { db in
                defer { db.pendingHookRuns.removeAll(keepingCapacity: true) }
                for (id, runs) in db.pendingHookRuns {
                    try db.run(
                        "UPDATE hooks SET run_count = run_count + ?, last_run = max(coalesce(last_run, 0), ?) WHERE id = ?",
                        [.int(runs.count), .int(runs.last), .text(id)])
                }
            }
        }
        func count(_ runs: inout (count: Int64, last: Int64)) {
            runs.count += 1
            runs.last = max(runs.last, time)
        }
        count(&db.pendingHookRuns[hookID, default: (0, 0)])  // one hash lookup per execution
    }

    package func hookProgress(eventID: String) async throws -> HookProgress {
        try await reader.perform { db in
            var p = HookProgress()
            for id in try db.query("SELECT DISTINCT hook_id FROM event_hook_executions WHERE event_id = ? AND success = 1", [.text(eventID)], { $0.textValue(0) }) {
                p.succeeded.insert(id)
            }
            for (id, attempts, dead) in try db.query("SELECT hook_id, attempts, dead FROM hook_attempts WHERE event_id = ?", [.text(eventID)], { ($0.textValue(0), Int($0.intValue(1)), $0.intValue(2) != 0) }) {
                p.failedAttempts[id] = attempts
                if dead { p.dead.insert(id) }
            }
            for id in try db.query("SELECT hook_id FROM hook_skips WHERE event_id = ?", [.text(eventID)], { $0.textValue(0) }) { p.skipped.insert(id) }
            return p
        }
    }

    package func nextDueTime() async throws -> Millis? {
        try await reader.perform { db in
            try db.scalarInt("SELECT min(next_run_at) FROM events WHERE status = 'pending'")
        }
    }

    // MARK: leases

    package func keepLeases(owner: String, eventIDs: [String], until: Millis, rescueExpiredBefore now: Millis) async throws -> Int {
        try await writer.perform { db in
            // In chunks: a JSON array of ids, read by json_each, is one bound value.
            var at = 0
            while at < eventIDs.count {
                let chunk = eventIDs[at..<min(eventIDs.count, at + 1000)]
                try db.run(
                    """
                    UPDATE events SET lease_expires_at = ?1
                    WHERE lease_owner = ?2 AND status = 'processing' AND id IN (SELECT value FROM json_each(?3))
                    """, [.int(until), .text(owner), .text(JSONValue.array(chunk.map(JSONValue.string)).serialized())])
                at += chunk.count
            }
            return try Self.movePending(
                "UPDATE events SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL WHERE status = 'processing' AND lease_expires_at < ?",
                [.int(now)], on: db)
        }
    }

    package func releaseLeases(owner: String, eventIDs: [String]?) async throws -> Int {
        try await writer.perform { db in
            if let ids = eventIDs {
                var n = 0
                for id in ids {
                    n += try Self.movePending(
                        "UPDATE events SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL WHERE id = ? AND lease_owner = ? AND status = 'processing'",
                        [.text(id), .text(owner)], on: db)
                }
                return n
            }
            return try Self.movePending(
                "UPDATE events SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = ? AND status = 'processing'",
                [.text(owner)], on: db)
        }
    }

    package func releaseStaleLeases(nodePrefix: String, current: String) async throws -> Int {
        try await writer.perform { db in
            try db.run("DELETE FROM singletons WHERE substr(owner, 1, length(?1)) = ?1 AND owner <> ?2", [.text(nodePrefix), .text(current)])
            try db.run("UPDATE nodes SET state = 'dead' WHERE state = 'alive' AND substr(owner, 1, length(?1)) = ?1 AND owner <> ?2", [.text(nodePrefix), .text(current)])
            return try Self.movePending(
                """
                UPDATE events SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL
                WHERE lease_owner IS NOT NULL AND substr(lease_owner, 1, length(?1)) = ?1 AND lease_owner <> ?2 AND status = 'processing'
                """, [.text(nodePrefix), .text(current)], on: db)
        }
    }

    package func rescueExpiredLeases(now: Millis) async throws -> Int {
        try await writer.perform { db in
            try Self.movePending(
                "UPDATE events SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL WHERE status = 'processing' AND lease_expires_at < ?",
                [.int(now)], on: db)
        }
    }

    // MARK: hooks

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

    // MARK: events: inspection and upkeep

    public func resolveEvent(_ idOrPrefix: String) async throws -> Event {
        let needle = try EventPrefix.needle(idOrPrefix)
        let matches = try await reader.perform { db in
            try db.query(
                "SELECT \(SQLiteEventStore.eventColumns) FROM events WHERE id >= ?1 AND id < ?1 || 'g' ORDER BY id LIMIT 6",
                [.text(needle)], SQLiteEventStore.event(from:))
        }
        return try EventPrefix.pick(matches, needle: needle, asked: idOrPrefix)
    }

    public func listEvents(_ f: EventFilter) async throws -> [Event] {
        let (whereSQL, args) = Self.filterClause(f)
        let query = "SELECT \(SQLiteEventStore.eventColumns) FROM events \(whereSQL) ORDER BY id DESC LIMIT ?"
        let bound = args + [.int(Int64(f.limit))]
        return try await reader.perform { db in try db.query(query, bound, SQLiteEventStore.event(from:)) }
    }

    /// How many events match `f`, counting at most `cap` (a listing says "showing 50 of 111",
    /// or "of more than 10000", without counting millions of rows to say it).
    package func countEvents(_ f: EventFilter, cap: Int) async throws -> Int {
        let (whereSQL, args) = Self.filterClause(f)
        let query = "SELECT count(*) FROM (SELECT 1 FROM events \(whereSQL) LIMIT ?)"
        let bound = args + [.int(Int64(cap))]
        return try await reader.perform { db in Int(try db.scalarInt(query, bound) ?? 0) }
    }

    /// A listing's condition. Event ids begin with their creation time (see `EventID`), so
    /// `since` is a range of ids: each listing reads one index in its own order.
    private static func filterClause(_ f: EventFilter) -> (String, [SQLValue]) {
        var clauses: [String] = []
        var args: [SQLValue] = []
        if let t = f.type { clauses.append("type = ?"); args.append(.text(t)) }
        if let s = f.status { clauses.append("status = ?"); args.append(.text(s.rawValue)) }
        if let s = f.stack { clauses.append("stack = ?"); args.append(.text(s)) }
        if let s = f.since { clauses.append("id >= ?"); args.append(.text(EventID.lowerBound(millis: s))) }
        if let u = f.until { clauses.append("id < ?"); args.append(.text(EventID.lowerBound(millis: u))) }
        if let b = f.before { clauses.append("id < ?"); args.append(.text(b)) }
        if let r = f.replayOf { clauses.append("replay_of = ?"); args.append(.text(r)) }
        return (clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND "), args)
    }

    public func executions(eventID: String) async throws -> [HookExecution] {
        try await reader.perform { db in
            try db.query(
                "SELECT \(SQLiteEventStore.executionColumns) FROM event_hook_executions WHERE event_id = ? ORDER BY id",
                [.text(eventID)], SQLiteEventStore.execution(from:))
        }
    }

    public func deadLetters(eventID: String) async throws -> [DeadLetter] {
        try await reader.perform { db in
            try db.query(
                "SELECT event_id, hook_id, hook_name, attempts, last_error, updated_at FROM hook_attempts WHERE event_id = ? AND dead = 1 ORDER BY hook_name",
                [.text(eventID)]
            ) { DeadLetter(eventID: $0.textValue(0), hookID: $0.textValue(1), hookName: $0.textValue(2), attempts: Int($0.intValue(3)), lastError: $0.text(4), deadAt: $0.intValue(5)) }
        }
    }

    public func deleteEvent(id: String) async throws {
        try await writer.perform { db in
            // Journaled one by one only: a retention sweep of a million events must not write a
            // million journal rows; a deletion one by one is news to a live view.
            let journaled = try db.run(
                """
                INSERT INTO changes (at, event_id, status, type, stack)
                SELECT ?, id, 'deleted', type, stack FROM events WHERE id = ?
                """, [.int(nowMillis()), .text(id)])
            guard journaled == 1, try db.run("DELETE FROM events WHERE id = ?", [.text(id)]) == 1 else {
                throw SlothError.notFound("no event with id \(id)")
            }
        }
    }

    package func childEvents(of eventID: String, limit: Int) async throws -> [Event] {
        try await reader.perform { db in
            try db.query(
                "SELECT \(Self.eventColumns) FROM events WHERE parent_id = ? ORDER BY id LIMIT ?", [.text(eventID), .int(Int64(limit))],
                Self.event(from:))
        }
    }

    package func activity(since: Millis, bucketMillis: Int64) async throws -> [(start: Millis, total: Int, failed: Int)] {
        try await reader.perform { db in
            // By id range (ids are time-ordered), so only the window's rows are read.
            try db.query(
                """
                SELECT (created_at / ?1) * ?1 AS b, COUNT(*), SUM(status = 'failed') FROM events
                WHERE id >= ?2 GROUP BY b ORDER BY b
                """, [.int(bucketMillis), .text(EventID.lowerBound(millis: since))]
            ) { (start: $0.intValue(0), total: Int($0.intValue(1)), failed: Int($0.intValue(2))) }
        }
    }

    // MARK: the change journal

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
                let status = row.text(3)
                let kind = EventChange.kind(status: status, executionID: row.int(4))
                return EventChange(
                    seq: row.intValue(0), at: row.intValue(1), kind: kind, eventID: row.textValue(2),
                    type: row.text(5) ?? event?.type ?? "", stack: row.text(6) ?? event?.stack,
                    status: kind == .status ? status.flatMap(EventStatus.init(rawValue:)) : nil,
                    event: event, execution: execution)
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

    /// Events (with their executions) deleted per writer job: a dispatch queued behind a
    /// cleanup waits for one batch, not for all of it (a few ms here, executions included).
    package static let deleteBatch = 200

    public func deleteEvents(olderThan cutoff: Millis, status: EventStatus?) async throws -> Int {
        var total = 0
        let statuses = Self.cleanupStatuses(status)
        for s in statuses {
            while true {
                let n = try await writer.perform { db in
                    try db.run(
                        "DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE status = ? AND created_at < ? LIMIT ?)",
                        [.text(s), .int(cutoff), .int(Int64(Self.deleteBatch))])
                }
                total += n
                if n < Self.deleteBatch { break }
            }
        }
        if total > 0 { try await reclaimSpace() }
        return total
    }

    /// For the store's own extensions (upkeep): work on the writer's or the reader's connection.
    func writerPerform<T: Sendable>(_ work: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T { try await writer.perform(work) }
    func writerPerformAlone<T: Sendable>(_ work: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T { try await writer.performAlone(work) }
    func readerPerform<T: Sendable>(_ work: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T { try await reader.perform(work) }

    /// The statuses a cleanup deletes: the one named, else the finished ones — events still in
    /// flight are never cleaned up from under a worker.
    private static func cleanupStatuses(_ status: EventStatus?) -> [String] {
        status.map { [$0.rawValue] } ?? [EventStatus.completed.rawValue, EventStatus.failed.rawValue]
    }

    /// What `deleteEvents` would delete.
    package func countEvents(olderThan cutoff: Millis, status: EventStatus?) async throws -> Int {
        let statuses = Self.cleanupStatuses(status)
        return try await reader.perform { db in
            var n: Int64 = 0
            for s in statuses { n += try db.scalarInt("SELECT count(*) FROM events WHERE status = ? AND created_at < ?", [.text(s), .int(cutoff)]) ?? 0 }
            return Int(n)
        }
    }

    /// Returns free pages to the file system, a few at a time (each step is one short write
    /// job), when the file uses incremental auto-vacuum.
    package func reclaimSpace(pagesPerStep: Int = 64) async throws {
        while true {
            let freed = try await writer.perform { db -> Bool in
                guard try db.scalarInt("PRAGMA auto_vacuum") == 2, (try db.scalarInt("PRAGMA freelist_count") ?? 0) > 0 else { return false }
                try db.execute("PRAGMA incremental_vacuum(\(pagesPerStep))")
                return true
            }
            if !freed { return }
        }
    }

    public func retryEvent(id: String, now: Millis) async throws {
        try await writer.perform { db in
            let status = try db.query("SELECT status FROM events WHERE id = ?", [.text(id)]) { $0.textValue(0) }.first
            guard let status else { throw SlothError.notFound("no event with id \(id)") }
            guard status == EventStatus.failed.rawValue || status == EventStatus.completed.rawValue else {
                throw SlothError.invalidInput("event \(id) is \(status); only failed (or completed) events can be retried")
            }
            try db.run("UPDATE hook_attempts SET dead = 0, attempts = 0, updated_at = ? WHERE event_id = ?", [.int(now), .text(id)])
            _ = try Self.movePending(
                "UPDATE events SET status = 'pending', error = NULL, processed_at = NULL, next_run_at = ?, lease_owner = NULL, lease_expires_at = NULL, needs_tags = NULL WHERE id = ?",
                [.int(now), .text(id)], on: db)
        }
    }

    package func tokenCreate(_ token: APIToken, hash: String) async throws {
        try await writer.perform { db in
            if try db.scalarInt("SELECT 1 FROM api_tokens WHERE name = ?", [.text(token.name)]) != nil {
                throw SlothError.conflict("a token named '\(token.name)' exists already (revoked tokens keep their name); pick another name")
            }
            _ = try db.run(
                "INSERT INTO api_tokens (name, role, token_hash, created_at) VALUES (?, ?, ?, ?)",
                [.text(token.name), .text(token.role.rawValue), .text(hash), .int(token.createdAt)])
        }
    }

    package func tokenList() async throws -> [APIToken] {
        try await reader.perform { db in
            try db.query("SELECT name, role, created_at, revoked_at FROM api_tokens ORDER BY name", [], Self.token(from:))
        }
    }

    package func tokenRevoke(name: String, now: Millis) async throws -> Bool {
        try await writer.perform { db in
            try db.run("UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", [.int(now), .text(name)]) == 1
        }
    }

    package func liveTokens() async throws -> [String: APIToken] {
        try await reader.perform { db in
            let rows = try db.query("SELECT token_hash, name, role, created_at, revoked_at FROM api_tokens WHERE revoked_at IS NULL", []) {
                ($0.textValue(0), Self.token(from: $0.shifted(by: 1)))
            }
            return Dictionary(rows, uniquingKeysWith: { first, _ in first })
        }
    }

    package func hasLiveTokens() async throws -> Bool {
        try await reader.perform { db in try db.scalarInt("SELECT 1 FROM api_tokens WHERE revoked_at IS NULL LIMIT 1", []) != nil }
    }

    private static func token(from row: SQLiteConnection.Row) -> APIToken {
        APIToken(
            name: row.textValue(0), role: APIToken.Role(rawValue: row.textValue(1)) ?? .read, createdAt: row.intValue(2),
            revokedAt: row.int(3))
    }

    package func webhookAdd(_ w: Webhook) async throws {
        try await writer.perform { db in
            if try db.scalarInt("SELECT 1 FROM webhooks WHERE name = ?", [.text(w.name)]) != nil {
                throw SlothError.conflict("a webhook named '\(w.name)' exists already; remove it first (`sloth-runner webhook remove \(w.name)`)")
            }
            _ = try db.run(
                "INSERT INTO webhooks (name, event_type, verify, secret, stack, signature_header, delivery_header, created_at) VALUES (?,?,?,?,?,?,?,?)",
                [.text(w.name), .text(w.eventType), .text(w.verification.rawValue), Self.optionalText(w.secret), Self.optionalText(w.stack),
                 Self.optionalText(w.signatureHeader), Self.optionalText(w.deliveryHeader), .int(w.createdAt)])
        }
    }

    package func webhook(named name: String) async throws -> Webhook? {
        try await reader.perform { db in try db.query("SELECT \(Self.webhookColumns) FROM webhooks WHERE name = ?", [.text(name)], Self.webhook(from:)).first }
    }

    package func webhookList() async throws -> [Webhook] {
        try await reader.perform { db in try db.query("SELECT \(Self.webhookColumns) FROM webhooks ORDER BY name", [], Self.webhook(from:)) }
    }

    package func webhookRemove(name: String) async throws -> Bool {
        try await writer.perform { db in try db.run("DELETE FROM webhooks WHERE name = ?", [.text(name)]) == 1 }
    }

    // MARK: other processes' writes

    package func watchWrites(_ onWrite: @escaping @Sendable () -> Void) -> (any StoreWriteWatch)? {
        let file = URL(fileURLWithPath: path)
        let names: Set<String> = [file.lastPathComponent, file.lastPathComponent + "-wal"]
        guard let inotify = try? Inotify(),
              (try? inotify.add(file.deletingLastPathComponent().path, mask: UInt32(IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO))) != nil
        else { return nil }
        let events = inotify.events
        Task.detached {
            for await batch in events where batch.contains(where: { names.contains($0.name) }) { onWrite() }
        }
        return inotify
    }

    // MARK: schedules

    private static let scheduleColumns = "name, id, cron, timezone, event_type, data, stack, catch_up, max_catch_up, enabled, created_at, fired_through, declared_in"

    private static func scheduleValues(_ s: Schedule) -> [SQLValue] {
        [.text(s.name), .text(s.id), .text(s.cron), .text(s.zone), .text(s.eventType), .text(s.data.serialized()), Self.optionalText(s.stack),
         .text(s.catchUp.rawValue), .int(Int64(s.maxCatchUp)), .int(s.enabled ? 1 : 0), .int(s.createdAt), .int(s.firedThrough),
         Self.optionalText(s.declaredIn)]
    }

    private static func schedule(from row: SQLiteConnection.Row) -> Schedule {
        Schedule(
            name: row.textValue(0), id: row.textValue(1), cron: row.textValue(2), zone: row.textValue(3), eventType: row.textValue(4),
            data: (try? JSONValue.parse(row.textValue(5))) ?? .object([:]), stack: row.text(6),
            catchUp: Schedule.CatchUp(rawValue: row.textValue(7)) ?? .skip, maxCatchUp: Int(row.intValue(8)), enabled: row.intValue(9) != 0,
            createdAt: row.intValue(10), firedThrough: row.intValue(11), declaredIn: row.text(12))
    }

    private static func bumpSchedulesVersion(_ db: SQLiteConnection) throws(SlothError) {
        try db.run("UPDATE meta SET value = value + 1 WHERE key = 'schedules_version'")
    }

    package func scheduleAdd(_ schedule: Schedule) async throws {
        try await writer.perform { db in
            if try db.scalarInt("SELECT 1 FROM schedules WHERE name = ?", [.text(schedule.name)]) != nil {
                throw SlothError.conflict("a schedule named '\(schedule.name)' exists already; remove it first (`sloth-runner schedule remove \(schedule.name)`)")
            }
            try db.run("INSERT INTO schedules (\(Self.scheduleColumns)) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", Self.scheduleValues(schedule))
            try Self.bumpSchedulesVersion(db)
        }
    }

    package func schedule(named name: String) async throws -> Schedule? {
        try await reader.perform { db in try db.query("SELECT \(Self.scheduleColumns) FROM schedules WHERE name = ?", [.text(name)], Self.schedule(from:)).first }
    }

    package func scheduleList() async throws -> [Schedule] {
        try await reader.perform { db in try db.query("SELECT \(Self.scheduleColumns) FROM schedules ORDER BY name", [], Self.schedule(from:)) }
    }

    package func scheduleRemove(name: String) async throws -> Bool {
        try await writer.perform { db in
            let removed = try db.run("DELETE FROM schedules WHERE name = ?", [.text(name)]) == 1
            if removed { try Self.bumpSchedulesVersion(db) }
            return removed
        }
    }

    package func scheduleSetEnabled(name: String, enabled: Bool, now: Millis) async throws -> Bool {
        try await writer.perform { db in
            let changed = enabled
                ? try db.run("UPDATE schedules SET enabled = 1, fired_through = MAX(fired_through, ?) WHERE name = ? AND enabled = 0", [.int(now), .text(name)])
                : try db.run("UPDATE schedules SET enabled = 0 WHERE name = ? AND enabled = 1", [.text(name)])
            if changed == 1 { try Self.bumpSchedulesVersion(db) }
            return try db.scalarInt("SELECT 1 FROM schedules WHERE name = ?", [.text(name)]) != nil
        }
    }

    package func scheduleFire(name: String, from: Millis, through: Millis, events: [Event]) async throws -> Bool {
        try await writer.perform { db in
            let moved = try db.run(
                "UPDATE schedules SET fired_through = ? WHERE name = ? AND fired_through = ? AND enabled = 1",
                [.int(through), .text(name), .int(from)])
            guard moved == 1 else { return false }
            for e in events { try Self.insert(e, on: db) }
            return true
        }
    }

    package func scheduleSync(declared: [Schedule]) async throws -> (added: [String], changed: [String], removed: [String]) {
        try await writer.perform { db in
            let before = Dictionary(try db.query("SELECT \(Self.scheduleColumns) FROM schedules", [], Self.schedule(from:)).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            var added: [String] = [], changed: [String] = [], removed: [String] = []
            let names = Set(declared.map(\.name))
            for old in before.values where old.declaredIn != nil && !names.contains(old.name) {
                try db.run("DELETE FROM schedules WHERE name = ?", [.text(old.name)])
                removed.append(old.name)
            }
            for var s in declared {
                if let old = before[s.name] {
                    // Its identity and progress stay; only the definition may change.
                    s.id = old.id
                    s.createdAt = old.createdAt
                    s.firedThrough = old.firedThrough
                    s.enabled = old.enabled
                    if old == s { continue }
                }
                try db.run("INSERT OR REPLACE INTO schedules (\(Self.scheduleColumns)) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", Self.scheduleValues(s))
                if before[s.name] == nil { added.append(s.name) } else { changed.append(s.name) }
            }
            if !(added.isEmpty && changed.isEmpty && removed.isEmpty) { try Self.bumpSchedulesVersion(db) }
            return (added.sorted(), changed.sorted(), removed.sorted())
        }
    }

    package func schedulesVersion() async throws -> Int64 {
        try await reader.perform { db in try db.scalarInt("SELECT value FROM meta WHERE key = 'schedules_version'") ?? 0 }
    }

    // MARK: health checks

    private static let checkColumns = "name, kind, target, service, expect_status, expect_body, interval_ms, timeout_ms, failures, latency_threshold_ms, emit_passed, created_at, declared_in"

    private static func checkValues(_ c: HealthCheck) -> [SQLValue] {
        [.text(c.name), .text(c.kind.rawValue), .text(c.target), .text(c.service), .int(Int64(c.expectStatus)), Self.optionalText(c.expectBody),
         .int(c.intervalMillis), .int(c.timeoutMillis), .int(Int64(c.failures)), Self.optionalInt(c.latencyThresholdMillis),
         .int(c.emitPassed ? 1 : 0), .int(c.createdAt), Self.optionalText(c.declaredIn)]
    }

    private static func check(from row: SQLiteConnection.Row) -> HealthCheck {
        HealthCheck(
            name: row.textValue(0), kind: HealthCheck.Kind(rawValue: row.textValue(1)) ?? .http, target: row.textValue(2), service: row.textValue(3),
            expectStatus: Int(row.intValue(4)), expectBody: row.text(5), intervalMillis: row.intValue(6), timeoutMillis: row.intValue(7),
            failures: Int(row.intValue(8)), latencyThresholdMillis: row.int(9), emitPassed: row.intValue(10) != 0, createdAt: row.intValue(11),
            declaredIn: row.text(12))
    }

    private static func bumpChecksVersion(_ db: SQLiteConnection) throws(SlothError) {
        try db.run("UPDATE meta SET value = value + 1 WHERE key = 'checks_version'")
    }

    package func checkAdd(_ check: HealthCheck) async throws {
        try await writer.perform { db in
            if try db.scalarInt("SELECT 1 FROM checks WHERE name = ?", [.text(check.name)]) != nil {
                throw SlothError.conflict("a check named '\(check.name)' exists already; remove it first (`sloth-runner check remove \(check.name)`)")
            }
            try db.run("INSERT INTO checks (\(Self.checkColumns)) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", Self.checkValues(check))
            try Self.bumpChecksVersion(db)
        }
    }

    package func check(named name: String) async throws -> HealthCheck? {
        try await reader.perform { db in try db.query("SELECT \(Self.checkColumns) FROM checks WHERE name = ?", [.text(name)], Self.check(from:)).first }
    }

    package func checkList() async throws -> [HealthCheck] {
        try await reader.perform { db in try db.query("SELECT \(Self.checkColumns) FROM checks ORDER BY name", [], Self.check(from:)) }
    }

    package func checkRemove(name: String) async throws -> Bool {
        try await writer.perform { db in
            let removed = try db.run("DELETE FROM checks WHERE name = ?", [.text(name)]) == 1
            if removed { try Self.bumpChecksVersion(db) }
            return removed
        }
    }

    package func checkSync(declared: [HealthCheck]) async throws -> (added: [String], changed: [String], removed: [String]) {
        try await writer.perform { db in
            let before = Dictionary(try db.query("SELECT \(Self.checkColumns) FROM checks", [], Self.check(from:)).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            var added: [String] = [], changed: [String] = [], removed: [String] = []
            let names = Set(declared.map(\.name))
            for old in before.values where old.declaredIn != nil && !names.contains(old.name) {
                try db.run("DELETE FROM checks WHERE name = ?", [.text(old.name)])
                removed.append(old.name)
            }
            for c in declared {
                var same = before[c.name]
                same?.createdAt = c.createdAt
                if same == c { continue }
                try db.run("INSERT OR REPLACE INTO checks (\(Self.checkColumns)) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", Self.checkValues(c))
                if before[c.name] == nil { added.append(c.name) } else { changed.append(c.name) }
            }
            if !(added.isEmpty && changed.isEmpty && removed.isEmpty) { try Self.bumpChecksVersion(db) }
            return (added.sorted(), changed.sorted(), removed.sorted())
        }
    }

    package func checksVersion() async throws -> Int64 {
        try await reader.perform { db in try db.scalarInt("SELECT value FROM meta WHERE key = 'checks_version'") ?? 0 }
    }

    // MARK: file watches

    private static let watchColumns = "name, paths, recursive, include, exclude, settle_ms, stack, created_at, declared_in"

    private static func strings(_ list: [String]) -> SQLValue { .text(JSONValue.array(list.map(JSONValue.string)).serialized()) }
    private static func strings(_ text: String) -> [String] { (try? JSONValue.parse(text))?.arrayValue?.compactMap(\.stringValue) ?? [] }

    private static func watchValues(_ w: FileWatch) -> [SQLValue] {
        [.text(w.name), strings(w.paths), .int(w.recursive ? 1 : 0), strings(w.include), strings(w.exclude), .int(w.settleMillis),
         Self.optionalText(w.stack), .int(w.createdAt), Self.optionalText(w.declaredIn)]
    }

    private static func watch(from row: SQLiteConnection.Row) -> FileWatch {
        FileWatch(
            name: row.textValue(0), paths: strings(row.textValue(1)), recursive: row.intValue(2) != 0, include: strings(row.textValue(3)),
            exclude: strings(row.textValue(4)), settleMillis: row.intValue(5), stack: row.text(6), createdAt: row.intValue(7), declaredIn: row.text(8))
    }

    private static func bumpWatchesVersion(_ db: SQLiteConnection) throws(SlothError) {
        try db.run("UPDATE meta SET value = value + 1 WHERE key = 'watches_version'")
    }

    package func watchAdd(_ watch: FileWatch) async throws {
        try await writer.perform { db in
            if try db.scalarInt("SELECT 1 FROM watches WHERE name = ?", [.text(watch.name)]) != nil {
                throw SlothError.conflict("a watch named '\(watch.name)' exists already; remove it first (`sloth-runner watch remove \(watch.name)`)")
            }
            try db.run("INSERT INTO watches (\(Self.watchColumns)) VALUES (?,?,?,?,?,?,?,?,?)", Self.watchValues(watch))
            try Self.bumpWatchesVersion(db)
        }
    }

    package func watch(named name: String) async throws -> FileWatch? {
        try await reader.perform { db in try db.query("SELECT \(Self.watchColumns) FROM watches WHERE name = ?", [.text(name)], Self.watch(from:)).first }
    }

    package func watchList() async throws -> [FileWatch] {
        try await reader.perform { db in try db.query("SELECT \(Self.watchColumns) FROM watches ORDER BY name", [], Self.watch(from:)) }
    }

    package func watchRemove(name: String) async throws -> Bool {
        try await writer.perform { db in
            let removed = try db.run("DELETE FROM watches WHERE name = ?", [.text(name)]) == 1
            try db.run("DELETE FROM watch_files WHERE watch = ?", [.text(name)])
            try db.run("DELETE FROM meta WHERE key = ?", [.text("watch_snapshot:" + name)])
            if removed { try Self.bumpWatchesVersion(db) }
            return removed
        }
    }

    package func watchSync(declared: [FileWatch]) async throws -> (added: [String], changed: [String], removed: [String]) {
        try await writer.perform { db in
            let before = Dictionary(try db.query("SELECT \(Self.watchColumns) FROM watches", [], Self.watch(from:)).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            var added: [String] = [], changed: [String] = [], removed: [String] = []
            let names = Set(declared.map(\.name))
            for old in before.values where old.declaredIn != nil && !names.contains(old.name) {
                try db.run("DELETE FROM watches WHERE name = ?", [.text(old.name)])
                try db.run("DELETE FROM watch_files WHERE watch = ?", [.text(old.name)])
                try db.run("DELETE FROM meta WHERE key = ?", [.text("watch_snapshot:" + old.name)])
                removed.append(old.name)
            }
            for w in declared {
                var same = before[w.name]
                same?.createdAt = w.createdAt
                if same == w { continue }
                try db.run("INSERT OR REPLACE INTO watches (\(Self.watchColumns)) VALUES (?,?,?,?,?,?,?,?,?)", Self.watchValues(w))
                if before[w.name] == nil { added.append(w.name) } else { changed.append(w.name) }
            }
            if !(added.isEmpty && changed.isEmpty && removed.isEmpty) { try Self.bumpWatchesVersion(db) }
            return (added.sorted(), changed.sorted(), removed.sorted())
        }
    }

    package func watchesVersion() async throws -> Int64 {
        try await reader.perform { db in try db.scalarInt("SELECT value FROM meta WHERE key = 'watches_version'") ?? 0 }
    }

    package func watchSnapshot(_ watch: String) async throws -> [String: WatchedFile]? {
        try await reader.perform { db in
            // A snapshot of an empty tree has no rows: the meta row says one was taken.
            guard try db.scalarInt("SELECT value FROM meta WHERE key = ?", [.text("watch_snapshot:" + watch)]) != nil else { return nil }
            let rows = try db.query("SELECT path, size, mtime_ns, inode, is_dir FROM watch_files WHERE watch = ?", [.text(watch)]) { row in
                (row.textValue(0), WatchedFile(size: row.intValue(1), mtimeNanos: row.intValue(2), inode: UInt64(bitPattern: row.intValue(3)), isDirectory: row.intValue(4) != 0))
            }
            return Dictionary(rows, uniquingKeysWith: { a, _ in a })
        }
    }

    package func watchSnapshotApply(_ watch: String, changed: [String: WatchedFile], removed: [String], replace: Bool) async throws {
        try await writer.perform { db in
            try db.run("INSERT OR IGNORE INTO meta(key, value) VALUES (?, 1)", [.text("watch_snapshot:" + watch)])
            if replace { try db.run("DELETE FROM watch_files WHERE watch = ?", [.text(watch)]) }
            for path in removed { try db.run("DELETE FROM watch_files WHERE watch = ? AND path = ?", [.text(watch), .text(path)]) }
            for (path, f) in changed {
                try db.run(
                    "INSERT OR REPLACE INTO watch_files (watch, path, size, mtime_ns, inode, is_dir) VALUES (?,?,?,?,?,?)",
                    [.text(watch), .text(path), .int(f.size), .int(f.mtimeNanos), .int(Int64(bitPattern: f.inode)), .int(f.isDirectory ? 1 : 0)])
            }
        }
    }

    // MARK: source status

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

    private static let webhookColumns = "name, event_type, verify, secret, stack, signature_header, delivery_header, created_at, declared_in"

    package func webhookSync(declared: [Webhook]) async throws -> (added: [String], changed: [String], removed: [String]) {
        try await writer.perform { db in
            let before = Dictionary(
                try db.query("SELECT \(Self.webhookColumns) FROM webhooks", [], Self.webhook(from:)).map { ($0.name, $0) },
                uniquingKeysWith: { a, _ in a })
            var added: [String] = [], changed: [String] = [], removed: [String] = []
            let names = Set(declared.map(\.name))
            for old in before.values where old.declaredIn != nil && !names.contains(old.name) {
                try db.run("DELETE FROM webhooks WHERE name = ?", [.text(old.name)])
                removed.append(old.name)
            }
            for w in declared {
                var same = before[w.name]
                same?.createdAt = w.createdAt
                if same == w { continue }
                try db.run(
                    """
                    INSERT INTO webhooks (name, event_type, verify, secret, stack, signature_header, delivery_header, created_at, declared_in) VALUES (?,?,?,?,?,?,?,?,?)
                    ON CONFLICT(name) DO UPDATE SET event_type = excluded.event_type, verify = excluded.verify, secret = excluded.secret,
                        stack = excluded.stack, signature_header = excluded.signature_header, delivery_header = excluded.delivery_header,
                        declared_in = excluded.declared_in
                    """,
                    [.text(w.name), .text(w.eventType), .text(w.verification.rawValue), Self.optionalText(w.secret), Self.optionalText(w.stack),
                     Self.optionalText(w.signatureHeader), Self.optionalText(w.deliveryHeader), .int(w.createdAt), Self.optionalText(w.declaredIn)])
                if before[w.name] == nil { added.append(w.name) } else { changed.append(w.name) }
            }
            return (added.sorted(), changed.sorted(), removed.sorted())
        }
    }

    private static func webhook(from row: SQLiteConnection.Row) -> Webhook {
        Webhook(
            name: row.textValue(0), eventType: row.textValue(1), verification: Webhook.Verification(rawValue: row.textValue(2)) ?? .token,
            secret: row.text(3), stack: row.text(4), signatureHeader: row.text(5), deliveryHeader: row.text(6), createdAt: row.intValue(7),
            declaredIn: row.text(8))
    }

    package func storageBytes() async throws -> Int64 {
        func size(_ file: String) -> Int64 {
            ((try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? NSNumber)?.int64Value ?? 0
        }
        return size(path) + size(path + "-wal")
    }

    package func countDeadLetters() async throws -> Int {
        try await reader.perform { db in Int(try db.scalarInt("SELECT count(*) FROM hook_attempts WHERE dead = 1") ?? 0) }
    }

    public func countEvents(status: EventStatus?) async throws -> Int {
        try await reader.perform { db in
            if let status {
                return Int(try db.scalarInt("SELECT count(*) FROM events WHERE status = ?", [.text(status.rawValue)]) ?? 0)
            }
            return Int(try db.scalarInt("SELECT count(*) FROM events") ?? 0)
        }
    }

    // MARK: state

    private static func currentState(_ db: SQLiteConnection, _ stack: String, _ key: String, _ now: Millis) throws(SlothError) -> JSONValue? {
        let text = try db.query(
            "SELECT value FROM state WHERE stack = ? AND key = ? AND (expires_at IS NULL OR expires_at > ?)",
            [.text(stack), .text(key), .int(now)]) { $0.textValue(0) }.first
        guard let text else { return nil }
        do { return try JSONValue.parse(text) } catch { throw .storage("state \(key) holds unreadable JSON: \(error)") }
    }

    private static func writeState(_ db: SQLiteConnection, _ stack: String, _ key: String, _ value: JSONValue, _ expiresAt: Millis?, _ now: Millis) throws(SlothError) {
        try db.run(
            """
            INSERT INTO state (stack, key, value, expires_at, updated_at) VALUES (?,?,?,?,?)
            ON CONFLICT(stack, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at, updated_at = excluded.updated_at
            """, [.text(stack), .text(key), .text(value.serialized()), optionalInt(expiresAt), .int(now)])
    }

    public func stateGet(stack: String, key: String, now: Millis) async throws -> JSONValue? {
        try await reader.perform { db in try Self.currentState(db, stack, key, now) }
    }

    public func stateSet(stack: String, key: String, value: JSONValue, expiresAt: Millis?, now: Millis) async throws {
        try await writer.perform { db in try Self.writeState(db, stack, key, value, expiresAt, now) }
    }

    public func stateDelete(stack: String, key: String) async throws -> Bool {
        try await writer.perform { db in try db.run("DELETE FROM state WHERE stack = ? AND key = ?", [.text(stack), .text(key)]) == 1 }
    }

    package func stateIncrement(stack: String, key: String, by: Int64, now: Millis) async throws -> Int64 {
        try await writer.perform { db in
            let current = try Self.currentState(db, stack, key, now)
            let base: Int64
            switch current {
            case nil, .null?: base = 0
            case .int(let i)?: base = i
            default: throw SlothError.invalidInput("state \(key) holds a \(current!.typeName), not an integer")
            }
            let (sum, overflow) = base.addingReportingOverflow(by)
            if overflow { throw SlothError.invalidInput("state \(key) would overflow") }
            try Self.writeState(db, stack, key, .int(sum), nil, now)
            return sum
        }
    }

    package func stateCompareAndSet(stack: String, key: String, expected: JSONValue?, value: JSONValue, expiresAt: Millis?, now: Millis) async throws -> Bool {
        try await writer.perform { db in
            let current = try Self.currentState(db, stack, key, now)
            guard current == expected else { return false }
            try Self.writeState(db, stack, key, value, expiresAt, now)
            return true
        }
    }

    public func stateEntries(stack: String?, prefix: String, now: Millis) async throws -> [StateEntry] {
        try await reader.perform { db in
            let rows = try db.query(
                """
                SELECT stack, key, value, expires_at, updated_at FROM state
                WHERE (?1 IS NULL OR stack = ?1) AND substr(key, 1, length(?2)) = ?2 AND (expires_at IS NULL OR expires_at > ?3)
                ORDER BY stack, key LIMIT 10000
                """, [Self.optionalText(stack), .text(prefix), .int(now)]
            ) { ($0.textValue(0), $0.textValue(1), $0.textValue(2), $0.int(3), $0.intValue(4)) }
            return rows.map { r in
                StateEntry(stack: r.0, key: r.1, value: (try? JSONValue.parse(r.2)) ?? .string(r.2), expiresAt: r.3, updatedAt: r.4)
            }
        }
    }

    package func pruneExpiredState(now: Millis) async throws -> Int {
        try await writer.perform { db in try db.run("DELETE FROM state WHERE expires_at IS NOT NULL AND expires_at <= ?", [.int(now)]) }
    }

    // MARK: secrets

    package func secretPut(name: String, sealed: SecretCipher.Sealed, now: Millis) async throws {
        _ = try await writer.perform { db in
            try db.run(
                """
                INSERT INTO secrets (name, nonce, ciphertext, created_at, updated_at) VALUES (?,?,?,?,?)
                ON CONFLICT(name) DO UPDATE SET nonce = excluded.nonce, ciphertext = excluded.ciphertext, updated_at = excluded.updated_at
                """,
                [.text(name), .text(Data(sealed.nonce).base64EncodedString()), .text(Data(sealed.ciphertext).base64EncodedString()), .int(now), .int(now)])
        }
    }

    package func secretGet(name: String) async throws -> SecretCipher.Sealed? {
        try await reader.perform { db in
            try db.query("SELECT nonce, ciphertext FROM secrets WHERE name = ?", [.text(name)]) { row in
                SecretCipher.Sealed(
                    nonce: Array(Data(base64Encoded: row.textValue(0)) ?? Data()),
                    ciphertext: Array(Data(base64Encoded: row.textValue(1)) ?? Data()))
            }.first
        }
    }

    public func secretList() async throws -> [SecretInfo] {
        try await reader.perform { db in
            try db.query("SELECT name, created_at, updated_at FROM secrets ORDER BY name", []) {
                SecretInfo(name: $0.textValue(0), createdAt: $0.intValue(1), updatedAt: $0.intValue(2))
            }
        }
    }

    public func secretDelete(name: String) async throws -> Bool {
        try await writer.perform { db in try db.run("DELETE FROM secrets WHERE name = ?", [.text(name)]) == 1 }
    }

    package func secretDeleteAll() async throws -> Int {
        try await writer.perform { db in
            let n = try db.run("DELETE FROM secrets")
            try db.run("DELETE FROM settings WHERE key = ?", [.text(SecretVault.keyCheckSetting)])
            return n
        }
    }

    // MARK: settings

    package func setting(_ key: String) async throws -> String? {
        try await reader.perform { db in
            try db.query("SELECT value FROM settings WHERE key = ?", [.text(key)]) { $0.textValue(0) }.first
        }
    }

    package func setSettingIfAbsent(_ key: String, value: String) async throws -> String {
        try await writer.perform { db in
            try db.run("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING", [.text(key), .text(value)])
            return try db.query("SELECT value FROM settings WHERE key = ?", [.text(key)]) { $0.textValue(0) }.first ?? value
        }
    }

    package func setSetting(_ key: String, value: String) async throws {
        _ = try await writer.perform { db in
            try db.run("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", [.text(key), .text(value)])
        }
    }
}

/// A file's device and inode: the same path naming another file has another identity.
struct FileIdentity: Sendable, Equatable {
    let device: UInt64
    let inode: UInt64

    init?(path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
    }
}

/// Counts claimed inserts that carried their event's outcome (one write) versus those that
/// ran first (the outcome is an UPDATE later).
package final class FusionCounters: Sendable {
    private let fusedCount = Atomic<Int>(0)
    private let plainCount = Atomic<Int>(0)

    func add(fused: Bool) {
        if fused {
            fusedCount.add(1, ordering: .relaxed)
        } else {
            plainCount.add(1, ordering: .relaxed)
        }
    }

    /// (fused, plain) so far.
    package var snapshot: (fused: Int, plain: Int) {
        (fusedCount.load(ordering: .relaxed), plainCount.load(ordering: .relaxed))
    }
}
