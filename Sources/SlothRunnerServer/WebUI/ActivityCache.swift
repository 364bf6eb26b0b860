import Synchronization
import SlothRunner

/// The overview's charts without counting a day of events at every load: a bucket that has
/// ended (a past minute, a past hour) does not change, so it is counted once and kept; only the
/// current bucket is counted again. On a store of 1,000,000 events within a day the first load
/// counts them all (~0.8 s here), later ones only the current bucket. A bucket pruned or
/// deleted from later keeps its count until this server restarts (a chart, not a ledger).
final class ActivityCache: Sendable {
    private let kept = Mutex<[Int64: [Millis: (total: Int, failed: Int)]]>([:])

    /// `count` buckets of `step` ending with the current one, oldest first.
    func series(driver: any HistoryQueryStore, step: Int64, count: Int, now: Millis) async throws -> [(start: Millis, total: Int, failed: Int)] {
        let current = (now / step) * step
        let first = current - Int64(count - 1) * step
        var known = kept.withLock { $0[step] ?? [:] }
        known = known.filter { $0.key >= first }
        // From the oldest bucket not yet known (all of them the first time), to now.
        let missingFrom = (first..<current).striding(by: step).first { known[$0] == nil } ?? current
        let counted = try await driver.activity(since: missingFrom, bucketMillis: step)
        var fresh: [Millis: (total: Int, failed: Int)] = [:]
        for row in counted { fresh[row.start] = (row.total, row.failed) }
        var out: [(start: Millis, total: Int, failed: Int)] = []
        for start in stride(from: first, through: current, by: Int(step)) {
            let value = start >= missingFrom ? (fresh[start] ?? (0, 0)) : (known[start] ?? (0, 0))
            if start < current { known[start] = value }
            out.append((start, value.total, value.failed))
        }
        kept.withLock { $0[step] = known }
        return out
    }
}

private extension Range where Bound == Int64 {
    func striding(by step: Int64) -> StrideTo<Int64> { stride(from: lowerBound, to: upperBound, by: Int(step)) }
}
