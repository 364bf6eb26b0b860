import CSQLite
import Foundation
import Testing
@testable import SlothRunner

/// Outcomes that cannot be written recover on their own once the cause is gone, without a
/// restart and without running a succeeded hook again; a lease is renewed only while its work
/// goes on. Each cause is real: SQLite's own page limit (what a full disk looks like to it),
/// another connection holding the write lock, a hook removed mid-run.
@Suite struct OutcomeRecoveryTests {
    static let runtime = LuaRuntime(threads: 2, timeSlice: 0.01, stuckGrace: 1, onStuckThread: nil, testing: true)

    /// A hook that says it started, waits for the test's gate, then records some output.
    static func gatedHook(name: String, type: String, gate: String) -> String {
        """
        return { name = "\(name)", event_type = "\(type)", max_attempts = 1, execute = function(e)
          local t = require("testing")
          t.signal("\(gate).started")
          t.wait("\(gate)")
          print(string.rep("output of \(name) ", 200))
          return true, "done " .. e.id
        end }
        """
    }

    func expectEachRanOnce(_ h: EngineHarness, _ ids: [String], hook: String) async throws {
        for id in ids {
            let final = try await h.waitFinal(id)
            #expect(final.status == .completed, "event \(id) is \(final.status)")
            let runs = try await h.store.executions(eventID: id)
            #expect(runs.count == 1 && runs.allSatisfy { $0.success && $0.hookName == hook }, "event \(id): \(runs.map { ($0.hookName, $0.success) })")
        }
    }

    @Test func outcomesWrittenOnADiskThatFilledUpLandOnceThereIsRoomAgain() async throws {
        let gate = "full-\(UUID().uuidString)"
        let h = try EngineHarness(runtime: Self.runtime)
        _ = try await h.addHook(Self.gatedHook(name: "writer", type: "disk.test", gate: gate))
        try await h.engine.start()
        var ids: [String] = []
        for i in 0..<12 { ids.append(try await h.engine.dispatch(NewEvent(type: "disk.test", data: .object(["i": .int(Int64(i))]))).id) }
        await TestingGates.signaled("\(gate).started", count: ids.count)
        // Every event is stored (as processing); from now on the database cannot grow.
        try await h.store.setMaxPageCount(try await h.store.pageCount())
        TestingGates.open(gate)
        try await eventually { h.recorded.writeFailures.count > 0 }
        #expect(h.recorded.writeFailures.last.contains("full"), "\(h.recorded.writeFailures.last)")
        #expect(try await h.store.countEvents(status: .processing) == ids.count)
        // Space comes back: every outcome lands without a restart.
        try await h.store.setMaxPageCount(nil)
        try await expectEachRanOnce(h, ids, hook: "writer")
        _ = await h.engine.drain(grace: 5)
    }

    @Test func outcomesBlockedByAnotherProcessesWriteLockLandOnceItIsReleased() async throws {
        let gate = "lock-\(UUID().uuidString)"
        let h = try EngineHarness(runtime: Self.runtime, busyTimeoutMillis: 50)
        _ = try await h.addHook(Self.gatedHook(name: "locked", type: "lock.test", gate: gate))
        try await h.engine.start()
        var ids: [String] = []
        for i in 0..<5 { ids.append(try await h.engine.dispatch(NewEvent(type: "lock.test", data: .object(["i": .int(Int64(i))]))).id) }
        await TestingGates.signaled("\(gate).started", count: ids.count)
        // Another connection (another process, as far as SQLite can tell) takes the write lock.
        let other = try SQLiteConnection(path: h.store.path)
        try other.execute("BEGIN IMMEDIATE")
        TestingGates.open(gate)
        try await eventually { h.recorded.writeFailures.count > 0 }
        #expect(h.recorded.writeFailures.last.contains("locked"), "\(h.recorded.writeFailures.last)")
        try other.execute("COMMIT")
        other.close()
        try await expectEachRanOnce(h, ids, hook: "locked")
        _ = await h.engine.drain(grace: 5)
    }

    @Test func removingAHookWithRunsInFlightStrandsNoEvent() async throws {
        let gate = "remove-\(UUID().uuidString)"
        let h = try EngineHarness(runtime: Self.runtime)
        _ = try await h.addHook(Self.gatedHook(name: "doomed", type: "remove.doomed", gate: gate))
        _ = try await h.addHook(Self.gatedHook(name: "bystander", type: "remove.bystander", gate: gate), file: "bystander.lua")
        try await h.engine.start()
        var doomed: [String] = [], bystanders: [String] = []
        for _ in 0..<8 {
            doomed.append(try await h.engine.dispatch(NewEvent(type: "remove.doomed")).id)
            bystanders.append(try await h.engine.dispatch(NewEvent(type: "remove.bystander")).id)
        }
        await TestingGates.signaled("\(gate).started", count: 16)
        try await h.store.removeHook(name: "doomed")
        // Both hooks finish together, so their outcomes share write batches.
        TestingGates.open(gate)
        try await expectEachRanOnce(h, bystanders, hook: "bystander")
        for id in doomed {
            let final = try await h.waitFinal(id)
            #expect(final.status == .completed, "event \(id) of the removed hook is \(final.status)")
            // The removed hook's history went with it, this run's included.
            #expect(try await h.store.executions(eventID: id).isEmpty)
        }
        #expect(h.recorded.writeFailures.count == 0, "\(h.recorded.writeFailures.last)")
        _ = await h.engine.drain(grace: 5)
    }

    @Test func aLeaseNobodyWorksOnIsNotRenewedAndGetsRescued() async throws {
        let h = try EngineHarness(runtime: Self.runtime) { $0.leaseMillis = 1000 }
        _ = try await h.addHook(#"return { name = "picker", event_type = "orphan.test", execute = function() return true, "picked up" end }"#)
        try await h.engine.start()
        // A row leased by this very engine, but no work of its in flight: what an outcome that
        // was given up on leaves behind.
        let now = nowMillis()
        let orphan = Event(
            id: EventID.make(millis: now), type: "orphan.test", stack: nil, timestamp: now, data: .object([:]), status: .processing,
            createdAt: now, attempts: 1, leaseOwner: h.engine.owner, leaseExpiresAt: now + 600)
        try await h.store.insertEvents([orphan])
        let final = try await h.waitFinal(orphan.id, timeout: 20)
        #expect(final.status == .completed, "the orphaned lease was kept alive: \(final.status)")
        #expect(try await h.store.executions(eventID: orphan.id).map(\.message) == ["picked up"])
        _ = await h.engine.drain(grace: 5)
    }
}
