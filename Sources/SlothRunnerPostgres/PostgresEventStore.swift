import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import SlothRunner
import Synchronization

/// The store for many `serve` nodes: PostgreSQL, through postgres-nio's connection pool. The
/// same tables and semantics as `SQLiteEventStore` (the shared behaviour suite runs against
/// both): writes commit group-wise through one writer per process (`PostgresWriter`), claims
/// take rows with `FOR UPDATE SKIP LOCKED`, outcomes are compare-and-set on the lease, and every
/// commit sends one `NOTIFY`, which wakes the other nodes' engines (`watchWrites`).
///
/// The pool reconnects by itself when the server goes away; meanwhile every call fails with
/// `SlothError.storage` saying the server is unreachable (exit 7, HTTP 503), never a false
/// success, and work in flight comes back through its lease.
///
/// This file holds the queue (`LeasedQueueStore`) and upkeep (`StoreUpkeep`); every other part
/// of `EventStoreDriver` is an extension of its own (`PostgresEventStore+Hooks.swift`, `+History`,
/// `+State`, …).
public final class PostgresEventStore: EventStoreDriver, LeasedQueueStore, StoreUpkeep {
    public let location: PostgresLocation
    let client: PostgresClient
    let pool: PGPool
    let writer: PostgresWriter
    private let clientTask: Task<Void, Never>
    let logger: Logger
    private let closed = Atomic<Bool>(false)

    /// Connects to the database at `location` and brings its schema up to date (once, under an
    /// advisory lock, however many nodes start together). Fails with what is wrong: the server
    /// unreachable, the database missing, the credentials refused, a newer schema.
    public init(location: PostgresLocation, logger: Logger = Logger(label: "sloth.postgres"), maxConnections: Int = 8) async throws {
        self.location = location
        self.logger = logger
        var configuration: PostgresClient.Configuration
        switch location.endpoint {
        case .tcp(let host, let port):
            let tls: PostgresClient.Configuration.TLS
            switch location.tls {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(.makeClientConfiguration())
            case .require: tls = .require(.makeClientConfiguration())
            }
            configuration = .init(host: host, port: port, username: location.username, password: location.password, database: location.database, tls: tls)
        case .unixSocket(let path):
            configuration = .init(unixSocketPath: path, username: location.username, password: location.password, database: location.database)
        }
        configuration.options.maximumConnections = max(2, maxConnections)
        configuration.options.minimumConnections = 0
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.additionalStartupParameters = [("application_name", "sloth-runner")]
        if let schema = location.schema { configuration.options.additionalStartupParameters.append(("search_path", schema)) }
        let client = PostgresClient(configuration: configuration, backgroundLogger: PostgresErrors.quiet)
        self.client = client
        clientTask = Task { await client.run() }
        pool = PGPool(client: client, location: location)
        writer = PostgresWriter(client: client, location: location, logger: logger)
        do {
            try await Self.migrate(client: client, location: location)
        } catch {
            await writer.close()
            clientTask.cancel()
            throw Self.explainOpen(error, location: location)
        }
    }

    /// Opens the store a `postgres://` URL names.
    public convenience init(url: String, logger: Logger = Logger(label: "sloth.postgres")) async throws {
        try await self.init(location: try PostgresLocation(url: url), logger: logger)
    }

    static func explainOpen(_ error: any Error, location: PostgresLocation) -> any Error {
        if let e = error as? PostgresStoreError {
            switch e.sqlState {
            case "3D000": return SlothError.invalidInput("the PostgreSQL database '\(location.database)' does not exist on \(location.serverDescription); create it (createdb \(location.database)) or fix the URL")
            case "28P01", "28000": return SlothError.invalidInput("PostgreSQL at \(location.serverDescription) refused user '\(location.username)': \(e.message)")
            default: return e.slothError
            }
        }
        if let e = error as? PSQLError, e.code == .server, let info = e.serverInfo {
            return explainOpen(PostgresStoreError(sqlState: info[.sqlState] ?? "", message: info[.message] ?? "\(e.code)"), location: location)
        }
        if let e = error as? PSQLError {
            return SlothError.storage(PostgresErrors.unreachable(e, location: location))
        }
        return error
    }

