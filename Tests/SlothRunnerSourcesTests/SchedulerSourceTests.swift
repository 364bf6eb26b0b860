import Foundation
import Logging
import Testing
@testable import SlothRunner
@testable import SlothRunnerSources

/// The scheduler on a real SQLite store and engine, its time on a clock the test moves. The
/// engine is not started: fired events stay pending, where the test reads them.
final class SchedulerHarness: Sendable {
    let dir: String
    let store: SQLiteEventStore
    let engine: Engine
    let clock: ManualClock
    let book = SourceStatusBook()

    init(start: String) throws {
        dir = NSTemporaryDirectory() + "sloth-sched-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        store = try SQLiteEventStore(path: dir + "/sloth.db")
        engine = Engine(store: store, runtime: LuaRuntime(threads: 1))
        clock = ManualClock(RFC3339.parse(start)!)
    }
    deinit { try? FileManager.default.removeItem(atPath: dir) }

    var context: SourceContext {
        book.register("scheduler", kind: "scheduler", at: clock.now())
        return SourceContext(engine: engine, clock: clock, logger: Logger(label: "test"), name: "scheduler", book: book)
    }

    func add(_ name: String, cron: String, zone: String = "UTC", catchUp: Schedule.CatchUp = .skip, maxCatchUp: Int = 10, data: JSONValue = .object([:])) async throws {
        try await store.scheduleAdd(Schedule(name: name, cron: cron, zone: zone, data: data, catchUp: catchUp, maxCatchUp: maxCatchUp, createdAt: clock.now()))
    }

    /// The events stored so far, oldest first, as (type, scheduled or expected time).
    func fired() async throws -> [(type: String, slot: String, catchUp: Bool)] {
        try await store.listEvents(EventFilter(limit: 10_000)).reversed().map { e in
            (e.type, e.data["scheduled_time"]?.stringValue ?? e.data["expected_time"]?.stringValue ?? "?", e.data["catch_up"] == .bool(true))
        }
    }

    /// One round of the scheduler at the clock's time (what `run` does on each wake-up).
    func round(_ source: SchedulerSource = SchedulerSource()) async throws {
        let ctx = context
        for plan in try await source.load(ctx) where (plan.next ?? .max) <= clock.now() {
            _ = try await source.fire(plan, now: clock.now(), ctx)
        }
    }

    func move(to time: String) { clock.advance(to: RFC3339.parse(time)!) }
}

@Suite struct SchedulerSourceTests {
    @Test func eachSlotFiresOnceWhileRunning() async throws {
        let h = try SchedulerHarness(start: "2026-12-01T10:00:30Z")
        try await h.add("minutely", cron: "* * * * *", data: .object(["job": .string("rotate")]))
        let source = SchedulerSource(pollMillis: 1000)
        let task = Task { try await source.run(h.context) }
        defer { task.cancel() }
        // The loop sleeps until the next slot; moving the clock past it fires it once.
        try await eventually { h.clock.sleeping == 1 }
        h.move(to: "2026-12-01T10:01:00.200Z")
        try await eventually { try await h.fired().count == 1 }
        try await eventually { h.clock.sleeping == 1 }
        h.move(to: "2026-12-01T10:01:30Z")
        try await eventually { h.clock.sleeping == 1 }
        h.move(to: "2026-12-01T10:02:00Z")
        try await eventually { try await h.fired().count == 2 }
        try await eventually { h.clock.sleeping == 1 }
        let fired = try await h.fired()
        #expect(fired.map(\.slot) == ["2026-12-01T10:01:00.000Z", "2026-12-01T10:02:00.000Z"])
        #expect(fired.allSatisfy { $0.type == "schedule.triggered" && !$0.catchUp })
        let event = try await h.store.listEvents(EventFilter(limit: 1))[0]
        #expect(event.data["schedule_name"] == .string("minutely"))
        #expect(event.data["job"] == .string("rotate"))
        #expect(event.data["fired_time"] == .string("2026-12-01T10:02:00.000Z"))
        #expect(event.data["source"] == .string("scheduler"))
        #expect(h.book.status("scheduler")?.emitted == 2)
    }

    @Test func catchUpSkipReportsMissedSlotsOnly() async throws {
        let h = try SchedulerHarness(start: "2026-12-01T10:00:00Z")
        try await h.add("hourly", cron: "@hourly", catchUp: .skip)
        // Down from 10:00 to 15:20: 11:00 … 15:00 were missed.
        h.move(to: "2026-12-01T15:20:00Z")
        try await h.round()
        let fired = try await h.fired()
        #expect(fired.map(\.type) == Array(repeating: "schedule.missed", count: 5))
        #expect(fired.map(\.slot) == ["11", "12", "13", "14", "15"].map { "2026-12-01T\($0):00:00.000Z" })
        // Handled: the next round fires nothing until 16:00.
        try await h.round()
        #expect(try await h.fired().count == 5)
        h.move(to: "2026-12-01T16:00:01Z")
        try await h.round()
        #expect(try await h.fired().last.map { [$0.type, $0.slot] } == ["schedule.triggered", "2026-12-01T16:00:00.000Z"])
    }

