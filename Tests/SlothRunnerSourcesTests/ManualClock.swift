import Synchronization
import SlothRunner
@testable import SlothRunnerSources

/// A clock the test moves: `sleep` returns only once `advance` passes its deadline. Its wall
/// clock and its monotonic clock move together under `advance`; `stepWallClock` moves the wall
/// clock alone, as NTP or a resumed VM does.
final class ManualClock: SourceClock {
    private enum Reading { case wall, monotonic }
    private struct Sleeper { let id: Int; let reading: Reading; let deadline: Millis; let wake: CheckedContinuation<Void, any Error> }
    private struct State {
        var now: Millis
        /// Starts far from `now`, so a source mixing up the two readings is caught.
        var monotonic: Millis = 1_000
        var next = 0
        var sleepers: [Sleeper] = []

        func due(_ s: Sleeper) -> Bool { s.deadline <= (s.reading == .wall ? now : monotonic) }
    }
    private let state: Mutex<State>

    init(_ start: Millis) { state = Mutex(State(now: start)) }

    func now() -> Millis { state.withLock { $0.now } }
    func monotonicNow() -> Millis { state.withLock { $0.monotonic } }

    /// How many tasks wait on this clock (a loop is idle once it sleeps).
    var sleeping: Int { state.withLock { $0.sleepers.count } }

    func sleep(until deadline: Millis) async throws { try await sleep(.wall, deadline) }
    func sleep(untilMonotonic deadline: Millis) async throws { try await sleep(.monotonic, deadline) }

    private func sleep(_ reading: Reading, _ deadline: Millis) async throws {
        let id = state.withLock { s -> Int in s.next += 1; return s.next }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Void, any Error>) in
                let resumeNow = state.withLock { s -> Bool in
                    let sleeper = Sleeper(id: id, reading: reading, deadline: deadline, wake: cont)
                    if s.due(sleeper) || Task.isCancelled { return true }
                    s.sleepers.append(sleeper)
                    return false
                }
                if resumeNow { cont.resume() }
            }
            try Task.checkCancellation()
        } onCancel: {
            let woken = state.withLock { s -> [Sleeper] in
                let w = s.sleepers.filter { $0.id == id }
                s.sleepers.removeAll { $0.id == id }
                return w
            }
            for w in woken { w.wake.resume(throwing: CancellationError()) }
        }
    }

    /// Moves time on to `time` (wall clock); the monotonic clock moves by as much.
    func advance(to time: Millis) {
        move { s in
            s.monotonic += max(0, time - s.now)
            s.now = time
        }
    }

    /// Steps the wall clock to `time`, backwards or forwards; the monotonic clock stays.
    func stepWallClock(to time: Millis) {
        move { s in s.now = time }
    }

    private func move(_ change: (inout State) -> Void) {
        let woken = state.withLock { s -> [Sleeper] in
            change(&s)
            let moved = s
            let due = moved.sleepers.filter { moved.due($0) }
            s.sleepers.removeAll { moved.due($0) }
            return due
        }
        for w in woken { w.wake.resume() }
    }
}
