import Foundation
import Testing
import SlothRunner

/// Bad input gets a clear error, a meaningful exit code, and changes nothing.
@Suite struct BadInputTests {
    func assertNothingStored(_ cli: CLI) async throws {
        #expect(try await cli.run("events", "list", "-o", "json").stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
        #expect(try await cli.run("hook", "list", "-o", "json").stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]")
    }

    @Test func malformedEvents() async throws {
        let cli = CLI()
        var r = try await cli.run("events", "dispatch", "task.failed", "--data", #"{"task": {"name": "x",}}"#)
        #expect(r.status == 2 && r.stderr.contains("invalid JSON at line 1, column 23: expected a string key"), "\(r)")
        r = try await cli.run("events", "dispatch", "task.failed", "--data", "[1,2]")
        #expect(r.status == 2 && r.stderr.contains("must be a JSON object"), "\(r)")
        r = try await cli.run("events", "dispatch", "task.failed", "--data", "\"text\"")
        #expect(r.status == 2 && r.stderr.contains("got string"))
        let big = "{\"blob\":\"" + String(repeating: "x", count: 1_100_000) + "\"}"
        r = try await cli.run("events", "dispatch", "task.failed", "--data-file", cli.file("big.json", big))
        #expect(r.status == 2 && r.stderr.contains("the limit is 1048576 bytes"), "\(r)")
        for bad in ["Task.Failed", "task..failed", "task failed", ".task", String(repeating: "a", count: 129), ""] {
            r = try await cli.run("events", "dispatch", bad)
            #expect(r.status == 2, "type '\(bad)' was accepted: \(r)")
        }
        r = try await cli.run("events", "dispatch", "task.failed", "--data-file", cli.home + "/missing.json")
        #expect(r.status == 3 && r.stderr.contains("does not exist"))
        r = try await cli.run("events", "dispatch", "task.failed", "--stack", "bad stack!")
        #expect(r.status == 2)
        try await assertNothingStored(cli)
    }

    @Test func unknownAndAmbiguousIDs() async throws {
        let cli = CLI()
        var r = try await cli.run("events", "show", "0123abcd")
        #expect(r.status == 3 && r.stderr.contains("no event with id or prefix '0123abcd'"))
        r = try await cli.run("events", "get", "not-an-id!")
        #expect(r.status == 2 && r.stderr.contains("is not an event id"))
        // Two events created in the same millisecond share their first 13 characters.
        let store = try cli.openStore()
        let now = nowMillis()
        let a = Engine.pendingEvent(from: NewEvent(type: "x.y"), now: now)
        let b = Engine.pendingEvent(from: NewEvent(type: "x.y"), now: now)
        try await store.insertEvents([a, b])
        store.closeNow()
        r = try await cli.run("events", "show", String(a.id.prefix(13)))
        #expect(r.status == 4 && r.stderr.contains(a.id) && r.stderr.contains(b.id), "\(r)")
        r = try await cli.run("events", "delete", String(a.id.prefix(13)))
        #expect(r.status == 4)
        #expect(try await cli.run("events", "delete", a.id).status == 0)
        #expect(try await cli.run("events", "show", String(b.id.prefix(13))).status == 0)
    }

    @Test func badHookFiles() async throws {
        let cli = CLI()
        var r = try await cli.run("hook", "add", cli.home + "/nope.lua")
        #expect(r.status == 3 && r.stderr.contains("does not exist"))
        r = try await cli.run("hook", "add", cli.file("syntax.lua", "local hook = {\n  name = 'x',\n  event_type = 'task.failed'\n  execute = function() end\n}\nreturn hook"))
        #expect(r.status == 6 && r.stderr.contains("syntax error: syntax.lua:4:"), "\(r)")
        r = try await cli.run("hook", "add", cli.file("noexec.lua", "return { name = 'x', event_type = 'task.failed' }"))
        #expect(r.status == 6 && r.stderr.contains("no execute(event) function"))
        r = try await cli.run("hook", "add", cli.file("typo.lua", "return { name = 'x', evnt_type = 'task.failed', execute = function() end }"))
        #expect(r.status == 6 && r.stderr.contains("unknown field 'evnt_type'") && r.stderr.contains("did you mean event_type?"), "\(r)")
        r = try await cli.run("hook", "add", cli.file("types.lua", "return { name = 'x', event_type = 'task.failed', timeout = true, execute = function() end }"))
        #expect(r.status == 6 && r.stderr.contains("field 'timeout'"))
        r = try await cli.run("hook", "add", cli.file("notype.lua", "return { name = 'x', execute = function() end }"))
        #expect(r.status == 6 && r.stderr.contains("no event_type"))
        r = try await cli.run("hook", "add", cli.file("badpattern.lua", "return { name = 'x', event_type = 'Task.**', execute = function() end }"))
        #expect(r.status == 6)
        r = try await cli.run("hook", "add", cli.file("boom.lua", "error('refusing to load')"))
        #expect(r.status == 6 && r.stderr.contains("refusing to load"))
        r = try await cli.run("hook", "add", cli.file("spin.lua", "while true do end"))
        #expect(r.status == 6 && r.stderr.contains("ran too long"))
        r = try await cli.run("hook", "add", cli.home)
        #expect(r.status == 2 && r.stderr.contains("is a directory"))
        try await assertNothingStored(cli)
    }

    @Test func duplicateNamesAndTypoWarnings() async throws {
        let cli = CLI()
        let a = cli.file("a.lua", "return { name = 'dup', event_type = 'file.modifed', execute = function() end }")
        var r = try await cli.run("hook", "add", a)
        #expect(r.status == 0)
        #expect(r.stderr.contains("did you mean file.modified?"), "\(r)")
        r = try await cli.run("hook", "add", a)
        #expect(r.status == 5 && r.stderr.contains("already registered") && r.stderr.contains("hook update dup"))
        #expect(try await cli.run("hook", "list", "-o", "json").json.map { if case .array(let x) = $0 { return x.count }; return 0 } == 1)
        // Custom and pattern types are not warned about.
        r = try await cli.run("hook", "add", cli.file("b.lua", "return { name = 'c1', event_type = { 'custom.mine', 'file.*' }, execute = function() end }"))
        #expect(r.status == 0 && !r.stderr.contains("warning"))
        r = try await cli.run("hook", "get", "missing")
        #expect(r.status == 3)
        r = try await cli.run("hook", "update", "missing")
        #expect(r.status == 3)
        r = try await cli.run("events", "cleanup", "--older-than", "soon")
        #expect(r.status == 2 && r.stderr.contains("invalid duration"))
        r = try await cli.run("events", "list", "--status", "done")
        #expect(r.status == 2 && r.stderr.contains("pending, processing, completed, failed"))
    }
}

@Suite struct StateCLITests {
    @Test func setGetListDelete() async throws {
        let cli = CLI()
        #expect(try await cli.run("state", "set", "cooldown", "300").status == 0)
        #expect(try await cli.run("state", "set", "cfg", #"{"a":[1,2]}"#, "--stack", "production", "--ttl", "1h").status == 0)
        #expect(try await cli.run("state", "set", "note", "plain words").status == 0)
        #expect(try await cli.run("state", "get", "cooldown").stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "300")
        #expect(try await cli.run("state", "get", "note").stdout.contains("\"plain words\""))
        let list = try await cli.run("state", "list", "-o", "json")
        guard case .array(let entries)? = list.json else { Issue.record("not JSON: \(list)"); return }
        #expect(entries.count == 3)
        #expect(try await cli.run("state", "list", "--stack", "production").stdout.contains("cfg"))
        var r = try await cli.run("state", "get", "cfg")
        #expect(r.status == 3, "cfg lives in the production stack only")
        #expect(try await cli.run("state", "delete", "cooldown").status == 0)
        r = try await cli.run("state", "delete", "cooldown")
        #expect(r.status == 3 && r.stderr.contains("no state 'cooldown'"))
    }
}

@Suite struct SecretCLITests {
    static let value = "s3cr3t-Value-42"

