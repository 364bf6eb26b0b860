import Foundation
import Testing
import SlothRunner

/// Which hooks run for which events: stacks, patterns, and both hook contracts.
@Suite struct MatchingTests {
    func hookNames(_ r: CLI.Result) -> Set<String> {
        guard case .array(let runs)? = r.json?["executions"] else { return [] }
        return Set(runs.compactMap { $0["hook_name"]?.stringValue })
    }

    @Test func stackIsolation() async throws {
        let cli = CLI()
        #expect(try await cli.run("hook", "add", cli.file("p.lua", #"return { name = "prod_only", event_type = "agent.heartbeat_failed", stack = "production", execute = function(e) return true end }"#)).status == 0)
        #expect(try await cli.run("hook", "add", cli.file("s.lua", #"return { name = "staging_only", event_type = "agent.heartbeat_failed", execute = function(e) return true end }"#), "--stack", "staging").status == 0)
        #expect(try await cli.run("hook", "add", cli.file("a.lua", #"return { name = "any_stack", event_type = "agent.heartbeat_failed", execute = function(e) return true, tostring(e.stack) end }"#)).status == 0)

        let prod = try await cli.run("events", "dispatch", "agent.heartbeat_failed", "--stack", "production", "--wait", "-o", "json")
        #expect(hookNames(prod) == ["prod_only", "any_stack"], "\(prod)")
        let staging = try await cli.run("events", "dispatch", "agent.heartbeat_failed", "--stack", "staging", "--wait", "-o", "json")
        #expect(hookNames(staging) == ["staging_only", "any_stack"])
        let none = try await cli.run("events", "dispatch", "agent.heartbeat_failed", "--wait", "-o", "json")
        #expect(hookNames(none) == ["any_stack"])
        #expect(try await cli.run("hook", "list", "--stack", "production", "-o", "json").json.map { if case .array(let a) = $0 { return a.count }; return 0 } == 1)
        #expect(try await cli.run("events", "list", "--stack", "staging", "-o", "json").json.map { if case .array(let a) = $0 { return a.count }; return 0 } == 1)
    }

