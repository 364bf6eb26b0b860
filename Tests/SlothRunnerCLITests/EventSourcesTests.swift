import Foundation
import Testing
import SlothRunner

/// The event sources end to end through `serve`, with a real hook recording what it saw.
@Suite(.serialized) struct EventSourcesTests {
    static let recorder = """
        return { name = "recorder", event_type = "*", execute = function(e)
            print(e.type .. " " .. tostring(e.data.scheduled_time or e.data.reason or e.data.version or ""))
            return true
        end }
        """

    static let withEngineEvents = ["SLOTH_RUNNER_ENGINE_EVENTS": "true"]

    func events(_ store: SQLiteEventStore, _ type: String) async throws -> [Event] {
        try await store.listEvents(EventFilter(type: type, limit: 10_000)).reversed()
    }

    @Test func startupAndShutdownInOrderShutdownCommittedBeforeExit() async throws {
        let cli = CLI()
        #expect(try await cli.run("hook", "add", cli.file("recorder.lua", Self.recorder)).status == 0)
        let daemon = try await cli.startServe(["--http", "off"], environment: Self.withEngineEvents)
        let store = try cli.openStore()
        defer { store.closeNow() }
        try await eventually(timeout: 30, "no system.startup:\n\(daemon.log)") {
            try await events(store, "system.startup").first?.status == .completed
        }
        let startup = try #require(try await events(store, "system.startup").first)
        #expect(startup.data["node"] != nil && startup.data["start_time"] != nil && startup.data["source"] == .string("engine"))
        #expect(startup.data["version"]?.stringValue?.contains("commit") == true)
        // The recorder hook saw it like any event.
        #expect(try await store.executions(eventID: startup.id).first?.output.contains("system.startup") == true)
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit() == 0)
        // Committed before the process exited: the row is there once it is gone.
        let shutdown = try #require(try await events(store, "system.shutdown").first, "no system.shutdown:\n\(daemon.log)")
        #expect(shutdown.data["reason"] == .string("SIGTERM"))
        #expect(shutdown.data["uptime_ms"] != nil)
        #expect(startup.id < shutdown.id)
        // A second run says it again: one pair per run.
        let again = try await cli.startServe(["--http", "off"], environment: Self.withEngineEvents)
        try await eventually(timeout: 30, "no second startup") { try await events(store, "system.startup").count == 2 }
        again.kill(SIGINT)
        _ = try await again.waitExit()
        #expect(try await events(store, "system.shutdown").map { $0.data["reason"] } == [.string("SIGTERM"), .string("SIGINT")])
        let sources = try await cli.run("sources", "-o", "json")
        let listed = try JSONValue.parse(sources.stdout)
        #expect(listed["serving"] == .bool(false))
        #expect(listed["sources"]?.arrayValue?.compactMap { $0["name"]?.stringValue }.sorted() == ["engine", "scheduler"])
    }

    @Test func sigkillAtTheFiringMomentFiresEachSlotExactlyOnce() async throws {
        let cli = CLI()
        #expect(try await cli.run("schedule", "add", "tick", "--cron", "@every 1s", "--tz", "UTC", "--catch-up", "all").status == 0)
        let store = try cli.openStore()
        defer { store.closeNow() }
        // Kill serve right as a slot fires (as soon as its event shows), three times, restarting
        // each time: a slot is never fired twice, and none between the first and last is lost.
        for round in 0..<3 {
            let daemon = try await cli.startServe(["--http", "off"], environment: Self.withEngineEvents)
            let before = try await events(store, "schedule.triggered").count
            try await eventually(timeout: 30, "round \(round): no slot fired:\n\(daemon.log)") {
                try await events(store, "schedule.triggered").count > before
            }
            daemon.kill(SIGKILL)
            _ = try await daemon.waitExit()
        }
        let last = try await cli.startServe(["--http", "off"], environment: Self.withEngineEvents)
        let before = try await events(store, "schedule.triggered").count
        try await eventually(timeout: 30, "no slot after the last restart") { try await events(store, "schedule.triggered").count >= before + 2 }
        last.kill(SIGTERM)
        _ = try await last.waitExit()
        let slots = try await events(store, "schedule.triggered").compactMap { $0.data["scheduled_time"]?.stringValue }.compactMap(RFC3339.parse)
        #expect(Set(slots).count == slots.count, "a slot fired twice")
        let sorted = slots.sorted()
        #expect(sorted.count >= 5)
        for (a, b) in zip(sorted, sorted.dropFirst()) { #expect(b - a == 1000, "a slot between \(a) and \(b) was lost") }
    }

    @Test func scheduleCommandsCheckTheirInputAndAnnounceChanges() async throws {
        let cli = CLI()
        let bad = try await cli.run("schedule", "add", "x", "--cron", "0 25 * * *")
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("field 2 (hour) '25': 25 is out of range 0-23"))
        let zone = try await cli.run("schedule", "add", "x", "--cron", "@daily", "--tz", "Europe/Berlinn")
        #expect(zone.status == 2 && zone.stderr.contains("unknown time zone 'Europe/Berlinn'"))
        let data = try await cli.run("schedule", "add", "x", "--cron", "@daily", "--data", "[1]")
        #expect(data.status == 2 && data.stderr.contains("--data must be a JSON object"))
        let type = try await cli.run("schedule", "add", "x", "--cron", "@daily", "--event-type", "Not A Type")
        #expect(type.status == 2)
        #expect(try await cli.run("schedule", "list", "-o", "json").stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
        #expect(try await cli.run("schedule", "add", "nightly", "--cron", "30 2 * * *", "--tz", "Europe/Berlin", "--event-type", "custom.backup").status == 0)
        let dup = try await cli.run("schedule", "add", "nightly", "--cron", "@daily")
        #expect(dup.status != 0 && dup.stderr.contains("exists already"))
        let next = try JSONValue.parse(try await cli.run("schedule", "next", "nightly", "--count", "3", "-o", "json").stdout)
        #expect(next.arrayValue?.count == 3)
        // 02:30 in Berlin is 01:30 or 00:30 UTC.
        #expect(next.arrayValue?.allSatisfy { $0.stringValue?.contains("T01:30:00") == true || $0.stringValue?.contains("T00:30:00") == true } == true)
        #expect(try await cli.run("schedule", "disable", "nightly").status == 0)
        #expect(try await cli.run("schedule", "enable", "nightly").status == 0)
        #expect(try await cli.run("schedule", "remove", "nightly").status == 0)
        #expect(try await cli.run("schedule", "remove", "nightly").status == 3)
        let store = try cli.openStore()
        defer { store.closeNow() }
        let types = try await store.listEvents(EventFilter(limit: 100)).reversed().map(\.type)
        #expect(types == ["schedule.created", "schedule.disabled", "schedule.enabled", "schedule.deleted"])
    }
}

