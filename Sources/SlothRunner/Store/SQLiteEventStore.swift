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
///
/// This file holds the queue (claims, leases, outcomes: `LeasedQueueStore`) and the store's
/// upkeep (`StoreUpkeep`); every other part of `EventStoreDriver` is an extension of its own
/// (`SQLiteHooks.swift`, `SQLiteHistory.swift`, `SQLiteState.swift`, …).
public final class SQLiteEventStore: EventStore, EventStoreDriver, LeasedQueueStore, StoreUpkeep {
    /// The database file.
    public let path: String
    let writer: SQLiteThread
    /// How many claimed inserts carried their outcome (see `insertClaimed`); read by `bench`.
    package let fusion = FusionCounters()
    /// Transactions of the writer so far; read by `bench`.
    package var writerStats: SQLiteWriterStats { writer.stats.snapshot }
    /// How long a busy writer may hold a claimed insert back for its outcome.
    static let outcomeHoldNanos: UInt64 = 5_000_000
    let reader: SQLiteThread
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

    // MARK: upkeep

    /// For the store's own extensions (upkeep): work on the writer's or the reader's connection.
    func writerPerform<T: Sendable>(_ work: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T { try await writer.perform(work) }
    func writerPerformAlone<T: Sendable>(_ work: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T { try await writer.performAlone(work) }
    func readerPerform<T: Sendable>(_ work: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T { try await reader.perform(work) }

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

    // MARK: queue: re-arming a failed event

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

    // MARK: size on disk

    package func storageBytes() async throws -> Int64 {
        func size(_ file: String) -> Int64 {
            ((try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? NSNumber)?.int64Value ?? 0
        }
        return size(path) + size(path + "-wal")
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
