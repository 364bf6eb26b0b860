import Foundation
import Logging
import Testing
@testable import SlothRunner
@testable import SlothRunnerSources

/// A fake `/proc`: the test sets CPU use, memory and load, and the monitor reads them.
final class FakeProc: Sendable {
    let root: String
    private let ticks = Mutex<(total: UInt64, idle: UInt64)>((100_000, 50_000))
    init() throws {
        root = NSTemporaryDirectory() + "sloth-proc-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try write("mounts", "/dev/sda1 / ext4 rw 0 0\nproc /proc proc rw 0 0\n")
        memory(totalKiB: 8_000_000, availableKiB: 6_000_000)
        load(0.5)
        cpu(busyPercent: 10)
    }
    deinit { try? FileManager.default.removeItem(atPath: root) }

    func write(_ name: String, _ text: String) throws { try text.write(toFile: root + "/" + name, atomically: true, encoding: .utf8) }

    /// Moves the counters on by 1,000 ticks, `busyPercent` of them busy.
    func cpu(busyPercent: Int) {
        let (total, idle) = ticks.withLock { t -> (UInt64, UInt64) in
            t.total += 1000
            t.idle += UInt64(1000 - busyPercent * 10)
            return (t.total, t.idle)
        }
        let user = total - idle
        try? write("stat", "cpu  \(user) 0 0 \(idle) 0 0 0 0 0 0\ncpu0 \(user) 0 0 \(idle) 0 0 0 0 0 0\nintr 1\n")
    }

    func memory(totalKiB: Int, availableKiB: Int) {
        try? write("meminfo", "MemTotal:       \(totalKiB) kB\nMemFree:        1000 kB\nMemAvailable:   \(availableKiB) kB\n")
    }

    func load(_ one: Double) { try? write("loadavg", "\(one) 0.40 0.30 1/100 4242\n") }
}

import Synchronization

func configNode(_ yaml: [(String, String)], field: String = "monitor") -> SourceConfigNode {
    // A small builder for tests: `cpu.above: 90` style keys into nested mappings.
    func build(_ pairs: [(path: [String], value: String)], prefix: String) -> SourceConfigNode {
        var order: [String] = []
        var groups: [String: [(path: [String], value: String)]] = [:]
        var leaves: [String: String] = [:]
        for p in pairs {
            let head = p.path[0]
            if !order.contains(head) { order.append(head) }
            if p.path.count == 1 { leaves[head] = p.value } else { groups[head, default: []].append((Array(p.path.dropFirst()), p.value)) }
        }
        return SourceConfigNode(value: .mapping(order.map { key in
            let f = prefix + "." + key
            if let leaf = leaves[key] { return (key, SourceConfigNode(value: .scalar(leaf), line: 1, file: "test.yaml", field: f)) }
            return (key, build(groups[key]!, prefix: f))
        }), line: 1, file: "test.yaml", field: prefix)
    }
    return build(yaml.map { ($0.0.split(separator: ".").map(String.init), $0.1) }, prefix: field)
}

@Suite struct SystemMonitorTests {
    @Test func cpuAboveStaysAndClearsGivesOneHighAndOneNormal() async throws {
        let proc = try FakeProc()
        let h = try SchedulerHarness(start: "2026-12-01T10:00:00Z")
        try await h.engine.start()
        let settings = try SystemMonitorSource.Settings.parse(configNode([
            ("interval", "10s"), ("proc_root", proc.root), ("cpu.above", "90"), ("cpu.for", "30s"), ("cpu.clear_below", "80"),
        ]))
        let book = h.book
        book.register("monitor", kind: "monitor", at: h.clock.now())
        let context = SourceContext(engine: h.engine, clock: h.clock, logger: Logger(label: "test"), name: "monitor", book: book)
        let task = Task { try await SystemMonitorSource(settings: settings).run(context) }
        defer { task.cancel() }
        func sample(busy: Int) async throws {
            try await eventually { h.clock.sleeping == 1 }
            proc.cpu(busyPercent: busy)
            h.clock.advance(to: h.clock.now() + 10_000)
            try await eventually { h.clock.sleeping == 1 }
        }
        func types() async throws -> [String] { try await h.store.listEvents(EventFilter(limit: 100)).reversed().map(\.type) }
        // 95 % for 10 s, 20 s: not yet 30 s.
        try await sample(busy: 95)
        try await sample(busy: 95)
        try await sample(busy: 95)
        #expect(try await types() == [])
        // 30 s above: one cpu_high; staying above, and dipping between the levels, adds nothing.
        try await sample(busy: 97)
        #expect(try await types() == ["system.cpu_high"])
        try await sample(busy: 99)
        try await sample(busy: 85)
        try await sample(busy: 95)
        #expect(try await types() == ["system.cpu_high"])
        // Below 80: one cpu_normal with how long it lasted.
        try await sample(busy: 40)
        try await sample(busy: 30)
        #expect(try await types() == ["system.cpu_high", "system.cpu_normal"])
        let events = try await h.store.listEvents(EventFilter(limit: 2))
        #expect(events[1].data["usage_percent"] == .double(97))
        #expect(events[1].data["source"] == .string("monitor"))
        // From the first sample above (t = 10 s) to the one below 80 (t = 80 s).
        #expect(events[0].data["duration"] == .string("1m10s"))
        // A blip above without the 30 s emits nothing.
        try await sample(busy: 95)
        try await sample(busy: 10)
        #expect(try await types() == ["system.cpu_high", "system.cpu_normal"])
        _ = await h.engine.drain(grace: 5)
    }

