import Foundation
import Synchronization
import Testing
@testable import SlothRunner

@Suite struct SQLiteThreadTests {
    func writer(_ dir: TempDir) throws -> SQLiteThread {
        try SQLiteThread(name: "test-writer", batches: true) { try SQLiteConnection(path: dir.path + "/t.db") }
    }

    /// The priority a thread reports is the one its jobs run at: a lower one is always granted;
    /// a higher one only with privilege, and otherwise the thread reports (and runs at) 0.
    @Test func reportedPriorityIsTheOneJobsRunAt() async throws {
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        for requested: Int32 in [7, -3] {
            let thread = try SQLiteThread(name: "test-nice", batches: true, nice: requested) { try SQLiteConnection(path: dir.path + "/t.db") }
            defer { thread.close() }
            let seen = try await thread.perform { _ in getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0) }
            #expect(seen == thread.nice)
            if requested > 0 { #expect(thread.nice == requested) } else { #expect(thread.nice == requested || thread.nice == 0) }
        }
    }

    /// A quiet writer runs a held job at once: holding only pays off when the writer is busy.
    @Test(.timeLimit(.minutes(1))) func idleWriterHoldsNothing() async throws {
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        let thread = try writer(dir)
        defer { thread.close() }
        let far = monotonicNanos() + 600_000_000_000
        let value = try await thread.perform(hold: SQLiteThread.Hold(ready: { false }, deadline: far)) { _ in 42 }
        #expect(value == 42)
    }

    /// A busy writer keeps a held job back until it is ready (here: far from its deadline), and
    /// runs it once it is, without needing another job to wake it.
    @Test(.timeLimit(.minutes(1))) func busyWriterWaitsForReadiness() async throws {
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        let thread = try writer(dir)
        defer { thread.close() }
        let gate = DispatchSemaphore(value: 0)
        // Occupy the writer so the next jobs queue up and form one large (busy) batch.
        await withCheckedContinuation { (started: CheckedContinuation<Void, Never>) in
            thread.submit({ _ in started.resume(); gate.wait() }, hold: nil) { _ in }
        }
        let ready = Atomic<Bool>(false)
        let plainCount = SQLiteThread.busyBatch + 8
        let (plainDone, plainDoneSink) = AsyncStream<Void>.makeStream()
        for _ in 0..<plainCount { thread.submit({ _ in 0 }, hold: nil) { _ in plainDoneSink.yield() } }
        let (heldSaw, heldSink) = AsyncStream<Bool>.makeStream()
        let hold = SQLiteThread.Hold(ready: { ready.load(ordering: .relaxed) }, deadline: monotonicNanos() + 600_000_000_000)
        thread.submit({ _ in ready.load(ordering: .relaxed) }, hold: hold) { result in heldSink.yield((try? result.get()) ?? false) }
        gate.signal()
        var finished = 0
        for await _ in plainDone {
            finished += 1
            if finished == plainCount { break }
        }
        // Nothing else arrives: the writer's poll finds the held job ready on its own.
        ready.store(true, ordering: .relaxed)
        var saw: Bool?
        for await value in heldSaw {
            saw = value
            break
        }
        #expect(saw == true, "the held job ran before it was ready")
    }

    /// Closing runs what is still held and then ends the thread (close() returns).
    @Test(.timeLimit(.minutes(1))) func closeRunsHeldJobsAndFinishes() async throws {
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        let thread = try writer(dir)
        let gate = DispatchSemaphore(value: 0)
        await withCheckedContinuation { (started: CheckedContinuation<Void, Never>) in
            thread.submit({ _ in started.resume(); gate.wait() }, hold: nil) { _ in }
        }
        let ran = Atomic<Int>(0)
        let hold = SQLiteThread.Hold(ready: { false }, deadline: monotonicNanos() + 600_000_000_000)
        for _ in 0..<SQLiteThread.busyBatch { thread.submit({ _ in 0 }, hold: nil) { _ in ran.add(1, ordering: .relaxed) } }
        thread.submit({ _ in 0 }, hold: hold) { _ in ran.add(1, ordering: .relaxed) }
        gate.signal()
        await Task.detached { thread.close() }.value
        #expect(ran.load(ordering: .relaxed) == SQLiteThread.busyBatch + 1)
    }
}
