import Foundation

/// Collects event outcomes from the workers and commits them in batches: while one batch is
/// being written, the next one gathers. Workers never wait for a commit, so throughput is not
/// capped at workers ÷ commit latency.
actor OutcomeRecorder {
    typealias Completion = @Sendable (Bool) async -> Void

    private let store: any EventStore
    private var pending: [(EventOutcome, Completion)] = []
    private var flushing = false
    static let maxBatch = 512

    init(store: any EventStore) { self.store = store }

    func submit(_ outcome: EventOutcome, completion: @escaping Completion) {
        pending.append((outcome, completion))
        if !flushing {
            flushing = true
            Task { await self.flush() }
        }
    }

    private func flush() async {
        while !pending.isEmpty {
            let batch = Array(pending.prefix(Self.maxBatch))
            pending.removeFirst(batch.count)
            let results: [Bool]
            do {
                results = try await store.recordOutcomes(batch.map(\.0))
            } catch {
                // The events keep their leases and are claimed again once those lapse.
                FileHandle.standardError.write(Data("sloth-runner: could not record \(batch.count) outcome(s): \(error); they will be retried once their leases lapse\n".utf8))
                results = Array(repeating: false, count: batch.count)
            }
            for ((_, completion), recorded) in zip(batch, results) { await completion(recorded) }
        }
        flushing = false
    }
}