    @Test func memoryLoadAndDiskThresholds() async throws {
        let proc = try FakeProc()
        let h = try SchedulerHarness(start: "2026-12-01T10:00:00Z")
        try await h.engine.start()
        let settings = try SystemMonitorSource.Settings.parse(configNode([
            ("interval", "1s"), ("proc_root", proc.root), ("mounts", "/"), ("memory.above", "90"), ("memory_low.below", "5"),
            ("memory_low.clear_above", "20"), ("load.above", "4"), ("load.clear_below", "2"), ("disk.above", "0"),
        ]))
        h.book.register("monitor", kind: "monitor", at: h.clock.now())
        let context = SourceContext(engine: h.engine, clock: h.clock, logger: Logger(label: "test"), name: "monitor", book: h.book)
        let task = Task { try await SystemMonitorSource(settings: settings).run(context) }
        defer { task.cancel() }
        func tick() async throws {
            try await eventually { h.clock.sleeping == 1 }
            h.clock.advance(to: h.clock.now() + 1000)
            try await eventually { h.clock.sleeping == 1 }
        }
        func types() async throws -> Set<String> { Set(try await h.store.listEvents(EventFilter(limit: 100)).map(\.type)) }
        // The real root file system is above 0 % full: disk_full for "/", once.
        try await tick()
        #expect(try await types() == ["system.disk_full"])
        proc.memory(totalKiB: 8_000_000, availableKiB: 200_000)  // 97.5 % used, 2.5 % available
        proc.load(6.5)
        try await tick()
        #expect(try await types() == ["system.disk_full", "system.memory_high", "system.memory_low", "system.load_high"])
        proc.memory(totalKiB: 8_000_000, availableKiB: 2_000_000)  // 75 % used, 25 % available
        proc.load(1)
        try await tick()
        try await tick()
        let all = try await h.store.listEvents(EventFilter(limit: 100))
        #expect(all.filter { $0.type == "system.memory_normal" }.compactMap { $0.data["condition"]?.stringValue }.sorted() == ["memory", "memory_low"])
        #expect(all.filter { $0.type == "system.load_normal" }.count == 1)
        #expect(all.filter { $0.type == "system.disk_full" }.count == 1)
        let disk = try #require(all.first { $0.type == "system.disk_full" })
        #expect(disk.data["mount_point"] == .string("/"))
        let low = try #require(all.first { $0.type == "system.memory_low" })
        #expect(low.data["total"] == .int(8_192_000_000) && low.data["available"] == .int(204_800_000))
        _ = await h.engine.drain(grace: 5)
    }

    @Test func badSettingsAreClearErrors() {
        func message(_ pairs: [(String, String)]) -> String {
            do { _ = try SystemMonitorSource.Settings.parse(configNode(pairs)); return "accepted" } catch { return error.description }
        }
        #expect(message([("cpu.above", "190")]).contains("test.yaml:1: monitor.cpu.above: must be a number from 0 to 100, not '190'"))
        #expect(message([("cpu.above", "90"), ("cpu.clear_below", "95")]).contains("the condition would never clear"))
        #expect(message([("cpu.abve", "90")]).contains("monitor.cpu.abve: unknown field"))
        #expect(message([("interval", "10s")]).contains("sets no threshold"))
        #expect(message([("proc_root", "/nonexistent/proc"), ("cpu.above", "90")]).contains("'/nonexistent/proc' is not a directory"))
        #expect(message([("cpu.above", "90"), ("cpu.for", "soon")]).contains("monitor.cpu.for: invalid duration 'soon'"))
    }
}
