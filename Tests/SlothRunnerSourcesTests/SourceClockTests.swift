import Foundation
import Logging
import Testing
@testable import SlothRunner
@testable import SlothRunnerSources

/// Intervals and settle windows are kept on the monotonic clock: a wall clock stepped back an
/// hour (NTP, a resumed VM) must not hold a sample, a probe or a file's change back an hour.
@Suite struct SourceClockTests {
    static let hour: Millis = 3_600_000

    func context(_ h: SchedulerHarness, _ name: String, kind: String) -> SourceContext {
        h.book.register(name, kind: kind, at: h.clock.now())
        return SourceContext(engine: h.engine, clock: h.clock, logger: Logger(label: "test"), name: name, book: h.book)
    }

    func types(_ h: SchedulerHarness) async throws -> [String] {
        try await h.store.listEvents(EventFilter(limit: 100)).reversed().map(\.type)
    }

    @Test func theMonitorKeepsSamplingWhenTheWallClockStepsBack() async throws {
        let proc = try FakeProc()
        let h = try SchedulerHarness(start: "2026-12-01T10:00:00Z")
        let settings = try SystemMonitorSource.Settings.parse(configNode([
            ("interval", "1s"), ("proc_root", proc.root), ("cpu.above", "90"), ("cpu.clear_below", "80"),
        ]))
        let task = Task { try await SystemMonitorSource(settings: settings).run(context(h, "monitor", kind: "monitor")) }
        defer { task.cancel() }
        try await eventually { h.clock.sleeping == 1 }
        proc.cpu(busyPercent: 95)
        h.clock.advance(to: h.clock.now() + 1000)
        try await eventually { try await types(h) == ["system.cpu_high"] }
        try await eventually { h.clock.sleeping == 1 }
        h.clock.stepWallClock(to: h.clock.now() - Self.hour)
        proc.cpu(busyPercent: 10)
        h.clock.advance(to: h.clock.now() + 1000)
        try await eventually { try await types(h) == ["system.cpu_high", "system.cpu_normal"] }
    }

    @Test func aCheckKeepsItsIntervalWhenTheWallClockStepsBack() async throws {
        let h = try SchedulerHarness(start: "2026-12-01T10:00:00Z")
        let check = HealthCheck(name: "alive", kind: .exec, target: "true", intervalMillis: 1000, timeoutMillis: 10_000, emitPassed: true, createdAt: h.clock.now())
        let ctx = context(h, "checks", kind: "checks")
        let task = Task { await HealthCheckSource.loop(check, ctx) }
        defer { task.cancel() }
        try await eventually { try await types(h) == ["health.check_passed"] && h.clock.sleeping == 1 }
        h.clock.stepWallClock(to: h.clock.now() - Self.hour)
        h.clock.advance(to: h.clock.now() + 1000)
        try await eventually { try await types(h) == ["health.check_passed", "health.check_passed"] }
    }

    @Test func aChangeSettlesWhenTheWallClockStepsBack() async throws {
        let h = try SchedulerHarness(start: "2026-12-01T10:00:00Z")
        let tree = h.dir + "/tree"
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        let watch = FileWatch(name: "tree", paths: [tree], settleMillis: 100, createdAt: h.clock.now())
        let ctx = context(h, "watcher", kind: "watch")
        let task = Task { try await WatchRun(watch: watch, context: ctx).run() }
        defer { task.cancel() }
        // The baseline is stored once the tree's inotify watches are in place.
        try await eventually { try await h.store.watchSnapshot("tree") != nil }
        // Written beside the tree and moved in: one inotify event, so once the watcher waits on
        // the clock it has seen the whole change.
        try "x".write(toFile: h.dir + "/a.txt", atomically: false, encoding: .utf8)
        try FileManager.default.moveItem(atPath: h.dir + "/a.txt", toPath: tree + "/a.txt")
        try await eventually { h.clock.sleeping == 1 }
        h.clock.stepWallClock(to: h.clock.now() - Self.hour)
        #expect(try await types(h) == [])
        h.clock.advance(to: h.clock.now() + 100)
        try await eventually { try await types(h) == ["file.created"] }
    }
}