    static func migrate(client: PostgresClient, location: PostgresLocation) async throws {
        try await PGPool(client: client, location: location).withConnection { connection in
            try await connection.rows("SELECT pg_advisory_lock($1)", [.int(PostgresSchema.migrationLock)])
            do {
                if let schema = location.schema {
                    // A plain name (checked when the URL was read), so it may stand in the statement.
                    try await connection.rows("CREATE SCHEMA IF NOT EXISTS \(schema)", [])
                }
                try await connection.rows("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)", [])
                let current = Int(try await connection.rows("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", []).first?.int(0) ?? 0)
                if current > PostgresSchema.migrations.count {
                    throw SlothError.invalidInput("the PostgreSQL database \(location.database) was written by a newer sloth-runner (schema \(current); this one knows up to \(PostgresSchema.migrations.count)); upgrade sloth-runner")
                }
                if current == 0 {
                    // A database of something else is refused, not mixed with ours.
                    let foreign = try await connection.rows(
                        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name IN ('events', 'hooks') LIMIT 1", [])
                    if !foreign.isEmpty {
                        throw SlothError.invalidInput("the PostgreSQL database \(location.database) already has an events or hooks table that sloth-runner did not create; give sloth-runner a database of its own")
                    }
                }
                for (i, sql) in PostgresSchema.migrations.enumerated() where i >= current {
                    try await connection.rows("BEGIN", [])
                    do {
                        for statement in PostgresSchema.statements(of: sql) { try await connection.rows(statement, []) }
                        try await connection.rows("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", [.int(i + 1), .int(nowMillis())])
                        try await connection.rows("COMMIT", [])
                    } catch {
                        _ = try? await connection.rows("ROLLBACK", [])
                        throw PostgresErrors.translate(error, sql: "migration \(i + 1)")
                    }
                }
            } catch {
                _ = try? await connection.rows("SELECT pg_advisory_unlock($1)", [.int(PostgresSchema.migrationLock)])
                throw error
            }
            try await connection.rows("SELECT pg_advisory_unlock($1)", [.int(PostgresSchema.migrationLock)])
        }
    }

    /// Commits what is queued, then closes the pool. Waits at most a few seconds for the pool
    /// to wind down: during an outage a connection attempt may not end when asked to, and a
    /// daemon shutting down must not hang on it (nothing of ours is pending by then).
    public func close() async {
        guard !closed.exchange(true, ordering: .relaxed) else { return }
        await writer.close()
        clientTask.cancel()
        let ended = LeaseRace<Bool>()
        let task = clientTask
        Task {
            await task.value
            ended.finish(.success(true))
        }
        Task {
            try? await Task.sleep(nanoseconds: 3_000_000_000)
            ended.finish(.success(false))
        }
        _ = try? await ended.result()
    }

    package func closeNow() {
        Task { await self.close() }
    }

    /// Runs `work` in a writer transaction (batched with other writes of this process).
    func write<T: Sendable>(_ work: @escaping @Sendable (PGTransaction) async throws -> T) async throws -> T {
        try await writer.perform(work)
    }

    /// (transactions, jobs) committed so far, for `bench`.
    /// How many writer transactions may be in flight at once (see `PostgresWriter`).
    package static var writerPipelineDepth: Int { PostgresWriter.pipelineDepth }

    package var writerStats: (commits: Int, jobs: Int) {
        (writer.commits.load(ordering: .relaxed), writer.committedJobs.load(ordering: .relaxed))
    }

    // MARK: rows

    static let eventColumns = "id, type, data, status, error, timestamp, created_at, processed_at, stack, attempts, next_run_at, lease_owner, lease_expires_at, parent_id, chain_depth, replay_of, replay"
    static let eventColumnCount = 17
    /// The same, as read back (JSONB as its text).
    static let eventSelect = "id, type, data::text, status, error, timestamp, created_at, processed_at, stack, attempts, next_run_at, lease_owner, lease_expires_at, parent_id, chain_depth, replay_of, replay"

    static func event(from row: PGRow) throws -> Event {
        let data: JSONValue
        do { data = try JSONValue.parse(row.textValue(2)) } catch { throw SlothError.storage("event \(row.textValue(0)) holds unreadable data: \(error)") }
        return Event(
            id: row.textValue(0), type: row.textValue(1), stack: row.text(8), timestamp: row.intValue(5), data: data,
            status: EventStatus(rawValue: row.textValue(3)) ?? .pending, error: row.text(4),
            createdAt: row.intValue(6), processedAt: row.int(7), attempts: Int(row.intValue(9)),
            parentID: row.text(13), chainDepth: Int(row.intValue(14)), nextRunAt: row.intValue(10),
            leaseOwner: row.text(11), leaseExpiresAt: row.int(12), replay: ReplayMark.stored(of: row.text(15), row.text(16)))
    }

    static let executionColumns = "id, event_id, hook_id, hook_name, success, output, error, duration_ms, executed_at, attempt, instructions, peak_memory_bytes, message"

    static func execution(from row: PGRow) -> HookExecution {
        HookExecution(
            id: row.intValue(0), eventID: row.textValue(1), hookID: row.textValue(2), hookName: row.textValue(3),
            success: row.bool(4), output: row.textValue(5), error: row.text(6), durationMillis: row.intValue(7),
            executedAt: row.intValue(8), attempt: Int(row.intValue(9)),
            usage: ResourceUsage(instructions: row.intValue(10), peakMemoryBytes: Int(row.intValue(11))), message: row.text(12))
    }

    /// Moves events to pending with `sql` (an UPDATE ending in its WHERE clause) and journals each.
    static func movePending(_ sql: String, _ args: [PGValue], on tx: PGTransaction) async throws -> Int {
        let ids = try await tx.query(sql + " RETURNING id", args) { $0.textValue(0) }
        for id in ids { tx.journal(id, status: EventStatus.pending.rawValue) }
        return ids.count
    }

    // MARK: events: hot path

    public func insertEvents(_ events: [Event]) async throws {
        guard !events.isEmpty else { return }
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            writer.submit(.insert(events, nil, { c.resume(with: $0) }))
        }
    }

