import Foundation
import Testing
@testable import SlothRunner

/// `event.dispatch(type, data, {idempotency_key = K})`: one event per key within its window,
/// across runs, hooks and the other ways in (the API's header, the CLI's flag).
@Suite struct IdempotencyKeyTests {
    @Test func hooksDispatchingWithOneKeyStoreOneEvent() async throws {
        let h = try EngineHarness()
        _ = try await h.addHook("""
            local event = require("event")
            return { name = "announce", event_types = {"deploy.done"},
              execute = function(e) return true, event.dispatch("custom.announced", { v = e.data.v }, { idempotency_key = "announce-" .. e.data.v }) end }
            """, file: "a.lua")
        try await h.engine.start()
        let first = try await h.engine.dispatch(NewEvent(type: "deploy.done", data: .object(["v": .string("v2")])))
        let second = try await h.engine.dispatch(NewEvent(type: "deploy.done", data: .object(["v": .string("v2")])))
        let other = try await h.engine.dispatch(NewEvent(type: "deploy.done", data: .object(["v": .string("v3")])))
        for e in [first, second, other] { #expect(try await h.waitFinal(e.id).status == .completed) }
        let ids = try await [first, second, other].asyncMap { try await h.store.executions(eventID: $0.id)[0].message }
        #expect(ids[0] == ids[1] && ids[0] != ids[2])
        #expect(try await h.store.listEvents(EventFilter(type: "custom.announced")).count == 2)
        // The key is the one the API and the CLI use: a dispatch from outside with it finds the event.
        let outside = try await h.engine.dispatch(NewEvent(type: "custom.announced", data: .object(["v": .string("v2")])), idempotencyKey: "announce-v2")
        #expect(outside.replayed && outside.event.id == ids[0])
        _ = await h.engine.drain(grace: 5)
    }

    @Test func aKeyHoldsForItsWindowOnly() async throws {
        let h = try EngineHarness()
        try await h.engine.start()
        let a = try await h.engine.dispatch(NewEvent(type: "custom.x"), idempotencyKey: "k", window: 60_000)
        let b = try await h.engine.dispatch(NewEvent(type: "custom.x"), idempotencyKey: "k", window: 60_000)
        #expect(!a.replayed && b.replayed && a.event.id == b.event.id)
        // A window that ended before the first event: the key is free again.
        let c = try await h.engine.dispatch(NewEvent(type: "custom.x"), idempotencyKey: "k", window: -1)
        #expect(!c.replayed && c.event.id != a.event.id)
        _ = await h.engine.drain(grace: 5)
    }

    @Test func badOptionsAreRefusedInTheHook() async throws {
        let runtime = LuaTestSupport.runtime
        for (options, message) in [
            (#"{ idempotency_key = "has space" }"#, "idempotency_key must be 1 to 255 printable characters"),
            (#"{ idempotency_kee = "k" }"#, "unknown option 'idempotency_kee'; did you mean 'idempotency_key'?"),
            (#"{ idempotency_window = "1h" }"#, "idempotency_window needs an idempotency_key"),
            (#"{ idempotency_key = "k", idempotency_window = "forever" }"#, "is not a duration"),
        ] {
            let hook = try await HookLoader.load(
                source: #"return { name = "x", event_type = "a.b", execute = function(e) require("event").dispatch("c.d", {}, \#(options)) return true end }"#,
                filePath: "x.lua", overrides: HookOverrides(), runtime: runtime).hook
            let out = try await HookDryRun.run(hook, with: NewEvent(type: "a.b"), runtime: runtime, strictPermissions: false, secrets: nil)
            #expect(!out.result.success && out.result.message?.contains(message) == true, "\(options): \(out.result.message ?? "")")
        }
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for e in self { out.append(try await transform(e)) }
        return out
    }
}
