import Synchronization
import SlothRunner
@testable import SlothRunnerSources

/// A clock the test moves: `sleep` returns only once `advance` passes its deadline.
final class ManualClock: SourceClock {
    private struct Sleeper { let id: Int; let deadline: Millis; let wake: CheckedContinuation<Void, any Error> }
    private let state: Mutex<(now: Millis, next: Int, sleepers: [Sleeper])>

    init(_ start: Millis) { state = Mutex((start, 0, [])) }

    func now() -> Millis { state.withLock { $0.now } }

    /// How many tasks wait on this clock (a loop is idle once it sleeps).
    var sleeping: Int { state.withLock { $0.sleepers.count } }

    func sleep(until deadline: Millis) async throws {
        let id = state.withLock { s -> Int in s.next += 1; return s.next }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Void, any Error>) in
                let resumeNow = state.withLock { s -> Bool in
                    if deadline <= s.now || Task.isCancelled { return true }
                    s.sleepers.append(Sleeper(id: id, deadline: deadline, wake: cont))
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

    func advance(to time: Millis) {
        let woken = state.withLock { s -> [Sleeper] in
            s.now = time
            let due = s.sleepers.filter { $0.deadline <= time }
            s.sleepers.removeAll { $0.deadline <= time }
            return due
        }
        for w in woken { w.wake.resume() }
    }
}
