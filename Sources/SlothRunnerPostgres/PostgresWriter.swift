import Foundation
import Logging
import PostgresNIO
import SlothRunner
import Synchronization

/// The store's writes, committed group-wise as the SQLite store's writer thread does: whatever
/// jobs queue up while a transaction runs go into the next one. Dispatched events of the whole
/// batch go in one multi-row insert, outcomes in one compare-and-set update; every other job
/// runs in the same transaction under a savepoint of its own, so one job's failure does not undo
/// the others. A job's caller hears back only after COMMIT: never a success that did not last.
final class PostgresWriter: Sendable {
    enum Job: Sendable {
        /// Events to store; with a slot, one event claimed by this node whose outcome may be
        /// written with it (see `EventStoreDriver.insertClaimed`).
        case insert([Event], OutcomeSlot?, @Sendable (Result<Void, any Error>) -> Void)
        case outcomes([EventOutcome], @Sendable (Result<[OutcomeWrite], any Error>) -> Void)
        case work(@Sendable (PGTransaction) async throws -> Void, @Sendable (Result<Void, any Error>) -> Void)

        func fail(_ error: any Error) {
            switch self {
            case .insert(_, _, let done): done(.failure(error))
            case .outcomes(_, let done): done(.failure(error))
            case .work(_, let done): done(.failure(error))
            }
        }
    }

    private struct Queue {
        var jobs: [Job] = []
        var waiter: CheckedContinuation<Void, Never>?
        var closed = false
    }

    private let queue = Mutex(Queue())
    private let pool: PGPool
    private let location: PostgresLocation
    private let logger: Logger
    /// Jobs per transaction, at most.
    static let batchLimit = 512
    private let loop = Mutex<Task<Void, Never>?>(nil)
    /// Transactions committed so far and the jobs they held; read by `bench`.
    let commits = Atomic<Int>(0)
    let committedJobs = Atomic<Int>(0)

    init(client: PostgresClient, location: PostgresLocation, logger: Logger) {
        self.pool = PGPool(client: client, location: location)
        self.location = location
        self.logger = logger
        loop.withLock { $0 = Task { await self.run() } }
    }

    func submit(_ job: Job) {
        let (accepted, waiter) = queue.withLock { q -> (Bool, CheckedContinuation<Void, Never>?) in
            guard !q.closed else { return (false, nil) }
            q.jobs.append(job)
            defer { q.waiter = nil }
            return (true, q.waiter)
        }
        guard accepted else {
            job.fail(SlothError.storage("the PostgreSQL store is closed"))
            return
        }
        waiter?.resume()
    }

