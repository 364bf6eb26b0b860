import Foundation
import Logging
import Synchronization

/// Collects event outcomes from the workers and commits them in batches: while one batch is
/// being written, the next one gathers. Workers never wait for a commit, so throughput is not
/// capped at workers ÷ commit latency.
///
/// An outcome that cannot be written (disk full, database locked by another process) is kept
/// and written again with backoff until it lands: its event keeps its lease meanwhile (the
/// engine counts it as work in progress), so no other claim runs its hooks a second time, and
/// it recovers by itself once the cause is gone. One outcome's failure never holds back the
/// others of its batch (the store isolates them).
final class OutcomeRecorder: Sendable {
    typealias Completion = @Sendable (Bool) -> Void

    private struct Entry: Sendable {
        let outcome: EventOutcome
        let completion: Completion
    }

    private struct State {
        var pending: [Entry] = []
        var flushing = false
        /// Outcomes whose write failed, waiting for their next try.
        var retrying: [Entry] = []
        var retryScheduled = false
        /// Failed writes in a row, for the backoff.
        var failuresInARow = 0
        var lastFailureLogged: Double = 0
        var stopped = false
    }

    private let store: any LeasedQueueStore
    private let observer: (@Sendable (EngineObservation) -> Void)?
    private let logger: Logger
    private let state = Mutex(State())
    static let maxBatch = 512
    static let firstRetryMillis: Int64 = 50
    static let maxRetryMillis: Int64 = 5_000

    init(store: any LeasedQueueStore, observer: (@Sendable (EngineObservation) -> Void)?, logger: Logger) {
        self.logger = logger
        self.store = store
        self.observer = observer
    }

    func submit(_ outcome: EventOutcome, completion: @escaping Completion) {
        let entry = Entry(outcome: outcome, completion: completion)
        enum Next { case flush, wait, refuse }
        let next = state.withLock { s -> Next in
            if s.stopped { return .refuse }
            s.pending.append(entry)
            if s.flushing { return .wait }
            s.flushing = true
            return .flush
        }
        switch next {
        case .flush: Task { await self.flush() }
        case .wait: break
        case .refuse: completion(false)
        }
    }

    /// Outcomes not yet written (in a batch, or waiting to be tried again).
    var unwritten: Int { state.withLock { $0.pending.count + $0.retrying.count } }

    /// Gives up on what is still unwritten (the engine is stopping): those events keep their
    /// leases until they lapse and are then claimed again, by this node after a restart or by
    /// another. Their completions report "not recorded".
    func stop() {
        let abandoned = state.withLock { s -> [Entry] in
            s.stopped = true
            defer {
                s.retrying.removeAll()
                s.pending.removeAll()
            }
            return s.retrying + s.pending
        }
        for e in abandoned { e.completion(false) }
    }

    private func flush() async {
        while true {
            let batch = state.withLock { s -> [Entry] in
                let b = Array(s.pending.prefix(Self.maxBatch))
                s.pending.removeFirst(b.count)
                if b.isEmpty { s.flushing = false }
                return b
            }
            if batch.isEmpty { return }
            var failed: [Entry] = []
            var reason = ""
            do {
                let results = try await store.recordOutcomes(batch.map(\.outcome))
                for (entry, result) in zip(batch, results) {
                    switch result {
                    case .recorded: entry.completion(true)
                    case .superseded: entry.completion(false)
                    case .failed(let why):
                        failed.append(entry)
                        reason = why
                    }
                }
            } catch {
                failed = batch
                reason = "\(error)"
            }
            if failed.isEmpty {
                recovered()
            } else {
                retryLater(failed, reason: reason)
            }
        }
    }

    private func recovered() {
        let after = state.withLock { s -> Int in
            defer { s.failuresInARow = 0 }
            return s.retrying.isEmpty && !s.retryScheduled ? s.failuresInARow : 0
        }
        if after > 0 {
            observer?(.outcomesRecovered(afterFailedWrites: after))
            logger.notice("outcomes are being recorded again (after \(after) failed write\(after == 1 ? "" : "s"))")
        }
    }

    private func retryLater(_ entries: [Entry], reason: String) {
        let now = monotonicSeconds()
        let (delay, log, stopped) = state.withLock { s -> (Int64, Bool, Bool) in
            if s.stopped { return (0, false, true) }
            s.retrying.append(contentsOf: entries)
            s.failuresInARow += 1
            let delay = min(Self.maxRetryMillis, Self.firstRetryMillis << Int64(min(16, s.failuresInARow - 1)))
            // First failure, then at most every 30 s while it lasts.
            let log = now - s.lastFailureLogged > 30
            if log { s.lastFailureLogged = now }
            let schedule = !s.retryScheduled
            s.retryScheduled = true
            return (schedule ? delay : -1, log, false)
        }
        if stopped {
            for e in entries { e.completion(false) }
            return
        }
        observer?(.outcomeWriteFailed(outcomes: entries.count, error: reason))
        if log {
            logger.error(
                "could not record \(entries.count) outcome(s): \(reason); retrying with backoff until they land (their events keep their leases)",
                metadata: ["outcomes": "\(entries.count)", "error": "\(reason)"])
        }
        guard delay >= 0 else { return }
        Task {
            try? await Task.sleep(nanoseconds: UInt64(delay) * 1_000_000)
            let startFlush = state.withLock { s -> Bool in
                s.retryScheduled = false
                if s.stopped { return false }
                s.pending.insert(contentsOf: s.retrying, at: 0)
                s.retrying.removeAll()
                if s.flushing { return false }
                s.flushing = true
                return true
            }
            if startFlush { await self.flush() }
        }
    }
}
