import CSQLite
import Foundation
import Testing
import SlothRunner

/// Input that used to crash the binary, or be accepted and lost: each is refused with a clear
/// message and exit 2 (or handled as a user would expect), and nothing is stored.
@Suite struct HardeningBadInputTests {
    func expectRefused(_ cli: CLI, _ args: [String], saying: String, status: Int32 = 2, stdin: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let r = try await cli.run(args, stdin: stdin)
        #expect(r.status == status && r.stderr.contains(saying), "\(args): \(r)", sourceLocation: sourceLocation)
        #expect(!r.stderr.contains("Fatal error") && !r.stderr.contains("crashed"), "\(args) crashed: \(r)", sourceLocation: sourceLocation)
    }

    func expectNothingStored(_ cli: CLI) async throws {
        let store = try cli.openStore()
        defer { store.closeNow() }
        #expect(try await store.countEvents(status: nil) == 0)
        #expect(try await store.listHooks(HookFilter()).isEmpty)
        #expect(try await store.stateEntries(stack: nil, prefix: "", now: nowMillis()).isEmpty)
    }

    @Test func durationsThatOverflowTheClockAreRefused() async throws {
        let cli = CLI()
        let cases: [([String], String)] = [
            (["events", "list", "--since", "inf"], "--since: duration 'inf' is too long"),
            (["events", "list", "--since", "1e300"], "--since: duration '1e300' is too long"),
            (["events", "list", "--since", "99999999999999999999h"], "--since: duration '99999999999999999999h' is too long"),
            (["events", "list", "--since", "nan"], "--since: duration 'nan' is not a number"),
            (["events", "cleanup", "--older-than", "99999999999999d"], "--older-than: duration '99999999999999d' is too long"),
            (["state", "set", "k", "v", "--ttl", "inf"], "--ttl: duration 'inf' is too long"),
            (["state", "set", "k", "v", "--ttl", "0"], "--ttl must be at least 1ms"),
            (["serve", "--lease", "inf"], "--lease: duration 'inf' is too long"),
            (["serve", "--lease", "0.2s"], "--lease must be at least 1s"),
            (["serve", "--poll", "1e300"], "--poll: duration '1e300' is too long"),
            (["serve", "--retain-completed", "99999999999999999d"], "--retain-completed: duration '99999999999999999d' is too long"),
            (["serve", "--grace=-1s"], "--grace: duration '-1s' is negative"),
            (["events", "dispatch", "x.y", "--wait", "--timeout", "inf"], "--timeout: duration 'inf' is too long"),
        ]
        for (args, message) in cases { try await expectRefused(cli, args, saying: message) }
        let hook = cli.file("h.lua", "return { name = 'h', event_type = 'x.y', execute = function() end }")
        try await expectRefused(cli, ["hook", "add", hook, "--retry-delay", "inf"], saying: "--retry-delay: duration 'inf' is too long")
        try await expectRefused(cli, ["hook", "add", hook, "--timeout", "0"], saying: "--timeout must be at least 1ms")
        try await expectRefused(cli, ["hook", "add", hook, "--timeout", "48h"], saying: "--timeout must be at most 24h")
        for (field, value, message) in [
            ("timeout", "\"-5s\"", "field 'timeout': duration '-5s' is negative"),
            ("timeout", "1e300", "field 'timeout' must be at most 24h"),
            ("retry_delay", "math.huge", "field 'retry_delay'"),
            ("timeout", "0", "field 'timeout' must be at least 1ms"),
            ("retry_delay", "0/0", "field 'retry_delay'"),
        ] {
            let file = cli.file("\(field).lua", "return { name = 'x', event_type = 'x.y', \(field) = \(value), execute = function() end }")
            try await expectRefused(cli, ["hook", "add", file], saying: message, status: 6)
        }
        try await expectNothingStored(cli)
    }

