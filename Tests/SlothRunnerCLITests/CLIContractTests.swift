import CSQLite
import Foundation
import Testing
import SlothRunner

/// The command line's promises to people and scripts: what a terminal gets and a pipe gets,
/// cut lists, JSON shapes, and the upkeep commands.
@Suite struct CLIContractTests {
    static let okHook = #"return { name = "ok", event_type = "x.ok", execute = function() return true, "fine" end }"#

    /// Runs a command on a pseudo-terminal (`script`), as an operator's shell would.
    func onTerminal(_ cli: CLI, _ args: [String], environment: [String: String] = [:]) async throws -> CLI.Result {
        let command = ([cli.binary] + args).map { "'\($0)'" }.joined(separator: " ")
        return try await cli.run([], environment: environment, launcher: ["/usr/bin/script", "-qec", command, "/dev/null"])
    }

    @Test func emojiOnlyOnATerminalAndNotWithNoColor() async throws {
        let cli = CLI()
        #expect(try await cli.run("hook", "add", cli.file("ok.lua", Self.okHook)).status == 0)
        #expect(try await cli.run("events", "dispatch", "x.ok", "--wait").status == 0)
        let piped = try await cli.run("hook", "history", "ok")
        #expect(piped.stdout.contains("success") && !piped.stdout.contains("✅"), "\(piped)")
        let tty = try await onTerminal(cli, ["hook", "history", "ok"])
        #expect(tty.stdout.contains("✅ Success"), "\(tty)")
        let plain = try await onTerminal(cli, ["hook", "history", "ok"], environment: ["NO_COLOR": "1"])
        #expect(plain.stdout.contains("success") && !plain.stdout.contains("✅"), "\(plain)")
    }

    @Test func cutListsSaySoAndScriptsCanDropHeaders() async throws {
        let cli = CLI()
        let store = try cli.openStore()
        try await store.insertEvents((0..<7).map { _ in Engine.pendingEvent(from: NewEvent(type: "x.many")) })
        await store.close()
        let cut = try await cli.run("events", "list", "--limit", "5")
        #expect(cut.stdout.hasSuffix("showing 5 of 7; use --limit to see more\n"), "\(cut)")
        let whole = try await cli.run("events", "list", "--limit", "7")
        #expect(!whole.stdout.contains("showing"))
        let bare = try await cli.run("events", "list", "--limit", "5", "--no-headers")
        let lines = bare.stdout.split(separator: "\n")
        #expect(lines.count == 5 && lines.allSatisfy { $0.split(separator: "\t").count == 6 && $0.contains("x.many") }, "\(bare)")
        let json = try await cli.run("events", "list", "--limit", "5", "-o", "json")
        #expect(json.json?.arrayValue?.count == 5)
        #expect(json.stderr == "note: showing 5 of 7; use --limit to see more\n", "\(json)")
        // Before the subcommand too.
        #expect(try await cli.run("--no-headers", "events", "list").stdout.split(separator: "\n").count == 7)
    }

    @Test func jsonTimestampsAreRFC3339WithMillisecondTwins() async throws {
        let cli = CLI()
        #expect(try await cli.run("hook", "add", cli.file("ok.lua", Self.okHook)).status == 0)
        let sent = try await cli.run("events", "dispatch", "x.ok", "--wait", "-o", "json")
        let event = try #require(sent.json, "\(sent)")
        let stamp = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/
        for key in ["timestamp", "created_at", "processed_at"] {
            let text = try #require(event[key]?.stringValue, "\(key) in \(event)")
            #expect(text.wholeMatch(of: stamp) != nil, "\(key): \(text)")
            guard case .int(let ms)? = event[key + "_ms"] else { Issue.record("no \(key)_ms"); continue }
            #expect(RFC3339.string(millis: ms) == text)
        }
        let run = try #require(event["executions"]?.arrayValue?.first)
        #expect(run["executed_at"]?.stringValue?.wholeMatch(of: stamp) != nil)
        let hook = try #require(try await cli.run("hook", "get", "ok", "-o", "json").json)
        #expect(hook["last_run"]?.stringValue?.wholeMatch(of: stamp) != nil && hook["created_at_ms"] != nil)
        let types = try #require(try await cli.run("events", "types", "-o", "json").json?.arrayValue)
        let failed = try #require(types.first { $0["type"]?.stringValue == "task.failed" })
        let fields = try #require(failed["fields"]?.arrayValue, "\(failed)")
        #expect(fields.count > 1 && fields.allSatisfy { $0.stringValue?.hasPrefix("task.") == true }, "\(failed)")
        #expect(RFC3339.string(millis: 0) == "1970-01-01T00:00:00.000Z")
        #expect(RFC3339.string(millis: 951_782_400_123) == "2000-02-29T00:00:00.123Z")
        #expect(RFC3339.string(millis: -1) == "1969-12-31T23:59:59.999Z")
    }

