import Foundation
import Testing
@testable import SlothRunner

/// The shared suite, continued: what must hold when several nodes (or processes) use one store —
/// leases rescued by anyone, claims that never overlap, one success per hook and event, atomic
/// state, schedules firing once — and the rest of the store's duties (secrets, retention).
extension EventStoreBehaviourTests {
    @Test(arguments: StoreDriver.all)
    func expiredLeasesAreRescuedByAnyNode(driver: StoreDriver) async throws {
        try await driver.withTwoNodes { a, b in
            let e = Engine.pendingEvent(from: NewEvent(type: "x.y"))
            try await a.insertEvents([e])
            let now = nowMillis()
            let claimed = try await a.claimEvents(owner: "a/1", leaseMillis: 1_000, limit: 10, now: now)
            #expect(claimed.map(\.id) == [e.id])
            // Before expiry nothing is rescued; after it, the other node rescues and claims it.
            #expect(try await b.rescueExpiredLeases(now: now) == 0)
            #expect(try await b.rescueExpiredLeases(now: now + 2_000) == 1)
            let again = try await b.claimEvents(owner: "b/1", leaseMillis: 60_000, limit: 10, now: now + 2_000)
            #expect(again.map(\.id) == [e.id] && again[0].attempts == 2)
            // The first owner's late outcome is refused; the new owner's stands.
            func done(_ owner: String, _ attempt: Int) -> EventOutcome {
                EventOutcome(
                    eventID: e.id, leaseOwner: owner, claimAttempt: attempt, status: .completed, error: nil, processedAt: nowMillis(),
                    nextRunAt: 0, executions: [], attemptUpdates: [])
            }
            #expect(try await a.recordOutcome(done("a/1", 1)) == false)
            #expect(try await b.recordOutcome(done("b/1", 2)) == true)
            #expect(try await a.resolveEvent(e.id).status == .completed)
        }
    }

    @Test(arguments: StoreDriver.all)
    func claimsFromTwoNodesNeverOverlap(driver: StoreDriver) async throws {
        try await driver.withTwoNodes { a, b in
            let events = (0..<300).map { _ in Engine.pendingEvent(from: NewEvent(type: "x.y")) }
            try await a.insertEvents(events)
            let now = nowMillis()
            let claims = try await withThrowingTaskGroup(of: [String].self) { group in
                for i in 0..<20 {
                    let node = i % 2 == 0 ? a : b
                    group.addTask {
                        var mine: [String] = []
                        while true {
                            let got = try await node.claimEvents(owner: "n\(i)/1", leaseMillis: 60_000, limit: 7, now: now)
                            if got.isEmpty { return mine }
                            mine += got.map(\.id)
                        }
                    }
                }
                var all: [[String]] = []
                for try await c in group { all.append(c) }
                return all
            }
            let flat = claims.flatMap { $0 }
            #expect(flat.count == 300, "every event claimed once")
            #expect(Set(flat) == Set(events.map(\.id)))
        }
    }

    @Test(arguments: StoreDriver.all)
    func aHookSucceedsAtMostOncePerEvent(driver: StoreDriver) async throws {
        try await driver.withTwoNodes { a, b in
            let hook = sampleHook("once")
            try await a.addHook(hook)
            let e = Engine.pendingEvent(from: NewEvent(type: "task.failed"))
            try await a.insertEvents([e])
            func success(_ owner: String, _ attempt: Int) -> EventOutcome {
                EventOutcome(
                    eventID: e.id, leaseOwner: owner, claimAttempt: attempt, status: .completed, error: nil, processedAt: nowMillis(), nextRunAt: 0,
                    executions: [HookExecution(
                        id: 0, eventID: e.id, hookID: hook.id, hookName: hook.name, success: true, output: "", error: nil, durationMillis: 1,
                        executedAt: nowMillis(), attempt: attempt, usage: ResourceUsage(), message: nil)],
                    attemptUpdates: [])
            }
            _ = try await a.claimEvents(owner: "a/1", leaseMillis: 60_000, limit: 1, now: nowMillis())
            #expect(try await a.recordOutcome(success("a/1", 1)))
            // Run again (retried by an operator) on the other node: the second success is dropped.
            try await b.retryEvent(id: e.id, now: nowMillis())
            _ = try await b.claimEvents(owner: "b/1", leaseMillis: 60_000, limit: 1, now: nowMillis())
            #expect(try await b.recordOutcome(success("b/1", 2)))
            let runs = try await a.executions(eventID: e.id)
            #expect(runs.filter(\.success).count == 1)
            #expect(try await a.hook(named: "once")?.runCount == 1)
        }
    }

