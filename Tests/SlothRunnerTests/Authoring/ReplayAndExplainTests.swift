import Foundation
import Testing
@testable import SlothRunner

extension EventStoreBehaviourTests {
    @Test(arguments: StoreDriver.all)
    func replayMarkIsStoredClaimedAndListedByOriginal(driver: StoreDriver) async throws {
        try await driver.withStore { store in
            let hook = sampleHook("notify")
            try await store.addHook(hook)
            let original = Engine.pendingEvent(from: NewEvent(type: "task.failed", data: .object(["n": .int(7)]), stack: "prod"))
            try await store.insertEvents([original])
            let replay = try EventReplay.make(of: original, hooks: ["notify"], registered: [hook], by: "cli:alice", now: nowMillis())
            try await store.insertEvents([replay])
            let read = try await store.resolveEvent(replay.id)
            #expect(read.replay == ReplayMark(of: original.id, hooks: ["notify"], by: "cli:alice", at: replay.replay!.at))
            #expect(read.data == original.data && read.stack == "prod" && read.timestamp == original.timestamp)
            #expect(try await store.resolveEvent(original.id).replay == nil)
            #expect(try await store.listEvents(EventFilter(replayOf: original.id)).map(\.id) == [replay.id])
            #expect(try await store.listEvents(EventFilter(replayOf: replay.id)).isEmpty)
            let claimed = try await store.claimEvents(owner: "n/1", leaseMillis: 10_000, limit: 10, now: nowMillis())
            #expect(claimed.first { $0.id == replay.id }?.replay?.hooks == ["notify"])
            // The journal carries the mark too (the stream and the UI's live view read it).
            let changes = try await store.changes(after: 0, limit: 100)
            #expect(changes.contains { $0.eventID == replay.id && $0.event?.replay?.of == original.id })
        }
    }
}

@Suite struct ReplayAndExplainTests {
    static func hook(_ name: String, types: [String] = ["task.failed"], stack: String? = nil, filter: JSONValue? = nil, enabled: Bool = true, at: Millis = 1000, tags: [String] = []) -> Hook {
        var h = sampleHook(name, types: types, stack: stack)
        h.filter = try! filter.map(DataFilter.parse)
        h.enabled = enabled
        h.createdAt = at
        h.updatedAt = at
        h.nodeTags = tags
        return h
    }

    static func event(_ type: String = "task.failed", data: JSONValue = .object([:]), stack: String? = nil, status: EventStatus = .completed, processedAt: Millis? = 5000) -> Event {
        Event(id: EventID.make(millis: 4000), type: type, stack: stack, timestamp: 4000, data: data, status: status, createdAt: 4000, processedAt: processedAt, attempts: 1)
    }

    @Test func everyReasonIsToldWithItsFacts() throws {
        let e = Self.event(data: .object(["severity": .string("warning"), "deploy": .object(["env": .string("staging")])]), stack: "prod")
        let hooks = [
            Self.hook("ran"), Self.hook("types", types: ["deploy.*"]), Self.hook("stacked", stack: "dev"),
            Self.hook("filtered", filter: .object(["severity": .string("critical")])),
            Self.hook("missing", filter: .object(["agent.name": .string("a1")])),
            Self.hook("off", enabled: false), Self.hook("late", at: 9000),
            { var h = Self.hook("changed"); h.updatedAt = 9000; return h }(),
        ]
        let runs = [HookExecution(eventID: e.id, hookID: hooks[0].id, hookName: "ran", success: true, output: "", error: nil, durationMillis: 1, executedAt: 4500, attempt: 1, usage: ResourceUsage(), message: "sent")]
        let verdicts = Dictionary(uniqueKeysWithValues: EventExplainer.explain(e, hooks: hooks, executions: runs, deadLetters: [], liveNodeTags: []).map { ($0.hook, $0) })
        #expect(verdicts["ran"]?.reason == .ran && verdicts["ran"]?.succeeded == true && verdicts["ran"]?.detail == "succeeded: sent")
        #expect(verdicts["types"]?.reason == .type && verdicts["types"]?.detail == "it listens to deploy.*; the event is task.failed")
        #expect(verdicts["stacked"]?.reason == .stack && verdicts["stacked"]?.facts["hook_stack"] == .string("dev"))
        #expect(verdicts["filtered"]?.reason == .filter)
        #expect(verdicts["filtered"]?.facts["actual"] == .string("warning"))
        #expect(verdicts["filtered"]?.detail == #"its filter wants data.severity to be "critical"; in the event it is "warning""#)
        #expect(verdicts["missing"]?.facts["actual"] == .null && verdicts["missing"]?.detail.hasSuffix("is missing") == true)
        #expect(verdicts["off"]?.reason == .disabled)
        #expect(verdicts["late"]?.reason == .registeredAfter)
        #expect(verdicts["changed"]?.reason == .changedAfter)
    }

    @Test func pendingReplayAndNodeTagsAreTold() throws {
        let tagged = Self.hook("web_only", tags: ["web"])
        let plain = Self.hook("plain")
        let pending = Self.event(status: .pending, processedAt: nil)
        var verdicts = EventExplainer.explain(pending, hooks: [tagged, plain], executions: [], deadLetters: [], liveNodeTags: [["db"]])
        #expect(verdicts.map(\.reason) == [.pending, .waitingForNode])
        verdicts = EventExplainer.explain(pending, hooks: [tagged], executions: [], deadLetters: [], liveNodeTags: [["web", "eu"]])
        #expect(verdicts.map(\.reason) == [.pending])
        var replay = Self.event()
        replay.replay = ReplayMark(of: "x", hooks: ["plain"], by: "cli:me", at: 1)
        verdicts = EventExplainer.explain(replay, hooks: [tagged, plain], executions: [], deadLetters: [], liveNodeTags: [])
        #expect(verdicts.first { $0.hook == "web_only" }?.reason == .notInReplay)
    }

