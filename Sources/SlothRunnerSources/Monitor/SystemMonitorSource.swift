import Foundation
import SlothRunner

/// Watches the machine: CPU (from `stat` deltas), memory (`meminfo`), load average and disk
/// space per mount, sampled every `interval`. Each configured threshold emits its event once
/// when its condition starts (`system.cpu_high`, `system.memory_high`, `system.memory_low`,
/// `system.load_high`, `system.disk_full` per mount) and once when it clears
/// (`system.cpu_normal`, `system.memory_normal`, `system.load_normal`, `system.disk_normal`).
public struct SystemMonitorSource: EventSourcePlugin {
    public let name = "monitor"
    public let kind = "monitor"
    public let settings: Settings

    public struct Settings: Sendable, Equatable {
        var intervalMillis: Int64 = 10_000
        var procRoot = "/proc"
        var mounts: [String]?
        var cpu: Threshold?
        var memory: Threshold?
        var memoryLow: Threshold?
        var load: Threshold?
        var disk: Threshold?

        static let fields = ["interval", "proc_root", "mounts", "cpu", "memory", "memory_low", "load", "disk"]

        /// The `monitor:` section. Without any threshold nothing would ever be emitted, which
        /// is said rather than run.
        public static func parse(_ node: SourceConfigNode) throws(SlothError) -> Settings {
            let m = try node.members(fields, what: "the monitor's settings")
            var s = Settings()
            if let n = m["interval"] { s.intervalMillis = try n.millis(in: 0.1...86_400) }
            if let n = m["proc_root"] {
                s.procRoot = try n.text()
                var isDir: ObjCBool = false
                guard FileManager.default.fileExists(atPath: s.procRoot, isDirectory: &isDir), isDir.boolValue else {
                    throw n.error("'\(s.procRoot)' is not a directory")
                }
            }
            if let n = m["mounts"] {
                let mounts = try n.texts()
                for mount in mounts where !FileManager.default.fileExists(atPath: mount) { throw n.error("mount point '\(mount)' does not exist") }
                s.mounts = mounts
            }
            if let n = m["cpu"] { s.cpu = try Threshold.parse(n, direction: .above, range: 0...100) }
            if let n = m["memory"] { s.memory = try Threshold.parse(n, direction: .above, range: 0...100) }
            if let n = m["memory_low"] { s.memoryLow = try Threshold.parse(n, direction: .below, range: 0...100) }
            if let n = m["load"] { s.load = try Threshold.parse(n, direction: .above, range: 0...100_000) }
            if let n = m["disk"] { s.disk = try Threshold.parse(n, direction: .above, range: 0...100) }
            if s.cpu == nil, s.memory == nil, s.memoryLow == nil, s.load == nil, s.disk == nil {
                throw node.error("sets no threshold (cpu, memory, memory_low, load or disk), so it would never emit anything")
            }
            return s
        }
    }

    public init(settings: Settings) { self.settings = settings }

    public func run(_ context: SourceContext) async throws {
        let sampler = SystemSampler(procRoot: settings.procRoot, mounts: settings.mounts)
        var cpu = settings.cpu.map(ConditionTracker.init)
        var memory = settings.memory.map(ConditionTracker.init)
        var memoryLow = settings.memoryLow.map(ConditionTracker.init)
        var load = settings.load.map(ConditionTracker.init)
        var disks: [String: ConditionTracker] = [:]
        var previous = try sampler.sample()
        context.running()
        // Samples are spaced on the monotonic clock (see SourceClock); what is reported, on the wall clock.
        var next = context.clock.monotonicNow() + settings.intervalMillis
        while true {
            try await context.clock.sleep(untilMonotonic: next)
            next += settings.intervalMillis
            let elapsed = context.clock.monotonicNow()
            if next <= elapsed { next = elapsed + settings.intervalMillis }  // fell behind: no burst of samples
            let now = context.clock.now()
            let sample: SystemSample
            do { sample = try sampler.sample() } catch {
                context.failing(error.description)
                continue
            }
            context.running()
            let loadFields: [String: JSONValue] = ["load_average": .double(sample.load.one), "load_5m": .double(sample.load.five), "load_15m": .double(sample.load.fifteen)]
            if let usage = sample.cpuPercent(since: previous), var tracker = cpu {
                let fields = loadFields.merging(["usage_percent": .double(Self.round(usage))]) { a, _ in a }
                try await report(tracker.observe(usage, at: now), tracker.threshold, "system.cpu_high", "system.cpu_normal", "cpu", fields, context)
                cpu = tracker
            }
            let memFields: [String: JSONValue] = [
                "memory_used_percent": .double(Self.round(sample.memoryUsedPercent)),
                "memory_used_bytes": .int(sample.memoryTotalBytes - sample.memoryAvailableBytes),
                "memory_total_bytes": .int(sample.memoryTotalBytes),
            ]
            if var tracker = memory {
                try await report(tracker.observe(sample.memoryUsedPercent, at: now), tracker.threshold, "system.memory_high", "system.memory_normal", "memory", memFields, context)
                memory = tracker
            }
            if var tracker = memoryLow {
                let availablePercent = 100 - sample.memoryUsedPercent
                let fields = memFields.merging([
                    "total": .int(sample.memoryTotalBytes), "available": .int(sample.memoryAvailableBytes),
                    "usage_percent": .double(Self.round(sample.memoryUsedPercent)), "available_percent": .double(Self.round(availablePercent)),
                ]) { a, _ in a }
                try await report(tracker.observe(availablePercent, at: now), tracker.threshold, "system.memory_low", "system.memory_normal", "memory_low", fields, context)
                memoryLow = tracker
            }
            if var tracker = load {
                try await report(tracker.observe(sample.load.one, at: now), tracker.threshold, "system.load_high", "system.load_normal", "load", loadFields, context)
                load = tracker
            }
            if let threshold = settings.disk {
                for d in sample.disks {
                    var tracker = disks[d.mountPoint] ?? ConditionTracker(threshold)
                    let fields: [String: JSONValue] = [
                        "mount_point": .string(d.mountPoint), "usage_percent": .double(Self.round(d.usagePercent)), "available_bytes": .int(d.availableBytes),
                    ]
                    try await report(tracker.observe(d.usagePercent, at: now), threshold, "system.disk_full", "system.disk_normal", "disk", fields, context)
                    disks[d.mountPoint] = tracker
                }
            }
            previous = sample
        }
    }

    private func report(
        _ change: ConditionTracker.Change?, _ threshold: Threshold, _ startType: String, _ endType: String, _ condition: String,
        _ fields: [String: JSONValue], _ context: SourceContext
    ) async throws {
        guard let change else { return }
        var data = fields
        data["condition"] = .string(condition)
        data["threshold"] = .double(threshold.limit)
        switch change {
        case .started(let since):
            data["since"] = .string(RFC3339.string(millis: since))
            data["for"] = .string(DurationText.format(millis: threshold.forMillis))
            try await context.emit(startType, data)
        case .ended(let lasted):
            data["clear_threshold"] = .double(threshold.clearAt)
            data["duration"] = .string(DurationText.format(millis: lasted))
            data["duration_ms"] = .int(lasted)
            try await context.emit(endType, data)
        }
    }

    static func round(_ v: Double) -> Double { (v * 10).rounded() / 10 }
}
