import Foundation
import Synchronization

/// Collects event outcomes from the workers and commits them in batches: while one batch is
/// being written, the next one gathers. Workers never wait for a commit, so throughput is not
/// capped at workers ÷ commit latency.
final class OutcomeRecorder: Sendable {
    typealias Completion = @Sendable (Bool) -> Void

    private let store: any EventStore
    private let state = Mutex<(pending: [(EventOutcome, Completion)], flushing: Bool)>(([], false))
    static let maxBatch = 512

    init(store: any EventStore) { self.store = store }

    func submit(_ outcome: EventOutcome, completion: @escaping Completion) {
        let startFlush = state.withLock { s -> Bool in
            s.pending.append((outcome, completion))
            if s.flushing { return false }
            s.flushing = true
            return true
        }
        if startFlush { Task { await self.flush() } }
    }

    private func flush() async {
        while true {
            let batch = state.withLock { s -> [(EventOutcome, Completion)] in
                let b = Array(s.pending.prefix(Self.maxBatch))
                s.pending.removeFirst(b.count)
                if b.isEmpty { s.flushing = false }
                return b
            }
            if batch.isEmpty { return }
            let results: [Bool]
            do {
                results = try await store.recordOutcomes(batch.map(\.0))
            } catch {
                // The events keep their leases and are claimed again once those lapse.
                FileHandle.standardError.write(Data("sloth-runner: could not record \(batch.count) outcome(s): \(error); they will be retried once their leases lapse\n".utf8))
                results = Array(repeating: false, count: batch.count)
            }
            for ((_, completion), recorded) in zip(batch, results) { completion(recorded) }
        }
    }
}
