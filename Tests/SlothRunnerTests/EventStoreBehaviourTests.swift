import Foundation
import Synchronization
import Testing
@testable import SlothRunner
@testable import SlothRunnerPostgres

/// A store implementation under test. Every driver runs the same behaviour suite (River's
/// driver suite is the model): the SQLite store, in both durability modes, and the PostgreSQL
/// store, each test in a schema of its own on the cluster `scripts/test.sh` starts
/// (`SLOTH_RUNNER_TEST_POSTGRES_URL`). Without that variable the PostgreSQL runs are skipped,
/// and say so; CI always sets it.
struct StoreDriver: Sendable, CustomStringConvertible {
    let description: String
    let make: @Sendable (TempDir) async throws -> (any EventStoreDriver)?
    /// Removes what `make` created outside the temporary directory.
    var dispose: @Sendable (any EventStoreDriver) async -> Void = { _ in }
    /// A second handle on the same store, as another node (or process) opens it.
    var reopen: @Sendable (any EventStoreDriver) async throws -> any EventStoreDriver = { store in
        guard let sqlite = store as? SQLiteEventStore else { throw SlothError.runtime("no second handle for \(type(of: store))") }
        return try SQLiteEventStore(path: sqlite.path)
    }

    /// Runs `body` with two handles on one fresh store: two nodes sharing a database.
    func withTwoNodes(_ body: (any EventStoreDriver, any EventStoreDriver) async throws -> Void) async throws {
        try await withStore { a in
            let b = try await reopen(a)
            do {
                try await body(a, b)
            } catch {
                await b.close()
                throw error
            }
            await b.close()
        }
    }

    /// Runs `body` against a fresh store in its own temporary directory, then closes it.
    func withStore(_ body: (any EventStoreDriver) async throws -> Void) async throws {
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        guard let store = try await make(dir) else { return }
        do {
            try await body(store)
        } catch {
            await dispose(store)
            await store.close()
            throw error
        }
        await dispose(store)
        await store.close()
    }

    static let all: [StoreDriver] = [
        StoreDriver(description: "sqlite") { dir in try SQLiteEventStore(path: dir.path + "/store.db") },
        StoreDriver(description: "sqlite-full-sync") { dir in try SQLiteEventStore(path: dir.path + "/store.db", synchronous: .full) },
        StoreDriver(
            description: "postgres", make: { _ in try await PostgresTestDatabase.freshStore() },
            dispose: { store in await PostgresTestDatabase.drop(store) },
            reopen: { store in
                guard let pg = store as? PostgresEventStore else { throw SlothError.runtime("not a PostgreSQL store") }
                return try await PostgresEventStore(location: pg.location)
            }),
    ]
}

/// The PostgreSQL cluster of the test run, and a fresh schema per store.
enum PostgresTestDatabase {
    static var url: String? {
        let v = ProcessInfo.processInfo.environment["SLOTH_RUNNER_TEST_POSTGRES_URL"]
        return v?.isEmpty == false ? v : nil
    }

    /// A store in a new schema, or a recorded skip when no cluster is configured.
    static func freshStore() async throws -> PostgresEventStore? {
        guard let url else {
            print("SKIPPED: PostgreSQL store test (set SLOTH_RUNNER_TEST_POSTGRES_URL; scripts/test.sh does)")
            return nil
        }
        let schema = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(20)
        return try await PostgresEventStore(url: url + (url.contains("?") ? "&" : "?") + "schema=\(schema)")
    }

    static func drop(_ store: any EventStoreDriver) async {
        guard let pg = store as? PostgresEventStore, let schema = pg.location.schema else { return }
        _ = try? await pg.pool.rows("DROP SCHEMA \(schema) CASCADE", [])
    }
}

func sampleHook(_ name: String, types: [String] = ["task.failed"], stack: String? = nil) -> Hook {
    Hook(
        id: UUID().uuidString.lowercased(), name: name, description: nil, eventTypes: types, filePath: "/tmp/\(name).lua",
        stack: stack, enabled: true, createdAt: nowMillis(), updatedAt: nowMillis(), source: "return {}", sourceHash: "h",
        limits: HookLimits(), maxAttempts: 3, retryDelayMillis: 10)
}

