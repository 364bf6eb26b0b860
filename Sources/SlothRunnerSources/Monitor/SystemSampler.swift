import Foundation
import SlothRunner

/// One look at the machine: CPU counters from `stat`, memory from `meminfo`, load from
/// `loadavg` (all under a configurable root, `/proc` by default, so tests feed a fake one), and
/// space per mount point from `statvfs`.
struct SystemSample: Sendable {
    /// Cumulative CPU time (all states) and idle time (idle + iowait), in ticks.
    var cpuTotal: UInt64
    var cpuIdle: UInt64
    var memoryTotalBytes: Int64
    var memoryAvailableBytes: Int64
    var load: (one: Double, five: Double, fifteen: Double)
    var disks: [DiskUsage]

    struct DiskUsage: Sendable {
        let mountPoint: String
        let usagePercent: Double
        let availableBytes: Int64
    }

    /// CPU use between two samples, in percent; nil if no time passed on the counters.
    func cpuPercent(since earlier: SystemSample) -> Double? {
        guard cpuTotal > earlier.cpuTotal else { return nil }
        let total = Double(cpuTotal - earlier.cpuTotal)
        let idle = Double(cpuIdle >= earlier.cpuIdle ? cpuIdle - earlier.cpuIdle : 0)
        return max(0, min(100, 100 * (1 - idle / total)))
    }

    var memoryUsedPercent: Double {
        memoryTotalBytes > 0 ? 100 * (1 - Double(memoryAvailableBytes) / Double(memoryTotalBytes)) : 0
    }
}

struct SystemSampler: Sendable {
    let procRoot: String
    /// The mount points to check; nil: every mount of a disk-backed file system in `mounts`.
    let mounts: [String]?

    /// File systems that hold no disk space of their own.
    static let virtualFileSystems: Set<String> = [
        "proc", "sysfs", "tmpfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "pstore", "bpf", "tracefs", "debugfs", "securityfs",
        "mqueue", "hugetlbfs", "fusectl", "configfs", "autofs", "binfmt_misc", "rpc_pipefs", "nsfs", "overlay", "squashfs", "ramfs", "efivarfs",
    ]

    func sample() throws(SlothError) -> SystemSample {
        let stat = try read("stat")
        guard let cpuLine = stat.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") }) else {
            throw .runtime("\(procRoot)/stat has no 'cpu' line")
        }
        let ticks = cpuLine.split(separator: " ").dropFirst().compactMap { UInt64($0) }
        guard ticks.count >= 4 else { throw .runtime("\(procRoot)/stat: the 'cpu' line has \(ticks.count) counters, expected at least 4") }
        // user nice system idle iowait irq softirq steal (guest time is already in user).
        let total = ticks.prefix(8).reduce(0, +)
        let idle = ticks[3] + (ticks.count > 4 ? ticks[4] : 0)

        var memory: [String: Int64] = [:]
        for line in try read("meminfo").split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count >= 2, let kib = Int64(parts[1]) else { continue }
            memory[String(parts[0].dropLast())] = kib * 1024
        }
        guard let memTotal = memory["MemTotal"] else { throw .runtime("\(procRoot)/meminfo has no MemTotal") }
        let available = memory["MemAvailable"] ?? ((memory["MemFree"] ?? 0) + (memory["Cached"] ?? 0) + (memory["Buffers"] ?? 0))

        let loadParts = try read("loadavg").split(separator: " ").prefix(3).compactMap { Double($0) }
        guard loadParts.count == 3 else { throw .runtime("\(procRoot)/loadavg does not start with three numbers") }

        var disks: [SystemSample.DiskUsage] = []
        for mount in try mountPoints() {
            var fs = statvfs()
            guard statvfs(mount, &fs) == 0 else { continue }  // gone since the list was read
            let block = Int64(fs.f_frsize > 0 ? fs.f_frsize : fs.f_bsize)
            let used = Double(fs.f_blocks - fs.f_bfree)
            let usable = used + Double(fs.f_bavail)
            guard fs.f_blocks > 0, usable > 0 else { continue }
            disks.append(.init(mountPoint: mount, usagePercent: 100 * used / usable, availableBytes: Int64(fs.f_bavail) * block))
        }
        return SystemSample(cpuTotal: total, cpuIdle: idle, memoryTotalBytes: memTotal, memoryAvailableBytes: available,
                            load: (loadParts[0], loadParts[1], loadParts[2]), disks: disks)
    }

    func mountPoints() throws(SlothError) -> [String] {
        if let mounts { return mounts }
        var out: [String] = []
        for line in try read("mounts").split(separator: "\n") {
            let f = line.split(separator: " ")
            guard f.count >= 3, !Self.virtualFileSystems.contains(String(f[2])), f[0].hasPrefix("/") else { continue }
            // Octal escapes (\040 for a space) as the kernel writes them.
            let point = String(f[1]).replacingOccurrences(of: "\\040", with: " ")
            if !out.contains(point) { out.append(point) }
        }
        return out
    }

    private func read(_ name: String) throws(SlothError) -> String {
        let path = procRoot + "/" + name
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw .runtime("cannot read \(path) (monitor.proc_root is \(procRoot))")
        }
        return text
    }
}
