import Foundation
import Testing
@testable import SlothRunner

/// Storm control under bursts, against every store driver, with the test's own clock: exact
/// counts of runs, skips and delays, with a restart (a new handle on the store and a new gate)
/// in the middle — the state lives in the store.
extension EventStoreBehaviourTests {
    static let t0: Millis = 1_796_119_200_000

    static func gatedHook(_ name: String, _ fields: [String: JSONValue]) throws -> Hook {
        var h = sampleHook(name, types: ["custom.*"])
        h.controls = try HookControls.parse(fields)
        return h
    }

    static func burstEvent(_ at: Millis, agent: String = "a1", n: Int = 0) -> Event {
        Event(id: EventID.make(millis: at), type: "custom.alert", stack: nil, timestamp: at,
              data: .object(["agent": .object(["name": .string(agent)]), "n": .int(Int64(n))]), createdAt: at, attempts: 1)
    }

    @Test(arguments: StoreDriver.all)
    func throttleRunsTheFirstOfEachGroupPerWindow(driver: StoreDriver) async throws {
        try await driver.withTwoNodes { store, restarted in
            let hook = try Self.gatedHook("throttled", ["throttle": .object(["once_within": .string("5m"), "group_by": .array([.string("data.agent.name")])])])
            try await store.addHook(hook)
            let gate = StormGate(store: store)
            var runs: [String] = [], skips: [(String, String?)] = []
            let burst = (0..<15).map { Self.burstEvent(Self.t0 + Millis($0) * 1000, agent: $0 < 10 ? "a1" : "a2", n: $0) }
            for e in burst {
                switch try await gate.admit(hook, event: e, now: e.createdAt) {
                case .run: runs.append(e.id)
                case .skip(let reason, _, let related): #expect(reason == "throttled"); skips.append((e.id, related))
                case .deferred: Issue.record("a throttle never defers")
                }
            }
            #expect(runs == [burst[0].id, burst[10].id])
            #expect(skips.count == 13)
            #expect(skips.filter { $0.1 == burst[0].id }.count == 9 && skips.filter { $0.1 == burst[10].id }.count == 4)
            // A retry of the event that holds the window runs again.
            if case .run = try await gate.admit(hook, event: burst[0], now: Self.t0 + 20_000) {} else { Issue.record("the holder's retry did not run") }
            // After a restart, still in the window: skipped; after it: runs.
            let again = StormGate(store: restarted)
            let inWindow = Self.burstEvent(Self.t0 + 120_000)
            #expect(try await again.admit(hook, event: inWindow, now: inWindow.createdAt) == .skip(reason: "throttled", detail: "throttled: event \(burst[0].id) ran for this group at \(RFC3339.string(millis: Self.t0)); the window lasts until \(RFC3339.string(millis: Self.t0 + 300_000))", related: burst[0].id))
            let after = Self.burstEvent(Self.t0 + 301_000)
            #expect(try await again.admit(hook, event: after, now: after.createdAt) == .run(StormGate.Ticket()))
        }
    }

    @Test(arguments: StoreDriver.all)
    func debounceRunsTheLastOfABurstOnceQuiet(driver: StoreDriver) async throws {
        try await driver.withTwoNodes { store, restarted in
            let hook = try Self.gatedHook("debounced", ["debounce": .object(["quiet": .string("30s")])])
            try await store.addHook(hook)
            let burst = (0..<5).map { Self.burstEvent(Self.t0 + Millis($0) * 5000, n: $0) }
            var gate = StormGate(store: store)
            var waiting: [(Event, Millis)] = []
            for e in burst {
                guard case .deferred(let until, let reason, _) = try await gate.admit(hook, event: e, now: e.createdAt) else {
                    Issue.record("a burst event ran at once"); continue
                }
                #expect(reason == "debounce_waiting" && until == e.createdAt + 30_000)
                waiting.append((e, until))
            }
            gate = StormGate(store: restarted)  // a restart before any comes due
            var runs: [(String, Millis)] = [], skips: [String] = []
            for (e, due) in waiting {
                switch try await gate.admit(hook, event: e, now: due) {
                case .run: runs.append((e.id, due))
                case .skip(let reason, _, let related): #expect(reason == "debounced" && related == burst[4].id); skips.append(e.id)
                case .deferred: Issue.record("came due and was deferred again")
                }
            }
            #expect(runs.map(\.0) == [burst[4].id] && runs[0].1 == Self.t0 + 20_000 + 30_000)
            #expect(skips == burst.prefix(4).map(\.id))
        }
    }