    @Test func hookSourceInAndOut() async throws {
        let cli = CLI()
        let source = Self.okHook.replacingOccurrences(of: "\"ok\"", with: "\"piped\"") + "\n"
        let added = try await cli.run(["hook", "add", "-"], stdin: cli.file("in.lua", source))
        #expect(added.status == 0 && added.stdout.contains("Hook 'piped' registered"), "\(added)")
        let shown = try await cli.run("hook", "get", "piped", "--source")
        #expect(shown.stdout == source)
        let empty = try await cli.run(["hook", "add", "-"], stdin: cli.file("empty.lua", ""))
        #expect(empty.status == 6, "\(empty)")
    }

    @Test func cleanupDryRunDeletesNothing() async throws {
        let cli = CLI()
        #expect(try await cli.run("hook", "add", cli.file("ok.lua", Self.okHook)).status == 0)
        for _ in 0..<3 { #expect(try await cli.run("events", "dispatch", "x.ok", "--wait").status == 0) }
        let dry = try await cli.run("events", "cleanup", "--older-than", "0s", "--dry-run", "-o", "json")
        #expect(dry.json?["would_delete"] == .int(3), "\(dry)")
        #expect(try await cli.run("events", "list", "-o", "json").json?.arrayValue?.count == 3)
        let real = try await cli.run("events", "cleanup", "--older-than", "0s", "-o", "json")
        #expect(real.json?["deleted"] == .int(3))
    }

    @Test func backupWhileServingHoldsEveryCommittedEvent() async throws {
        let cli = CLI()
        #expect(try await cli.run("hook", "add", cli.file("ok.lua", Self.okHook)).status == 0)
        let daemon = try await cli.startServe(["--poll", "5ms"])
        let store = try cli.openStore()
        let before = (0..<2000).map { i in Engine.pendingEvent(from: NewEvent(type: "x.ok", data: .object(["i": .int(Int64(i))]))) }
        try await store.insertEvents(before)
        // Events keep arriving while the backup runs.
        let writer = Task {
            for i in 0..<50 { try await store.insertEvents([Engine.pendingEvent(from: NewEvent(type: "x.ok", data: .object(["late": .int(Int64(i))])))]) }
        }
        let copy = cli.home + "/backup.db"
        let r = try await cli.run("db", "backup", copy, "-o", "json")
        try await writer.value
        #expect(r.status == 0, "\(r)")
        let events = try #require(r.json?["events"].flatMap { if case .int(let n) = $0 { return Int(n) } else { return nil } })
        #expect(events >= 2000 && events <= 2050)
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit() == 0)
        await store.close()
        // The copy is a database of its own, with every event committed before it began.
        let check = try await cli.run("--db", copy, "db", "check", "-o", "json")
        #expect(check.status == 0 && check.json?["healthy"] == .bool(true), "\(check)")
        let copied = try SQLiteEventStore(path: copy)
        for e in before.prefix(50) { #expect(try await copied.resolveEvent(e.id).id == e.id) }
        #expect(try await copied.countEvents(status: nil) == events)
        await copied.close()
        let again = try await cli.run("db", "backup", copy)
        #expect(again.status == 5 && again.stderr.contains("already exists"), "\(again)")
    }

    @Test func pruningGivesSpaceBackAndCheckReportsTheFile() async throws {
        let cli = CLI()
        let store = try cli.openStore()
        let big = JSONValue.object(["blob": .string(String(repeating: "x", count: 4000))])
        for _ in 0..<10 {
            try await store.insertEvents((0..<200).map { _ in
                var e = Engine.pendingEvent(from: NewEvent(type: "x.big", data: big), now: 1000)
                e.status = .completed
                return e
            })
        }
        await store.close()
        let full = SQLiteFileSize.of(cli.databasePath)
        let deleted = try await cli.run("events", "cleanup", "--older-than", "1h", "-o", "json")
        #expect(deleted.json?["deleted"] == .int(2000), "\(deleted)")
        let after = SQLiteFileSize.of(cli.databasePath)
        #expect(after < full / 4, "the file stayed at \(after) bytes (was \(full))")
        let check = try await cli.run("db", "check", "-o", "json")
        #expect(check.json?["auto_vacuum"]?.stringValue == "incremental" && check.json?["healthy"] == .bool(true), "\(check)")
        #expect(check.json?["schema_version"] == check.json?["known_schema_version"])
        let vacuum = try await cli.run("db", "vacuum", "-o", "json")
        #expect(vacuum.status == 0 && vacuum.json?["incremental_auto_vacuum"] == .bool(true), "\(vacuum)")
    }
}

enum SQLiteFileSize {
    /// The database file and its WAL, in bytes, after a checkpoint.
    static func of(_ path: String) -> Int64 {
        var db: OpaquePointer?
        sqlite3_open(path, &db)
        sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", nil, nil, nil)
        sqlite3_close(db)
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)??.int64Value ?? 0
        return size
    }
}

@Suite struct EmbedExampleTests {
    /// The embedding example (Examples/Embed) builds with the package and does what it says.
    @Test func theEmbedExampleRuns() async throws {
        let cli = CLI()
        let example = URL(fileURLWithPath: cli.binary).deletingLastPathComponent().appendingPathComponent("sloth-runner-embed-example").path
        let r = try await cli.run([cli.databasePath], launcher: [example])
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains(" completed\n") && r.stdout.contains("greet: ok — hello, embedder"), "\(r)")
    }
}
