import Metrics
import Foundation
import Synchronization

/// Owns one SQLite connection on a dedicated OS thread. SQLite calls block (fsync), and
/// Swift's cooperative pool has one thread per core, so they must never run there.
///
/// The writer flavour commits group-wise: every job that arrived while the previous commit was
/// in flight shares the next transaction (run again with a savepoint per job if one fails, so a
/// failing job does not undo its neighbours). A lone job is committed at once; nothing waits for
/// company. Only when the writer is busy may a job marked with a `Hold` wait for the next batch.
final class SQLiteThread: Sendable {
    private struct Job: Sendable {
        let work: @Sendable (SQLiteConnection) throws -> any Sendable
        let done: @Sendable (Result<any Sendable, any Error>) -> Void
        /// A job that may be held back (see `Hold`); it runs after the batch's other jobs.
        let hold: Hold?
        /// Runs on its own, outside any transaction (VACUUM cannot run inside one).
        var alone = false
    }

    /// Holding a job back for a moment while the writer is busy: `ready` says the wait is
    /// over (e.g. the event's outcome arrived, so insert and outcome become one write). A held
    /// job runs with the next batch after it is ready, at the latest at `deadline` (monotonic
    /// nanoseconds), and at once when the writer is idle, so a quiet system adds no latency.
    struct Hold: Sendable {
        let ready: @Sendable () -> Bool
        let deadline: UInt64
    }

    /// Batches at least this large mean the writer is the bottleneck: holding a job back then
    /// costs its caller little (it would wait for the batch in progress anyway) and saves a write.
    static let busyBatch = 32

    /// How often a writer holding jobs looks for ones that became ready. Readiness is polled
    /// rather than signalled: a wake-up per event would cost more than the polls.
    static let holdPollNanos: UInt64 = 200_000

    private final class JobQueue: Sendable {
        let state = Mutex<(queue: [Job], closed: Bool)>(([], false))
        let wake = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        /// Set while the writer works through large batches: a job that may be held then skips
        /// the wake-up (the writer takes it with its next batch or poll), which saves a futex
        /// call per event where it matters most.
        let busy = Atomic<Bool>(false)
    }

    private let queue = JobQueue()
    private let batches: Bool

    /// Counts a batching thread's transactions, for `bench`, and reports each commit's size and
    /// time to swift-metrics (`/metrics`; no-op unless the program bootstrapped a backend). Per
    /// transaction, not per job: a busy writer commits a few hundred jobs at a time.
    final class Stats: Sendable {
        private let batchCount = Atomic<Int>(0)
        private let jobCount = Atomic<Int>(0)
        private let busyNanos = Atomic<UInt64>(0)
        private let batchSize = Recorder(label: "sloth_store_commit_batch_size")
        private let commitTime = Metrics.Timer(label: "sloth_store_commit_seconds", preferredDisplayUnit: .seconds)

        func record(jobs: Int, nanos: UInt64) {
            batchCount.add(1, ordering: .relaxed)
            jobCount.add(jobs, ordering: .relaxed)
            busyNanos.add(nanos, ordering: .relaxed)
            batchSize.record(jobs)
            commitTime.recordNanoseconds(Int64(nanos))
        }

        var snapshot: SQLiteWriterStats {
            SQLiteWriterStats(
                transactions: batchCount.load(ordering: .relaxed), jobs: jobCount.load(ordering: .relaxed),
                busySeconds: Double(busyNanos.load(ordering: .relaxed)) / 1e9)
        }
    }

    let stats = Stats()

    /// The thread's nice value as it took effect: the one asked for, or 0 when the system did
    /// not allow it (a negative value needs root or CAP_SYS_NICE).
    let nice: Int32

