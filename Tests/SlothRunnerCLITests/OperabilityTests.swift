import Foundation
import Testing
import SlothRunner

/// Logging, configuration and the command-line contract, through the built binary.
@Suite struct OperabilityTests {
    /// One object per line, as `--log-format json` promises.
    static func records(_ log: String) throws -> [JSONValue] {
        try log.split(separator: "\n").map { try JSONValue.parse(String($0)) }
    }

    @Test func debugLogFollowsAnEventThatFailsAndIsDeadLettered() async throws {
        let cli = CLI()
        #expect(try await cli.run("hook", "add", cli.file("f.lua", """
            return { name = "flaky", event_type = "task.failed", max_attempts = 2, retry_delay = "10ms",
                     execute = function(event)
                       require("slog").warn("giving up on " .. event.data.task, { step = "deploy" })
                       return false, "boom"
                     end }
            """)).status == 0)
        // Before the subcommand, as the specification writes it.
        let daemon = try await cli.startServeRaw(["--log-level", "debug", "serve", "--log-format", "json", "--poll", "5ms"])
        let sent = try await cli.run("events", "dispatch", "task.failed", "--data", #"{"task":"api"}"#, "-o", "json")
        let id = try #require(sent.json?["id"]?.stringValue, "\(sent)")
        try await eventually(timeout: 30, "no dead letter logged:\n\(daemon.log)") { daemon.log.contains("dead-lettered") && daemon.log.contains("\(id) failed") }
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit() == 0)
        let records = try Self.records(daemon.log)
        for r in records {
            let stamp = try #require(r["timestamp"]?.stringValue)
            #expect(stamp.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/) != nil, "not RFC 3339 with milliseconds: \(stamp)")
            #expect(r["level"]?.stringValue != nil && r["message"]?.stringValue != nil)
        }
        func about(_ level: String, _ message: String) -> [JSONValue] {
            records.filter { $0["level"]?.stringValue == level && ($0["message"]?.stringValue ?? "").contains(message) }
        }
        #expect(about("info", "serving").count == 1)
        let retries = about("warning", "hook flaky failed; it runs again at")
        #expect(retries.count == 1, "\(daemon.log)")
        #expect(retries.first?["metadata"]?["event_id"]?.stringValue == id)
        #expect(retries.first?["metadata"]?["attempt"] == .int(1))
        #expect(retries.first?["metadata"]?["next_attempt_at"]?.stringValue?.hasSuffix("Z") == true)
        let dead = about("error", "dead-lettered")
        #expect(dead.count == 1)
        #expect(dead.first?["metadata"]?["hook"]?.stringValue == "flaky")
        #expect(dead.first?["metadata"]?["attempt"] == .int(2))
        #expect(dead.first?["metadata"]?["error"]?.stringValue == "boom")
        let outcomes = records.filter { $0["level"]?.stringValue == "debug" && $0["metadata"]?["event_id"]?.stringValue == id && $0["metadata"]?["status"] != nil }
        #expect(outcomes.map { $0["metadata"]?["status"]?.stringValue } == ["pending", "failed"])
        #expect(outcomes.last?["metadata"]?["hooks"] == .array([.string("flaky")]))
        // The hook's own line, at its level, with the hook and the event (and still in its record).
        let hookLines = about("warning", "giving up on api")
        #expect(hookLines.count == 2)
        #expect(hookLines.first?["metadata"]?["hook"]?.stringValue == "flaky")
        #expect(hookLines.first?["metadata"]?["event_id"]?.stringValue == id)
        #expect(hookLines.first?["metadata"]?["step"]?.stringValue == "deploy")
        let shown = try await cli.run("events", "show", id)
        #expect(shown.stdout.contains("[WARN] giving up on api"))
        #expect(about("info", "drained").count == 1)
    }

    @Test func logLevelWorksInAnyPositionAndUnknownLevelsAreErrors() async throws {
        let cli = CLI()
        for args in [["--log-level", "debug", "events", "list"], ["events", "--log-level=debug", "list"], ["events", "list", "--log-level", "warn"]] {
            let r = try await cli.run(args)
            #expect(r.status == 0, "\(args): \(r)")
        }
        let bad = try await cli.run("--log-level", "loud", "events", "list")
        #expect(bad.status == 2 && bad.stderr.contains("--log-level must be one of trace, debug, info"), "\(bad)")
        let badEnv = try await cli.run(["events", "list"], environment: ["SLOTH_RUNNER_LOG_LEVEL": "verbose"])
        #expect(badEnv.status == 2 && badEnv.stderr.contains("SLOTH_RUNNER_LOG_LEVEL (log.level) must be one of"), "\(badEnv)")
        let typo = try await cli.run("--log-level", "debg", "events", "list")
        #expect(typo.stderr.contains("did you mean 'debug'?"), "\(typo)")
        let missing = try await cli.run("events", "list", "--log-level")
        #expect(missing.status == 2 && missing.stderr.contains("--log-level needs a value"), "\(missing)")
    }

    @Test func configPrecedenceIsFlagThenEnvironmentThenFileThenDefault() async throws {
        let cli = CLI()
        _ = cli.file("config.yaml", """
            # the default place: $SLOTH_RUNNER_HOME/config.yaml
            serve:
              workers: 12
              queue_size: 345
              lease: 45s
              hook_env: [PATH, HOME]
            log:
              level: warn
            """)
        let shown = try await cli.run(["config", "show", "-o", "json", "--log-level", "error"], environment: ["SLOTH_RUNNER_QUEUE_SIZE": "678"])
        let settings = try #require(shown.json?["settings"]?.arrayValue, "\(shown)")
        func entry(_ key: String) -> JSONValue? { settings.first { $0["key"]?.stringValue == key } }
        #expect(entry("serve.workers")?["value"] == .int(12))
        #expect(entry("serve.workers")?["source"]?.stringValue == cli.home + "/config.yaml:3")
        #expect(entry("serve.queue_size")?["value"] == .int(678))
        #expect(entry("serve.queue_size")?["source"]?.stringValue == "env SLOTH_RUNNER_QUEUE_SIZE")
        #expect(entry("log.level")?["value"]?.stringValue == "error")
        #expect(entry("log.level")?["source"]?.stringValue == "flag --log-level")
        #expect(entry("serve.hook_env")?["value"] == .array([.string("PATH"), .string("HOME")]))
        #expect(entry("serve.grace")?["source"]?.stringValue == "default")
        #expect(shown.json?["config_file"]?.stringValue == cli.home + "/config.yaml")
        // serve takes them: the flag over the variable over the file.
        let daemon = try await cli.startServe(["--workers", "7", "--log-level", "info"], environment: ["SLOTH_RUNNER_QUEUE_SIZE": "678"])
        #expect(daemon.log.contains("(workers 7, queue 678)"), "\(daemon.log)")
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit() == 0)
        // An explicit file replaces the default one, and must exist.
        let other = cli.file("other.yaml", "serve:\n  workers: 3\n")
        let explicit = try await cli.run("--config", other, "config", "show", "-o", "json")
        #expect(explicit.json?["settings"]?.arrayValue?.first { $0["key"]?.stringValue == "serve.workers" }?["value"] == .int(3))
        let absent = try await cli.run("--config", cli.home + "/nope.yaml", "config", "show")
        #expect(absent.status == 3 && absent.stderr.contains("the config file \(cli.home)/nope.yaml does not exist"), "\(absent)")
    }

    @Test func configErrorsNameTheKeyAndLine() async throws {
        let cli = CLI()
        let cases: [(String, String)] = [
            ("serve:\n  workers: 10\n  wokers: 3\n", "bad.yaml:3: unknown setting 'serve.wokers'; did you mean 'serve.workers'?"),
            ("srve:\n  workers: 3\n", "bad.yaml:1: unknown setting 'srve'; did you mean 'serve'?"),
            ("serve:\n  workers: lots\n", "bad.yaml:2: serve.workers must be an integer from 1 to 100000, not 'lots'"),
            ("serve:\n  lease: forever\n", "bad.yaml:2: serve.lease: invalid duration 'forever'"),
            ("serve:\n  sync: sometimes\n", "serve.sync must be one of normal, full, not 'sometimes'"),
            ("serve:\n  workers: 1\n  workers: 2\n", "duplicated key(s): 'workers'"),
            ("serve: 5\n", "bad.yaml:1: 'serve' must be a mapping of its settings"),
            ("- a\n- b\n", "the config file must be a mapping of settings"),
            ("serve:\n  workers: [1, 2]\n", "serve.workers takes a single value, not a list"),
            ("serve: {workers: 3\n", "not valid YAML"),
        ]
        for (text, message) in cases {
            let path = cli.file("bad.yaml", text)
            for args in [["--config", path, "config", "show"], ["--config", path, "events", "list"]] {
                let r = try await cli.run(args)
                #expect(r.status == 2 && r.stderr.contains(message), "\(text): \(r)")
            }
        }
        let env = try await cli.run(["config", "show"], environment: ["SLOTH_RUNNER_WORKERS": "0"])
        #expect(env.status == 2 && env.stderr.contains("SLOTH_RUNNER_WORKERS (serve.workers) must be an integer from 1"), "\(env)")
        #expect(try await cli.run("config", "show").status == 0)
    }

    @Test func versionAndUsageErrors() async throws {
        let cli = CLI()
        let version = try await cli.run("--version")
        #expect(version.status == 0)
        #expect(version.stdout.wholeMatch(of: /sloth-runner \d+\.\d+\.\d+ \(commit [0-9a-f]{12}(-modified)?\)\n/) != nil, "\(version)")
        let unknown = try await cli.run("events", "list", "--colour")
        #expect(unknown.status == 2 && unknown.stderr.hasPrefix("error: Unknown option '--colour'"), "\(unknown)")
        let missing = try await cli.run("hook", "get")
        #expect(missing.status == 2, "\(missing)")
        let asJSON = try await cli.run("events", "list", "--colour", "-o", "json")
        #expect(asJSON.status == 2)
        let error = try #require(try? JSONValue.parse(asJSON.stderr), "\(asJSON)")
        #expect(error["error"]?["code"]?.stringValue == "usage")
        #expect(error["error"]?["message"]?.stringValue?.contains("Unknown option '--colour'") == true)
        let notFound = try await cli.run("-o", "json", "hook", "get", "nobody")
        #expect(notFound.status == 3)
        #expect((try? JSONValue.parse(notFound.stderr))?["error"]?["code"]?.stringValue == "not_found", "\(notFound)")
    }
}

extension CLI {
    /// Starts the binary with `args` as given (`serve` somewhere among them) and waits until it
    /// serves.
    func startServeRaw(_ args: [String]) async throws -> Daemon {
        let daemon = try startBackground(args)
        try await eventually(timeout: 30, "serve did not start:\n\(daemon.log)") { daemon.log.contains("serving") || !daemon.process.isRunning }
        guard daemon.process.isRunning else { throw SlothError.runtime("serve exited at start:\n\(daemon.log)") }
        return daemon
    }
}

@Suite struct ExampleConfigTests {
    /// The documented example is a valid file, and what it shows are the defaults.
    @Test func exampleConfigIsValidAndShowsTheDefaults() async throws {
        let cli = CLI()
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let example = root.appendingPathComponent("examples/config.yaml").path
        let withFile = try await cli.run("--config", example, "config", "show", "-o", "json")
        let without = try await cli.run("config", "show", "-o", "json")
        #expect(withFile.status == 0, "\(withFile)")
        let a = try #require(withFile.json?["settings"]?.arrayValue), b = try #require(without.json?["settings"]?.arrayValue)
        #expect(a.map { $0["value"] } == b.map { $0["value"] })
        #expect(a.contains { $0["source"]?.stringValue?.hasPrefix(example) == true })
    }
}