    @Test func catchUpOnceFiresTheLatestMissedSlot() async throws {
        let h = try SchedulerHarness(start: "2026-12-01T10:00:00Z")
        try await h.add("hourly", cron: "@hourly", catchUp: .once)
        h.move(to: "2026-12-01T15:20:00Z")
        try await h.round()
        let fired = try await h.fired()
        #expect(fired.count == 1)
        #expect(fired[0].type == "schedule.triggered" && fired[0].slot == "2026-12-01T15:00:00.000Z" && fired[0].catchUp)
        #expect(try await h.store.listEvents(EventFilter(limit: 1))[0].data["missed_total"] == .int(5))
    }

    @Test func catchUpAllFiresEachUpToTheLimit() async throws {
        let h = try SchedulerHarness(start: "2026-12-01T10:00:00Z")
        try await h.add("hourly", cron: "@hourly", catchUp: .all, maxCatchUp: 3)
        h.move(to: "2026-12-01T15:20:00Z")
        try await h.round()
        let fired = try await h.fired()
        // The three most recent of the five, oldest first.
        #expect(fired.map(\.slot) == ["13", "14", "15"].map { "2026-12-01T\($0):00:00.000Z" })
        #expect(fired.allSatisfy { $0.type == "schedule.triggered" && $0.catchUp })
    }

    @Test func aRestartWithinTheGraceIsNotDowntime() async throws {
        let h = try SchedulerHarness(start: "2026-12-01T10:00:50Z")
        try await h.add("minutely", cron: "* * * * *", catchUp: .skip)
        // Killed just before 10:01, back at 10:01:20: the slot fires as usual, not as missed.
        h.move(to: "2026-12-01T10:01:20Z")
        try await h.round()
        let fired = try await h.fired()
        #expect(fired.map(\.type) == ["schedule.triggered"])
        #expect(fired.map(\.catchUp) == [false])
    }

    @Test func twoSchedulersRacingFireASlotOnce() async throws {
        // What makes it exactly once: the mark moves in the slot's own transaction, only from
        // where the firing scheduler read it. A second scheduler (or a replay of the same round
        // after a crash) holding the old mark stores nothing.
        let h = try SchedulerHarness(start: "2026-12-01T10:00:00Z")
        try await h.add("minutely", cron: "* * * * *")
        h.move(to: "2026-12-01T10:01:00Z")
        let source = SchedulerSource()
        let ctx = h.context
        let plans = try await source.load(ctx)
        let first = try await source.fire(plans[0], now: h.clock.now(), ctx)
        let second = try await source.fire(plans[0], now: h.clock.now(), ctx)
        #expect(first == RFC3339.parse("2026-12-01T10:01:00Z"))
        #expect(second == nil)
        #expect(try await h.fired().count == 1)
    }

    @Test func daylightSavingInARealZone() async throws {
        // Europe/Berlin: spring forward on 2027-03-28 (02:30 does not exist), fall back on
        // 2027-10-31 (02:30 happens twice). A daily 02:30 fires once each day.
        let h = try SchedulerHarness(start: "2027-03-27T00:00:00Z")
        try await h.add("nightly", cron: "30 2 * * *", zone: "Europe/Berlin", catchUp: .all, maxCatchUp: 10)
        let source = SchedulerSource(lateMillis: 3_600_000 * 24 * 400)
        h.move(to: "2027-03-29T12:00:00Z")
        try await h.round(source)
        #expect(try await h.fired().map(\.slot) == ["2027-03-27T01:30:00.000Z", "2027-03-28T01:00:00.000Z", "2027-03-29T00:30:00.000Z"])
        let h2 = try SchedulerHarness(start: "2027-10-30T00:00:00Z")
        try await h2.add("nightly", cron: "30 2 * * *", zone: "Europe/Berlin", catchUp: .all, maxCatchUp: 10)
        h2.move(to: "2027-11-01T12:00:00Z")
        try await h2.round(source)
        #expect(try await h2.fired().map(\.slot) == ["2027-10-30T00:30:00.000Z", "2027-10-31T00:30:00.000Z", "2027-11-01T01:30:00.000Z"])
    }

    @Test func disabledTimeIsNotCaughtUpAndABadScheduleDoesNotStopTheOthers() async throws {
        let h = try SchedulerHarness(start: "2026-12-01T10:00:00Z")
        try await h.add("hourly", cron: "@hourly", catchUp: .all)
        try await h.add("broken", cron: "@hourly", zone: "Mars/Olympus")
        #expect(try await h.store.scheduleSetEnabled(name: "hourly", enabled: false, now: h.clock.now()))
        h.move(to: "2026-12-01T13:30:00Z")
        #expect(try await h.store.scheduleSetEnabled(name: "hourly", enabled: true, now: h.clock.now()))
        h.move(to: "2026-12-01T14:00:00Z")
        try await h.round()
        #expect(try await h.fired().map(\.slot) == ["2026-12-01T14:00:00.000Z"])
        let status = h.book.status("scheduler")
        #expect(status?.state == .failing)
        #expect(status?.error?.contains("schedule broken: unknown time zone 'Mars/Olympus'") == true)
    }
}

/// Waits for a condition on state (never a fixed sleep), up to 20 s.
func eventually(_ condition: () async throws -> Bool, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let deadline = Date().addingTimeInterval(20)
    while Date() < deadline {
        if try await condition() { return }
        try await Task.sleep(nanoseconds: 2_000_000)
    }
    Issue.record("the condition did not hold within 20 s", sourceLocation: sourceLocation)
}
