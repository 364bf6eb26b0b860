import Foundation
import Testing
@testable import SlothRunner

/// Storm control in the engine: what the gate decides is what happens to events — skips are
/// recorded, deferred runs come back without using an attempt, a circuit that opens or closes
/// is announced — and it holds across a restart of the engine.
@Suite struct StormControlEngineTests {
    @Test func aThrottledBurstRunsOnceAndRecordsTheRestAsSkipped() async throws {
        let h = try EngineHarness()
        _ = try await h.addHook(#"return { name = "page", event_type = "agent.disconnected", throttle = { once_within = "1h", group_by = {"data.agent.name"} }, execute = function(e) return true, "paged" end }"#)
        try await h.engine.start()
        var events: [Event] = []
        for i in 0..<6 { events.append(try await h.engine.dispatch(NewEvent(type: "agent.disconnected", data: .object(["agent": .object(["name": .string(i < 4 ? "a1" : "a2")])])))) }
        for e in events { #expect(try await h.waitFinal(e.id).status == .completed) }
        var ran: [String] = [], skipped: [HookSkip] = []
        for e in events {
            ran += try await h.store.executions(eventID: e.id).map { _ in e.id }
            skipped += try await h.store.skips(eventID: e.id)
        }
        #expect(ran.count == 2 && skipped.count == 4)
        #expect(Set(skipped.compactMap(\.relatedEventID)) == Set(ran))
        let report = try await EventExplainer.report(for: try await h.store.resolveEvent(skipped[0].eventID), store: h.store)
        #expect(report.verdicts.first?.reason == .throttled && report.verdicts.first?.facts["related_event_id"] != .null)
        _ = await h.engine.drain(grace: 5)
        // A new engine on the same store: the window still holds.
        let again = Engine(store: h.store, runtime: h.runtime, configuration: h.engine.configuration)
        try await again.start()
        let later = try await again.dispatch(NewEvent(type: "agent.disconnected", data: .object(["agent": .object(["name": .string("a1")])])))
        #expect(try await h.waitFinal(later.id).status == .completed)
        #expect(try await h.store.skips(eventID: later.id).map(\.reason) == ["throttled"])
        _ = await again.drain(grace: 5)
    }

    @Test func aRateLimitDefersWithoutUsingAttempts() async throws {
        let h = try EngineHarness()
        _ = try await h.addHook(#"return { name = "slow", event_type = "custom.r", max_attempts = 1, rate_limit = "2/h", execute = function(e) return true end }"#)
        try await h.engine.start()
        var events: [Event] = []
        for _ in 0..<4 { events.append(try await h.engine.dispatch(NewEvent(type: "custom.r"))) }
        try await eventually {
            let done = try await h.store.countEvents(status: .completed), waiting = try await h.store.countEvents(status: .pending)
            return done == 2 && waiting == 2
        }
        let waiting = try await h.store.listEvents(EventFilter(status: .pending))
        for e in waiting {
            #expect(e.nextRunAt > nowMillis() + 3_000_000)
            #expect(e.error?.contains("hook slow deferred (rate_limited)") == true)
            #expect(try await h.store.hookProgress(eventID: e.id).failedAttempts.isEmpty)
            let v = try await EventExplainer.report(for: e, store: h.store).verdicts[0]
            #expect(v.reason == .rateLimited && v.detail.hasPrefix("rate-limited (2 per 1h0m): next slot at"))
        }
        _ = await h.engine.drain(grace: 5)
    }

    @Test func aCircuitOpensIsAnnouncedDefersThenClosesOnATrial() async throws {
        let h = try EngineHarness()
        let flag = h.dir.path + "/healthy"
        _ = try await h.addHook("""
            return { name = "fragile", event_type = "custom.c", max_attempts = 1,
              circuit_breaker = { failures = 2, within = "1h", open_for = "1h" },
              execute = function(e) if require("file").exists("\(flag)") then return true, "ok" end error("down") end }
            """)
        try await h.engine.start()
        let a = try await h.engine.dispatch(NewEvent(type: "custom.c"))
        #expect(try await h.waitFinal(a.id).status == .failed)
        let b = try await h.engine.dispatch(NewEvent(type: "custom.c"))
        #expect(try await h.waitFinal(b.id).status == .failed)
        try await eventually { try await h.store.listEvents(EventFilter(type: "health.degraded")).count == 1 }
        let degraded = try await h.store.listEvents(EventFilter(type: "health.degraded"))[0]
        #expect(degraded.data["service"] == .string("fragile") && degraded.data["threshold"] == .int(2))
        // The service comes back, but the circuit is open: the next event is deferred, not
        // failed; the trial after the open period succeeds, the circuit closes and says so.
        FileManager.default.createFile(atPath: flag, contents: nil)
        let c = try await h.engine.dispatch(NewEvent(type: "custom.c"))
        try await eventually { try await h.store.resolveEvent(c.id).error?.contains("deferred (circuit_open)") == true }
        #expect(try await h.store.executions(eventID: c.id).isEmpty)
        #expect(try await h.store.resolveEvent(c.id).nextRunAt > nowMillis() + 3_000_000)
        // The hour passes (the circuit's open_until and the event's due time moved back).
        let hookID = try #require(try await h.store.hook(named: "fragile")).id
        try await h.store.writerPerform { db in
            try db.run("UPDATE hook_controls SET value = json_set(value, '$.open_until', 0) WHERE hook_id = ? AND control = 'circuit'", [.text(hookID)])
            try db.run("UPDATE events SET next_run_at = 0 WHERE id = ?", [.text(c.id)])
        }
        #expect(try await h.waitFinal(c.id).status == .completed)
        #expect(try await h.store.deadLetters(eventID: c.id).isEmpty)
        try await eventually { try await h.store.listEvents(EventFilter(type: "health.recovered")).count == 1 }
        let recovered = try await h.store.listEvents(EventFilter(type: "health.recovered"))[0]
        #expect(recovered.data["service"] == .string("fragile"))
        _ = await h.engine.drain(grace: 5)
    }

    @Test func aDebouncedBurstRunsOnceWithItsLastEvent() async throws {
        let h = try EngineHarness()
        _ = try await h.addHook(#"return { name = "settle", event_type = "file.modified", debounce = { quiet = "300ms" }, execute = function(e) return true, "n=" .. e.data.n end }"#)
        try await h.engine.start()
        var events: [Event] = []
        for n in 0..<5 { events.append(try await h.engine.dispatch(NewEvent(type: "file.modified", data: .object(["n": .int(Int64(n))])))) }
        for e in events { #expect(try await h.waitFinal(e.id).status == .completed) }
        var runs: [String?] = [], skips = 0
        for e in events {
            runs += try await h.store.executions(eventID: e.id).map(\.message)
            skips += try await h.store.skips(eventID: e.id).count
        }
        #expect(runs == ["n=4"] && skips == 4)
        _ = await h.engine.drain(grace: 5)
    }

    func eventually(_ condition: () async throws -> Bool) async throws {
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if try await condition() { return }
            try await Task.sleep(nanoseconds: 5_000_000)
        }
        #expect(try await condition(), "timed out")
    }
}