    @Test(arguments: StoreDriver.all)
    func stateIsAtomicAcrossNodes(driver: StoreDriver) async throws {
        try await driver.withTwoNodes { a, b in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<100 {
                    let node = i % 2 == 0 ? a : b
                    group.addTask { _ = try await node.stateIncrement(stack: "s", key: "count", by: 1, now: nowMillis()) }
                }
                try await group.waitForAll()
            }
            #expect(try await b.stateGet(stack: "s", key: "count", now: nowMillis()) == .int(100))
            let winners = try await withThrowingTaskGroup(of: Bool.self) { group in
                for i in 0..<20 {
                    let node = i % 2 == 0 ? a : b
                    group.addTask {
                        try await node.stateCompareAndSet(stack: "s", key: "leader", expected: nil, value: .string("n\(i)"), expiresAt: nil, now: nowMillis())
                    }
                }
                var n = 0
                for try await won in group where won { n += 1 }
                return n
            }
            #expect(winners == 1, "one compare-and-set of an absent key wins")
            // Expiry: an expired value reads as absent and is pruned.
            let now = nowMillis()
            try await a.stateSet(stack: "s", key: "brief", value: .object(["v": .double(1.5)]), expiresAt: now + 1_000, now: now)
            #expect(try await b.stateGet(stack: "s", key: "brief", now: now) == .object(["v": .double(1.5)]))
            #expect(try await b.stateGet(stack: "s", key: "brief", now: now + 2_000) == nil)
            #expect(try await a.pruneExpiredState(now: now + 2_000) == 1)
            #expect(try await a.stateEntries(stack: "s", prefix: "", now: now).map(\.key) == ["count", "leader"])
            #expect(try await a.stateDelete(stack: "s", key: "leader"))
            #expect(try await a.stateDelete(stack: "s", key: "leader") == false)
            try await a.stateSet(stack: "s", key: "word", value: .string("x"), expiresAt: nil, now: now)
            await #expect(throws: SlothError.self, "only integers count") { try await b.stateIncrement(stack: "s", key: "word", by: 1, now: now) }
            #expect(try await a.stateGet(stack: "s", key: "word", now: now) == .string("x"), "a refused increment changes nothing")
        }
    }

    @Test(arguments: StoreDriver.all)
    func aScheduleSlotFiresOnceAcrossNodes(driver: StoreDriver) async throws {
        try await driver.withTwoNodes { a, b in
            let schedule = Schedule(
                name: "nightly", id: UUID().uuidString.lowercased(), cron: "0 3 * * *", zone: "UTC", eventType: "custom.nightly",
                data: .object([:]), stack: nil, catchUp: .skip, maxCatchUp: 10, enabled: true, createdAt: 1_000, firedThrough: 1_000,
                declaredIn: nil)
            try await a.scheduleAdd(schedule)
            let fired = try await withThrowingTaskGroup(of: Bool.self) { group in
                for node in [a, b, a, b] {
                    group.addTask {
                        try await node.scheduleFire(
                            name: "nightly", from: 1_000, through: 2_000, events: [Engine.pendingEvent(from: NewEvent(type: "custom.nightly"))])
                    }
                }
                var n = 0
                for try await f in group where f { n += 1 }
                return n
            }
            #expect(fired == 1)
            #expect(try await b.countEvents(status: .pending) == 1)
            #expect(try await b.schedule(named: "nightly")?.firedThrough == 2_000)
        }
    }

    @Test(arguments: StoreDriver.all)
    func secretsAreKeptSealedAndListedByName(driver: StoreDriver) async throws {
        try await driver.withStore { store in
            let sealed = SecretCipher.Sealed(nonce: [1, 2, 3], ciphertext: [9, 8, 7, 6])
            try await store.secretPut(name: "slack", sealed: sealed, now: 5)
            try await store.secretPut(name: "api", sealed: sealed, now: 6)
            try await store.secretPut(name: "slack", sealed: SecretCipher.Sealed(nonce: [4], ciphertext: [5]), now: 7)
            #expect(try await store.secretGet(name: "slack") == SecretCipher.Sealed(nonce: [4], ciphertext: [5]))
            #expect(try await store.secretList().map(\.name) == ["api", "slack"])
            let slack = try await store.secretList()[1]
            #expect(slack.createdAt == 5 && slack.updatedAt == 7)
            #expect(try await store.secretDelete(name: "api"))
            #expect(try await store.secretDelete(name: "api") == false)
            _ = try await store.setSettingIfAbsent(SecretVault.keyCheckSetting, value: "check")
            #expect(try await store.setSettingIfAbsent(SecretVault.keyCheckSetting, value: "other") == "check")
            #expect(try await store.secretDeleteAll() == 1)
            #expect(try await store.setting(SecretVault.keyCheckSetting) == nil)
        }
    }

    @Test(arguments: StoreDriver.all)
    func retentionTakesFinishedEventsWithTheirHistory(driver: StoreDriver) async throws {
        try await driver.withStore { store in
            let hook = sampleHook("h")
            try await store.addHook(hook)
            let old = nowMillis() - 100_000
            let events = (0..<3).map { _ in Engine.pendingEvent(from: NewEvent(type: "task.failed"), now: old) }
            try await store.insertEvents(events)
            let claimed = try await store.claimEvents(owner: "n/1", leaseMillis: 60_000, limit: 2, now: nowMillis())
            for e in claimed {
                let o = EventOutcome(
                    eventID: e.id, leaseOwner: "n/1", claimAttempt: 1, status: .completed, error: nil, processedAt: nowMillis(), nextRunAt: 0,
                    executions: [HookExecution(
                        id: 0, eventID: e.id, hookID: hook.id, hookName: "h", success: true, output: "ok", error: nil, durationMillis: 1,
                        executedAt: nowMillis(), attempt: 1, usage: ResourceUsage(), message: "sent")],
                    attemptUpdates: [])
                #expect(try await store.recordOutcome(o))
            }
            #expect(try await store.executions(eventID: claimed[0].id).map(\.message) == ["sent"])
            #expect(try await store.deleteEvents(olderThan: nowMillis(), status: nil) == 2)
            #expect(try await store.executions(eventID: claimed[0].id).isEmpty, "executions go with their event")
            #expect(try await store.countEvents(status: .pending) == 1)
            // Removing a hook removes its history too.
            try await store.removeHook(name: "h")
            #expect(try await store.hookHistory(hookID: hook.id, limit: 10, failedOnly: false).isEmpty)
        }
    }
}
