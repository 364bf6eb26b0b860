import Foundation
import SlothRunner
import Testing

/// `events replay` and `events explain` through the built binary, and their API endpoints
/// on a real `serve`.
@Suite(.serialized) struct ReplayExplainCLITests {
    /// Three hooks (one kept out by its filter, one by its types), one event handled, then:
    /// explain says why for each; a replay through a hook that already succeeded runs it again
    /// as a new event; bad replays change nothing; a bulk replay asks for --yes.
    @Test func replayAndExplainEndToEnd() async throws {
        let cli = CLI()
        let marker = cli.home + "/runs.txt"
        let a = cli.file("notify.lua", """
            return { name = "notify", event_types = {"task.failed"}, filter = { severity = "critical" }, execute = function(e) return true end }
            """)
        let b = cli.file("audit.lua", """
            return { name = "audit", event_types = {"task.*"}, permissions = { file = {"\(cli.home)"} },
              execute = function(e) require("file").append("\(marker)", e.id .. "\\n") return true, "logged" end }
            """)
        let c = cli.file("deploys.lua", #"return { name = "deploys", event_types = {"deploy.*"}, execute = function(e) return true end }"#)
        for f in [a, b, c] { #expect(try await cli.run("hook", "add", f).status == 0) }
        let dispatched = try await cli.run("events", "dispatch", "task.failed", "--data", #"{"severity":"warning"}"#, "--wait", "-o", "json")
        #expect(dispatched.status == 0, "\(dispatched)")
        let id = try #require(dispatched.json?["id"]?.stringValue)

        let explained = try await cli.run("events", "explain", String(id.prefix(13)), "-o", "json")
        #expect(explained.status == 0, "\(explained)")
        let verdicts = explained.json?["hooks"]?.arrayValue ?? []
        #expect(verdicts.map { "\($0["hook"]!.stringValue!):\($0["reason"]!.stringValue!)" } == ["audit:ran", "deploys:type", "notify:filter"])
        #expect(verdicts[2]["actual"] == .string("warning") && verdicts[2]["path"] == .string("severity"))
        let table = try await cli.run("events", "explain", id)
        #expect(table.stdout.contains(#"its filter wants data.severity to be "critical"; in the event it is "warning""#), "\(table)")

        // Refused replays store nothing.
        let before = try await cli.run("events", "list", "-o", "json").json?.arrayValue?.count
        let wrongHook = try await cli.run("events", "replay", id, "--hook", "notify")
        #expect(wrongHook.status != 0 && wrongHook.stderr.contains("does not take event"), "\(wrongHook)")
        let unknown = try await cli.run("events", "replay", id, "--hook", "audti")
        #expect(unknown.status != 0 && unknown.stderr.contains("did you mean 'audit'"), "\(unknown)")
        let bulk = try await cli.run("events", "replay", "--type", "task.*", "--since", "1h")
        #expect(bulk.status != 0 && bulk.stderr.contains("1 event would be replayed") && bulk.stderr.contains("--yes"), "\(bulk)")
        let noSince = try await cli.run("events", "replay", "--type", "task.*")
        #expect(noSince.status != 0 && noSince.stderr.contains("--since is required"), "\(noSince)")
        #expect(try await cli.run("events", "list", "-o", "json").json?.arrayValue?.count == before)

        let replayed = try await cli.run("events", "replay", id, "--hook", "audit", "-o", "json")
        #expect(replayed.status == 0, "\(replayed)")
        let replayID = try #require(replayed.json?["id"]?.stringValue)
        #expect(replayed.json?["replay"]?["of"] == .string(id) && replayed.json?["replay"]?["by"]?.stringValue?.hasPrefix("cli:") == true)
        let daemon = try await cli.startServe(["--http", "off", "--poll", "5ms"])
        try await eventually(timeout: 30, "the replay ran") {
            try await cli.run("events", "get", replayID).json?["status"] == .string("completed")
        }
        // The hook that had succeeded ran again, once, for the replay; the original keeps one run.
        let lines = try String(contentsOfFile: marker, encoding: .utf8).split(separator: "\n")
        #expect(lines == [Substring(id), Substring(replayID)])
        let shown = try await cli.run("events", "show", id, "-o", "json")
        #expect(shown.json?["replays"] == .array([.string(replayID)]))
        #expect(shown.json?["executions"]?.arrayValue?.count == 1)
        let bulkYes = try await cli.run("events", "replay", "--type", "task.*", "--since", "1h", "--yes", "-o", "json")
        // The replay itself is not replayed again: one original matches.
        #expect(bulkYes.json?["replayed"] == .int(1), "\(bulkYes)")
        daemon.kill(SIGTERM)
        _ = try await daemon.waitExit()
    }

    @Test func apiReplaysAndExplains() async throws {
        let cli = CLI()
        let hook = cli.file("h.lua", #"return { name = "h", event_types = {"custom.*"}, execute = function(e) return true end }"#)
        #expect(try await cli.run("hook", "add", hook).status == 0)
        let daemon = try await cli.startServe(["--poll", "5ms"])
        let base = try #require(daemon.apiURL)
        let sent = try await HTTPAPITests.call(base, .POST, "/api/v1/events", body: #"{"type":"custom.x","data":{"a":1}}"#)
        let id = try #require(sent.json["id"]?.stringValue)
        try await eventually(timeout: 30, "the event finished") {
            try await HTTPAPITests.call(base, .GET, "/api/v1/events/\(id)").json["status"] == .string("completed")
        }
        let replay = try await HTTPAPITests.call(base, .POST, "/api/v1/events/\(id)/replay")
        #expect(replay.status == 202, "\(replay)")
        #expect(replay.json["replay"]?["hooks"] == .array([.string("h")]))
        let named = try await HTTPAPITests.call(base, .POST, "/api/v1/events/\(id)/replay", body: #"{"hooks":["nope"]}"#)
        #expect(named.status == 404 && named.errorCode == "not_found", "\(named)")
        let badBody = try await HTTPAPITests.call(base, .POST, "/api/v1/events/\(id)/replay", body: #"{"hook":["h"]}"#)
        #expect(badBody.status == 422 && badBody.errorMessage.contains("did you mean 'hooks'"), "\(badBody)")
        let explained = try await HTTPAPITests.call(base, .GET, "/api/v1/events/\(id)/explain")
        #expect(explained.status == 200)
        #expect(explained.json["hooks"]?.arrayValue?.first?["reason"] == .string("ran"))
        #expect(explained.json["replays"]?.arrayValue?.count == 1)
        daemon.kill(SIGTERM)
        _ = try await daemon.waitExit()
    }
}
