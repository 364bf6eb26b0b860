import Foundation
import SlothRunner
import SlothTestSupport
import Testing

/// `hook test --history` (what-if), `hook test --cases`, `hook new` and `hook templates`
/// through the built binary.
@Suite(.serialized) struct HookAuthoringCLITests {
    /// A recorded history (ten jobs, the tenth failed under the old hook, and one event of
    /// another type), then an edited hook that fails on every third job and no longer takes
    /// the other type: exact counts, exit 1, and nothing performed — the HTTP server gets no
    /// request, the file is not written, no event and no state is stored.
    @Test func whatIfOverRecordedHistory() async throws {
        let cli = CLI()
        let server = try TestHTTPServer()
        let old = cli.file("notify.lua", """
            local http = require("http")
            return { name = "notify", event_types = {"custom.*"}, max_attempts = 1,
              execute = function(e)
                if e.data.n == 10 then error("old bug") end
                http.post("\(server.base)/echo", { json = { n = e.data.n } })
                return true, "posted"
              end }
            """)
        #expect(try await cli.run("hook", "add", old).status == 0)
        for n in 1...10 {
            _ = try await cli.run("events", "dispatch", "custom.job", "--data", #"{"n":\#(n)}"#, "--wait")
        }
        _ = try await cli.run("events", "dispatch", "custom.other", "--data", #"{"n":0}"#, "--wait")
        let requestsBefore = server.connections
        #expect(requestsBefore == 10)
        let marker = cli.home + "/would-write.txt"
        let edited = cli.file("notify-edited.lua", """
            local http = require("http")
            local file = require("file")
            local state = require("state")
            local event = require("event")
            return { name = "notify", event_types = {"custom.job"},
              execute = function(e)
                if e.data.n % 3 == 0 then return false, "new bug" end
                http.post("\(server.base)/echo", { json = { n = e.data.n } })
                file.write("\(marker)", "n=" .. e.data.n)
                state.set("last_n", e.data.n)
                event.dispatch("custom.notified", { n = e.data.n })
                return true, "posted"
              end }
            """)
        let eventsBefore = try await cli.run("events", "list", "--limit", "100", "-o", "json").json?.arrayValue?.count
        let result = try await cli.run("hook", "test", edited, "--history", "type=custom.* since=1h", "-o", "json")
        #expect(result.status == 1, "\(result)")
        let summary = try #require(result.json?["summary"], "\(result)")
        #expect(summary["events"] == .int(11))
        #expect(summary["unchanged"] == .int(6))
        #expect(summary["newly_failing"] == .int(3))
        #expect(summary["newly_succeeding"] == .int(1))
        #expect(summary["not_taken"] == .int(1))
        #expect(summary["errors"] == .int(0))
        #expect(summary["effects_recorded"] == .int(7 * 4))
        let rows = result.json?["events"]?.arrayValue ?? []
        let third = try #require(rows.first { $0["change"] == .string("newly_failing") })
        #expect(third["recorded"] == .string("ok") && third["message"] == .string("new bug"))
        let fixed = try #require(rows.first { $0["change"] == .string("newly_succeeding") })
        #expect(fixed["recorded"] == .string("failed") && fixed["recorded_message"]?.stringValue?.contains("old bug") == true)
        #expect(fixed["effects"]?.arrayValue?.compactMap { $0["kind"]?.stringValue } == ["http", "file.write", "state.set", "event.dispatch"])
        // Nothing was performed.
        #expect(server.connections == requestsBefore)
        #expect(!FileManager.default.fileExists(atPath: marker))
        #expect(try await cli.run("events", "list", "--limit", "100", "-o", "json").json?.arrayValue?.count == eventsBefore)
        #expect(try await cli.run("state", "get", "last_n").status != 0)

        // The table form says the same; the flag form selects the same events.
        let table = try await cli.run("hook", "test", edited, "--since", "1h", "--type", "custom.*")
        #expect(table.status == 1)
        #expect(table.stdout.contains("11 events (type custom.*, since "), "\(table)")
        #expect(table.stdout.contains("6 unchanged, 3 newly failing, 1 newly succeeding, 1 no longer taken, 0 errors."))
        #expect(table.stdout.contains("Nothing was performed: 28 side effects recorded"))
        // A hook that changes nothing for the worse passes.
        let same = try await cli.run("hook", "test", old, "--history", "type=custom.job since=1h")
        #expect(same.status == 0, "\(same)")
        #expect(same.stdout.contains("10 events") && same.stdout.contains("10 unchanged, 0 newly failing"), "\(same)")
        #expect(server.connections == requestsBefore)
        let bad = try await cli.run("hook", "test", edited, "--history", "type=custom.* sinse=1h")
        #expect(bad.status != 0 && bad.stderr.contains("unknown key 'sinse'; did you mean 'since'?"), "\(bad)")
    }

    @Test func templatesNewAndCases() async throws {
        let cli = CLI()
        let listed = try await cli.run("hook", "templates", "-o", "json")
        #expect(listed.json?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["slack", "webhook-forward", "exec-remediation", "cooldown", "chain", "audit"])
        let made = try await cli.run("hook", "new", "page_ops", "--template", "slack", "--event-type", "agent.disconnected", "--dir", cli.home)
        #expect(made.status == 0, "\(made)")
        let hookFile = cli.home + "/page_ops.lua", casesFile = cli.home + "/page_ops.cases.yaml"
        #expect(try String(contentsOfFile: hookFile, encoding: .utf8).contains(#"event_types = { "agent.disconnected" }"#))
        let passed = try await cli.run("hook", "test", hookFile, "--cases", casesFile)
        #expect(passed.status == 0 && passed.stdout.contains("3 passed, 0 failed"), "\(passed)")
        let again = try await cli.run("hook", "new", "page_ops", "--template", "slack", "--dir", cli.home)
        #expect(again.status != 0 && again.stderr.contains("exists already"), "\(again)")
        let unknown = try await cli.run("hook", "new", "x", "--template", "slak", "--dir", cli.home)
        #expect(unknown.status != 0 && unknown.stderr.contains("did you mean 'slack'?"), "\(unknown)")
        // A case that does not hold fails the command, and says how.
        let wrong = cli.file("wrong.cases.yaml", """
            cases:
              - name: expects the wrong message
                event: { type: agent.disconnected }
                mocks:
                  secrets: { slack_webhook_url: "https://hooks.slack.com/services/T/B/X" }
                  http: [{ url: "https://hooks.slack.com/*" }]
                expect: { message: "nope" }
            """)
        let failed = try await cli.run("hook", "test", hookFile, "--cases", wrong, "-o", "json")
        #expect(failed.status == 1, "\(failed)")
        #expect(failed.json?["failed"] == .int(1))
        #expect(failed.json?["cases"]?.arrayValue?.first?["differences"] == .array([.string("message: expected 'nope', got 'posted to Slack'")]))
    }

    @Test func dispatchWithAnIdempotencyKeyStoresOnce() async throws {
        let cli = CLI()
        let first = try await cli.run("events", "dispatch", "deploy.started", "--data", #"{"v":2}"#, "--idempotency-key", "deploy-v2", "-o", "json")
        #expect(first.status == 0, "\(first)")
        let again = try await cli.run("events", "dispatch", "deploy.started", "--data", #"{"v":2}"#, "--idempotency-key", "deploy-v2")
        #expect(again.status == 0 && again.stdout.contains("nothing new was stored"), "\(again)")
        #expect(again.stdout.contains(first.json?["id"]?.stringValue ?? "?"))
        let reused = try await cli.run("events", "dispatch", "deploy.started", "--data", #"{"v":3}"#, "--idempotency-key", "deploy-v2")
        #expect(reused.status == 5 && reused.stderr.contains("was used for a different event"), "\(reused)")
        let bad = try await cli.run("events", "dispatch", "deploy.started", "--idempotency-key", "two words")
        #expect(bad.status == 2, "\(bad)")
        let withCount = try await cli.run("events", "dispatch", "deploy.started", "--idempotency-key", "k", "--count", "3")
        #expect(withCount.status == 2 && withCount.stderr.contains("leave out --count"), "\(withCount)")
        #expect(try await cli.run("events", "list", "-o", "json").json?.arrayValue?.count == 1)
        // --wait follows the keyed event (processed in this process: no daemon runs).
        let waited = try await cli.run("events", "dispatch", "deploy.started", "--data", #"{"v":2}"#, "--idempotency-key", "deploy-v2", "--wait", "-o", "json")
        #expect(waited.status == 0 && waited.json?["status"] == .string("completed"), "\(waited)")
        #expect(try await cli.run("events", "list", "-o", "json").json?.arrayValue?.count == 1)
    }

    /// Storm control through the binary: hook add's flags, hook get, events explain and
    /// events show for a throttled burst and a rate-limited one, across a serve restart.
    @Test func stormControlFlagsThroughTheBinary() async throws {
        let cli = CLI()
        let hook = cli.file("page.lua", #"return { name = "page", event_types = {"agent.*"}, execute = function(e) return true, "paged" end }"#)
        let added = try await cli.run("hook", "add", hook, "--throttle", "1h:data.agent.name", "--circuit-breaker", "5/1m/5m", "-o", "json")
        #expect(added.status == 0, "\(added)")
        #expect(added.json?["controls"]?["throttle"]?["group_by"] == .array([.string("data.agent.name")]))
        let limited = cli.file("limited.lua", #"return { name = "limited", event_types = {"custom.r"}, execute = function(e) return true end }"#)
        #expect(try await cli.run("hook", "add", limited, "--rate-limit", "2/h").status == 0)
        let bad = try await cli.run("hook", "add", hook, "--name", "bad", "--rate-limit", "ten/m")
        #expect(bad.status != 0 && bad.stderr.contains("must look like 10/m"), "\(bad)")
        #expect(try await cli.run("hook", "get", "bad").status != 0)
        let shown = try await cli.run("hook", "get", "page")
        #expect(shown.stdout.contains("throttle: once within 1h0m per data.agent.name") && shown.stdout.contains("circuit breaker: 5 failures within 1m0s"), "\(shown)")

        var daemon = try await cli.startServe(["--http", "off", "--poll", "5ms"])
        var ids: [String] = []
        for _ in 0..<3 {
            ids.append(try #require(try await cli.run("events", "dispatch", "agent.disconnected", "--data", #"{"agent":{"name":"a1"}}"#, "-o", "json").json?["id"]?.stringValue))
        }
        for _ in 0..<3 { _ = try await cli.run("events", "dispatch", "custom.r") }
        try await eventually(timeout: 30, "the burst was handled") {
            let done = try await cli.run("events", "list", "--status", "completed", "-o", "json").json?.arrayValue?.count ?? 0
            let waiting = try await cli.run("events", "list", "--status", "pending", "-o", "json").json?.arrayValue?.count ?? 0
            return done == 5 && waiting == 1
        }
        var ran = 0, throttled = 0
        for id in ids {
            let v = try #require(try await cli.run("events", "explain", id, "-o", "json").json?["hooks"]?.arrayValue?.first { $0["hook"] == .string("page") })
            if v["reason"] == .string("ran") { ran += 1 }
            if v["reason"] == .string("throttled") {
                throttled += 1
                #expect(v["related_event_id"] == .string(ids[0]))
            }
        }
        #expect(ran == 1 && throttled == 2)
        let skippedShow = try await cli.run("events", "show", ids[2])
        #expect(skippedShow.stdout.contains("Settled by storm control (not run):") && skippedShow.stdout.contains("page: throttled: event \(ids[0])"), "\(skippedShow)")
        let waiting = try #require(try await cli.run("events", "list", "--status", "pending", "-o", "json").json?.arrayValue?.first?["id"]?.stringValue)
        let deferred = try await cli.run("events", "explain", waiting)
        #expect(deferred.stdout.contains("rate_limited") && deferred.stdout.contains("rate-limited (2 per 1h0m): next slot at"), "\(deferred)")
        // A restart: the throttle window and the rate limit hold.
        daemon.kill(SIGTERM)
        _ = try await daemon.waitExit()
        daemon = try await cli.startServe(["--http", "off", "--poll", "5ms"])
        let after = try #require(try await cli.run("events", "dispatch", "agent.disconnected", "--data", #"{"agent":{"name":"a1"}}"#, "-o", "json").json?["id"]?.stringValue)
        try await eventually(timeout: 30, "the event after the restart was handled") {
            try await cli.run("events", "get", after).json?["status"] == .string("completed")
        }
        #expect(try await cli.run("events", "explain", after, "-o", "json").json?["hooks"]?.arrayValue?.first { $0["hook"] == .string("page") }?["reason"] == .string("throttled"))
        #expect(try await cli.run("events", "list", "--status", "pending", "-o", "json").json?.arrayValue?.count == 1)
        let state = try await cli.run("hook", "get", "page", "-o", "json")
        #expect(state.json?["control_state"]?.arrayValue?.first?["group"] == .string("a1"), "\(state)")
        daemon.kill(SIGTERM)
        _ = try await daemon.waitExit()
    }
}