@Suite struct EventStoreBehaviourTests {
    @Test(arguments: StoreDriver.all)
    func insertedEventsResolveByUniquePrefix(driver: StoreDriver) async throws {
        try await driver.withStore { store in
            let e = Engine.pendingEvent(from: NewEvent(type: "task.failed", data: .object(["n": .int(1)])))
            try await store.insertEvents([e])
            let byFull = try await store.resolveEvent(e.id)
            #expect(byFull.data == .object(["n": .int(1)]))
            let byPrefix = try await store.resolveEvent(String(e.id.prefix(20)))
            #expect(byPrefix.id == e.id)
            await #expect(throws: SlothError.self) { try await store.resolveEvent("ffffffff") }
        }
    }

    @Test(arguments: StoreDriver.all)
    func ambiguousPrefixListsCandidates(driver: StoreDriver) async throws {
        try await driver.withStore { store in
            let now = nowMillis()
            let a = Engine.pendingEvent(from: NewEvent(type: "a.b"), now: now)
            let b = Engine.pendingEvent(from: NewEvent(type: "a.b"), now: now)
            try await store.insertEvents([a, b])
            do {
                _ = try await store.resolveEvent(String(a.id.prefix(8)))
                Issue.record("an ambiguous prefix resolved")
            } catch let e as SlothError {
                guard case .ambiguous(let message) = e else { Issue.record("wrong error \(e)"); return }
                #expect(message.contains(a.id) && message.contains(b.id))
            }
        }
    }

    @Test(arguments: StoreDriver.all)
    func claimsAreLeasedAndExclusive(driver: StoreDriver) async throws {
        try await driver.withStore { store in
            let events = (0..<5).map { _ in Engine.pendingEvent(from: NewEvent(type: "x.y")) }
            try await store.insertEvents(events)
            let now = nowMillis()
            let first = try await store.claimEvents(owner: "n/1", leaseMillis: 10_000, limit: 3, now: now)
            let second = try await store.claimEvents(owner: "n/2", leaseMillis: 10_000, limit: 10, now: now)
            #expect(first.count == 3)
            #expect(second.count == 2)
            #expect(Set(first.map(\.id)).isDisjoint(with: second.map(\.id)))
            #expect(first.allSatisfy { $0.status == .processing && $0.leaseOwner == "n/1" && $0.attempts == 1 })
            let none = try await store.claimEvents(owner: "n/3", leaseMillis: 10_000, limit: 10, now: now)
            #expect(none.isEmpty)
        }
    }

    @Test(arguments: StoreDriver.all)
    func outcomeIsACompareAndSetOnTheLease(driver: StoreDriver) async throws {
        try await driver.withStore { store in
            let hook = sampleHook("h")
            try await store.addHook(hook)
            try await store.insertEvents([Engine.pendingEvent(from: NewEvent(type: "task.failed"))])
            let claimed = try await store.claimEvents(owner: "n/old", leaseMillis: 1, limit: 1, now: nowMillis())[0]
            // The lease lapses and another node claims the event.
            #expect(try await store.rescueExpiredLeases(now: nowMillis() + 10) == 1)
            let reclaimed = try await store.claimEvents(owner: "n/new", leaseMillis: 10_000, limit: 1, now: nowMillis() + 10)[0]
            #expect(reclaimed.attempts == 2)
            func outcome(_ owner: String, _ attempt: Int) -> EventOutcome {
                EventOutcome(
                    eventID: claimed.id, leaseOwner: owner, claimAttempt: attempt, status: .completed, error: nil, processedAt: nowMillis(),
                    nextRunAt: 0,
                    executions: [HookExecution(eventID: claimed.id, hookID: hook.id, hookName: hook.name, success: true, output: "", error: nil, durationMillis: 1, executedAt: nowMillis(), attempt: 1, usage: ResourceUsage())],
                    attemptUpdates: [])
            }
            #expect(try await store.recordOutcome(outcome("n/old", 1)) == false)
            #expect(try await store.executions(eventID: claimed.id).isEmpty)
            #expect(try await store.recordOutcome(outcome("n/new", 2)) == true)
            #expect(try await store.recordOutcome(outcome("n/new", 2)) == false)
            #expect(try await store.executions(eventID: claimed.id).count == 1)
            #expect(try await store.resolveEvent(claimed.id).status == .completed)
            #expect(try await store.hook(named: "h")?.runCount == 1)
        }
    }

