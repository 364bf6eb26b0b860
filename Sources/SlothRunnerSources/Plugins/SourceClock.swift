import Foundation
import SlothRunner

/// The time a source reads and waits on. Sources never call `Date()` or `Task.sleep`
/// themselves, so tests drive them with a clock they move by hand.
public protocol SourceClock: Sendable {
    /// Unix milliseconds.
    func now() -> Millis
    /// Returns at `deadline` (or at once if it has passed); throws `CancellationError` when the
    /// task is cancelled.
    func sleep(until deadline: Millis) async throws
}

/// The machine's clock.
public struct SystemSourceClock: SourceClock {
    public init() {}
    public func now() -> Millis { nowMillis() }
    public func sleep(until deadline: Millis) async throws {
        let wait = deadline - nowMillis()
        if wait > 0 { try await Task.sleep(nanoseconds: UInt64(wait) * 1_000_000) } else { try Task.checkCancellation() }
    }
}
