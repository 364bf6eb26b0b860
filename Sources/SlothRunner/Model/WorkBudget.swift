/// What a library call made by a hook may still spend: memory (bytes it may build) and time
/// (the run's deadline). The count hook and the allocator bound Lua code; host code that
/// converts, parses or renders on a hook's behalf charges its work here instead, so a YAML
/// alias bomb, a table that references itself a million times or a template with nested
/// sections stops at the run's limits rather than at the machine's.
package struct WorkBudget: Sendable {
    package enum Exhausted: Error, Sendable, Equatable {
        case memory, time
    }

    /// On the clock of `monotonicSeconds()`; 0: no deadline.
    package let deadline: Double
    /// Bytes that may still be built.
    package private(set) var bytes: Int
    private var untilClockCheck = WorkBudget.chargesPerClockCheck

    /// Reading the clock costs ~20 ns; once per few thousand charges is invisible.
    static let chargesPerClockCheck = 2048

    package init(deadline: Double, bytes: Int) {
        self.deadline = deadline
        self.bytes = bytes
    }

    package static var unlimited: WorkBudget { WorkBudget(deadline: 0, bytes: .max) }

    /// Charges `cost` bytes of work; throws once the memory is used up or the deadline passed.
    package mutating func charge(_ cost: Int) throws(Exhausted) {
        bytes -= cost
        if bytes < 0 { throw .memory }
        untilClockCheck -= 1
        if untilClockCheck <= 0 {
            untilClockCheck = Self.chargesPerClockCheck
            if deadline > 0 && monotonicSeconds() >= deadline { throw .time }
        }
    }

    /// Rough bytes a decoded value of each kind costs once it is a Lua value (and while it is a
    /// Swift value on its way there): enough to bound the work, not an exact account.
    package enum Cost {
        package static let scalar = 16
        package static let stringOverhead = 32
        package static let container = 64
        package static let entry = 48
    }
}