    @Test(arguments: StoreDriver.all)
    func staleLeasesOfThisNodeAreReleasedAtOnce(driver: StoreDriver) async throws {
        try await driver.withStore { store in
            try await store.insertEvents((0..<3).map { _ in Engine.pendingEvent(from: NewEvent(type: "x.y")) })
            _ = try await store.claimEvents(owner: "node-a/111", leaseMillis: 60_000, limit: 2, now: nowMillis())
            _ = try await store.claimEvents(owner: "node-b/222", leaseMillis: 60_000, limit: 1, now: nowMillis())
            #expect(try await store.releaseStaleLeases(nodePrefix: "node-a/", current: "node-a/333") == 2)
            #expect(try await store.countEvents(status: .pending) == 2)
            #expect(try await store.countEvents(status: .processing) == 1)
        }
    }

    @Test(arguments: StoreDriver.all)
    func hooksAreUniqueByNameAndVersioned(driver: StoreDriver) async throws {
        try await driver.withStore { store in
            let v0 = try await store.hooksVersion()
            try await store.addHook(sampleHook("one", stack: "prod"))
            await #expect(throws: SlothError.self) { try await store.addHook(sampleHook("one")) }
            try await store.addHook(sampleHook("two", types: ["task.*"]))
            #expect(try await store.hooksVersion() == v0 + 2)
            #expect(try await store.listHooks(HookFilter(stack: "prod")).map(\.name) == ["one"])
            #expect(try await store.listHooks(HookFilter(eventType: "task.failed")).map(\.name) == ["one", "two"])
            try await store.setHookEnabled(name: "one", enabled: false)
            #expect(try await store.listHooks(HookFilter(enabled: true)).map(\.name) == ["two"])
            try await store.removeHook(name: "two")
            await #expect(throws: SlothError.self) { try await store.removeHook(name: "two") }
            #expect(try await store.listHooks(HookFilter()).map(\.name) == ["one"])
        }
    }

    /// Everything a hook carries comes back as stored, permissions and data filter included.
    @Test(arguments: StoreDriver.all)
    func hooksRoundTripWhole(driver: StoreDriver) async throws {
        try await driver.withStore { store in
            var hook = sampleHook("whole", types: ["deploy.*", "task.failed"], stack: "prod")
            hook.permissions = HookPermissions(grants: [.http: ["hooks.slack.com"], .env: []])
            hook.filter = try DataFilter.parse(.object(["deploy.env": .array([.string("production"), .string("canary")]), "critical": .bool(true)]))
            try await store.addHook(hook)
            #expect(try await store.listHooks(HookFilter()) == [hook])
            hook.filter = nil
            hook.description = "changed"
            try await store.replaceHook(hook)
            #expect(try await store.listHooks(HookFilter()) == [hook])
        }
    }

    @Test(arguments: StoreDriver.all)
    func retryRearmsDeadLetters(driver: StoreDriver) async throws {
        try await driver.withStore { store in
            let hook = sampleHook("h")
            try await store.addHook(hook)
            try await store.insertEvents([Engine.pendingEvent(from: NewEvent(type: "task.failed"))])
            let e = try await store.claimEvents(owner: "n/1", leaseMillis: 10_000, limit: 1, now: nowMillis())[0]
            let failed = EventOutcome(
                eventID: e.id, leaseOwner: "n/1", claimAttempt: 1, status: .failed, error: "dead", processedAt: nowMillis(), nextRunAt: 0,
                executions: [], attemptUpdates: [HookAttemptUpdate(hookID: hook.id, hookName: "h", attempts: 3, dead: true, lastError: "boom")])
            #expect(try await store.recordOutcome(failed))
            #expect(try await store.deadLetters(eventID: e.id).map(\.hookName) == ["h"])
            var progress = try await store.hookProgress(eventID: e.id)
            #expect(progress.dead == [hook.id])
            try await store.retryEvent(id: e.id, now: nowMillis())
            progress = try await store.hookProgress(eventID: e.id)
            #expect(progress.dead.isEmpty && progress.failedAttempts[hook.id] == 0)
            #expect(try await store.resolveEvent(e.id).status == .pending)
            await #expect(throws: SlothError.self) { try await store.retryEvent(id: e.id, now: nowMillis()) }
        }
    }

    @Test(arguments: StoreDriver.all)
    func cleanupNeverTouchesEventsInFlight(driver: StoreDriver) async throws {
        try await driver.withStore { store in
            let old = nowMillis() - 100_000
            var done = Engine.pendingEvent(from: NewEvent(type: "a.b"), now: old)
            done.status = .completed
            let waiting = Engine.pendingEvent(from: NewEvent(type: "a.b"), now: old)
            try await store.insertEvents([done, waiting])
            #expect(try await store.deleteEvents(olderThan: nowMillis(), status: nil) == 1)
            #expect(try await store.countEvents(status: nil) == 1)
            #expect(try await store.deleteEvents(olderThan: nowMillis(), status: .pending) == 1)
        }
    }