    package func insertClaimed(_ event: Event, slot: OutcomeSlot) async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            writer.submit(.insert([event], slot, { c.resume(with: $0) }))
        }
    }

    package func recordOutcomes(_ outcomes: [EventOutcome]) async throws -> [OutcomeWrite] {
        guard !outcomes.isEmpty else { return [] }
        return try await withCheckedThrowingContinuation { (c: CheckedContinuation<[OutcomeWrite], any Error>) in
            writer.submit(.outcomes(outcomes, { c.resume(with: $0) }))
        }
    }

    package func insertChildEvent(_ event: Event, originKey: String) async throws -> (event: Event, inserted: Bool) {
        let (stored, inserted) = try await write { tx in try await Self.insertKeyed(event, originKey: originKey, on: tx) }
        return (stored, inserted)
    }

    package func insertKeyedEvent(_ event: Event, originKey: String, expiredBefore: Millis) async throws -> (event: Event, inserted: Bool) {
        let (stored, inserted) = try await write { tx in
            try await tx.run("UPDATE events SET origin_key = NULL WHERE origin_key = $1 AND created_at < $2 RETURNING 1", [.text(originKey), .int(expiredBefore)])
            return try await Self.insertKeyed(event, originKey: originKey, on: tx)
        }
        return (stored, inserted)
    }

    private static func insertKeyed(_ event: Event, originKey: String, on tx: PGTransaction) async throws -> (Event, Bool) {
        var set = PGRecordSet()
        PostgresBulkWrites.addEvent(event, finishedAs: nil, to: &set)
        let inserted = try await tx.run(
            """
            INSERT INTO events (\(eventColumns), origin_key)
            SELECT \(eventColumns), $2 FROM json_to_recordset($1::json) AS r(\(PostgresBulkWrites.eventRecordColumns))
            ON CONFLICT (origin_key) WHERE origin_key IS NOT NULL DO NOTHING
            RETURNING 1
            """, [.text(set.json), .text(originKey)])
        if inserted == 1 {
            tx.journal(event.id, status: event.status.rawValue)
            return (event, true)
        }
        guard let existing = try await tx.query("SELECT \(eventSelect) FROM events WHERE origin_key = $1", [.text(originKey)], Self.event(from:)).first else {
            throw SlothError.storage("event with origin \(originKey) neither inserted nor found")
        }
        return (existing, false)
    }

    package func claimEvents(owner: String, leaseMillis: Int64, limit: Int, now: Millis, tags: [String]) async throws -> [Event] {
        try await write { tx in
            let claimed = try await tx.query(
                """
                UPDATE events SET status = 'processing', lease_owner = $1, lease_expires_at = $2, attempts = attempts + 1
                WHERE id IN (
                    SELECT id FROM events WHERE status = 'pending' AND next_run_at <= $3 AND (needs_tags IS NULL OR needs_tags <@ $5::jsonb)
                    ORDER BY next_run_at, id LIMIT $4 FOR UPDATE SKIP LOCKED)
                RETURNING \(Self.eventSelect)
                """, [.text(owner), .int(now + leaseMillis), .int(now), .int(limit), .text(Hook.storedTags(tags) ?? "[]")], Self.event(from:)
            ).sorted { $0.id < $1.id }
            for e in claimed { tx.journal(e.id, status: EventStatus.processing.rawValue) }
            return claimed
        }
    }

    package func hookProgress(eventID: String) async throws -> HookProgress {
        var p = HookProgress()
        for id in try await pool.query("SELECT DISTINCT hook_id FROM event_hook_executions WHERE event_id = $1 AND success", [.text(eventID)], { $0.textValue(0) }) {
            p.succeeded.insert(id)
        }
        for (id, attempts, dead) in try await pool.query("SELECT hook_id, attempts, dead FROM hook_attempts WHERE event_id = $1", [.text(eventID)], { ($0.textValue(0), Int($0.intValue(1)), $0.bool(2)) }) {
            p.failedAttempts[id] = attempts
            if dead { p.dead.insert(id) }
        }
        for id in try await pool.query("SELECT hook_id FROM hook_skips WHERE event_id = $1", [.text(eventID)], { $0.textValue(0) }) { p.skipped.insert(id) }
        return p
    }

    package func nextDueTime() async throws -> Millis? {
        try await pool.scalarInt("SELECT min(next_run_at) FROM events WHERE status = 'pending'")
    }

    // MARK: leases

    /// Rescues expired leases, skipping rows another transaction holds (their owner writing an
    /// outcome right now): no node waits on another's row locks, and no deadlock forms.
    static let rescueSQL = """
        UPDATE events SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL
        WHERE id IN (SELECT id FROM events WHERE status = 'processing' AND lease_expires_at < $1 ORDER BY id FOR UPDATE SKIP LOCKED)
        """

    package func keepLeases(owner: String, eventIDs: [String], until: Millis, rescueExpiredBefore now: Millis) async throws -> Int {
        try await write { tx in
            if !eventIDs.isEmpty {
                try await tx.run(
                    "UPDATE events SET lease_expires_at = $1 WHERE lease_owner = $2 AND status = 'processing' AND id = ANY($3) RETURNING 1",
                    [.int(until), .text(owner), .texts(eventIDs.sorted())])
            }
            return try await Self.movePending(Self.rescueSQL, [.int(now)], on: tx)
        }
    }

    package func releaseLeases(owner: String, eventIDs: [String]?) async throws -> Int {
        try await write { tx in
            if let ids = eventIDs {
                return try await Self.movePending(
                    "UPDATE events SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL WHERE id = ANY($1) AND lease_owner = $2 AND status = 'processing'",
                    [.texts(ids), .text(owner)], on: tx)
            }
            return try await Self.movePending(
                "UPDATE events SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = $1 AND status = 'processing'",
                [.text(owner)], on: tx)
        }
    }

    package func releaseStaleLeases(nodePrefix: String, current: String) async throws -> Int {
        try await write { tx in
            try await tx.run("DELETE FROM singletons WHERE left(owner, length($1)) = $1 AND owner <> $2 RETURNING 1", [.text(nodePrefix), .text(current)])
            try await tx.run("UPDATE nodes SET state = 'dead' WHERE state = 'alive' AND left(owner, length($1)) = $1 AND owner <> $2 RETURNING 1", [.text(nodePrefix), .text(current)])
            return try await Self.movePending(
                """
                UPDATE events SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL
                WHERE status = 'processing' AND lease_owner IS NOT NULL AND left(lease_owner, length($1)) = $1 AND lease_owner <> $2
                """, [.text(nodePrefix), .text(current)], on: tx)
        }
    }

    package func rescueExpiredLeases(now: Millis) async throws -> Int {
        try await write { tx in try await Self.movePending(Self.rescueSQL, [.int(now)], on: tx) }
    }

    // MARK: queue: re-arming a failed event

    public func retryEvent(id: String, now: Millis) async throws {
        try await write { tx in
            guard let status = try await tx.rows("SELECT status FROM events WHERE id = $1 FOR UPDATE", [.text(id)]).first?.textValue(0) else {
                throw SlothError.notFound("no event with id \(id)")
            }
            guard status == EventStatus.failed.rawValue || status == EventStatus.completed.rawValue else {
                throw SlothError.invalidInput("event \(id) is \(status); only failed (or completed) events can be retried")
            }
            try await tx.run("UPDATE hook_attempts SET dead = FALSE, attempts = 0, updated_at = $1 WHERE event_id = $2 RETURNING 1", [.int(now), .text(id)])
            _ = try await Self.movePending(
                "UPDATE events SET status = 'pending', error = NULL, processed_at = NULL, next_run_at = $1, lease_owner = NULL, lease_expires_at = NULL, needs_tags = NULL WHERE id = $2",
                [.int(now), .text(id)], on: tx)
        }
    }

    // MARK: upkeep

    package func storageBytes() async throws -> Int64 {
        try await pool.scalarInt("SELECT pg_database_size(current_database())") ?? 0
    }

    /// Nothing to check: a server out of reach is not a store gone wrong (the pool reconnects,
    /// and every operation meanwhile fails on its own with the reason), unlike a SQLite file
    /// deleted under a running engine.
    package func verifyStorage() async throws {}

    // MARK: other nodes' writes

    /// One NOTIFY per commit, however many events it holds: each may wake an idle node.
    package var writeSignalsAreCommits: Bool { true }

    package func watchWrites(_ onWrite: @escaping @Sendable () -> Void) -> (any StoreWriteWatch)? {
        PostgresNotifications.start(location: location, client: client, logger: logger, onWrite: onWrite)
    }
}