    @Test func settingsOfServeAreCheckedBeforeAnythingStarts() async throws {
        let cli = CLI()
        for (args, message) in [
            (["--lua-threads", "0"], "--lua-threads must be an integer from 1 to 256, not '0'"),
            (["--lua-threads=-1"], "not '-1'"),
            (["--lua-threads", "5000"], "not '5000'"),
            (["--max-chain-depth=-1"], "--max-chain-depth must be an integer from 0 to 100"),
            (["--max-data-bytes=-1"], "--max-data-bytes must be an integer from 1"),
            (["--max-dispatches-per-run=-5"], "--max-dispatches-per-run must be an integer from 0"),
            (["--workers", "0"], "--workers must be an integer from 1"),
            (["--workers", "many"], "--workers must be an integer from 1 to 100000, not 'many'"),
            (["--sync", "sometimes"], "--sync must be one of normal, full, not 'sometimes'"),
            (["--node-id", "a/b"], "--node-id must be a non-empty name without '/'"),
        ] {
            try await expectRefused(cli, ["serve"] + args, saying: message)
        }
        try await expectRefused(cli, ["events", "dispatch", "x.y", "--max-data-bytes=-1"], saying: "--max-data-bytes must be from 1")
    }

    @Test func databasePathsThatWouldLoseDataAreRefused() async throws {
        let cli = CLI()
        try await expectRefused(cli, ["events", "list", "--db", ""], saying: "the database path is empty")
        try await expectRefused(cli, ["events", "dispatch", "x.y", "--db", ":memory:"], saying: "in-memory database (:memory:) would lose every event")
        let missingDir = cli.home + "/no/such/dir"
        try await expectRefused(cli, ["events", "dispatch", "x.y", "--db", missingDir + "/x.db"], saying: "the directory \(missingDir) does not exist")
        #expect(!FileManager.default.fileExists(atPath: cli.home + "/no"), "the directory was created")
        try await expectRefused(cli, ["events", "list", "--db", cli.home], saying: "is a directory")
        // Another application's database: refused, and left as it was.
        let foreign = cli.home + "/app.db"
        var db: OpaquePointer?
        sqlite3_open(foreign, &db)
        sqlite3_exec(db, "CREATE TABLE users (id INTEGER); CREATE TABLE events (x)", nil, nil, nil)
        sqlite3_close(db)
        let before = try Data(contentsOf: URL(fileURLWithPath: foreign))
        try await expectRefused(cli, ["events", "list", "--db", foreign], saying: "is not a sloth-runner database (it holds tables events, users)")
        try await expectRefused(cli, ["hook", "add", "--db", foreign, cli.file("h.lua", "return { name = 'h', event_type = 'x.y', execute = function() end }")], saying: "not a sloth-runner database")
        #expect(try Data(contentsOf: URL(fileURLWithPath: foreign)) == before, "the other application's database was changed")
        let text = cli.file("notes.db", "these are my notes\n")
        try await expectRefused(cli, ["events", "list", "--db", text], saying: "is not a SQLite database")
        // A database from a newer release.
        let newer = cli.home + "/newer.db"
        #expect(try await cli.run("events", "list", "--db", newer).status == 0)
        sqlite3_open(newer, &db)
        sqlite3_exec(db, "PRAGMA user_version = 99", nil, nil, nil)
        sqlite3_close(db)
        try await expectRefused(cli, ["events", "list", "--db", newer], saying: "was written by a newer sloth-runner (schema 99")
    }

