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

    private final class JobQueue: Sendable {
        let state = Mutex<(queue: [Job], closed: Bool)>(([], false))
        let wake = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
    }

    private let queue = JobQueue()
    private let batches: Bool

    init(name: String, batches: Bool, open: @escaping @Sendable () throws -> SQLiteConnection) throws {
        self.batches = batches
        let opened = DispatchSemaphore(value: 0)
        let openError = Mutex<(any Error)?>(nil)
        let queue = self.queue
        let thread = Thread {
            nameCurrentThread(name)
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
            SQLiteThread.loop(connection: connection, queue: queue, batches: batches)
            connection.close()
            queue.finished.signal()
        }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
        opened.wait()
        if let error = openError.withLock({ $0 }) { throw error }
    }

    private static func loop(
        connection: SQLiteConnection, queue: JobQueue, batches: Bool
    ) {
        var held: [Job] = []
        var lastBatch = 0
        while true {
            if !held.isEmpty {
                let nearest = held.reduce(UInt64.max) { min($0, $1.hold!.deadline) }
                let now = monotonicNanos()
                if nearest > now { _ = queue.wake.wait(timeout: .now() + .nanoseconds(Int(nearest - now))) }
            } else {
                queue.wake.wait()
            }
            // One wake-up per job was signalled; all of them are taken below, so drop the rest.
            while queue.wake.wait(timeout: .now()) == .success {}
            let (arrived, closed) = queue.state.withLock { state -> ([Job], Bool) in
                let b = state.queue
                state.queue.removeAll(keepingCapacity: true)
                return (b, state.closed)
            }
            if arrived.isEmpty {
                if held.isEmpty {
                    if closed { return }
                    continue
                }
                // Only held jobs: they ride with the next arrivals unless one is due.
                let now = monotonicNanos()
                if !closed && !held.contains(where: { $0.hold!.deadline <= now }) { continue }
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
            let busy = !closed && max(lastBatch, arrived.count + held.count) >= busyBatch
            let now = monotonicNanos()
            for job in held + arrived {
                guard let hold = job.hold else {
                    batch.append(job)
                    continue
                }
                if busy, now < hold.deadline, !hold.ready() { keep.append(job) } else { last.append(job) }
            }
            held = keep
            if batch.isEmpty && last.isEmpty { continue }
            // Held-capable jobs go last: the batch's running time is more time for them to get ready.
            batch += last
            runBatch(batch, on: connection)
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
            for (job, result) in zip(batch, results) { job.done(result) }
            return
        }
        if let results = attempt(batch, on: db, isolated: true) {
            for (job, result) in zip(batch, results) { job.done(result) }
            return
        }
        let failure = SlothError.storage("database error: \(db.errorMessage)")
        for job in batch { job.done(.failure(failure)) }
    }

    /// One transaction over the batch; nil when it had to be abandoned.
    private static func attempt(_ batch: [Job], on db: SQLiteConnection, isolated: Bool) -> [Result<any Sendable, any Error>]? {
        var results: [Result<any Sendable, any Error>] = []
        results.reserveCapacity(batch.count)
        db.batchEpilogue = nil
        do {
            try db.run("BEGIN IMMEDIATE")
        } catch {
            return batch.map { _ in .failure(error) }
        }
        for job in batch {
            if !isolated {
                do {
                    results.append(.success(try job.work(db)))
                } catch {
                    _ = try? db.run("ROLLBACK")
                    if batch.count == 1 { return [.failure(error)] }
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
                _ = try? db.run("ROLLBACK TO job")
                _ = try? db.run("RELEASE job")
                results.append(.failure(error))
            }
        }
        do {
            try db.batchEpilogue?(db)
            db.batchEpilogue = nil
            try db.run("COMMIT")
        } catch {
            db.batchEpilogue = nil
            _ = try? db.run("ROLLBACK")
            return batch.map { _ in .failure(error) }
        }
        return results
    }

    /// Runs `work` on the connection's thread, possibly held back by `hold`.
    func perform<T: Sendable>(hold: Hold? = nil, _ work: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<T, any Error>) in
            submit(work, hold: hold) { result in cont.resume(with: result) }
        }
    }

    func submit<T: Sendable>(
        _ work: @escaping @Sendable (SQLiteConnection) throws -> T, hold: Hold?, done: @escaping @Sendable (Result<T, any Error>) -> Void
    ) {
        let job = Job(work: { try work($0) }, done: { result in done(result.map { $0 as! T }) }, hold: hold)
        let accepted = queue.state.withLock { state -> Bool in
            if state.closed { return false }
            state.queue.append(job)
            return true
        }
        if accepted {
            queue.wake.signal()
        } else {
            done(.failure(SlothError.storage("the database is closed")))
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
