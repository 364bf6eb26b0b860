import Foundation
import Testing
@testable import SlothRunner

@Suite struct EngineTests {
    @Test func dispatchRunsMatchingHooksAndRecordsThem() async throws {
        let h = try EngineHarness()
        _ = try await h.addHook(#"return { name = "a", event_type = "task.failed", execute = function(e) print("got", e.data.task.task_name) return true, "ok" end }"#, file: "a.lua")
        _ = try await h.addHook(#"return { name = "b", event_type = "task.*", execute = function(e) return true end }"#, file: "b.lua")
        _ = try await h.addHook(#"return { name = "c", event_type = "deploy.started", execute = function(e) return true end }"#, file: "c.lua")
        try await h.engine.start()
        let e = try await h.engine.dispatch(NewEvent(type: "task.failed", data: .object(["task": .object(["task_name": .string("deploy_app")])])))
        let final = try await h.waitFinal(e.id)
        #expect(final.status == .completed)
        let runs = try await h.store.executions(eventID: e.id)
        #expect(Set(runs.map(\.hookName)) == ["a", "b"])
        #expect(runs.first { $0.hookName == "a" }?.output == "got\tdeploy_app\n")
        let a = try await h.store.hook(named: "a")
        #expect(a?.runCount == 1)
        #expect(a?.lastRun != nil)
        _ = await h.engine.drain(grace: 5)
    }

    @Test func failingHookIsRetriedThenDeadLettered() async throws {
        let h = try EngineHarness()
        _ = try await h.addHook(#"return { name = "flaky", event_type = "x.y", max_attempts = 3, retry_delay = 0.01, execute = function(e) error("attempt " .. e.attempt) end }"#)
        try await h.engine.start()
        let e = try await h.engine.dispatch(NewEvent(type: "x.y"))
        let final = try await h.waitFinal(e.id)
        #expect(final.status == .failed)
        #expect(final.error?.contains("failed after 3 attempts") == true)
        let runs = try await h.store.executions(eventID: e.id)
        #expect(runs.map(\.attempt) == [1, 2, 3])
        let dead = try await h.store.deadLetters(eventID: e.id)
        #expect(dead.map(\.hookName) == ["flaky"])
        _ = await h.engine.drain(grace: 5)
    }
}