    @Test func inputIsBoundedAndStoredExactlyOrRefused() async throws {
        let cli = CLI()
        // stdin without end would be read whole: `yes '{' | sloth-runner events dispatch ...`.
        let endless = cli.file("endless.txt", String(repeating: "{", count: 6 << 20))
        try await expectRefused(cli, ["events", "dispatch", "x.y", "--data-file", "-"], saying: "the data file on stdin is larger than", stdin: endless)
        let huge = cli.file("huge.lua", "return { name = 'h', event_type = 'x.y', execute = function() end }\n--" + String(repeating: "x", count: 2 << 20))
        try await expectRefused(cli, ["hook", "add", huge], saying: "a hook source is at most 1048576 bytes")
        let bigSecret = cli.file("secret.txt", String(repeating: "s", count: 70_000))
        try await expectRefused(cli, ["secret", "set", "big"], saying: "the secret value on stdin is larger than", stdin: bigSecret)
        try await expectRefused(cli, ["events", "dispatch", "x.y", "--data", #"{"a": 1e999}"#], saying: "number 1e999 is out of range")
        try await expectRefused(cli, ["events", "dispatch", "x.y", "--data", #"{"a": [-1e999]}"#], saying: "out of range")
        let badUTF8 = cli.home + "/bad.json"
        FileManager.default.createFile(atPath: badUTF8, contents: Data([0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xC3, 0x28, 0x22, 0x7D]))
        try await expectRefused(cli, ["events", "dispatch", "x.y", "--data-file", badUTF8], saying: "string is not valid UTF-8")
        try await expectNothingStored(cli)
    }

    @Test func anArgumentOfInvalidUTF8IsRefused() async throws {
        // Foundation cannot pass invalid UTF-8 through Process; /bin/sh can.
        let cli = CLI()
        let r = try await cli.run([cli.binary], launcher: ["/bin/sh", "-c", "exec \"$0\" events dispatch x.y --data \"$(printf '{\"a\":\"\\377\"}')\""])
        #expect(r.status == 2 && r.stderr.contains("is not valid UTF-8"), "\(r)")
        try await expectNothingStored(cli)
    }

    @Test func messagesAreDecodedAndEscaped() async throws {
        let cli = CLI()
        var r = try await cli.run("events", "dispatch", "ðeploy.done")
        #expect(r.status == 2 && r.stderr.contains("(found 'ð')"), "\(r)")
        r = try await cli.run("hook", "get", "\u{1B}[2J\u{1B}]0;pwned\u{07}")
        #expect(r.status == 3 && r.stderr.contains("\\e[2J") && !r.stderr.contains("\u{1B}"), "\(r)")
        r = try await cli.run("events", "dispatch", "x.y", "--data", "{\"a\u{1B}\": 1")
        #expect(r.status == 2 && !r.stderr.contains("\u{1B}"), "\(r)")
    }

    @Test func hookOutputWithTerminalEscapesIsShownEscapedOnATerminal() async throws {
        let cli = CLI()
        #expect(try await cli.run("hook", "add", cli.file("loud.lua", #"""
            return { name = "loud", event_type = "x.loud", max_attempts = 1, execute = function()
              print("\27[2J\27]0;pwned\7 cleared")
              error("bad \27[31mred\27[0m")
            end }
            """#)).status == 0)
        let r = try await cli.run("events", "dispatch", "x.loud", "--wait")
        #expect(r.status == 1)
        let id = try #require(r.stdout.split(separator: "\n").first?.replacingOccurrences(of: "Event: ", with: ""))
        // `script` runs the command on a pseudo-terminal, as an operator's shell would.
        for args in [["events", "show", id], ["hook", "history", "loud"]] {
            let command = ([cli.binary] + args).map { "'\($0)'" }.joined(separator: " ")
            let tty = try await cli.run([], launcher: ["/usr/bin/script", "-qec", command, "/dev/null"])
            #expect(tty.status == 0 && !tty.stdout.contains("\u{1B}[2J") && !tty.stdout.contains("\u{1B}]0;"), "\(args): \(tty.stdout.debugDescription)")
            #expect(tty.stdout.contains("\\e[2J") || tty.stdout.contains("\\e[31m"), "\(args): \(tty.stdout)")
        }
        // In a pipe (for scripts) the output is kept as it was, and JSON escapes it anyway.
        #expect(try await cli.run("events", "show", id).stdout.contains("\u{1B}[2J"))
        #expect(!(try await cli.run("events", "show", id, "-o", "json").stdout.contains("\u{1B}")))
    }

    @Test func grantingAProgramThatRunsOthersIsWarnedAbout() async throws {
        let cli = CLI()
        for (runner, shown) in [("env", "env"), ("sh", "sh"), ("/usr/bin/xargs", "xargs"), ("python3", "python3"), ("sudo", "sudo")] {
            let file = cli.file("\(shown).lua", "return { name = 'h_\(shown)', event_type = 'x.y', permissions = { exec = { 'echo', '\(runner)' } }, execute = function() end }")
            let r = try await cli.run("hook", "add", file)
            #expect(r.status == 0 && r.stderr.contains("permissions.exec lists '\(runner)', which runs other programs") && r.stderr.contains("can run anything"), "\(runner): \(r)")
            #expect(!r.stderr.contains("lists 'echo'"), "\(r)")
        }
    }

    @Test func aReadOnlyDatabaseSaysSo() async throws {
        let cli = CLI()
        #expect(try await cli.run("events", "list").status == 0)
        // Root can write anywhere: run as nobody, who can read the database but not write it.
        chmod(cli.home, 0o755)
        let nobody = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        var r = try await cli.run([cli.binary, "events", "list", "--db", cli.databasePath], launcher: nobody)
        #expect(r.status == 2 && r.stderr.contains("is read-only"), "\(r)")
        r = try await cli.run([cli.binary, "serve", "--db", cli.databasePath], launcher: nobody)
        #expect(r.status == 2 && r.stderr.contains("cannot create the lock file") && !r.stderr.contains("already serving"), "\(r)")
    }

    @Test func theDaemonLockFollowsTheRealPath() async throws {
        let cli = CLI()
        let first = try await cli.startServe()
        let link = cli.home + "/link.db"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: cli.databasePath)
        for path in [link, cli.home + "/./sloth.db", cli.home + "/../" + (cli.home as NSString).lastPathComponent + "/sloth.db"] {
            let r = try await cli.run("serve", "--db", path)
            #expect(r.status == 5 && r.stderr.contains("already serving"), "\(path): \(r)")
        }
        first.kill(SIGTERM)
        #expect(try await first.waitExit() == 0)
    }

    @Test func deletingTheDatabaseUnderServeStopsIt() async throws {
        let cli = CLI()
        let daemon = try await cli.startServe()
        try FileManager.default.removeItem(atPath: cli.databasePath)
        let status = try await daemon.waitExit(timeout: 20)
        #expect(status == 7, "serve kept running or exited \(status):\n\(daemon.log)")
        #expect(daemon.log.contains("was deleted while in use"), "\(daemon.log)")
    }

    /// A hook that says it started (a file) and then sleeps far longer than any test waits.
    func addSleepingHook(_ cli: CLI) async throws {
        #expect(try await cli.run("hook", "add", cli.file("slow.lua", """
            return { name = "slow", event_type = "x.slow", timeout = "120s", execute = function()
              require("file").write("\(cli.home)/started", "yes")
              sleep(100)
            end }
            """)).status == 0)
    }

    @Test func aSecondSignalStopsServeAtOnce() async throws {
        let cli = CLI()
        try await addSleepingHook(cli)
        let daemon = try await cli.startServe(["--grace", "60s", "--poll", "5ms"])
        #expect(try await cli.run("events", "dispatch", "x.slow").status == 0)
        try await eventually(timeout: 20, "the hook did not start") { FileManager.default.fileExists(atPath: cli.home + "/started") }
        daemon.kill(SIGINT)
        try await eventually(timeout: 10, "no drain:\n\(daemon.log)") { daemon.log.contains("received SIGINT; draining") }
        daemon.kill(SIGINT)
        let status = try await daemon.waitExit(timeout: 10)
        #expect(status == 130, "\(daemon.log)")
        #expect(daemon.log.contains("received SIGINT again; stopping now"))
        let store = try cli.openStore()
        defer { store.closeNow() }
        #expect(try await store.countEvents(status: .pending) == 1, "the running event was handed back")
    }

    @Test func ctrlCStopsDispatchWaitAndASecondOneStopsItAtOnce() async throws {
        let cli = CLI()
        try await addSleepingHook(cli)
        let waiting = try cli.startBackground(["events", "dispatch", "x.slow", "--wait"])
        try await eventually(timeout: 20, "the hook did not start") { FileManager.default.fileExists(atPath: cli.home + "/started") }
        waiting.kill(SIGINT)
        try await eventually(timeout: 10, "no interruption:\n\(waiting.log)") { waiting.log.contains("interrupted: stopping the engine") }
        #expect(waiting.process.isRunning, "the first Ctrl-C lets the engine hand the event back")
        waiting.kill(SIGINT)
        #expect(try await waiting.waitExit(timeout: 10) == 130, "\(waiting.log)")
        let store = try cli.openStore()
        defer { store.closeNow() }
        #expect(try await store.countEvents(status: .pending) == 1, "the event stays stored for serve")
    }
}