    @Test func failedRunsSayAttemptsAndDeadLetters() throws {
        let h = Self.hook("flaky")
        let e = Self.event(status: .failed)
        let runs = (1...3).map { HookExecution(eventID: e.id, hookID: h.id, hookName: "flaky", success: false, output: "", error: "boom \($0)", durationMillis: 1, executedAt: 4500, attempt: $0, usage: ResourceUsage()) }
        let dead = [DeadLetter(eventID: e.id, hookID: h.id, hookName: "flaky", attempts: 3, lastError: "boom 3", deadAt: 5000)]
        let v = EventExplainer.explain(e, hooks: [h], executions: runs, deadLetters: dead, liveNodeTags: [])[0]
        #expect(v.reason == .ran && v.attempts == 3 && v.succeeded == false && v.deadLettered)
        #expect(v.detail == "failed 3 attempts and was dead-lettered: boom 3")
    }

    @Test func replayRefusesWhatCannotRun() throws {
        let e = Self.event(data: .object(["severity": .string("warning")]))
        let hooks = [Self.hook("a"), Self.hook("b", filter: .object(["severity": .string("critical")])), Self.hook("off", enabled: false), Self.hook("other", types: ["x.y"])]
        let all = try EventReplay.make(of: e, hooks: [], registered: hooks, by: "cli:me", now: 10_000)
        #expect(all.replay?.hooks == ["a"])
        #expect(all.id != e.id && all.createdAt == 10_000 && all.timestamp == e.timestamp && all.parentID == nil)
        #expect(throws: SlothError.self) { try EventReplay.make(of: e, hooks: ["b"], registered: hooks, by: "cli:me", now: 10_000) }
        #expect(throws: SlothError.self) { try EventReplay.make(of: e, hooks: ["off"], registered: hooks, by: "cli:me", now: 10_000) }
        #expect(throws: SlothError.self) { try EventReplay.make(of: e, hooks: ["nope"], registered: hooks, by: "cli:me", now: 10_000) }
        #expect(throws: SlothError.self) { try EventReplay.make(of: e, hooks: [], registered: [hooks[3]], by: "cli:me", now: 10_000) }
    }

    @Test func selectionParsesAndRefusesBadKeys() throws {
        let s = try EventSelection.parse("type=task.* since=24h limit=20 status=failed", now: 100_000_000)
        #expect(s.type?.text == "task.*" && s.limit == 20 && s.status == .failed && s.since == 100_000_000 - 86_400_000)
        #expect(throws: SlothError.self) { try EventSelection.parse("typ=task.failed", now: 0) }
        #expect(throws: SlothError.self) { try EventSelection.parse("limit=0", now: 0) }
        #expect(throws: SlothError.self) { try EventSelection.parse("since=yesterday", now: 0) }
        #expect(throws: SlothError.self) { try EventSelection.parse("since=1h until=2h", now: 10_000_000) }
    }

    /// A replay runs the hooks it names — one that already succeeded included — as a new
    /// event; the original's record is untouched; a hook it does not name does not run.
    @Test func engineRunsAReplayThroughItsHooksOnly() async throws {
        let h = try EngineHarness()
        _ = try await h.addHook(#"return { name = "a", event_type = "task.failed", execute = function(e) return true, "a ran" end }"#, file: "a.lua")
        _ = try await h.addHook(#"return { name = "b", event_type = "task.failed", execute = function(e) return true end }"#, file: "b.lua")
        try await h.engine.start()
        let first = try await h.engine.dispatch(NewEvent(type: "task.failed", data: .object(["n": .int(1)])))
        _ = try await h.waitFinal(first.id)
        let replay = try await h.engine.replay(try await h.store.resolveEvent(first.id), hooks: ["a"], by: "test")
        #expect(try await h.waitFinal(replay.id).status == .completed)
        #expect(try await h.store.executions(eventID: replay.id).map(\.hookName) == ["a"])
        #expect(Set(try await h.store.executions(eventID: first.id).map(\.hookName)) == ["a", "b"])
        let report = try await EventExplainer.report(for: try await h.store.resolveEvent(replay.id), store: h.store)
        #expect(report.verdicts.map { "\($0.hook):\($0.reason.rawValue)" } == ["a:ran", "b:not_in_replay"])
        #expect(try await EventExplainer.report(for: try await h.store.resolveEvent(first.id), store: h.store).replays.map(\.id) == [replay.id])
        _ = await h.engine.drain(grace: 5)
    }

    @Test func stormReasonsAreTold() throws {
        let h = Self.hook("gated")
        let skip = HookSkip(eventID: "e", hookID: h.id, hookName: "gated", reason: "debounced", detail: "debounced: a later event of the burst (x) runs instead", relatedEventID: "x", at: 1)
        var v = EventExplainer.explain(Self.event(), hooks: [h], executions: [], deadLetters: [], liveNodeTags: [], skips: [skip])[0]
        #expect(v.reason == .debounced && v.facts["related_event_id"] == .string("x"))
        for (reason, expected) in [("concurrency", EventExplainer.Verdict.Reason.concurrency), ("circuit_open", .circuitOpen), ("debounce_waiting", .debounceWaiting), ("rate_limited", .rateLimited)] {
            var pending = Self.event(status: .pending, processedAt: nil)
            let note = OutcomePlanner.Deferral(hook: "gated", until: 9000, reason: reason, detail: "why \(reason)").note
            pending.error = "hook other failed; " + note
            v = EventExplainer.explain(pending, hooks: [h], executions: [], deadLetters: [], liveNodeTags: [])[0]
            #expect(v.reason == expected && v.detail == "why \(reason)")
        }
    }
}
