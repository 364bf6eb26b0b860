import Foundation
import Synchronization
import Testing
import SlothRunner
import SlothTestSupport

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
        #expect(listed["sources"]?.arrayValue?.compactMap { $0["name"]?.stringValue }.sorted() == ["checks", "engine", "scheduler", "watcher"])
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

    /// A fake /proc whose CPU counters a background task moves on every few milliseconds, at
    /// the busy share the test sets: the monitor reads it through serve like the real one.
    final class BusyProc: Sendable {
        let root: String
        final class Share: Sendable { let percent = Mutex<Int>(10) }
        private let busy = Share()
        private let task: Task<Void, Never>
        init(_ dir: String) throws {
            root = dir + "/proc"
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            try "MemTotal: 8000000 kB\nMemAvailable: 6000000 kB\n".write(toFile: root + "/meminfo", atomically: true, encoding: .utf8)
            try "0.5 0.4 0.3 1/100 42\n".write(toFile: root + "/loadavg", atomically: true, encoding: .utf8)
            try "/dev/sda1 / ext4 rw 0 0\n".write(toFile: root + "/mounts", atomically: true, encoding: .utf8)
            let root = self.root, busy = self.busy
            try "cpu  1000 0 0 500 0 0 0 0\n".write(toFile: root + "/stat", atomically: true, encoding: .utf8)
            task = Task.detached {
                var total: UInt64 = 1000, idle: UInt64 = 500
                while !Task.isCancelled {
                    let share = busy.percent.withLock { $0 }
                    total += 100
                    idle += UInt64(100 - share)
                    try? "cpu  \(total - idle) 0 0 \(idle) 0 0 0 0\n".write(toFile: root + "/stat", atomically: true, encoding: .utf8)
                    try? await Task.sleep(nanoseconds: 10_000_000)
                }
            }
        }
        func set(busy share: Int) { busy.percent.withLock { $0 = share } }
        deinit { task.cancel() }
    }

    @Test func monitorThroughServeFiresOneHighAndOneNormal() async throws {
        let cli = CLI()
        #expect(try await cli.run("hook", "add", cli.file("recorder.lua", Self.recorder)).status == 0)
        let proc = try BusyProc(cli.home)
        let config = cli.file("config.yaml", """
            monitor:
              interval: 100ms
              proc_root: \(proc.root)
              cpu: {above: 90, for: 300ms, clear_below: 80}
            """)
        let daemon = try await cli.startServe(["--http", "off", "--config", config])
        let store = try cli.openStore()
        defer { store.closeNow() }
        func count(_ type: String) async throws -> Int { try await events(store, type).count }
        proc.set(busy: 95)
        try await eventually(timeout: 30, "no cpu_high:\n\(daemon.log)") { try await count("system.cpu_high") == 1 }
        // Staying high (well past the duration) adds nothing.
        let high = try #require(try await events(store, "system.cpu_high").first)
        try await eventually(timeout: 30, "the monitor stopped sampling") {
            try await cli.run("sources", "-o", "json").stdout.contains("\"monitor\"")
        }
        proc.set(busy: 20)
        try await eventually(timeout: 30, "no cpu_normal:\n\(daemon.log)") { try await count("system.cpu_normal") == 1 }
        #expect(try await count("system.cpu_high") == 1)
        if case .double(let usage) = high.data["usage_percent"] { #expect(usage > 90) } else { Issue.record("no usage_percent in \(high.data)") }
        #expect(try await store.executions(eventID: high.id).first?.output.contains("system.cpu_high") == true)
        daemon.kill(SIGTERM)
        _ = try await daemon.waitExit()
        let finalHigh = try await count("system.cpu_high"), finalNormal = try await count("system.cpu_normal")
        #expect(finalHigh == 1 && finalNormal == 1)
    }

    @Test func badSourceConfigurationIsAClearErrorAtStartup() async throws {
        let cli = CLI()
        let config = cli.file("config.yaml", """
            monitor:
              interval: 1s
              cpu:
                above: 120
            """)
        let r = try await cli.run("serve", "--http", "off", "--config", config)
        #expect(r.status == 2)
        #expect(r.stderr.contains("config.yaml:4: monitor.cpu.above: must be a number from 0 to 100, not '120'"))
    }

    @Test func checkFailsAfterExactlyNFailuresAndRecoversOnce() async throws {
        let cli = CLI()
        let server = try TestHTTPServer()
        let up = cli.file("up", "yes")
        #expect(try await cli.run("hook", "add", cli.file("recorder.lua", Self.recorder)).status == 0)
        let url = server.base + "/exists?path=" + up
        #expect(try await cli.run("check", "add", "web", "--http", url, "--interval", "100ms", "--timeout", "100ms", "--failures", "3", "--service", "shop").status == 0)
        #expect(try await cli.run("check", "run", "web").status == 0)
        let daemon = try await cli.startServe(["--http", "off"])
        let store = try cli.openStore()
        defer { store.closeNow() }
        func count(_ type: String) async throws -> Int { try await events(store, type).count }
        // Passing checks emit nothing; the service goes down.
        try await eventually(timeout: 30, "the checks source did not start:\n\(daemon.log)") {
            try await cli.run("sources", "-o", "json").stdout.contains("\"checks\"")
        }
        try FileManager.default.removeItem(atPath: up)
        #expect(try await cli.run("check", "run", "web").status == 1)
        try await eventually(timeout: 30, "no check_failed:\n\(daemon.log)") { try await count("health.check_failed") == 1 }
        let failed = try #require(try await events(store, "health.check_failed").first)
        #expect(failed.data["consecutive_failures"] == .int(3))
        #expect(failed.data["service"] == .string("shop") && failed.data["check_name"] == .string("web"))
        #expect(failed.data["error"] == .string("status 503, expected 200"))
        // Back up: one recovered, with the downtime.
        _ = cli.file("up", "yes")
        try await eventually(timeout: 30, "no recovered:\n\(daemon.log)") { try await count("health.recovered") == 1 }
        let recovered = try #require(try await events(store, "health.recovered").first)
        if case .int(let ms) = recovered.data["downtime_ms"] { #expect(ms >= 200) } else { Issue.record("no downtime_ms: \(recovered.data)") }
        #expect(recovered.data["downtime_duration"] != nil)
        daemon.kill(SIGTERM)
        _ = try await daemon.waitExit()
        let failedTotal = try await count("health.check_failed"), recoveredTotal = try await count("health.recovered")
        #expect(failedTotal == 1 && recoveredTotal == 1)
        #expect(try await count("health.check_passed") == 0)
    }

    @Test func badChecksAreRefusedAndAFailingOneStopsNothingElse() async throws {
        let cli = CLI()
        let bad = try await cli.run("check", "add", "x", "--http", "ftp://example.com")
        #expect(bad.status == 2 && bad.stderr.contains("is not an http:// or https:// URL"))
        let two = try await cli.run("check", "add", "x", "--http", "http://a/", "--tcp", "a:1")
        #expect(two.status == 2 && two.stderr.contains("exactly one of"))
        let port = try await cli.run("check", "add", "x", "--tcp", "localhost:99999")
        #expect(port.status == 2 && port.stderr.contains("HOST:PORT"))
        let timeout = try await cli.run("check", "add", "x", "--exec", "true", "--interval", "1s", "--timeout", "5s")
        #expect(timeout.status == 2 && timeout.stderr.contains("at most the interval"))
        #expect(try await cli.run("check", "list", "-o", "json").stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
        let config = cli.file("config.yaml", """
            checks:
              db:
                tcp: 127.0.0.1
            """)
        let r = try await cli.run("serve", "--http", "off", "--config", config)
        #expect(r.status == 2 && r.stderr.contains("config.yaml:3: checks.db.tcp: '127.0.0.1' must be HOST:PORT"))
        // A check that cannot connect fails (as a check), while a schedule still fires.
        let good = cli.file("config2.yaml", """
            checks:
              nothing-there:
                tcp: 127.0.0.1:1
                interval: 100ms
                timeout: 100ms
                failures: 1
            """)
        #expect(try await cli.run("schedule", "add", "tick", "--cron", "@every 1s").status == 0)
        let daemon = try await cli.startServe(["--http", "off", "--config", good])
        let store = try cli.openStore()
        defer { store.closeNow() }
        try await eventually(timeout: 30, "no check_failed and schedule:\n\(daemon.log)") {
            let failed = try await events(store, "health.check_failed").count
            let ticks = try await events(store, "schedule.triggered").count
            return failed == 1 && ticks >= 1
        }
        let listed = try JSONValue.parse(try await cli.run("check", "list", "-o", "json").stdout)
        #expect(listed.arrayValue?.first?["declared_in"] == .string(good))
        daemon.kill(SIGTERM)
        _ = try await daemon.waitExit()
    }

    /// The file.* events of the store, oldest first, as "type path" (renames "type old -> new").
    func fileEvents(_ store: SQLiteEventStore) async throws -> [String] {
        try await store.listEvents(EventFilter(limit: 10_000)).reversed().filter { $0.type.hasPrefix("file.") }.map { e in
            let path = e.data["path"]?.stringValue.map { ($0 as NSString).lastPathComponent } ?? "?"
            if let old = e.data["old_path"]?.stringValue { return "\(e.type) \((old as NSString).lastPathComponent) -> \(path)" }
            return "\(e.type) \(path)" + (e.data["offline"] == .bool(true) ? " (offline)" : "")
        }
    }

    /// Waits until the watch has its baseline and its inotify watches (it says so in the log).
    func watching(_ daemon: Daemon) async throws {
        try await eventually(timeout: 30, "the watch did not start:\n\(daemon.log)") { daemon.log.contains("watch tree: watching") }
    }

    /// Waits until a marker file created after some changes is reported: every change before
    /// it has settled and been stored by then (the watcher settles in order of time).
    func settle(_ store: SQLiteEventStore, _ dir: String, _ name: String) async throws {
        // Written beside the tree and moved in: one rename, so the marker arrives whole. (Written
        // in place, it is a create and a write; under load the two can fall into different
        // settle windows and the marker is reported modified as well.)
        let staged = (dir as NSString).deletingLastPathComponent + "/.staged-" + name
        try "m".write(toFile: staged, atomically: false, encoding: .utf8)
        try FileManager.default.moveItem(atPath: staged, toPath: dir + "/" + name)
        try await eventually(timeout: 30, "the marker \(name) was not reported") {
            try await fileEvents(store).contains("file.created \(name)")
        }
    }

    @Test func watcherThroughServeReportsEachChangeOnceAndWhatHappenedWhileStopped() async throws {
        let cli = CLI()
        let tree = cli.home + "/tree"
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        try "old".write(toFile: tree + "/kept.txt", atomically: false, encoding: .utf8)
        #expect(try await cli.run("hook", "add", cli.file("recorder.lua", Self.recorder)).status == 0)
        #expect(try await cli.run("watch", "add", "tree", tree, "--recursive", "--settle", "100ms").status == 0)
        // At debug level the log shows each inotify batch and each settled round: what a failure needs.
        let debug = ["SLOTH_RUNNER_LOG_LEVEL": "debug"]
        var daemon = try await cli.startServe(["--http", "off"], environment: debug)
        let store = try cli.openStore()
        defer { store.closeNow() }
        try await watching(daemon)
        try await settle(store, tree, "m0")
        // What was there at the first start is the baseline, not news.
        #expect(try await fileEvents(store) == ["file.created m0"])
        // What the watcher reported besides the markers (which only synchronise: everything
        // before a marker has settled once it is reported; within one settle round changes come
        // by path, so each round is compared as a whole).
        var reported: [String] = []
        func round(_ marker: String, _ expected: [String]) async throws {
            try await settle(store, tree, marker)
            let now = try await fileEvents(store).filter { !$0.hasPrefix("file.created m") }
            #expect(now.count >= reported.count && Array(now.prefix(reported.count)) == reported, "reported again or taken back: \(now)")
            #expect(now.dropFirst(reported.count).sorted() == expected.sorted(), "after \(marker); the daemon's log:\n\(daemon.log)")
            reported = now
        }

        // Create, then a burst of 50 writes: one created.
        FileManager.default.createFile(atPath: tree + "/c.txt", contents: nil)
        let handle = try #require(FileHandle(forWritingAtPath: tree + "/c.txt"))
        for i in 0..<50 { handle.write(Data("line \(i)\n".utf8)) }
        try handle.close()
        try await round("m1", ["file.created c.txt"])
        // A burst of 50 writes to an existing file: one modified.
        let again = try #require(FileHandle(forWritingAtPath: tree + "/c.txt"))
        again.seekToEndOfFile()
        for i in 0..<50 { again.write(Data("more \(i)\n".utf8)) }
        try again.close()
        try await round("m2", ["file.modified c.txt"])
        // A rename inside the tree: one renamed, not a delete and a create.
        try FileManager.default.moveItem(atPath: tree + "/c.txt", toPath: tree + "/d.txt")
        // A new subdirectory is watched as it appears; a file in it at once is reported too.
        try FileManager.default.createDirectory(atPath: tree + "/sub", withIntermediateDirectories: false)
        try "e".write(toFile: tree + "/sub/e.txt", atomically: false, encoding: .utf8)
        try await round("m3", ["file.renamed c.txt -> d.txt", "file.created sub", "file.created e.txt"])
        try "e2".write(toFile: tree + "/sub/later.txt", atomically: false, encoding: .utf8)
        try FileManager.default.removeItem(atPath: tree + "/d.txt")
        // Editor swap files and .git are left out.
        try "swap".write(toFile: tree + "/.d.txt.swp", atomically: false, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: tree + "/.git", withIntermediateDirectories: false)
        try "ref".write(toFile: tree + "/.git/HEAD", atomically: false, encoding: .utf8)
        try await round("m4", ["file.deleted d.txt", "file.created later.txt"])
        let created = try #require(try await store.listEvents(EventFilter(type: "file.created", limit: 100)).first { $0.data["path"]?.stringValue == tree + "/c.txt" })
        #expect(created.data["watcher"] == .string("tree") && created.data["mode"] != nil && created.data["modification_time"] != nil)
        #expect(created.data["source"] == .string("watcher"))

        // Stopped: changes made meanwhile are reported at the next start, marked offline.
        daemon.kill(SIGTERM)
        _ = try await daemon.waitExit()
        let before = try await fileEvents(store).count
        try "changed while stopped".write(toFile: tree + "/kept.txt", atomically: false, encoding: .utf8)
        try "new".write(toFile: tree + "/offline.txt", atomically: false, encoding: .utf8)
        try FileManager.default.removeItem(atPath: tree + "/m0")
        try FileManager.default.moveItem(atPath: tree + "/m1", toPath: tree + "/m1-renamed")
        daemon = try await cli.startServe(["--http", "off"], environment: debug)
        try await eventually(timeout: 30, "the offline changes were not reported:\n\(daemon.log)") { try await fileEvents(store).count >= before + 4 }
        #expect(Set(try await fileEvents(store).dropFirst(before)) == [
            "file.deleted m0 (offline)", "file.renamed m1 -> m1-renamed", "file.created offline.txt (offline)", "file.modified kept.txt (offline)",
        ])
        daemon.kill(SIGTERM)
        _ = try await daemon.waitExit()
    }

    @Test func anInotifyOverflowTriggersARescanThatReportsWhatChanged() async throws {
        // The kernel's queue limit is read when an inotify instance is made: lowered for the
        // start of this serve only, it makes a burst overflow the queue.
        let limitFile = "/proc/sys/fs/inotify/max_queued_events"
        guard let saved = try? String(contentsOfFile: limitFile, encoding: .utf8), FileManager.default.isWritableFile(atPath: limitFile) else {
            Issue.record("needs root to lower \(limitFile)")
            return
        }
        let cli = CLI()
        let tree = cli.home + "/tree"
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        #expect(try await cli.run("watch", "add", "tree", tree, "--settle", "50ms").status == 0)
        try "16\n".write(toFile: limitFile, atomically: false, encoding: .utf8)
        let daemon: Daemon
        do {
            daemon = try await cli.startServe(["--http", "off"])
            let store = try cli.openStore()
            defer { store.closeNow() }
            try await watching(daemon)
            try await settle(store, tree, "ready")
            try saved.write(toFile: limitFile, atomically: false, encoding: .utf8)
        } catch {
            try? saved.write(toFile: limitFile, atomically: false, encoding: .utf8)
            throw error
        }
        let store = try cli.openStore()
        defer { store.closeNow() }
        // Frozen, serve reads nothing: the burst overflows the 16-event queue for certain.
        daemon.kill(SIGSTOP)
        for i in 0..<200 { try "x".write(toFile: tree + "/burst-\(i).txt", atomically: false, encoding: .utf8) }
        daemon.kill(SIGCONT)
        try await eventually(timeout: 30, "the burst was not reported:\n\(daemon.log)") {
            Set(try await fileEvents(store).filter { $0.hasPrefix("file.created burst-") }).count == 200
        }
        #expect(daemon.log.contains("overflowed; rescanned"))
        let rescanned = try await store.listEvents(EventFilter(type: "file.created", limit: 1000)).filter { $0.data["rescan"] == .bool(true) }
        #expect(!rescanned.isEmpty)
        // Each file once, whether by its own event or by the rescan.
        #expect(try await fileEvents(store).filter { $0.hasPrefix("file.created burst-") }.count == 200)
        daemon.kill(SIGTERM)
        _ = try await daemon.waitExit()
    }

    @Test func badWatchesAreRefused() async throws {
        let cli = CLI()
        let missing = try await cli.run("watch", "add", "w", cli.home + "/nope")
        #expect(missing.status == 2 && missing.stderr.contains("does not exist"))
        let name = try await cli.run("watch", "add", "Bad Name", cli.home)
        #expect(name.status == 2 && name.stderr.contains("watch name"))
        let settle = try await cli.run("watch", "add", "w", cli.home, "--settle", "2m")
        #expect(settle.status == 2 && settle.stderr.contains("--settle"))
        let config = cli.file("config.yaml", """
            watches:
              etc:
                paths: [/nonexistent/dir]
            """)
        let r = try await cli.run("serve", "--http", "off", "--config", config)
        #expect(r.status == 2 && r.stderr.contains("config.yaml:3: watches.etc.paths: '/nonexistent/dir' does not exist"))
        #expect(try await cli.run("watch", "list", "-o", "json").stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
    }

    @Test func schedulesFromTheConfigFileKeepTheirProgressAcrossRestarts() async throws {
        let cli = CLI()
        let config = cli.file("config.yaml", """
            schedules:
              tick:
                cron: "@every 1s"
                timezone: UTC
                event_type: custom.tick
                data: {target: db, n: 3}
                catch_up: all
            """)
        var daemon = try await cli.startServe(["--http", "off", "--config", config])
        let store = try cli.openStore()
        defer { store.closeNow() }
        try await eventually(timeout: 30, "no tick:\n\(daemon.log)") { try await events(store, "custom.tick").count >= 2 }
        daemon.kill(SIGTERM)
        _ = try await daemon.waitExit()
        let first = try #require(try await events(store, "custom.tick").first)
        #expect(first.data["target"] == .string("db") && first.data["n"] == .int(3) && first.data["schedule_name"] == .string("tick"))
        let listed = try JSONValue.parse(try await cli.run("schedule", "list", "-o", "json").stdout)
        #expect(listed.arrayValue?.first?["declared_in"] == .string(config))
        let id = listed.arrayValue?.first?["id"]
        daemon = try await cli.startServe(["--http", "off", "--config", config])
        let before = try await events(store, "custom.tick").count
        try await eventually(timeout: 30, "no tick after the restart") { try await events(store, "custom.tick").count >= before + 2 }
        daemon.kill(SIGTERM)
        _ = try await daemon.waitExit()
        // Declared again: the same schedule (id), and no slot twice.
        #expect(try JSONValue.parse(try await cli.run("schedule", "list", "-o", "json").stdout).arrayValue?.first?["id"] == id)
        let slots = try await events(store, "custom.tick").compactMap { $0.data["scheduled_time"]?.stringValue }
        #expect(Set(slots).count == slots.count)
        // A bad expression in the file stops serve with the file, the line and the field.
        let bad = cli.file("bad.yaml", """
            schedules:
              nightly:
                cron: "0 25 * * *"
            """)
        let r = try await cli.run("serve", "--http", "off", "--config", bad)
        #expect(r.status == 2 && r.stderr.contains("bad.yaml:3: schedules.nightly.cron: cron '0 25 * * *': field 2 (hour) '25'"))
    }

    @Test func sourcesAreCountedInMetricsBySourceAndNotTwice() async throws {
        let cli = CLI()
        // One event from the CLI (schedule.created, stored by another process), the rest from
        // the scheduler (stored pending by serve itself, each slot in its own transaction).
        #expect(try await cli.run("schedule", "add", "tick", "--cron", "@every 1s", "--tz", "UTC").status == 0)
        let daemon = try await cli.startServe(["--http", "127.0.0.1:0"])
        let base = try #require(daemon.apiURL)
        let store = try cli.openStore()
        defer { store.closeNow() }
        try await eventually(timeout: 30, "no slots") { try await events(store, "schedule.triggered").filter { $0.status == .completed }.count >= 2 }
        let samples = try HTTPAPITests.parsePrometheus(try await HTTPAPITests.call(base, .GET, "/metrics").text, cli: cli)
        let fired = try await events(store, "schedule.triggered").count
        func value(_ source: String) -> Double? {
            samples.first { $0.name == "sloth_events_accepted_total" && $0.labels["source"] == source }?.value
        }
        #expect(value("cli") == 1)
        #expect((value("scheduler") ?? 0) >= 2 && (value("scheduler") ?? 0) <= Double(fired))
        daemon.kill(SIGTERM)
        _ = try await daemon.waitExit()
    }
}
