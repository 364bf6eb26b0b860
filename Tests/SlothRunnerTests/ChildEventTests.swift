import Foundation
import Testing
@testable import SlothRunner

/// Events a hook dispatches are keyed by (parent event, hook, position in the run): a parent
/// run again stores each child at most once, and one run dispatches a bounded number of events.
@Suite struct ChildEventTests {
    func children(_ h: EngineHarness, type: String) async throws -> [Event] {
        try await h.store.listEvents(EventFilter(type: type, limit: 100_000))
    }

    @Test func aRetriedParentStoresEachChildOnce() async throws {
        let h = try EngineHarness()
        _ = try await h.addHook("""
            return { name = "fanout", event_type = "parent.retry", max_attempts = 3, retry_delay = 0.01, execute = function(e)
              local ev = require("event")
              ev.dispatch("child.retry", { n = 1, attempt = e.attempt })
              ev.dispatch("child.retry", { n = 2, attempt = e.attempt })
              if e.attempt < 3 then error("failing attempt " .. e.attempt .. " after dispatching") end
              ev.dispatch("child.retry", { n = 3, attempt = e.attempt })
              return true
            end }
            """)
        try await h.engine.start()
        let parent = try await h.engine.dispatch(NewEvent(type: "parent.retry"))
        #expect(try await h.waitFinal(parent.id).status == .completed)
        let kids = try await children(h, type: "child.retry")
        // Three attempts dispatched 2 + 2 + 3 events; positions 1 and 2 were stored by the first.
        #expect(kids.count == 3, "\(kids.map(\.data))")
        #expect(Set(kids.compactMap { $0.data["n"]?.serialized() }) == ["1", "2", "3"])
        #expect(kids.allSatisfy { $0.parentID == parent.id })
        #expect(kids.filter { $0.data["n"] == .int(1) }.first?.data["attempt"] == .int(1), "the child of the first attempt is the one kept")
        _ = await h.engine.drain(grace: 5)
    }

    @Test func oneRunDispatchesABoundedNumberOfEvents() async throws {
        let h = try EngineHarness { $0.maxDispatchesPerRun = 40 }
        _ = try await h.addHook("""
            return { name = "flood", event_type = "parent.flood", max_attempts = 3, retry_delay = 0.01, execute = function(e)
              for i = 1, 1e9 do require("event").dispatch("child.flood", { i = i }) end
            end }
            """)
        try await h.engine.start()
        let parent = try await h.engine.dispatch(NewEvent(type: "parent.flood"))
        let final = try await h.waitFinal(parent.id)
        #expect(final.status == .failed)
        let runs = try await h.store.executions(eventID: parent.id)
        #expect(runs.count == 3)
        #expect(runs.allSatisfy { $0.error?.contains("this run has dispatched 40 events, the most one run may") == true }, "\(runs.map(\.error))")
        // Three attempts, forty positions: forty children, not a hundred and twenty.
        #expect(try await children(h, type: "child.flood").count == 40)
        _ = await h.engine.drain(grace: 5)
    }
}
