import Synchronization

/// Events finished per second over the last minute, for `sloth-runner status`: sixty one-second
/// slots, each one atomic word (the second in the high half, its count in the low half), so
/// counting a finished event is one compare-and-swap and never takes a lock on the hot path.
final class RecentRate: Sendable {
    /// A class per slot: an `Atomic` cannot be copied into an array.
    private final class Slot: Sendable { let word = Atomic<UInt64>(0) }
    private let slots: [Slot] = (0..<60).map { _ in Slot() }

    func record(atSecond second: UInt32) {
        let slot = slots[Int(second % 60)]
        var current = slot.word.load(ordering: .relaxed)
        while true {
            let next: UInt64 = UInt32(truncatingIfNeeded: current >> 32) == second
                ? current &+ 1 : (UInt64(second) << 32) | 1
            let (exchanged, original) = slot.word.compareExchange(expected: current, desired: next, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }

    /// Events recorded in the 60 whole seconds before `second` (the current, partial one left out).
    func total(beforeSecond second: UInt32) -> Int {
        var sum = 0
        for slot in slots {
            let word = slot.word.load(ordering: .relaxed)
            let at = UInt32(truncatingIfNeeded: word >> 32)
            if at < second, second &- at <= 60 { sum += Int(word & 0xFFFF_FFFF) }
        }
        return sum
    }
}
