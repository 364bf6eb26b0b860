import Foundation
import SlothRunner

/// The time a source reads and waits on. Sources never call `Date()` or `Task.sleep`
/// themselves, so tests drive them with a clock they move by hand.
///
/// Two readings: the wall clock (`now`), for what is stored and shown and for cron slots; and a
/// monotonic clock (`monotonicNow`), for intervals and settle windows. A wall clock can step
/// (NTP, a resumed VM): measured on it, a check's next run or a file's settle deadline taken
/// before a step back of an hour would wait that hour, so waits are measured on the clock
/// that only moves forward.
public protocol SourceClock: Sendable {
    /// Unix milliseconds.
    func now() -> Millis
    /// Returns at `deadline` (or at once if it has passed); throws `CancellationError` when the
    /// task is cancelled.
    func sleep(until deadline: Millis) async throws
    /// Milliseconds from an arbitrary start on a clock that never steps.
    func monotonicNow() -> Millis
    /// Returns at `deadline` on the monotonic clock (or at once if it has passed); throws
    /// `CancellationError` when the task is cancelled.
    func sleep(untilMonotonic deadline: Millis) async throws
}

extension SourceClock {
    /// Waits `millis` of real time, whatever the wall clock does meanwhile.
    public func sleep(forMillis millis: Millis) async throws {
        try await sleep(untilMonotonic: monotonicNow() + millis)
    }
}

/// The machine's clock.
public struct SystemSourceClock: SourceClock {
    public init() {}
    public func now() -> Millis { nowMillis() }
    public func sleep(until deadline: Millis) async throws {
        try await Self.wait(deadline - nowMillis())
    }
    public func monotonicNow() -> Millis { Millis(monotonicNanos() / 1_000_000) }
    public func sleep(untilMonotonic deadline: Millis) async throws {
        try await Self.wait(deadline - monotonicNow())
    }

    private static func wait(_ millis: Millis) async throws {
        if millis > 0 { try await Task.sleep(nanoseconds: UInt64(millis) * 1_000_000) } else { try Task.checkCancellation() }
    }
}
