import Foundation
import SlothTestSupport
import Testing
@testable import SlothRunner

/// `effects = "once"`: calls that completed in an earlier attempt of the same event — same
/// arguments, same position — return their recorded result instead of running again.
@Suite struct EffectJournalTests {
    @Test func aRetryReusesCompletedCallsAndRunsTheRest() async throws {
        let h = try EngineHarness()
        let server = try TestHTTPServer()
        let log = h.dir.path + "/restarts.log"
        let gate = h.dir.path + "/second-attempt"
        _ = try await h.addHook("""
            local exec = require("exec")
            local http = require("http")
            local file = require("file")
            return { name = "remediate", event_type = "health.degraded", max_attempts = 3, retry_delay = 0.01, effects = "once",
              execute = function(e)
                local r = exec.run("echo restarted >> \(log)")
                local p = http.post("\(server.base)/echo", { json = { service = e.data.service } })
                local failing = exec.run({ "test", "-e", "\(gate)" })
                if failing.exit_code ~= 0 then
                  file.write("\(gate)", "x")
                  error("verification failed on attempt " .. e.attempt)
                end
                return true, "exit " .. r.exit_code .. ", http " .. p.status_code
              end }
            """)
        try await h.engine.start()
        let e = try await h.engine.dispatch(NewEvent(type: "health.degraded", data: .object(["service": .string("nginx")])))
        let final = try await h.waitFinal(e.id)
        #expect(final.status == .completed)
        let runs = try await h.store.executions(eventID: e.id)
        #expect(runs.map(\.attempt) == [1, 2] && runs[1].message == "exit 0, http 200")
        // The restart and the request happened once; the check that failed ran twice.
        #expect(try String(contentsOfFile: log, encoding: .utf8) == "restarted\n")
        #expect(server.connections == 1)
        let journal = try await h.store.effectJournal(eventID: e.id, hookID: nil)
        #expect(journal.map(\.summary) == ["exec echo restarted >> \(log)", "http POST \(server.base)/echo", "exec test -e \(gate)"])
        #expect(journal.map(\.reused) == [1, 1, 0])
        #expect(journal.map(\.attempt) == [1, 1, 2])
        #expect(runs[1].output.contains("[effects] exec.run #1 (echo restarted >> \(log)) completed in attempt 1: its result is reused"))
        let verdict = try await EventExplainer.report(for: final, store: h.store).verdicts[0]
        #expect(verdict.detail.hasSuffix("(effect journal: 3 completed calls, 2 reuses)"))
        _ = await h.engine.drain(grace: 5)
    }

    @Test func aCallWithOtherArgumentsAtTheSamePositionRunsForReal() async throws {
        let earlier = EffectRecord(eventID: "e", hookID: "h", position: 1, kind: "exec", fingerprint: "", summary: "exec a", result: .null, attempt: 1, recordedAt: 0)
        let probe = EffectJournal(eventID: "e", hookID: "h", attempt: 2, earlier: [], save: { _ in }, reuse: { _ in })
        let fingerprint = probe.call(kind: "exec", summary: "exec a", arguments: .object(["cmd": .string("a")])).fingerprint
        var same = earlier
        same.fingerprint = fingerprint
        let journal = EffectJournal(eventID: "e", hookID: "h", attempt: 2, earlier: [same], save: { _ in }, reuse: { _ in })
        #expect(journal.call(kind: "exec", summary: "exec b", arguments: .object(["cmd": .string("b")])).recorded == nil)
        let again = EffectJournal(eventID: "e", hookID: "h", attempt: 2, earlier: [same], save: { _ in }, reuse: { _ in })
        #expect(again.call(kind: "exec", summary: "exec a", arguments: .object(["cmd": .string("a")])).recorded == same)
        // Position 2 has nothing recorded: it runs.
        #expect(again.call(kind: "exec", summary: "exec a", arguments: .object(["cmd": .string("a")])).recorded == nil)
    }

    @Test(arguments: StoreDriver.all)
    func theJournalIsKeptPerEventHookAndPosition(driver: StoreDriver) async throws {
        try await driver.withStore { store in
            let hook = sampleHook("h")
            try await store.addHook(hook)
            let e = Engine.pendingEvent(from: NewEvent(type: "task.failed"))
            try await store.insertEvents([e])
            let r = EffectRecord(eventID: e.id, hookID: hook.id, position: 1, kind: "http", fingerprint: "f1", summary: "http POST https://x", result: .object(["status_code": .int(201)]), attempt: 1, recordedAt: 5)
            try await store.recordEffect(r)
            try await store.noteEffectReused(eventID: e.id, hookID: hook.id, position: 1)
            #expect(try await store.effectJournal(eventID: e.id, hookID: hook.id).first?.reused == 1)
            var replaced = r
            replaced.fingerprint = "f2"
            replaced.attempt = 2
            try await store.recordEffect(replaced)
            let read = try await store.effectJournal(eventID: e.id, hookID: nil)
            #expect(read.count == 1 && read[0].fingerprint == "f2" && read[0].reused == 0 && read[0].result["status_code"] == .int(201))
            try await store.deleteEvent(id: e.id)
            #expect(try await store.effectJournal(eventID: e.id, hookID: nil).isEmpty)
        }
    }
}