    @Test(arguments: StoreDriver.all)
    func rateLimitDelaysTheExcessAndDropsNothing(driver: StoreDriver) async throws {
        try await driver.withTwoNodes { store, restarted in
            let hook = try Self.gatedHook("limited", ["rate_limit": .string("10/m")])
            try await store.addHook(hook)
            var gate = StormGate(store: store)
            var queue = (0..<25).map { (Self.burstEvent(Self.t0, n: $0), Self.t0) }
            var runTimes: [Millis] = [], delays = 0, restarted1 = false
            while !queue.isEmpty {
                queue.sort { ($0.1, $0.0.id) < ($1.1, $1.0.id) }
                let (e, now) = queue.removeFirst()
                if now >= Self.t0 + 30_000 && !restarted1 {
                    gate = StormGate(store: restarted)
                    restarted1 = true
                }
                switch try await gate.admit(hook, event: e, now: now) {
                case .run: runTimes.append(now)
                case .deferred(let until, let reason, _):
                    #expect(reason == "rate_limited" && until > now)
                    delays += 1
                    queue.append((e, until))
                case .skip: Issue.record("a rate limit never drops a run")
                }
            }
            #expect(runTimes == Array(repeating: Self.t0, count: 10) + Array(repeating: Self.t0 + 60_000, count: 10) + Array(repeating: Self.t0 + 120_000, count: 5))
            #expect(delays == 15 + 5)
            // Never more than 10 in any minute.
            for start in runTimes { #expect(runTimes.filter { $0 >= start && $0 < start + 60_000 }.count <= 10) }
        }
    }

    @Test(arguments: StoreDriver.all)
    func concurrencySerialisesEachGroup(driver: StoreDriver) async throws {
        try await driver.withTwoNodes { store, restarted in
            let hook = try Self.gatedHook("serial", ["concurrency": .object(["limit": .int(1), "group_by": .array([.string("data.agent.name")])])])
            try await store.addHook(hook)
            let gate = StormGate(store: store)
            let a1 = Self.burstEvent(Self.t0, agent: "a", n: 1), a2 = Self.burstEvent(Self.t0, agent: "a", n: 2), b1 = Self.burstEvent(Self.t0, agent: "b", n: 1)
            guard case .run(let t1) = try await gate.admit(hook, event: a1, now: Self.t0) else { Issue.record("a1 did not run"); return }
            guard case .deferred(let until, "concurrency", _) = try await gate.admit(hook, event: a2, now: Self.t0) else { Issue.record("a2 ran beside a1"); return }
            #expect(until == Self.t0 + StormGate.recheckMillis)
            guard case .run = try await gate.admit(hook, event: b1, now: Self.t0) else { Issue.record("another group waited"); return }
            // Still held at the recheck (after a restart too); free once a1 finishes.
            let again = StormGate(store: restarted)
            if case .run = try await again.admit(hook, event: a2, now: until) { Issue.record("a2 ran while a1 held the slot") }
            _ = try await gate.finish(hook, event: a1, ticket: t1, succeeded: true, now: Self.t0 + 1000)
            guard case .run = try await again.admit(hook, event: a2, now: Self.t0 + 1250) else { Issue.record("a2 did not get the freed slot"); return }
            // A holder that never finishes (its node died) frees the slot after its hold.
            let a3 = Self.burstEvent(Self.t0, agent: "a", n: 3)
            if case .run = try await again.admit(hook, event: a3, now: Self.t0 + 1300) { Issue.record("a3 ran beside a2") }
            guard case .run = try await again.admit(hook, event: a3, now: Self.t0 + 1250 + hook.limits.timeoutMillis + 5_001) else {
                Issue.record("a dead holder kept its slot"); return
            }
        }
    }

    @Test(arguments: StoreDriver.all)
    func circuitBreakerDefersWhileOpenThenTriesOnce(driver: StoreDriver) async throws {
        try await driver.withTwoNodes { store, restarted in
            let hook = try Self.gatedHook("fragile", ["circuit_breaker": .object(["failures": .int(3), "within": .string("1m"), "open_for": .string("5m")])])
            try await store.addHook(hook)
            var gate = StormGate(store: store)
            var changes: [StormGate.CircuitChange] = []
            for i in 0..<3 {
                let e = Self.burstEvent(Self.t0 + Millis(i) * 1000, n: i)
                guard case .run(let t) = try await gate.admit(hook, event: e, now: e.createdAt) else { Issue.record("closed circuit deferred"); return }
                if let c = try await gate.finish(hook, event: e, ticket: t, succeeded: false, now: e.createdAt) { changes.append(c) }
            }
            #expect(changes == [.opened(failures: 3, openUntil: Self.t0 + 2000 + 300_000)])
            gate = StormGate(store: restarted)  // a restart while open
            var deferred = 0
            for i in 0..<4 {
                let e = Self.burstEvent(Self.t0 + 10_000 + Millis(i), n: 10 + i)
                if case .deferred(let until, "circuit_open", _) = try await gate.admit(hook, event: e, now: e.createdAt) {
                    #expect(until == Self.t0 + 302_000)
                    deferred += 1
                }
            }
            #expect(deferred == 4)
            // The open period ends: one trial; the others wait for it. It fails: open again, no new change.
            let trial = Self.burstEvent(Self.t0 + 302_000, n: 20), other = Self.burstEvent(Self.t0 + 302_000, n: 21)
            guard case .run(let tt) = try await gate.admit(hook, event: trial, now: Self.t0 + 302_000) else { Issue.record("no trial"); return }
            #expect(tt.circuitTrial)
            if case .run = try await gate.admit(hook, event: other, now: Self.t0 + 302_001) { Issue.record("a second run beside the trial") }
            #expect(try await gate.finish(hook, event: trial, ticket: tt, succeeded: false, now: Self.t0 + 303_000) == nil)
            if case .run = try await gate.admit(hook, event: other, now: Self.t0 + 304_000) { Issue.record("ran while open again") }
            // The next trial succeeds: closed, with the downtime; runs go ahead.
            let second = Self.burstEvent(Self.t0 + 603_000, n: 30)
            guard case .run(let st) = try await gate.admit(hook, event: second, now: Self.t0 + 603_000) else { Issue.record("no second trial"); return }
            #expect(try await gate.finish(hook, event: second, ticket: st, succeeded: true, now: Self.t0 + 603_500) == .closed(downtimeMillis: 601_500))
            guard case .run = try await gate.admit(hook, event: other, now: Self.t0 + 604_000) else { Issue.record("closed circuit deferred"); return }
        }
    }

    /// Two nodes racing on one group: the compare-and-set lets exactly one event through a
    /// throttle, and never more than the limit through concurrency.
    @Test(arguments: StoreDriver.all)
    func nodesRacingOnAGroupAgree(driver: StoreDriver) async throws {
        try await driver.withTwoNodes { a, b in
            let throttled = try Self.gatedHook("race_throttle", ["throttle": .string("1h")])
            let serial = try Self.gatedHook("race_serial", ["concurrency": .int(2)])
            try await a.addHook(throttled)
            try await a.addHook(serial)
            let events = (0..<20).map { Self.burstEvent(Self.t0, n: $0) }
            let outcomes = try await withThrowingTaskGroup(of: (Bool, Bool).self) { group in
                for (i, e) in events.enumerated() {
                    let gate = StormGate(store: i % 2 == 0 ? a : b)
                    group.addTask {
                        let t = try await gate.admit(throttled, event: e, now: Self.t0)
                        let c = try await gate.admit(serial, event: e, now: Self.t0)
                        if case .run = t { if case .run = c { return (true, true) } else { return (true, false) } }
                        if case .run = c { return (false, true) }
                        return (false, false)
                    }
                }
                var all: [(Bool, Bool)] = []
                for try await o in group { all.append(o) }
                return all
            }
            #expect(outcomes.count { $0.0 } == 1)
            #expect(outcomes.count { $0.1 } == 2)
        }
    }
}
