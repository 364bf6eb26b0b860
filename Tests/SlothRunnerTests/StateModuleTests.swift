import Foundation
import Testing
@testable import SlothRunner

@Suite struct StateModuleTests {
    @Test func operations() async {
        var r = HookRunResult(success: false, message: nil, output: "", durationMillis: 0, usage: ResourceUsage())
        var request = LuaTestSupport.request("""
            local state = require("state")
            return { execute = function()
              local out = {}
              out[#out + 1] = tostring(state.get("missing"))
              state.set("cfg", { replicas = 3, tags = { "a" } })
              out[#out + 1] = tostring(state.get("cfg").replicas)
              out[#out + 1] = tostring(state.incr("n")) .. "," .. tostring(state.incr("n", 5))
              out[#out + 1] = tostring(state.compare_and_set("n", 6, 10)) .. "," .. tostring(state.compare_and_set("n", 6, 11))
              out[#out + 1] = tostring(state.compare_and_set("fresh", nil, "x"))
              out[#out + 1] = table.concat(state.keys(""), "+")
              out[#out + 1] = tostring(state.delete("cfg")) .. "," .. tostring(state.delete("cfg"))
              local ok, err = pcall(state.incr, "fresh")
              out[#out + 1] = err
              return true, table.concat(out, " | ")
            end }
            """)
        request.state = MemoryState()
        r = await LuaTestSupport.runtime.run(request)
        #expect(r.message == "nil | 3 | 1,6 | true,false | true | cfg+fresh+n | true,false | state.incr: state fresh holds a string, not an integer", "\(r.message ?? "")")
    }

    /// One increment rule for the stores and `hook test`'s stand-ins: null counts as 0, other
    /// kinds are refused, and a sum past Int64 is an error, never a wrapped value or a crash.
    @Test func incrementsFollowOneRuleEverywhere() async throws {
        #expect(try StateIncrement.sum(nil, by: 2, key: "k") == 2)
        #expect(try StateIncrement.sum(.null, by: 2, key: "k") == 2)
        #expect(try StateIncrement.sum(.int(40), by: 2, key: "k") == 42)
        #expect(throws: SlothError.self) { try StateIncrement.sum(.string("x"), by: 1, key: "k") }
        #expect(throws: SlothError.self) { try StateIncrement.sum(.int(.max), by: 1, key: "k") }
        let memory = MemoryState()
        try await memory.set("k", .int(.max - 1), ttl: nil)
        #expect(try await memory.increment("k", by: 1) == .max)
        await #expect(throws: SlothError.self) { try await memory.increment("k", by: 1) }
        let overlay = OverlayState(base: memory)
        await #expect(throws: SlothError.self) { try await overlay.increment("k", by: 1) }
        #expect(try await overlay.increment("fresh", by: 3) == 3)
    }

    @Test func concurrentIncrementsThroughTheEngineAreExact() async throws {
        let h = try EngineHarness()
        _ = try await h.addHook(#"return { name = "counter", event_type = "count.me", execute = function() require("state").incr("hits") return true end }"#)
        _ = try await h.addHook(#"return { name = "prod_counter", event_type = "count.me", stack = "prod", execute = function() require("state").incr("hits", 10) return true end }"#, file: "p.lua")
        try await h.engine.start()
        let ids = try await withThrowingTaskGroup(of: String.self) { group in
            for i in 0..<300 { group.addTask { try await h.engine.dispatch(NewEvent(type: "count.me", stack: i % 3 == 0 ? "prod" : nil)).id } }
            var all: [String] = []
            for try await id in group { all.append(id) }
            return all
        }
        for id in ids { #expect(try await h.waitFinal(id).status == .completed) }
        #expect(try await h.store.stateGet(stack: "", key: "hits", now: nowMillis()) == .int(300))
        #expect(try await h.store.stateGet(stack: "prod", key: "hits", now: nowMillis()) == .int(1000))
        _ = await h.engine.drain(grace: 5)
    }

    @Test func expiredValuesAreGone() async throws {
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        let store = try SQLiteEventStore(path: dir.path + "/s.db")
        try await store.stateSet(stack: "", key: "k", value: .int(1), expiresAt: nowMillis() - 1, now: nowMillis())
        #expect(try await store.stateGet(stack: "", key: "k", now: nowMillis()) == nil)
        #expect(try await store.pruneExpiredState(now: nowMillis()) == 1)
        await store.close()
    }
}