    @Test(arguments: StoreDriver.all)
    func concurrentInsertsShareCommitsAndAllLand(driver: StoreDriver) async throws {
        try await driver.withStore { store in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<200 {
                    group.addTask { try await store.insertEvents([Engine.pendingEvent(from: NewEvent(type: "x.y"))]) }
                }
                try await group.waitForAll()
            }
            #expect(try await store.countEvents(status: .pending) == 200)
        }
    }

    /// The change journal behind `GET /stream`: every status change in commit order, numbers
    /// that never go back, pruning that keeps the newest entry.
    @Test(arguments: StoreDriver.all)
    func theChangeJournalNumbersEveryStatusChange(driver: StoreDriver) async throws {
        try await driver.withStore { store in
            #expect(try await store.changeBounds() == (nil, nil))
            let a = Engine.pendingEvent(from: NewEvent(type: "task.failed", stack: "prod"))
            let b = Engine.pendingEvent(from: NewEvent(type: "deploy.started"))
            try await store.insertEvents([a, b])
            _ = try await store.claimEvents(owner: "n/1", leaseMillis: 60_000, limit: 10, now: nowMillis())
            _ = try await store.releaseLeases(owner: "n/1", eventIDs: [a.id])
            try await store.deleteEvent(id: b.id)
            let all = try await store.changes(after: 0, limit: 100)
            #expect(all.map(\.seq) == Array(1...6), "\(all.map(\.seq))")
            #expect(all.map(\.kind) == [.status, .status, .status, .status, .status, .deleted])
            #expect(all.map { $0.status?.rawValue ?? "-" } == ["pending", "pending", "processing", "processing", "pending", "-"])
            #expect(all.prefix(2).map(\.eventID) == [a.id, b.id] && all[4].eventID == a.id)
            // Each entry carries its event as it is now; a deleted one keeps type and stack.
            #expect(all[0].event?.status == .pending && all[0].type == "task.failed" && all[0].stack == "prod")
            #expect(all[5].event == nil && all[5].type == "deploy.started" && all[5].stack == nil)
            #expect(try await store.changes(after: 4, limit: 1).map(\.seq) == [5])
            #expect(try await store.changeBounds() == (1, 6))
            // Pruning everything old keeps the newest entry, so the next number is 7, not 1.
            #expect(try await store.pruneChanges(olderThan: nowMillis() + 60_000) == 5)
            #expect(try await store.changeBounds() == (6, 6))
            try await store.insertEvents([Engine.pendingEvent(from: NewEvent(type: "a.b"))])
            #expect(try await store.changes(after: 6, limit: 10).map(\.seq) == [7])
            await #expect(throws: SlothError.self) { try await store.deleteEvent(id: b.id) }
            #expect(try await store.changeBounds() == (6, 7), "a failed deletion journals nothing")
        }
    }

    /// Idempotency keys and delivery ids hold for their lifetime, then free up.
    @Test(arguments: StoreDriver.all)
    func aKeyedEventRepeatsWithinItsLifetimeOnly(driver: StoreDriver) async throws {
        try await driver.withStore { store in
            let now = nowMillis()
            let first = Engine.pendingEvent(from: NewEvent(type: "a.b"), now: now - 10_000)
            #expect(try await store.insertKeyedEvent(first, originKey: "k", expiredBefore: now - 60_000).inserted)
            let again = Engine.pendingEvent(from: NewEvent(type: "a.b"), now: now)
            let repeated = try await store.insertKeyedEvent(again, originKey: "k", expiredBefore: now - 60_000)
            #expect(!repeated.inserted && repeated.event.id == first.id)
            // Past the lifetime (the first event is older than the cut-off): a new event.
            let later = try await store.insertKeyedEvent(again, originKey: "k", expiredBefore: now - 5_000)
            #expect(later.inserted && later.event.id == again.id)
            #expect(try await store.countEvents(status: nil) == 2)
            let third = Engine.pendingEvent(from: NewEvent(type: "a.b"), now: now)
            #expect(try await store.insertKeyedEvent(third, originKey: "k", expiredBefore: now - 5_000).event.id == again.id)
        }
    }

    /// An outcome sent the moment its claimed insert took the slot (the insert's transaction
    /// not yet committed, others in flight beside it) must wait for that commit, not find no
    /// row and be dropped as superseded: the PostgreSQL writer keeps two inserting
    /// transactions in flight, and this is where the second must not overtake the first.
    @Test(arguments: StoreDriver.all)
    func anOutcomeRightBehindItsClaimedInsertIsRecorded(driver: StoreDriver) async throws {
        try await driver.withStore { store in
            let hook = sampleHook("h")
            try await store.addHook(hook)
            let owner = "n/\(UUID().uuidString.prefix(8))"
            let total = 400
            let writes = try await withThrowingTaskGroup(of: OutcomeWrite?.self) { group in
                for i in 0..<total {
                    group.addTask {
                        let now = nowMillis()
                        let id = EventID.make(millis: now)
                        let event = Event(
                            id: id, type: "task.failed", stack: nil, timestamp: now, data: .object(["n": .int(Int64(i))]), status: .processing,
                            createdAt: now, attempts: 1, parentID: nil, chainDepth: 0, leaseOwner: owner, leaseExpiresAt: now + 60_000, encodedData: nil)
                        let outcome = EventOutcome(
                            eventID: id, leaseOwner: owner, claimAttempt: 1, status: .completed, error: nil, processedAt: now, nextRunAt: 0,
                            executions: [HookExecution(eventID: id, hookID: hook.id, hookName: hook.name, success: true, output: "", error: nil, durationMillis: 0, executedAt: now, attempt: 1, usage: ResourceUsage())],
                            attemptUpdates: [])
                        // Every other event's outcome is sent as its insert takes the slot; the rest ride with the insert.
                        let sent = Mutex<Task<OutcomeWrite, any Error>?>(nil)
                        let slot = OutcomeSlot {
                            sent.withLock { $0 = Task { try await store.recordOutcomes([outcome])[0] } }
                        }
                        if i.isMultiple(of: 2) { #expect(slot.offer(outcome)) }
                        try await store.insertClaimed(event, slot: slot)
                        return try await sent.withLock { $0 }?.value
                    }
                }
                var all: [OutcomeWrite] = []
                for try await w in group { if let w { all.append(w) } }
                return all
            }
            #expect(writes.count == total / 2)
            #expect(writes.allSatisfy { $0 == .recorded }, "\(writes.filter { $0 != .recorded }.count) outcomes were dropped")
            #expect(try await store.countEvents(status: .completed) == total)
            #expect(try await store.hook(named: "h")?.runCount == total)
        }
    }

    /// Text the store writes through its bulk statements (PostgreSQL sends rows as JSON) comes
    /// back byte for byte: quotes, backslashes, newlines, control characters, non-ASCII.
    @Test(arguments: StoreDriver.all)
    func awkwardTextSurvivesTheBulkWrites(driver: StoreDriver) async throws {
        try await driver.withStore { store in
            let hook = sampleHook("h")
            try await store.addHook(hook)
            let awkward = "say \"hi\" \\ back\nslash\ttab \u{1}\u{1F} é ☃ 🦥 \u{2028}"
            let e = Engine.pendingEvent(from: NewEvent(type: "task.failed", data: .object(["text": .string(awkward)]), stack: "st\"ack"))
            try await store.insertEvents([e])
            let claimed = try await store.claimEvents(owner: "n/1", leaseMillis: 60_000, limit: 1, now: nowMillis())[0]
            let run = HookExecution(
                eventID: e.id, hookID: hook.id, hookName: hook.name, success: false, output: awkward, error: awkward + "!",
                durationMillis: 1, executedAt: nowMillis(), attempt: 1, usage: ResourceUsage())
            let outcome = EventOutcome(
                eventID: e.id, leaseOwner: "n/1", claimAttempt: claimed.attempts, status: .failed, error: awkward, processedAt: nowMillis(),
                nextRunAt: 0, executions: [run],
                attemptUpdates: [HookAttemptUpdate(hookID: hook.id, hookName: hook.name, attempts: 1, dead: true, lastError: awkward)])
            #expect(try await store.recordOutcome(outcome))
            let back = try await store.resolveEvent(e.id)
            #expect(back.data == .object(["text": .string(awkward)]) && back.stack == "st\"ack" && back.error == awkward)
            let x = try #require(try await store.executions(eventID: e.id).first)
            #expect(x.output == awkward && x.error == awkward + "!")
            #expect(try await store.deadLetters(eventID: e.id).first?.lastError == awkward)
        }
    }
}
