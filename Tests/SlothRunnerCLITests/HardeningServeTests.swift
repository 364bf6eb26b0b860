import Foundation
import Testing
import SlothRunner

/// The hardening promises, end to end through `sloth-runner serve`.
@Suite struct HardeningServeTests {
    /// The three library calls that used to hang the engine: a catastrophic pattern, nested
    /// template sections, a YAML alias bomb.
    static let runaways: [(name: String, body: String, call: String)] = [
        ("backtracking", #"string.find(string.rep("a", 50000), string.rep("a-", 30) .. "b")"#, "string.find"),
        ("sections", #"require("template").render(string.rep("{{#a}}", 30) .. "x" .. string.rep("{{/a}}", 30), { a = {1,2,3,4,5,6,7,8,9,10} })"#, "template.render"),
        ("aliases", #"""
            local y = "l0: &l0 [x, x, x, x, x, x, x, x, x]\n"
            for i = 1, 8 do y = y .. "l" .. i .. ": &l" .. i .. " [" .. string.rep("*l" .. (i - 1) .. ", ", 8) .. "*l" .. (i - 1) .. "]\n" end
            require("yaml").decode(y)
            """#, "yaml.decode"),
    ]

    @Test func runawayLibraryCallsAreStoppedWhileTheEngineKeepsServing() async throws {
        let cli = CLI()
        for r in Self.runaways {
            #expect(try await cli.run("hook", "add", cli.file("\(r.name).lua", """
                return { name = "\(r.name)", event_type = "hostile.\(r.name)", timeout = "4s", memory_limit_mb = 16, max_attempts = 1,
                         execute = function() \(r.body) end }
                """)).status == 0)
        }
        #expect(try await cli.run("hook", "add", cli.file("canary.lua", #"return { name = "canary", event_type = "canary.ping", execute = function() return true, "alive" end }"#)).status == 0)
        let daemon = try await cli.startServe(["--grace", "10s", "--poll", "5ms"])
        let baseline = try #require(daemon.statusKiB("VmHWM"))
        let store = try cli.openStore()
        defer { store.closeNow() }
        // Stored at once (one commit), so all three start together.
        var hostile: [String: String] = [:]
        let events = Self.runaways.map { Engine.pendingEvent(from: NewEvent(type: "hostile.\($0.name)")) }
        try await store.insertEvents(events)
        for (r, e) in zip(Self.runaways, events) { hostile[r.name] = e.id }
        // Both Lua threads are now inside runaway calls; the canary still runs (on an overflow
        // executor) and completes before they are stopped.
        try await eventually(timeout: 10, "the runaway runs did not start") { try await store.countEvents(status: .processing) >= 2 }
        let canary = try await cli.run("events", "dispatch", "canary.ping", "--wait", "--timeout", "30s")
        #expect(canary.status == 0 && canary.stdout.contains("alive"), "\(canary)")
        let canaryDone = try #require(try await store.listEvents(EventFilter(type: "canary.ping")).first?.processedAt)
        for r in Self.runaways {
            let id = hostile[r.name]!
            try await eventually(timeout: 30, "\(r.name) was not stopped:\n\(daemon.log)") {
                try await store.resolveEvent(id).status == .failed
            }
            let run = try #require(try await store.executions(eventID: id).first)
            #expect(run.error?.contains("(in \(r.call))") == true, "\(r.name): \(run.error ?? "-")")
            #expect(run.durationMillis <= 4000 + 1000, "\(r.name) ran \(run.durationMillis) ms past a 4 s timeout")
            #expect(try await store.deadLetters(eventID: id).count == 1, "the killed run counts as its attempt")
        }
        // The backtracking and template runs hold a Lua thread each until their 4 s timeout
        // (long enough for the canary's CLI process to start and finish on a loaded machine).
        let hostileDone = try await hostile.values.asyncMap { try await store.resolveEvent($0).processedAt ?? 0 }.max() ?? 0
        #expect(canaryDone < hostileDone, "the canary waited for the runaway calls")
        // Memory: the three caps (16 MiB each) plus a stated slack of 96 MiB for host-side
        // copies and the runtime.
        let peak = try #require(daemon.statusKiB("VmHWM"))
        #expect(peak - baseline <= (3 * 16 + 96) * 1024, "serve grew by \((peak - baseline) / 1024) MiB")
        let stopping = monotonicSeconds()
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit(timeout: 20) == 0, "\(daemon.log)")
        #expect(monotonicSeconds() - stopping < 10, "SIGTERM did not end serve within its grace")
    }

    @Test func aCommandThatKillsItsSupervisorLeavesNothingBehind() async throws {
        let cli = CLI()
        let pidFile = cli.home + "/escaped.pid"
        #expect(try await cli.run("hook", "add", cli.file("escape.lua", """
            return { name = "escape", event_type = "x.escape", execute = function()
              local r = require("exec").run("setsid sh -c 'echo $$ > \(pidFile).tmp && mv \(pidFile).tmp \(pidFile); exec sleep 303' & until [ -s \(pidFile) ]; do sleep 0.01; done; kill -9 $PPID; sleep 30")
              return true, "exit " .. r.exit_code
            end }
            """)).status == 0)
        let daemon = try await cli.startServe(["--poll", "5ms"])
        let r = try await cli.run("events", "dispatch", "x.escape", "--wait", "--timeout", "60s")
        #expect(r.status == 0, "\(r)")
        let pid = try #require(Int32((try? String(contentsOfFile: pidFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""))
        try await eventually(timeout: 10, "the setsid child of a command that killed its supervisor survived") { kill(pid, 0) != 0 }
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit() == 0)
    }

    @Test func aChildIsStoredOnceAcrossAKillBetweenItsCommitAndItsParentsOutcome() async throws {
        let cli = CLI()
        let marker = cli.home + "/first-run"
        // The first run dispatches the child and then hangs: the daemon is killed with the child
        // committed and the parent's outcome not. The re-run after the restart dispatches again.
        #expect(try await cli.run("hook", "add", cli.file("parent.lua", """
            return { name = "parent", event_type = "crash.parent", timeout = "120s", execute = function(e)
              local f = require("file")
              require("event").dispatch("crash.child", { from = e.id })
              if not f.exists("\(marker)") then
                f.write("\(marker)", "1")
                sleep(100)
              end
              return true, "done"
            end }
            """)).status == 0)
        var daemon = try await cli.startServe(["--poll", "5ms"])
        let parent = try #require(try await cli.run("events", "dispatch", "crash.parent", "-o", "json").json?["id"]?.stringValue)
        let store = try cli.openStore()
        defer { store.closeNow() }
        try await eventually(timeout: 20, "the first run did not get to its sleep") {
            guard FileManager.default.fileExists(atPath: marker) else { return false }
            return try await store.listEvents(EventFilter(type: "crash.child")).count == 1
        }
        daemon.kill(SIGKILL)
        _ = try await daemon.waitExit()
        #expect(try await store.resolveEvent(parent).status == .processing)
        daemon = try await cli.startServe(["--poll", "5ms"])
        try await eventually(timeout: 30, "the parent did not complete after the restart:\n\(daemon.log)") {
            try await store.resolveEvent(parent).status == .completed
        }
        let children = try await store.listEvents(EventFilter(type: "crash.child"))
        #expect(children.count == 1, "\(children.count) children after a re-run")
        #expect(children.first?.parentID == parent)
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit() == 0)
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for e in self { out.append(try await transform(e)) }
        return out
    }
}