    /// Runs `work` in a writer transaction and returns what it returned, once committed.
    func perform<T: Sendable>(_ work: @escaping @Sendable (PGTransaction) async throws -> T) async throws -> T {
        let box = Mutex<T?>(nil)
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            submit(.work({ tx in
                let value = try await work(tx)
                box.withLock { $0 = value }
            }, { c.resume(with: $0) }))
        }
        guard let value = box.withLock({ $0 }) else { throw SlothError.storage("a PostgreSQL write finished without its result") }
        return value
    }

    /// Stops taking jobs; those queued still commit. Returns once the loop ended.
    func close() async {
        let (waiter, task) = queue.withLock { q -> (CheckedContinuation<Void, Never>?, Task<Void, Never>?) in
            q.closed = true
            defer { q.waiter = nil }
            return (q.waiter, loop.withLock { $0 })
        }
        waiter?.resume()
        await task?.value
    }

    private func nextBatch() async -> [Job]? {
        while true {
            let taken = queue.withLock { q -> [Job]? in
                if q.jobs.isEmpty { return q.closed ? [] : nil }
                let n = min(q.jobs.count, Self.batchLimit)
                defer { q.jobs.removeFirst(n) }
                return Array(q.jobs.prefix(n))
            }
            if let taken { return taken.isEmpty ? nil : taken }
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = queue.withLock { q -> Bool in
                    if !q.jobs.isEmpty || q.closed { return true }
                    q.waiter = c
                    return false
                }
                if resumeNow { c.resume() }
            }
        }
    }

    /// Two transactions (by default) may be in flight at once when the later one only inserts:
    /// while PostgreSQL executes and flushes one batch, the next one's rows are on their way, so the
    /// engine and the server work at the same time instead of taking turns (on two cores the
    /// writer otherwise leaves one idle). Inserts of different events do not depend on each
    /// other; where the two meet — the hooks' run counters and the journal lock, taken in that
    /// order at the end of every transaction — the later one waits for the earlier's COMMIT, so
    /// journal numbers still follow commit order. A batch holding anything else (outcomes,
    /// whose rows may be in the transaction still in flight; claims; other writes) waits for
    /// every earlier transaction to commit first, as a single writer would.
    /// `SLOTH_RUNNER_PG_PIPELINE=N` (1–4; `bench` reports it) sets how many: 1 is the single
    /// writer, to compare; 3 measured no faster than 2 on two cores (more, smaller commits).
    static let pipelineDepth = Int(ProcessInfo.processInfo.environment["SLOTH_RUNNER_PG_PIPELINE"] ?? "").map { min(max($0, 1), 4) } ?? 2

    private func run() async {
        var inFlight: [Task<Void, Never>] = []
        while let batch = await nextBatch() {
            await holdForOutcomes(batch)
            let insertsOnly = batch.allSatisfy { job in
                if case .insert = job { return true }
                return false
            }
            guard insertsOnly, Self.pipelineDepth > 1 else {
                for t in inFlight { await t.value }
                inFlight = []
                await commit(batch)
                continue
            }
            inFlight.append(Task { await self.commit(batch) })
            // At most `pipelineDepth` in flight: the next batch is taken once the oldest committed.
            if inFlight.count >= Self.pipelineDepth { await inFlight.removeFirst().value }
        }
        for t in inFlight { await t.value }
    }

    /// How long a busy writer holds a batch for the outcomes of the events it inserts already
    /// claimed: a trivial hook finishes in well under that, and its event is then written once,
    /// in its final state, instead of inserted and updated (half the rows PostgreSQL writes).
    static let outcomeHoldNanos: UInt64 = 4_000_000

    private func holdForOutcomes(_ batch: [Job]) async {
        // A lone write is not held: nothing else waits to share its commit.
        guard batch.count > 1 else { return }
        let deadline = monotonicNanos() + Self.outcomeHoldNanos
        func waiting() -> Bool {
            batch.contains { job in
                if case .insert(_, let slot?, _) = job { return !slot.hasOutcome }
                return false
            }
        }
        while waiting() && monotonicNanos() < deadline {
            try? await Task.sleep(nanoseconds: 200_000)
        }
    }

    /// SQL states worth running a whole transaction again for: a deadlock with another node's
    /// transaction, or a serialization failure. Nothing of the batch stood, so it is safe.
    static let transient: Set<String> = ["40P01", "40001"]

    private func commit(_ batch: [Job]) async {
        var attempt = 0
        while true {
            attempt += 1
            do {
                let completions = try await pool.withConnection { connection in
                    try await self.transaction(batch, on: connection)
                }
                commits.add(1, ordering: .relaxed)
                committedJobs.add(batch.count, ordering: .relaxed)
                for complete in completions { complete() }
                return
            } catch {
                if let state = PostgresErrors.sqlState(error), Self.transient.contains(state), attempt < 5 { continue }
                let reported = Self.reportable(PostgresErrors.translate(error, sql: "", location: location))
                for job in batch { job.fail(reported) }
                return
            }
        }
    }

    static func reportable(_ error: any Error) -> any Error {
        if let e = error as? PostgresStoreError { return e.slothError }
        return error
    }

    /// Runs the batch in one transaction; returns how to tell each job, to call after COMMIT.
    private func transaction(_ batch: [Job], on connection: PostgresConnection) async throws -> [@Sendable () -> Void] {
        let tx = PGTransaction(connection)
        try await connection.rows("BEGIN", [])
        do {
            var completions: [@Sendable () -> Void] = []
            completions += try await PostgresBulkWrites.inserts(batch, tx)
            completions += try await PostgresBulkWrites.outcomes(batch, tx)
            let alone = batch.count == 1
            for job in batch {
                guard case .work(let work, let done) = job else { continue }
                if alone {
                    try await work(tx)
                    completions.append { done(.success(())) }
                    continue
                }
                let mark = tx.mark
                try await connection.rows("SAVEPOINT job", [])
                do {
                    try await work(tx)
                    try await connection.rows("RELEASE SAVEPOINT job", [])
                    completions.append { done(.success(())) }
                } catch {
                    // The connection or the transaction itself failed: nothing of the batch stands.
                    guard error is SlothError || PostgresErrors.sqlState(error) != nil, !Self.endsTransaction(error) else { throw error }
                    try await connection.rows("ROLLBACK TO SAVEPOINT job", [])
                    try await connection.rows("RELEASE SAVEPOINT job", [])
                    tx.rewind(to: mark)
                    let reported = Self.reportable(error)
                    completions.append { done(.failure(reported)) }
                }
            }
            try await tx.finish()
            try await connection.rows("COMMIT", [])
            return completions
        } catch {
            if !connection.isClosed { _ = try? await connection.rows("ROLLBACK", []) }
            throw error
        }
    }

    /// Errors after which the transaction cannot go on (a deadlock victim, a lost connection).
    static func endsTransaction(_ error: any Error) -> Bool {
        guard let state = PostgresErrors.sqlState(error) else {
            if case .storage(let m)? = error as? SlothError, m.contains("unreachable") { return true }
            return false
        }
        return transient.contains(state) || state.hasPrefix("08") || state.hasPrefix("57")
    }
}
