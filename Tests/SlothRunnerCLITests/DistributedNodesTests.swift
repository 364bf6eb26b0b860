import Foundation
import Testing
import SlothRunner
import Glibc

/// The PostgreSQL cluster of the test run (`scripts/test.sh` starts it and sets
/// `SLOTH_RUNNER_TEST_POSTGRES_URL`), a schema of its own per test, and `psql` to look inside.
struct PostgresScratch {
    static var clusterURL: String? {
        let v = ProcessInfo.processInfo.environment["SLOTH_RUNNER_TEST_POSTGRES_URL"]
        return v?.isEmpty == false ? v : nil
    }
    static var available: Bool { clusterURL != nil }

    let baseURL: String
    let schema: String
    var url: String { baseURL + (baseURL.contains("?") ? "&" : "?") + "schema=" + schema }

    init(baseURL: String? = nil) throws {
        guard let base = baseURL ?? Self.clusterURL else { throw SlothError.runtime("SLOTH_RUNNER_TEST_POSTGRES_URL is not set") }
        self.baseURL = base
        schema = "c_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(20)
    }

    /// One value from a query, through psql (the schema on the search path).
    func scalar(_ sql: String) async throws -> String {
        let outFile = NSTemporaryDirectory() + "psql-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: outFile) }
        let status = await runCommand(
            ["/usr/bin/psql", baseURL, "-Atq", "-v", "ON_ERROR_STOP=1", "-c", "SET search_path TO \(schema); \(sql)"], outputFile: outFile)
        guard status == 0 else { throw SlothError.runtime("psql failed (exit \(status)) on: \(sql)") }
        return ((try? String(contentsOfFile: outFile, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func count(_ sql: String) async -> Int { Int((try? await scalar(sql)) ?? "") ?? -1 }

    func drop() async { _ = try? await scalar("DROP SCHEMA \(schema) CASCADE") }
}

/// Runs a command to its end, its output into `outputFile`, and returns its exit status:
/// posix_spawn, then waitpid on a thread of its own (Foundation's Process missed the exit of a
/// script whose child started a daemon, and left the test waiting).
func runCommand(_ argv: [String], outputFile: String) async -> Int32 {
    await withCheckedContinuation { (c: CheckedContinuation<Int32, Never>) in
        Thread.detachNewThread {
            var actions: posix_spawn_file_actions_t = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 1, outputFile, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
            var pid: pid_t = 0
            let cArgs = argv.map { strdup($0) } + [nil]
            defer { cArgs.forEach { free($0) } }
            let spawned = posix_spawn(&pid, argv[0], &actions, nil, cArgs, environ)
            posix_spawn_file_actions_destroy(&actions)
            guard spawned == 0 else { c.resume(returning: -1); return }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            c.resume(returning: (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f))
        }
    }
}

/// A PostgreSQL cluster of a test's own (`scripts/postgres.sh` in a fresh directory), for the
/// test that stops and starts the server.
final class PrivateCluster {
    let directory = NSTemporaryDirectory() + "sloth-pg-" + UUID().uuidString.prefix(8)
    private(set) var url = ""
    static let script: String = {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/postgres.sh").path
    }()

    @discardableResult
    func control(_ command: String) async throws -> String {
        // Output through a file: the server started inherits no pipe to hold open.
        let outFile = NSTemporaryDirectory() + "pgctl-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: outFile) }
        let status = await runCommand(["/bin/bash", Self.script, command, directory], outputFile: outFile)
        guard status == 0 else { throw SlothError.runtime("scripts/postgres.sh \(command) \(directory) failed (exit \(status))") }
        return ((try? String(contentsOfFile: outFile, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func start() async throws { url = try await control("start") }
    func stop() async throws { try await control("stop") }
    func destroy() async { _ = try? await control("destroy") }
}

/// Several `serve` nodes on one PostgreSQL database: work shared, crashes survived, hooks run
/// on the nodes their tags name, one-node duties moving when their node dies. Serialized: each
/// test runs three engines, and two such tests at once would starve the two cores.
@Suite(.serialized, .enabled(if: PostgresScratch.available, "needs a PostgreSQL cluster: SLOTH_RUNNER_TEST_POSTGRES_URL (scripts/test.sh starts one)"))
struct DistributedNodesTests {
    static let slowHook = """
        local hook = { name = "slow", event_type = "load.test" }
        function hook.execute(event)
          sleep(0.01)
          return true, "done"
        end
        return hook
        """

    @Test func threeNodesFinishEveryEventOnceThroughTwoKills() async throws {
        let cli = CLI()
        let db = try PostgresScratch()
        defer { Task { await db.drop() } }
        let env = ["SLOTH_RUNNER_DB": db.url]
        let added = try await cli.run(["hook", "add", cli.file("slow.lua", Self.slowHook)], environment: env)
        #expect(added.status == 0, "\(added)")
        func node(_ id: String) async throws -> Daemon {
            try await cli.startServe(["--node-id", id, "--lease", "2s", "--http", "off"], environment: env)
        }
        var nodes = [try await node("n1"), try await node("n2"), try await node("n3")]
        let total = 5000
        // Five processes dispatch 1,000 events each while the nodes work.
        let dispatchers = Task {
            try await withThrowingTaskGroup(of: CLI.Result.self) { group in
                for _ in 0..<5 { group.addTask { try await cli.run(["events", "dispatch", "load.test", "--count", "1000"], environment: env) } }
                var results: [CLI.Result] = []
                for try await r in group { results.append(r) }
                return results
            }
        }
        // Kill a node at a random moment (some work done, much left), restart it; twice.
        for (round, victim) in [1, 2].enumerated() {
            let mark = Int.random(in: (round * 1500 + 300)...(round * 1500 + 1300))
            try await eventually(timeout: 120, "never reached \(mark) completed events") {
                await db.count("SELECT count(*) FROM events WHERE status = 'completed'") >= mark
            }
            nodes[victim].kill(SIGKILL)
            _ = try await nodes[victim].waitExit()
            nodes[victim] = try await node("n\(victim + 1)")
        }
        let results = try await dispatchers.value
        #expect(results.allSatisfy { $0.status == 0 }, "\(results.filter { $0.status != 0 })")
        try await eventually(timeout: 180, "not every event completed") {
            await db.count("SELECT count(*) FROM events WHERE status = 'completed'") == total
        }
        #expect(await db.count("SELECT count(*) FROM events") == total)
        // One successful run per event; a run cut off by a kill may have run again, never succeeded twice.
        #expect(await db.count("SELECT count(*) FROM event_hook_executions WHERE success") == total)
        #expect(await db.count("SELECT count(*) FROM (SELECT event_id FROM event_hook_executions WHERE success GROUP BY event_id HAVING count(*) > 1) t") == 0)
        // All three registered, and came back under their own ids after the kills.
        let owners = try await db.scalar("SELECT count(DISTINCT split_part(owner, '/', 1)) FROM nodes")
        #expect(owners == "3")
        for n in nodes { n.kill(SIGTERM) }
        for n in nodes { _ = try await n.waitExit() }
    }

    @Test func aPostgresRestartLosesNothingAcknowledged() async throws {
        let cluster = PrivateCluster()
        try await cluster.start()
        let cli = CLI()
        let db = try PostgresScratch(baseURL: cluster.url + "&connect_timeout=3")
        let env = ["SLOTH_RUNNER_DB": db.url]
        #expect(try await cli.run(["hook", "add", cli.file("slow.lua", Self.slowHook)], environment: env).status == 0)
        let a = try await cli.startServe(["--node-id", "a", "--lease", "2s"], environment: env)
        let api = try #require(a.apiURL, "serve logs where its API listens:\n\(a.log)")
        let b = try await cli.startServe(["--node-id", "b", "--lease", "2s", "--http", "off"], environment: env)
        #expect(try await cli.run(["events", "dispatch", "load.test", "--count", "300"], environment: env).status == 0)
        try await cluster.stop()
        // While the server is down a dispatch fails, saying why; it never claims success.
        let refused = try await cli.run(["events", "dispatch", "load.test"], environment: env)
        #expect(refused.status == 7, "\(refused)")
        #expect(refused.stderr.contains("PostgreSQL") && refused.stdout.isEmpty, "\(refused)")
        // So does the API: 503, the store named, nothing accepted.
        let posted = try await HTTPAPITests.call(api, .POST, "/api/v1/events", body: #"{"type": "load.test"}"#)
        #expect(posted.status == 503 && posted.text.contains("storage_unavailable") && posted.text.contains("PostgreSQL"), "\(posted.status) \(posted.text)")
        #expect(a.process.isRunning && b.process.isRunning, "the nodes wait for the server, they do not exit")
        try await cluster.start()
        // Back on their own, and new work flows.
        #expect(try await cli.run(["events", "dispatch", "load.test", "--count", "300"], environment: env).status == 0)
        try await eventually(timeout: 120, "not every acknowledged event completed") {
            await db.count("SELECT count(*) FROM events WHERE status = 'completed'") == 600
        }
        #expect(await db.count("SELECT count(*) FROM events") == 600)
        #expect(await db.count("SELECT count(*) FROM (SELECT event_id FROM event_hook_executions WHERE success GROUP BY event_id HAVING count(*) > 1) t") == 0)
        a.kill(SIGTERM)
        b.kill(SIGTERM)
        _ = try await a.waitExit()
        _ = try await b.waitExit()
        await cluster.destroy()
    }

    @Test func aTaggedHookRunsOnlyOnItsNodeAndWaitsForIt() async throws {
        let cli = CLI()
        let db = try PostgresScratch()
        defer { Task { await db.drop() } }
        let env = ["SLOTH_RUNNER_DB": db.url]
        let hook = cli.file("web.lua", """
            local hook = { name = "web_only", event_type = "deploy.started", nodes = {"web"} }
            function hook.execute(event) return true, "ran" end
            return hook
            """)
        #expect(try await cli.run(["hook", "add", hook], environment: env).status == 0)
        let shown = try await cli.run(["hook", "get", "web_only"], environment: env)
        #expect(shown.stdout.contains("tagged web"), "\(shown)")
        let worker = try await cli.startServe(["--node-id", "worker", "--http", "off", "--lease", "2s"], environment: env)
        var web = try await cli.startServe(["--node-id", "web1", "--node-tag", "web", "--node-tag", "eu", "--http", "off", "--lease", "2s"], environment: env)
        #expect(try await cli.run(["events", "dispatch", "deploy.started", "--count", "20"], environment: env).status == 0)
        try await eventually(timeout: 60, "not all ran") { await db.count("SELECT count(*) FROM events WHERE status = 'completed'") == 20 }
        // Every run happened on the web node (its executions were recorded by its lease).
        let nodesList = try await cli.run(["nodes", "-o", "json"], environment: env)
        let tags = nodesList.json?["nodes"]?.arrayValue?.first { $0["node_id"]?.stringValue == "web1" }?["tags"]?.arrayValue?.compactMap(\.stringValue)
        #expect(tags == ["web", "eu"], "\(nodesList)")
        // With the web node gone, new events wait and say for what.
        web.kill(SIGKILL)
        _ = try await web.waitExit()
        let waiting = try await cli.run(["events", "dispatch", "deploy.started", "-o", "json"], environment: env)
        let id = try #require(waiting.json?["id"]?.stringValue, "\(waiting)")
        try await eventually(timeout: 30, "the event did not say it waits") {
            (try await cli.run(["events", "show", id], environment: env)).stdout.contains("waiting for a node tagged web")
        }
        #expect(try await cli.run(["events", "show", id, "-o", "json"], environment: env).json?["status"]?.stringValue == "pending")
        // The untagged node, alive all along, never ran the hook for it.
        #expect(await db.count("SELECT count(*) FROM event_hook_executions WHERE event_id = '\(id)'") == 0)
        // The web node returns: the event runs there.
        web = try await cli.startServe(["--node-id", "web1", "--node-tag", "web", "--node-tag", "eu", "--http", "off", "--lease", "2s"], environment: env)
        try await eventually(timeout: 60, "the waiting event never ran") {
            (try await cli.run(["events", "show", id, "-o", "json"], environment: env)).json?["status"]?.stringValue == "completed"
        }
        #expect(await db.count("SELECT count(*) FROM event_hook_executions WHERE success") == 21)
        worker.kill(SIGTERM)
        web.kill(SIGTERM)
        _ = try await worker.waitExit()
        _ = try await web.waitExit()
    }

    @Test func aOneNodeDutyMovesWhenItsNodeDies() async throws {
        let cli = CLI()
        let db = try PostgresScratch()
        defer { Task { await db.drop() } }
        let env = ["SLOTH_RUNNER_DB": db.url]
        #expect(try await cli.run(["schedule", "add", "tick", "--cron", "@every 1s", "--event-type", "custom.tick"], environment: env).status == 0)
        var daemons: [String: Daemon] = [:]
        for id in ["p", "q", "r"] {
            daemons[id] = try await cli.startServe(["--node-id", id, "--http", "off", "--lease", "2s"], environment: env)
        }
        func holder() async throws -> String? {
            let listed = try await cli.run(["nodes", "-o", "json"], environment: env)
            guard let owner = listed.json?["duties"]?.arrayValue?.first(where: { $0["name"]?.stringValue == "source:scheduler" })?["owner"]?.stringValue
            else { return nil }
            return owner.split(separator: "/").first.map(String.init)
        }
        var first: String?
        try await eventually(timeout: 30, "no node took the scheduler") {
            first = try await holder()
            return first != nil
        }
        let firstNode = try #require(first)
        try await eventually(timeout: 30, "the schedule did not fire") { await db.count("SELECT count(*) FROM events WHERE type = 'custom.tick'") >= 2 }
        // Exactly one node runs it: the others say they stand by.
        let standing = try await cli.run(["nodes"], environment: env)
        #expect(standing.stdout.contains("source:scheduler on \(firstNode)"), "\(standing)")
        daemons[firstNode]?.kill(SIGKILL)
        _ = try await daemons[firstNode]?.waitExit()
        var second: String?
        try await eventually(timeout: 30, "no other node took the scheduler over") {
            second = try await holder()
            return second != nil && second != firstNode
        }
        let before = await db.count("SELECT count(*) FROM events WHERE type = 'custom.tick'")
        try await eventually(timeout: 30, "the schedule stopped firing") { await db.count("SELECT count(*) FROM events WHERE type = 'custom.tick'") >= before + 2 }
        // Each slot fired once, whichever node fired it.
        #expect(await db.count("SELECT count(*) FROM (SELECT data->>'scheduled_time' FROM events WHERE type = 'custom.tick' GROUP BY 1 HAVING count(*) > 1) t") == 0)
        for (_, d) in daemons where d.process.isRunning { d.kill(SIGTERM) }
        for (_, d) in daemons where d.process.isRunning { _ = try await d.waitExit() }
    }
}

/// `db copy`: a SQLite database moved into PostgreSQL, then served from there.
@Suite(.serialized, .enabled(if: PostgresScratch.available, "needs a PostgreSQL cluster: SLOTH_RUNNER_TEST_POSTGRES_URL (scripts/test.sh starts one)"))
struct StoreCopyTests {
    @Test func aSQLiteDatabaseMovesIntoPostgresWhole() async throws {
        let cli = CLI()
        let db = try PostgresScratch()
        defer { Task { await db.drop() } }
        let hook = cli.file("sealed.lua", """
            local hook = { name = "sealed", event_type = "task.failed", rate_limit = "100/h" }
            function hook.execute(event)
              local secret = require("secret")
              local state = require("state")
              local n = state.incr("runs", 1)
              return true, "secret has " .. #secret.get("api_token") .. " characters; run " .. n
            end
            return hook
            """)
        // On SQLite: a hook, a run, state, a secret, a schedule, a token.
        #expect(try await cli.run("hook", "add", hook).status == 0)
        #expect(try await cli.run(["secret", "set", "api_token", "--value", "s3cr3t-value"]).status == 0)
        let ran = try await cli.run("events", "dispatch", "task.failed", "--data", #"{"task":{"task_name":"x"}}"#, "--wait", "-o", "json")
        #expect(ran.status == 0, "\(ran)")
        #expect(try await cli.run("state", "set", "note", #"{"kept":true}"#, "--stack", "ops").status == 0)
        #expect(try await cli.run("schedule", "add", "nightly", "--cron", "0 3 * * *", "--event-type", "custom.nightly").status == 0)
        #expect(try await cli.run("token", "create", "ci", "--role", "write").status == 0)

        let copied = try await cli.run("db", "copy", "--to", db.url, "-o", "json")
        #expect(copied.status == 0, "\(copied)")
        let tables = copied.json?["tables"]?.arrayValue ?? []
        func rows(_ table: String) -> Int64? { tables.first { $0["table"]?.stringValue == table }?["copied"].flatMap { if case .int(let n) = $0 { return n } else { return nil } } }
        // Two events: the task.failed run, and the schedule.created `schedule add` announced.
        #expect(rows("hooks") == 1 && rows("events") == 2 && rows("event_hook_executions") == 1 && rows("secrets") == 1, "\(copied.stdout)")
        #expect(rows("state") == 2 && rows("schedules") == 1 && rows("api_tokens") == 1, "\(copied.stdout)")
        // The rate limit's window moves along (the run it counted is still in it).
        #expect(rows("hook_controls") == 1, "\(copied.stdout)")

        // Read back through the PostgreSQL store: the same event, history, state, schedule.
        let env = ["SLOTH_RUNNER_DB": db.url]
        let id = try #require(ran.json?["id"]?.stringValue)
        let shown = try await cli.run(["events", "show", id, "-o", "json"], environment: env)
        #expect(shown.json?["status"]?.stringValue == "completed", "\(shown)")
        #expect(shown.json?["executions"]?.arrayValue?.first?["message"]?.stringValue == "secret has 12 characters; run 1", "\(shown)")
        #expect(try await cli.run(["state", "get", "note", "--stack", "ops"], environment: env).stdout.contains("kept"))
        #expect(try await cli.run(["schedule", "list"], environment: env).stdout.contains("nightly"))
        // The sealed secret opens on a node of the PostgreSQL database with the same key.
        let node = try await cli.startServe(["--http", "off"], environment: env)
        let again = try await cli.run(["events", "dispatch", "task.failed", "--wait", "-o", "json"], environment: env)
        #expect(again.json?["executions"]?.arrayValue?.first?["message"]?.stringValue == "secret has 12 characters; run 2", "\(again)")
        node.kill(SIGTERM)
        _ = try await node.waitExit()

        // A database holding data is refused, unless asked; then nothing already there changes.
        let refused = try await cli.run("db", "copy", "--to", db.url)
        #expect(refused.status == 5 && refused.stderr.contains("--allow-non-empty"), "\(refused)")
        let merged = try await cli.run("db", "copy", "--to", db.url, "--allow-non-empty", "-o", "json")
        #expect(merged.status == 0 && merged.json?["rows"] == .int(0), "\(merged)")
        #expect(await db.count("SELECT count(*) FROM events") == 3)
        // Bad targets are clear errors.
        let notPostgres = try await cli.run("db", "copy", "--to", "/tmp/other.db")
        #expect(notPostgres.status == 2 && notPostgres.stderr.contains("PostgreSQL URL"), "\(notPostgres)")
        let fromPostgres = try await cli.run(["db", "copy", "--to", db.url], environment: env)
        #expect(fromPostgres.status == 2 && fromPostgres.stderr.contains("SQLite"), "\(fromPostgres)")
    }
}