    @Test func secretsNeverLeak() async throws {
        let cli = CLI()
        var r = try await cli.run("secret", "set", "slack_webhook_url", "--value", Self.value)
        #expect(r.status == 0, "\(r)")
        r = try await cli.run("secret", "set", "from_file", "--from-file", cli.file("v.txt", "file-value-9\n"))
        #expect(r.status == 0)
        r = try await cli.run("secret", "list")
        #expect(r.stdout.contains("slack_webhook_url") && r.stdout.contains("from_file") && !r.stdout.contains(Self.value))
        #expect(try await cli.run("hook", "add", cli.file("leak.lua", """
            return { name = "leaky", event_type = "custom.leak", max_attempts = 1, execute = function()
                local s = require("secret").get("slack_webhook_url")
                print("url=" .. s)
                require("log").info("using", { url = s })
                error("could not post to " .. s)
            end }
            """)).status == 0)
        r = try await cli.run("events", "dispatch", "custom.leak", "--wait")
        #expect(r.status == 1)
        #expect(!r.stdout.contains(Self.value) && r.stdout.contains("could not post to ***"), "\(r.stdout)")
        let id = try #require(r.stdout.split(separator: "\n").first?.replacingOccurrences(of: "Event: ", with: ""))
        for args in [["events", "show", id], ["events", "show", id, "-o", "json"], ["hook", "history", "leaky", "-o", "json"], ["events", "list", "-o", "json"]] {
            let out = try await cli.run(args)
            #expect(!out.stdout.contains(Self.value), "\(args) shows the secret")
        }
        let json = try await cli.run("hook", "history", "leaky", "-o", "json").stdout
        #expect(json.contains("url=***") && json.contains(#"{\"url\":\"***\"}"#), "\(json)")
        // Encrypted at rest: the value is in no file of the home directory.
        for name in try FileManager.default.contentsOfDirectory(atPath: cli.home) {
            let data = FileManager.default.contents(atPath: cli.home + "/" + name) ?? Data()
            #expect(data.range(of: Data(Self.value.utf8)) == nil, "\(name) holds the plaintext")
        }
        #expect(try await cli.run("secret", "delete", "slack_webhook_url").status == 0)
        r = try await cli.run("secret", "delete", "slack_webhook_url")
        #expect(r.status == 3)
        r = try await cli.run("secret", "set", "bad name!", "--value", "x")
        #expect(r.status == 2)
    }
}