    @Test func patterns() async throws {
        let cli = CLI()
        let hooks: [(String, String)] = [
            ("exact", #""task.failed""#), ("prefix", #""task.*""#), ("suffix", #""*.failed""#), ("all", #""*""#),
            ("listed", #"{ "deploy.started", "task.failed" }"#), ("deep", #""stack.*""#),
        ]
        for (name, type) in hooks {
            let r = try await cli.run("hook", "add", cli.file("\(name).lua", "return { name = \"\(name)\", event_type = \(type), execute = function() return true end }"))
            #expect(r.status == 0, "\(r)")
        }
        func run(_ type: String) async throws -> Set<String> { hookNames(try await cli.run("events", "dispatch", type, "--wait", "-o", "json")) }
        #expect(try await run("task.failed") == ["exact", "prefix", "suffix", "all", "listed"])
        #expect(try await run("task.started") == ["prefix", "all"])
        #expect(try await run("deploy.failed") == ["suffix", "all"])
        #expect(try await run("deploy.started") == ["all", "listed"])
        #expect(try await run("stack.drift.detected") == ["deep", "all"])
        #expect(try await run("custom") == ["all"])
        // --event-type on the command line overrides the script, and takes a list.
        let r = try await cli.run("hook", "add", cli.file("o.lua", #"return { name = "overridden", event_type = "x.y", execute = function() return true end }"#), "--event-type", "backup.started,backup.failed")
        #expect(r.status == 0)
        #expect(try await run("backup.failed").contains("overridden"))
        #expect(!(try await run("x.y")).contains("overridden"))
    }

    /// A hook's data filter (design.md): equality and one-of on dotted paths; shown by `hook get`,
    /// and a hook it rejects neither runs nor counts.
    @Test func dataFilter() async throws {
        let cli = CLI()
        let added = try await cli.run("hook", "add", cli.file("f.lua", """
            return { name = "prod_deploys", event_type = "deploy.*",
                     filter = { ["deploy.env"] = { "production", "canary" }, critical = true },
                     execute = function(e) return true end }
            """))
        #expect(added.status == 0, "\(added)")
        #expect(try await cli.run("hook", "add", cli.file("all.lua", #"return { name = "all_deploys", event_type = "deploy.*", execute = function() return true end }"#)).status == 0)
        func run(_ data: String) async throws -> Set<String> {
            hookNames(try await cli.run("events", "dispatch", "deploy.started", "--data", data, "--wait", "-o", "json"))
        }
        #expect(try await run(#"{"deploy":{"env":"production"},"critical":true}"#) == ["prod_deploys", "all_deploys"])
        #expect(try await run(#"{"deploy":{"env":"canary"},"critical":true,"extra":1}"#) == ["prod_deploys", "all_deploys"])
        #expect(try await run(#"{"deploy":{"env":"staging"},"critical":true}"#) == ["all_deploys"])
        #expect(try await run(#"{"deploy":{"env":"production"}}"#) == ["all_deploys"])
        #expect(try await run(#"{"deploy":"production","critical":true}"#) == ["all_deploys"])
        let shown = try await cli.run("hook", "get", "prod_deploys")
        #expect(shown.stdout.contains(#"Data filter:  critical = true, deploy.env in ["production","canary"]"#), "\(shown.stdout)")
        let bad = try await cli.run("hook", "add", cli.file("bad.lua", #"return { name = "bad", event_type = "deploy.*", filter = { ["a..b"] = 1 }, execute = function() return true end }"#))
        #expect(bad.status == 6 && bad.stderr.contains("dotted path"), "\(bad)")
        let nested = try await cli.run("hook", "add", cli.file("nested.lua", #"return { name = "nested", event_type = "deploy.*", filter = { a = { b = 1 } }, execute = function() return true end }"#))
        #expect(nested.status == 6 && nested.stderr.contains("string, number or boolean"), "\(nested)")
    }

    @Test func bothHookContracts() async throws {
        let cli = CLI()
        let specForm = cli.file("spec.lua", """
            local hook = { name = "spec_form", event_type = "custom.both" }
            function hook.execute(event) return true, "spec saw " .. event.data.n end
            return hook
            """)
        let globalForm = cli.file("legacy.lua", """
            hook = { name = "global_form", event_type = "custom.both" }
            function on_event()
                print("legacy saw " .. event.data.n .. " attempt " .. event.attempt)
                return true
            end
            """)
        let bareGlobal = cli.file("bare.lua", "function on_event() return event.type == 'custom.both' end")
        #expect(try await cli.run("hook", "add", specForm).status == 0)
        #expect(try await cli.run("hook", "add", globalForm).status == 0)
        var r = try await cli.run("hook", "add", bareGlobal)
        #expect(r.status == 6 && r.stderr.contains("--name"), "a bare global hook needs a name: \(r)")
        r = try await cli.run("hook", "add", bareGlobal, "--name", "bare", "--event-type", "custom.both")
        #expect(r.status == 0, "\(r)")
        r = try await cli.run("events", "dispatch", "custom.both", "--data", #"{"n": 7}"#, "--wait", "-o", "json")
        #expect(r.status == 0, "\(r)")
        #expect(hookNames(r) == ["spec_form", "global_form", "bare"])
        let output = r.stdout
        #expect(output.contains("legacy saw 7 attempt 1"))
    }

    @Test func hookDispatchedEventsCarryTheChainAndStopAtTheLimit() async throws {
        let cli = CLI()
        #expect(try await cli.run("hook", "add", cli.file("loop.lua", """
            return { name = "looper", event_type = "custom.loop", max_attempts = 1, execute = function(e)
                require("event").dispatch("custom.loop", { hop = e.chain_depth + 1 })
                return true
            end }
            """)).status == 0)
        let daemon = try await cli.startServe()
        // Dispatched by this process; the daemon picks it up from the store.
        let r = try await cli.run("events", "dispatch", "custom.loop", "--stack", "lab", "--wait", "-o", "json")
        #expect(r.status == 0, "\(r)")
        let store = try cli.openStore()
        defer { store.closeNow() }
        // The root plus 8 hops; the hook at depth 8 is refused and fails.
        try await eventually(timeout: 20, "the chain did not end") {
            let all = try await store.listEvents(EventFilter(type: "custom.loop", limit: 100))
            return all.count == 9 && all.allSatisfy { $0.status == .completed || $0.status == .failed }
        }
        let all = try await store.listEvents(EventFilter(type: "custom.loop", limit: 100))
        #expect(all.allSatisfy { $0.stack == "lab" })
        #expect(Set(all.map(\.chainDepth)) == Set(0...8))
        let deepest = try #require(all.first { $0.chainDepth == 8 })
        #expect(deepest.status == .failed)
        #expect(all.filter { $0.status == .failed }.count == 1)
        let runs = try await store.executions(eventID: deepest.id)
        #expect(runs.first?.error?.contains("over the limit of 8") == true)
        let child = try #require(all.first { $0.chainDepth == 1 })
        #expect(child.parentID == all.first { $0.chainDepth == 0 }?.id)
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit() == 0)
    }
}