    /// - Parameter nice: the thread's nice value (higher is lower priority; lowering it below 0
    ///   needs privilege, and without it the thread keeps 0).
    init(name: String, batches: Bool, nice: Int32 = 0, open: @escaping @Sendable () throws -> SQLiteConnection) throws {
        self.batches = batches
        let stats = self.stats
        let opened = DispatchSemaphore(value: 0)
        let openError = Mutex<(any Error)?>(nil)
        let applied = Atomic<Int32>(0)
        let queue = self.queue
        let thread = Thread {
            nameCurrentThread(name)
            // On Linux the nice value is per thread, and `who` 0 is the calling thread.
            if nice != 0, setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, nice) == 0 {
                applied.store(nice, ordering: .relaxed)
            }
            let connection: SQLiteConnection
            do {
                connection = try open()
            } catch {
                openError.withLock { $0 = error }
                opened.signal()
                queue.finished.signal()
                return
            }
            opened.signal()
            SQLiteThread.loop(connection: connection, queue: queue, batches: batches, stats: stats)
            connection.close()
            queue.finished.signal()
        }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
        opened.wait()
        self.nice = applied.load(ordering: .relaxed)
        if let error = openError.withLock({ $0 }) { throw error }
    }

    private static func loop(
        connection: SQLiteConnection, queue: JobQueue, batches: Bool, stats: Stats
    ) {
        var held: [Job] = []
        var lastBatch = 0
        while true {
            let queued = queue.state.withLock { !$0.queue.isEmpty || $0.closed }
            if !queued {
                if held.isEmpty {
                    // About to block: from now on every job signals, and one that came without a
                    // signal just before is caught by the check above or the next one.
                    queue.busy.store(false, ordering: .sequentiallyConsistent)
                    if queue.state.withLock({ $0.queue.isEmpty && !$0.closed }) { queue.wake.wait() }
                } else {
                    var nearest = UInt64.max
                    for job in held { nearest = min(nearest, job.hold!.deadline) }
                    let now = monotonicNanos()
                    let wakeAt = min(nearest, now + holdPollNanos)
                    if wakeAt > now { _ = queue.wake.wait(timeout: .now() + .nanoseconds(Int(wakeAt - now))) }
                }
            }
            // Wake-ups were signalled per job; all of them are taken below, so drop the rest.
            while queue.wake.wait(timeout: .now()) == .success {}
            let (arrived, closed) = queue.state.withLock { state -> ([Job], Bool) in
                let b = state.queue
                state.queue.removeAll(keepingCapacity: true)
                return (b, state.closed)
            }
            if arrived.isEmpty && held.isEmpty {
                if closed { return }
                continue
            }
            guard batches else {
                for job in arrived {
                    let result: Result<any Sendable, any Error>
                    do { result = .success(try job.work(connection)) } catch { result = .failure(error) }
                    job.done(result)
                }
                if closed { return }
                continue
            }
            var batch: [Job] = []
            var last: [Job] = []
            var keep: [Job] = []
            var solo: [Job] = []
            let busy = !closed && max(lastBatch, arrived.count + held.count) >= busyBatch
            queue.busy.store(busy, ordering: .relaxed)
            let now = monotonicNanos()
            for job in held { classify(job) }
            for job in arrived { classify(job) }
            func classify(_ job: Job) {
                if job.alone {
                    solo.append(job)
                    return
                }
                guard let hold = job.hold else {
                    batch.append(job)
                    return
                }
                if busy, now < hold.deadline, !hold.ready() { keep.append(job) } else { last.append(job) }
            }
            held = keep
            for job in solo {
                let result: Result<any Sendable, any Error>
                do { result = .success(try job.work(connection)) } catch { result = .failure(error) }
                job.done(result)
            }
            if batch.isEmpty && last.isEmpty {
                if closed && held.isEmpty { return }
                continue
            }
            // Held-capable jobs go last: the batch's running time is more time for them to get ready.
            batch += last
            let started = monotonicNanos()
            runBatch(batch, on: connection)
            stats.record(jobs: batch.count, nanos: monotonicNanos() - started)
            lastBatch = batch.count
            // Closing refuses new jobs, so once the last were taken (none is held then) we are done.
            if closed && held.isEmpty { return }
        }
    }

    /// Runs a batch in one transaction. Optimistic first: no savepoints, since jobs rarely fail.
    /// If one does, the transaction is rolled back and the batch runs again with a savepoint per
    /// job, so only the failing job fails. Jobs are pure database work, so running one again
    /// after a rollback is safe.
    private static func runBatch(_ batch: [Job], on db: SQLiteConnection) {
        if let results = attempt(batch, on: db, isolated: false) {
            report(batch, results)
            return
        }
        if let results = attempt(batch, on: db, isolated: true) {
            report(batch, results)
            return
        }
        let failure = SlothError.storage("database error: \(db.errorMessage)")
        report(batch, batch.map { _ in .failure(failure) })
    }

    /// Batches at least this large hand their completions to another thread.
    static let offloadedCompletions = 16

    /// Tells each job's caller how it went. Resuming a waiting task costs an enqueue and often a
    /// thread wake-up; for a large batch that is done in one hop on the concurrency pool, so the
    /// writer (the pipeline's one serial stage) goes straight on to the next transaction. A small
    /// batch is answered here, which is quicker for a lone caller.
    private static func report(_ batch: [Job], _ results: [Result<any Sendable, any Error>]) {
        guard batch.count >= offloadedCompletions else {
            for (job, result) in zip(batch, results) { job.done(result) }
            return
        }
        DispatchQueue.global().async {
            for (job, result) in zip(batch, results) { job.done(result) }
        }
    }

    private static let begin = HotStatement("BEGIN IMMEDIATE")
    private static let commit = HotStatement("COMMIT")

    /// One transaction over the batch; nil when it had to be abandoned.
    private static func attempt(_ batch: [Job], on db: SQLiteConnection, isolated: Bool) -> [Result<any Sendable, any Error>]? {
        var results: [Result<any Sendable, any Error>] = []
        results.reserveCapacity(batch.count)
        db.batchEpilogue = nil
        do {
            try db.run(Self.begin) { _ in }
        } catch {
            return batch.map { _ in .failure(error) }
        }
        for job in batch {
            if !isolated {
                do {
                    results.append(.success(try job.work(db)))
                } catch {
                    // SQLite may have rolled the transaction back itself (full disk, I/O
                    // error): then running the batch again job by job would only fail again.
                    let rolledBack = !db.inTransaction
                    _ = try? db.run("ROLLBACK")
                    if batch.count == 1 || rolledBack { return batch.map { _ in .failure(error) } }
                    return nil
                }
                continue
            }
            do {
                try db.run("SAVEPOINT job")
                let value = try job.work(db)
                try db.run("RELEASE job")
                results.append(.success(value))
            } catch {
                // Without a transaction, what follows would commit statement by statement.
                guard db.inTransaction else { return batch.map { _ in .failure(error) } }
                _ = try? db.run("ROLLBACK TO job")
                _ = try? db.run("RELEASE job")
                results.append(.failure(error))
            }
        }
        do {
            try db.batchEpilogue?(db)
            db.batchEpilogue = nil
            try db.run(Self.commit) { _ in }
        } catch {
            db.batchEpilogue = nil
            _ = try? db.run("ROLLBACK")
            return batch.map { _ in .failure(error) }
        }
        return results
    }

    /// Runs `work` on the connection's thread, possibly held back by `hold`.
    func perform<T: Sendable>(hold: Hold? = nil, _ work: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        // Unsafe rather than checked: every job's `done` runs exactly once (a batch reports each of
        // its jobs once; a closed thread refuses a job at once), and the check's allocation is
        // paid per event.
        try await withUnsafeThrowingContinuation { (cont: UnsafeContinuation<T, any Error>) in
            // The job resumes the caller itself: one closure per job, not a second around it.
            enqueue(Job(work: { try work($0) }, done: { result in cont.resume(with: result.map { $0 as! T }) }, hold: hold))
        }
    }

    /// Runs `work` by itself, outside the batches' transactions (VACUUM, checkpoints).
    func performAlone<T: Sendable>(_ work: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        try await withUnsafeThrowingContinuation { (cont: UnsafeContinuation<T, any Error>) in
            var job = Job(work: { try work($0) }, done: { result in cont.resume(with: result.map { $0 as! T }) }, hold: nil)
            job.alone = true
            enqueue(job)
        }
    }

    func submit<T: Sendable>(
        _ work: @escaping @Sendable (SQLiteConnection) throws -> T, hold: Hold?, done: @escaping @Sendable (Result<T, any Error>) -> Void
    ) {
        enqueue(Job(work: { try work($0) }, done: { result in done(result.map { $0 as! T }) }, hold: hold))
    }

    private func enqueue(_ job: Job) {
        let hold = job.hold
        let accepted = queue.state.withLock { state -> Bool in
            if state.closed { return false }
            state.queue.append(job)
            return true
        }
        if accepted {
            if hold == nil || !queue.busy.load(ordering: .sequentiallyConsistent) { queue.wake.signal() }
        } else {
            job.done(.failure(SlothError.storage("the database is closed")))
        }
    }

    /// Finishes queued jobs, then closes the connection.
    func close() {
        let wasOpen = queue.state.withLock { state -> Bool in
            let open = !state.closed
            state.closed = true
            return open
        }
        if wasOpen {
            queue.wake.signal()
            queue.finished.wait()
        }
    }
}

/// How a store's writer has worked: transactions, jobs in them, and time spent in them.
package struct SQLiteWriterStats: Sendable {
    package var transactions: Int
    package var jobs: Int
    package var busySeconds: Double

    package static func - (a: SQLiteWriterStats, b: SQLiteWriterStats) -> SQLiteWriterStats {
        SQLiteWriterStats(transactions: a.transactions - b.transactions, jobs: a.jobs - b.jobs, busySeconds: a.busySeconds - b.busySeconds)
    }
}
