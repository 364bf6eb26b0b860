import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import SlothRunner
import Synchronization
import Testing

/// The daemon's HTTP API, black-box: a real `serve` on a free port, a real HTTP client. One
/// daemon at a time: the rest of the suite already keeps both cores busy.
@Suite(.serialized) struct HTTPAPITests {
    struct Answer: CustomStringConvertible {
        let status: Int
        let text: String
        let headers: HTTPHeaders
        var json: JSONValue { (try? JSONValue.parse(text)) ?? .null }
        var errorCode: String? { json["error"]?["code"]?.stringValue }
        var errorMessage: String { json["error"]?["message"]?.stringValue ?? "" }
        var description: String { "\(status) \(text)" }
    }

    /// A client that does not retry a refused connection (the shared one keeps trying until the
    /// request times out, which would make a stopped server look like a hanging one).
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// One request to the daemon at `base`.
    static func call(_ base: String, _ method: HTTPMethod, _ path: String, body: String? = nil, headers: [(String, String)] = []) async throws -> Answer {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        for (k, v) in headers { request.headers.add(name: k, value: v) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await client.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        return Answer(status: Int(response.status.code), text: String(buffer: bytes), headers: response.headers)
    }

    func serve(_ cli: CLI, _ extra: [String] = []) async throws -> (Daemon, String) {
        let daemon = try await cli.startServe(extra)
        let base = try #require(daemon.apiURL, "serve logs where its API listens:\n\(daemon.log)")
        return (daemon, base)
    }

    func countEvents(_ cli: CLI) async throws -> Int {
        let store = try cli.openStore()
        defer { Task { await store.close() } }
        return try await store.countEvents(status: nil)
    }

    @Test func healthAndReadiness() async throws {
        let cli = CLI()
        let (daemon, base) = try await serve(cli)
        // The contract served is the repository's openapi.yaml, byte for byte.
        let document = try await Self.call(base, .GET, "/api/v1/openapi.yaml")
        let checkedIn = try String(contentsOfFile: #filePath.replacingOccurrences(of: "/Tests/SlothRunnerCLITests/HTTPAPITests.swift", with: "/openapi.yaml"), encoding: .utf8)
        #expect(document.status == 200 && document.text == checkedIn && document.headers["content-type"].first?.hasPrefix("application/yaml") == true)
        var a = try await Self.call(base, .GET, "/healthz")
        #expect(a.status == 200 && a.json["status"] == .string("ok"), "\(a)")
        a = try await Self.call(base, .GET, "/readyz")
        #expect(a.status == 200 && a.json["status"] == .string("ready"), "\(a)")
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit() == 0)
    }

    @Test func aDispatchedEventIsStoredAndItsRunsCanBeInspected() async throws {
        let cli = CLI()
        let hook = cli.file("greet.lua", "return { name = 'greet', event_type = 'custom.hello', execute = function(e) return true, 'hi ' .. e.data.who end }")
        #expect(try await cli.run("hook", "add", hook).status == 0)
        let (daemon, base) = try await serve(cli)
        let a = try await Self.call(base, .POST, "/api/v1/events", body: #"{"type": "custom.hello", "data": {"who": "api"}, "stack": "prod"}"#)
        #expect(a.status == 202, "\(a)")
        let id = try #require(a.json["id"]?.stringValue)
        #expect(a.json["type"] == .string("custom.hello") && a.json["stack"] == .string("prod"))
        // Durable once answered: the store has it (another process reads the same file).
        let store = try cli.openStore()
        #expect(try await store.resolveEvent(id).type == "custom.hello")
        await store.close()
        // Its run, through the API, by a unique prefix of its id.
        var shown = Answer(status: 0, text: "", headers: [:])
        try await eventually(timeout: 30, "the event did not complete: \(shown)") {
            shown = try await Self.call(base, .GET, "/api/v1/events/" + id.prefix(13))
            return shown.json["status"] == .string("completed")
        }
        #expect(shown.json["id"] == .string(id))
        let runs = shown.json["executions"]?.arrayValue ?? []
        #expect(runs.count == 1 && runs.first?["hook_name"] == .string("greet") && runs.first?["message"] == .string("hi api"), "\(shown)")
        #expect(shown.json["dead_letters"] == .array([]))
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit() == 0)
    }

    @Test func badRequestsGetJSONErrorsAndStoreNothing() async throws {
        let cli = CLI()
        let (daemon, base) = try await serve(cli, ["--http-max-body-bytes", "1024"])
        func post(_ body: String, _ path: String = "/api/v1/events") async throws -> Answer { try await Self.call(base, .POST, path, body: body) }

        var a = try await post(#"{"type": "custom.x", "data": {"a": 1"#)
        #expect(a.status == 400 && a.errorCode == "invalid_json" && a.errorMessage.contains("line 1, column"), "\(a)")
        a = try await post("")
        #expect(a.status == 400 && a.errorCode == "empty_body", "\(a)")
        a = try await post("[1, 2]")
        #expect(a.status == 422 && a.errorMessage.contains("JSON object"), "\(a)")
        a = try await post(#"{"tpye": "custom.x"}"#)
        #expect(a.status == 422 && a.errorMessage.contains("did you mean 'type'"), "\(a)")
        a = try await post(#"{"data": {}}"#)
        #expect(a.status == 422 && a.errorMessage.contains("\"type\" is required"), "\(a)")
        a = try await post(#"{"type": "Not A Type!"}"#)
        #expect(a.status == 422 && a.errorCode == "invalid_input", "\(a)")
        a = try await post(#"{"type": "custom.x", "data": [1]}"#)
        #expect(a.status == 422 && a.errorMessage.contains("must be a JSON object"), "\(a)")
        a = try await post(#"{"type": "custom.x", "stack": 7}"#)
        #expect(a.status == 422 && a.errorMessage.contains("\"stack\" must be a string"), "\(a)")
        a = try await post(#"{"type": "custom.x", "data": {"blob": ""# + String(repeating: "x", count: 2000) + #""}}"#)
        #expect(a.status == 413 && a.errorCode == "payload_too_large", "\(a)")
        a = try await Self.call(base, .GET, "/api/v1/no-such-thing")
        #expect(a.status == 404 && a.errorCode == "not_found" && a.headers["content-type"].first == "application/json", "\(a)")
        a = try await Self.call(base, .PATCH, "/api/v1/events")
        #expect(a.status == 405 && a.errorCode == "method_not_allowed" && a.headers["allow"].first == "POST, GET", "\(a)")
        a = try await Self.call(base, .PUT, "/api/v1/events/0123/retry")
        #expect(a.status == 405 && a.headers["allow"].first == "POST", "\(a)")
        a = try await Self.call(base, .GET, "/api/v1/events/ffffffff")
        #expect(a.status == 404 && a.errorCode == "not_found", "\(a)")
        #expect(try await countEvents(cli) == 0, "nothing was stored")
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit() == 0)
    }

    @Test func anIdempotencyKeyStoresOneEvent() async throws {
        let cli = CLI()
        let (daemon, base) = try await serve(cli)
        let body = #"{"type": "custom.pay", "data": {"amount": 5}}"#
        let first = try await Self.call(base, .POST, "/api/v1/events", body: body, headers: [("Idempotency-Key", "order-1")])
        #expect(first.status == 202 && first.headers["idempotent-replayed"].isEmpty, "\(first)")
        let id = try #require(first.json["id"]?.stringValue)
        let again = try await Self.call(base, .POST, "/api/v1/events", body: body, headers: [("Idempotency-Key", "order-1")])
        #expect(again.status == 202 && again.json["id"] == .string(id) && again.headers["idempotent-replayed"].first == "true", "\(again)")
        // Ten at once with a new key: one event.
        let ids = try await withThrowingTaskGroup(of: String?.self) { group in
            for _ in 0..<10 {
                group.addTask { try await Self.call(base, .POST, "/api/v1/events", body: body, headers: [("Idempotency-Key", "order-2")]).json["id"]?.stringValue }
            }
            var out: Set<String?> = []
            for try await id in group { out.insert(id) }
            return out
        }
        #expect(ids.count == 1 && ids.first! != nil && ids.first! != id, "\(ids)")
        var a = try await Self.call(base, .POST, "/api/v1/events", body: #"{"type": "custom.pay", "data": {"amount": 6}}"#, headers: [("Idempotency-Key", "order-1")])
        #expect(a.status == 422 && a.errorCode == "idempotency_key_reused" && a.errorMessage.contains(id), "\(a)")
        a = try await Self.call(base, .POST, "/api/v1/events", body: body, headers: [("Idempotency-Key", "has space")])
        #expect(a.status == 400 && a.errorCode == "invalid_idempotency_key", "\(a)")
        #expect(try await countEvents(cli) == 2)
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit() == 0)
    }

    @Test func aBatchIsStoredWholeOrNotAtAll() async throws {
        let cli = CLI()
        let (daemon, base) = try await serve(cli)
        func batch(_ events: [String]) async throws -> Answer {
            try await Self.call(base, .POST, "/api/v1/events:batch", body: #"{"events": ["# + events.joined(separator: ",") + "]}")
        }
        var a = try await batch([#"{"type": "custom.a"}"#, #"{"type": "custom.b", "data": {"n": 2}}"#, #"{"type": "custom.c", "stack": "s"}"#])
        #expect(a.status == 202 && a.json["events"]?.arrayValue?.count == 3, "\(a)")
        #expect(a.json["events"]?.arrayValue?.compactMap { $0["type"]?.stringValue } == ["custom.a", "custom.b", "custom.c"])
        a = try await batch([#"{"type": "custom.a"}"#, #"{"type": "BAD TYPE"}"#])
        #expect(a.status == 422 && a.errorMessage.hasPrefix("events[1]: "), "\(a)")
        a = try await batch([])
        #expect(a.status == 422, "\(a)")
        a = try await batch(Array(repeating: #"{"type": "custom.a"}"#, count: 1001))
        #expect(a.status == 422 && a.errorCode == "batch_too_large", "\(a)")
        a = try await Self.call(base, .POST, "/api/v1/events:batch", body: #"{"evnts": []}"#)
        #expect(a.status == 422 && a.errorMessage.contains("did you mean 'events'"), "\(a)")
        #expect(try await countEvents(cli) == 3, "only the valid batch was stored")
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit() == 0)
    }

    @Test func listingsPageWithACursorAndCheckTheirParameters() async throws {
        let cli = CLI()
        let (daemon, base) = try await serve(cli)
        let types = (0..<7).map { #"{"type": "custom.page", "data": {"n": \#($0)}}"# } + [#"{"type": "custom.other"}"#]
        let stored = try await Self.call(base, .POST, "/api/v1/events:batch", body: #"{"events": ["# + types.joined(separator: ",") + "]}")
        #expect(stored.status == 202)
        var ids: [String] = []
        var cursor: String?
        var pages = 0
        repeat {
            let a = try await Self.call(base, .GET, "/api/v1/events?type=custom.page&limit=3" + (cursor.map { "&cursor=\($0)" } ?? ""))
            #expect(a.status == 200, "\(a)")
            ids += a.json["events"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
            cursor = a.json["next_cursor"]?.stringValue
            pages += 1
        } while cursor != nil && pages < 10
        #expect(pages == 3 && ids.count == 7 && Set(ids).count == 7, "every event once: \(ids)")
        #expect(ids == ids.sorted(by: >), "newest first")
        var a = try await Self.call(base, .GET, "/api/v1/events?type=custom.other&since=1h&until=" + RFC3339.string(millis: nowMillis() + 60_000))
        #expect(a.json["events"]?.arrayValue?.count == 1, "\(a)")
        a = try await Self.call(base, .GET, "/api/v1/events?until=2000-01-01T00:00:00Z")
        #expect(a.json["events"]?.arrayValue?.count == 0, "\(a)")
        for bad in ["limit=0", "limit=5000", "status=bogus", "since=yesterday", "type=custom.*", "stauts=failed"] {
            a = try await Self.call(base, .GET, "/api/v1/events?" + bad)
            #expect(a.status == 400 && a.errorCode == "invalid_parameter", "\(bad): \(a)")
        }
        #expect(try await Self.call(base, .GET, "/api/v1/events?stauts=failed").errorMessage.contains("did you mean 'status'"))
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit() == 0)
    }

    @Test func deleteAndRetry() async throws {
        let cli = CLI()
        let failing = cli.file("fail.lua", "return { name = 'fail', event_type = 'custom.fail', max_attempts = 1, execute = function() return false, 'nope' end }")
        #expect(try await cli.run("hook", "add", failing).status == 0)
        let (daemon, base) = try await serve(cli)
        let id = try #require(try await Self.call(base, .POST, "/api/v1/events", body: #"{"type": "custom.fail"}"#).json["id"]?.stringValue)
        try await eventually(timeout: 30, "the event did not fail") {
            try await Self.call(base, .GET, "/api/v1/events/\(id)").json["status"] == .string("failed")
        }
        var a = try await Self.call(base, .GET, "/api/v1/events/\(id)")
        #expect(a.json["dead_letters"]?.arrayValue?.first?["hook_name"] == .string("fail"), "\(a)")
        a = try await Self.call(base, .POST, "/api/v1/events/\(id)/retry")
        #expect(a.status == 202 && a.json["status"] == .string("pending"), "\(a)")
        try await eventually(timeout: 30, "the retried event did not fail again") {
            try await Self.call(base, .GET, "/api/v1/events/\(id)").json["status"] == .string("failed")
        }
        let other = try #require(try await Self.call(base, .POST, "/api/v1/events", body: #"{"type": "custom.none"}"#).json["id"]?.stringValue)
        try await eventually(timeout: 30, "the event did not complete") {
            try await Self.call(base, .GET, "/api/v1/events/\(other)").json["status"] == .string("completed")
        }
        a = try await Self.call(base, .POST, "/api/v1/events/\(other)/retry")
        #expect(a.status == 409 && a.errorCode == "not_failed", "\(a)")
        a = try await Self.call(base, .DELETE, "/api/v1/events/\(id)")
        #expect(a.status == 204, "\(a)")
        a = try await Self.call(base, .GET, "/api/v1/events/\(id)")
        #expect(a.status == 404, "\(a)")
        // A prefix every id shares is ambiguous.
        _ = try await Self.call(base, .POST, "/api/v1/events", body: #"{"type": "custom.none"}"#)
        a = try await Self.call(base, .GET, "/api/v1/events/" + other.prefix(1))
        #expect(a.status == 409 && a.errorCode == "ambiguous", "\(a)")
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit() == 0)
    }

    @Test func hooksAreManagedOverHTTP() async throws {
        let cli = CLI()
        let (daemon, base) = try await serve(cli)
        let source = "return { event_type = 'custom.hi', execute = function(e) print('ran'); return true, 'hi ' .. (e.data.who or '?') end }"
        // A raw Lua body with hook add's flags as query parameters.
        var a = try await Self.call(base, .POST, "/api/v1/hooks?name=greet&stack=prod&max_attempts=2", body: source)
        #expect(a.status == 201 && a.json["name"] == .string("greet") && a.json["stack"] == .string("prod") && a.json["max_attempts"] == .int(2), "\(a)")
        a = try await Self.call(base, .POST, "/api/v1/hooks?name=greet", body: source)
        #expect(a.status == 409 && a.errorCode == "conflict", "\(a)")
        // JSON, and the same validation as hook add: a syntax error names its line.
        a = try await Self.call(base, .POST, "/api/v1/hooks", body: #"{"source": "return {\n name = 'bad',\n event_type = 'custom.hi',\n execute = function() retur true end }"}"#,
                                 headers: [("Content-Type", "application/json")])
        #expect(a.status == 422 && a.errorCode == "invalid_hook" && a.errorMessage.contains(":4:"), "\(a)")
        a = try await Self.call(base, .POST, "/api/v1/hooks", body: #"{"source": "x", "nmae": "y"}"#, headers: [("Content-Type", "application/json")])
        #expect(a.status == 422 && a.errorMessage.contains("did you mean 'name'"), "\(a)")
        a = try await Self.call(base, .GET, "/api/v1/hooks?stack=prod")
        #expect(a.json["hooks"]?.arrayValue?.count == 1, "\(a)")
        a = try await Self.call(base, .GET, "/api/v1/hooks/greet")
        #expect(a.status == 200 && a.json["source"] == .string(source) && a.json["executions"] == .int(0), "\(a)")
        // The dry run stores nothing.
        a = try await Self.call(base, .POST, "/api/v1/hooks/test", body: #"{"name": "greet", "event": {"type": "custom.hi", "data": {"who": "t"}, "stack": "prod"}}"#)
        #expect(a.status == 200 && a.json["success"] == .bool(true) && a.json["message"] == .string("hi t") && a.json["output"] == .string("ran\n"), "\(a)")
        a = try await Self.call(base, .POST, "/api/v1/hooks/test", body: #"{"source": "return { event_type = 'x.y', execute = function() error('boom') end }", "event": {"type": "custom.other"}}"#)
        #expect(a.status == 200 && a.json["success"] == .bool(false) && a.json["warnings"]?.arrayValue?.count == 1, "\(a)")
        #expect(try await countEvents(cli) == 0)
        // A real run, then its history.
        let id = try #require(try await Self.call(base, .POST, "/api/v1/events", body: #"{"type": "custom.hi", "data": {"who": "e"}, "stack": "prod"}"#).json["id"]?.stringValue)
        try await eventually(timeout: 30, "the event did not complete") {
            try await Self.call(base, .GET, "/api/v1/events/\(id)").json["status"] == .string("completed")
        }
        a = try await Self.call(base, .GET, "/api/v1/hooks/greet/history")
        #expect(a.json["executions"]?.arrayValue?.first?["message"] == .string("hi e"), "\(a)")
        // Replace keeps the id; disable, enable, remove.
        let hookID = try await Self.call(base, .GET, "/api/v1/hooks/greet").json["id"]
        a = try await Self.call(base, .PUT, "/api/v1/hooks/greet", body: source.replacingOccurrences(of: "'hi '", with: "'hello '"))
        #expect(a.status == 200 && a.json["id"] == hookID, "\(a)")
        a = try await Self.call(base, .PUT, "/api/v1/hooks/greet?name=other", body: source)
        #expect(a.status == 422, "\(a)")
        a = try await Self.call(base, .POST, "/api/v1/hooks/greet/disable")
        #expect(a.status == 200 && a.json["enabled"] == .bool(false), "\(a)")
        a = try await Self.call(base, .POST, "/api/v1/hooks/greet/enable")
        #expect(a.json["enabled"] == .bool(true), "\(a)")
        a = try await Self.call(base, .DELETE, "/api/v1/hooks/greet")
        #expect(a.status == 204, "\(a)")
        a = try await Self.call(base, .GET, "/api/v1/hooks/greet")
        #expect(a.status == 404 && a.errorCode == "not_found", "\(a)")
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit() == 0)
    }

    @Test func typesStateAndSecretNames() async throws {
        let cli = CLI()
        #expect(try await cli.run("secret", "set", "api_token", "--value", "tok_do_not_show").status == 0)
        let (daemon, base) = try await serve(cli)
        var a = try await Self.call(base, .GET, "/api/v1/types?category=task")
        #expect(a.status == 200 && a.json["types"]?.arrayValue?.contains { $0["type"] == .string("task.failed") } == true, "\(a)")
        #expect(a.json["types"]?.arrayValue?.first?["fields"]?.arrayValue != nil)
        a = try await Self.call(base, .GET, "/api/v1/types?category=tsak")
        #expect(a.status == 404 && a.errorMessage.contains("did you mean 'task'"), "\(a)")
        a = try await Self.call(base, .PUT, "/api/v1/state/prod/feature", body: #"{"value": {"on": true}, "ttl": "1h"}"#)
        #expect(a.status == 200 && a.json["expires_at"]?.stringValue != nil, "\(a)")
        a = try await Self.call(base, .PUT, "/api/v1/state/-/counter", body: #"{"value": 3}"#)
        #expect(a.status == 200, "\(a)")
        a = try await Self.call(base, .GET, "/api/v1/state/prod/feature")
        #expect(a.json["value"] == .object(["on": .bool(true)]), "\(a)")
        // Percent-encoding is undone once, in paths and queries alike: the key "x%41z".
        a = try await Self.call(base, .PUT, "/api/v1/state/prod/x%2541z", body: #"{"value": 1}"#)
        #expect(a.status == 200 && a.json["key"] == .string("x%41z"), "\(a)")
        a = try await Self.call(base, .GET, "/api/v1/state?stack=prod&prefix=x%2541")
        #expect(a.json["entries"]?.arrayValue?.map { $0["key"] } == [.string("x%41z")], "\(a)")
        #expect(try await Self.call(base, .DELETE, "/api/v1/state/prod/x%2541z").status == 204)
        a = try await Self.call(base, .GET, "/api/v1/state?stack=-")
        #expect(a.json["entries"]?.arrayValue?.map { $0["key"] } == [.string("counter")], "\(a)")
        // The CLI sees what the API wrote (the default namespace is the empty stack).
        let r = try await cli.run("state", "get", "counter")
        #expect(r.status == 0 && r.stdout.contains("3"), "\(r)")
        a = try await Self.call(base, .PUT, "/api/v1/state/prod/feature", body: #"{"valeu": 1}"#)
        #expect(a.status == 422 && a.errorMessage.contains("did you mean 'value'"), "\(a)")
        a = try await Self.call(base, .DELETE, "/api/v1/state/prod/feature")
        #expect(a.status == 204, "\(a)")
        a = try await Self.call(base, .GET, "/api/v1/state/prod/feature")
        #expect(a.status == 404, "\(a)")
        a = try await Self.call(base, .GET, "/api/v1/secrets")
        #expect(a.status == 200 && a.json["secrets"]?.arrayValue?.first?["name"] == .string("api_token"), "\(a)")
        #expect(!a.text.contains("tok_do_not_show"))
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit() == 0)
    }

    @Test func statusAsksTheRunningDaemon() async throws {
        let cli = CLI()
        let failing = cli.file("fail.lua", "return { name = 'fail', event_type = 'custom.fail', max_attempts = 1, execute = function() return false, 'no' end }")
        #expect(try await cli.run("hook", "add", failing).status == 0)
        var r = try await cli.run("status", "--server", "http://127.0.0.1:1")
        #expect(r.status == 3 && r.stderr.contains("no sloth-runner serve answers"), "\(r)")
        let (daemon, base) = try await serve(cli)
        let id = try #require(try await Self.call(base, .POST, "/api/v1/events", body: #"{"type": "custom.fail"}"#).json["id"]?.stringValue)
        try await eventually(timeout: 30, "the event did not fail") {
            try await Self.call(base, .GET, "/api/v1/events/\(id)").json["status"] == .string("failed")
        }
        r = try await cli.run("status", "--server", base, "-o", "json")
        #expect(r.status == 0, "\(r)")
        let s = (try? JSONValue.parse(r.stdout)) ?? .null
        #expect(s["phase"] == .string("running") && s["dead_letters"] == .int(1) && s["pending_in_store"] == .int(0), "\(r)")
        #expect(s["version"]?.stringValue?.contains("commit") == true && s["workers"] == .int(100), "\(r)")
        r = try await cli.run("status", "--server", base)
        #expect(r.status == 0 && r.stdout.contains("1 dead letter(s)") && r.stdout.contains("State:        running"), "\(r)")
        // Without --server the address comes from the settings; port 0 cannot be asked.
        r = try await cli.run("status")
        #expect(r.status == 2 && r.stderr.contains("--server"), "\(r)")
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit() == 0)
    }

    @Test func tokensAndRoles() async throws {
        let cli = CLI()
        let (daemon, base) = try await serve(cli)
        func call(_ method: HTTPMethod, _ path: String, token: String?, body: String? = nil) async throws -> Answer {
            try await Self.call(base, method, path, body: body, headers: token.map { [("Authorization", "Bearer \($0)")] } ?? [])
        }
        // No token yet: open (on loopback).
        #expect(try await call(.GET, "/api/v1/events", token: nil).status == 200)
        func create(_ name: String, _ role: String) async throws -> String {
            let r = try await cli.run("token", "create", name, "--role", role)
            #expect(r.status == 0 && r.stderr.contains("shown only this once"), "\(r)")
            return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let reader = try await create("dash", "read")
        let writer = try await create("ci", "write")
        let admin = try await create("ops", "admin")
        #expect(reader.hasPrefix("srt_") && reader.count == 68 && reader != writer)
        // From now on (within the server's 100 ms reload of the tokens) every /api request
        // needs a token; health stays open.
        var a = try await call(.GET, "/api/v1/events", token: nil)
        try await eventually(timeout: 10, "the server did not learn of the new tokens") {
            // The last one created known means all are (the server reloads them all at once).
            try await call(.GET, "/api/v1/events", token: admin).status == 200
        }
        a = try await call(.GET, "/api/v1/events", token: nil)
        #expect(a.status == 401 && a.errorCode == "unauthorized" && a.headers["www-authenticate"].first?.hasPrefix("Bearer") == true, "\(a)")
        #expect(try await call(.GET, "/healthz", token: nil).status == 200)
        a = try await call(.GET, "/api/v1/events", token: "srt_" + String(repeating: "0", count: 64))
        #expect(a.status == 401 && a.errorMessage.contains("not valid"), "\(a)")
        a = try await Self.call(base, .GET, "/api/v1/events", headers: [("Authorization", "Basic abc")])
        #expect(a.status == 401 && a.errorMessage.contains("Bearer"), "\(a)")
        let event = #"{"type": "custom.auth"}"#
        let hook = "return { name = 'h', event_type = 'custom.auth', execute = function() return true end }"
        // The matrix: what each role may do.
        let cases: [(String, HTTPMethod, String, String?, [Int])] = [
            ("GET events", .GET, "/api/v1/events", nil, [200, 200, 200]),
            ("POST event", .POST, "/api/v1/events", event, [403, 202, 202]),
            ("PUT state", .PUT, "/api/v1/state/-/k", #"{"value": 1}"#, [403, 200, 200]),
            ("POST hook", .POST, "/api/v1/hooks?name=h", hook, [403, 403, 201]),
            ("hook test", .POST, "/api/v1/hooks/test", #"{"name": "h", "event": {"type": "custom.auth"}}"#, [403, 403, 200]),
        ]
        for (what, method, path, body, expected) in cases {
            for (token, status) in zip([reader, writer, admin], expected) {
                if path.hasPrefix("/api/v1/hooks?"), status == 201 { _ = try await call(.DELETE, "/api/v1/hooks/h", token: admin) }
                a = try await call(method, path, token: token, body: body)
                #expect(a.status == status, "\(what) with \(token == reader ? "read" : token == writer ? "write" : "admin"): \(a)")
                if status == 403 { #expect(a.errorCode == "forbidden" && a.errorMessage.contains("needs"), "\(a)") }
            }
        }
        // Revoked: refused within the reload tick.
        #expect(try await cli.run("token", "revoke", "ci").status == 0)
        try await eventually(timeout: 10, "a revoked token was still accepted") {
            a = try await call(.POST, "/api/v1/events", token: writer, body: event)
            return a.status != 202
        }
        #expect(a.status == 401, "\(a)")
        var r = try await cli.run("token", "list", "-o", "json")
        let listed = (try? JSONValue.parse(r.stdout))?.arrayValue ?? []
        #expect(listed.count == 3 && listed.first { $0["name"] == .string("ci") }?["revoked"] == .bool(true), "\(r)")
        #expect(!r.stdout.contains(reader), "a token is never shown again")
        r = try await cli.run("token", "create", "ci", "--role", "read")
        #expect(r.status == 5 && r.stderr.contains("exists already"), "\(r)")
        r = try await cli.run("token", "create", "x", "--role", "root")
        #expect(r.status == 2 && r.stderr.contains("read, write or admin"), "\(r)")
        r = try await cli.run("token", "revoke", "nobody")
        #expect(r.status == 3, "\(r)")
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit() == 0)
        // With a live token, serve may listen beyond loopback.
        let wide = try await cli.startServe(["--http", "0.0.0.0:0"])
        #expect(wide.log.contains("HTTP API listening"), "\(wide.log)")
        wide.kill(SIGTERM)
        #expect(try await wide.waitExit() == 0)
    }

    /// `/metrics` after a known workload, read by Prometheus's own Python parser.
    @Test func metricsParseAndCountTheWorkload() async throws {
        let cli = CLI()
        let hook = "return { name = 'judge', event_type = 'custom.*', max_attempts = 1, execute = function(e) return e.type == 'custom.ok', 'judged' end }"
        #expect(try await cli.run("hook", "add", cli.file("judge.lua", hook)).status == 0)
        // Storm control is counted too: a throttle that lets one custom.ok through per hour.
        let once = "return { name = 'once', event_type = 'custom.ok', throttle = '1h', execute = function(e) return true end }"
        #expect(try await cli.run("hook", "add", cli.file("once.lua", once)).status == 0)
        let (daemon, base) = try await serve(cli)
        var ids: [String] = []
        for type in ["custom.ok", "custom.ok", "custom.ok", "custom.bad"] {
            ids.append(try #require(try await Self.call(base, .POST, "/api/v1/events", body: #"{"type": "\#(type)"}"#).json["id"]?.stringValue))
        }
        // One more straight into the store by the CLI (another process): counted when claimed.
        let fromCLI = try await cli.run("events", "dispatch", "custom.ok", "-o", "json")
        ids.append(try #require(JSONValue.parse(fromCLI.stdout)["id"]?.stringValue, "\(fromCLI)"))
        for id in ids {
            try await eventually(timeout: 30, "event \(id) did not finish") {
                let status = try await Self.call(base, .GET, "/api/v1/events/\(id)").json["status"]
                return status == .string("completed") || status == .string("failed")
            }
        }
        let scrape = try await Self.call(base, .GET, "/metrics")
        #expect(scrape.status == 200 && scrape.headers["content-type"].first?.hasPrefix("text/plain; version=0.0.4") == true)
        let samples = try Self.parsePrometheus(scrape.text, cli: cli)
        func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
            samples.first { sample in sample.name == name && labels.allSatisfy { k, v in sample.labels[k] == v } }?.value
        }
        #expect(value("sloth_events_accepted_total", ["source": "api"]) == 4)
        #expect(value("sloth_events_accepted_total", ["source": "cli"]) == 1)
        #expect(value("sloth_events_finished_total", ["status": "completed"]) == 4)
        #expect(value("sloth_events_finished_total", ["status": "failed"]) == 1)
        #expect(value("sloth_hook_runs_total", ["hook": "judge", "outcome": "success"]) == 4)
        #expect(value("sloth_hook_runs_total", ["hook": "judge", "outcome": "dead_letter"]) == 1)
        #expect(value("sloth_hook_duration_seconds_count", ["hook": "judge"]) == 5)
        #expect(value("sloth_hook_runs_total", ["hook": "once", "outcome": "success"]) == 1)
        #expect(value("sloth_hook_storm_total", ["hook": "once", "action": "throttled"]) == 3)
        // The store: every commit counted with its jobs (at least the five inserts and their
        // outcomes), its time, and the file's size.
        let commits = try #require(value("sloth_store_commit_seconds_count"))
        #expect(commits >= 1 && value("sloth_store_commit_batch_size_count") == commits)
        #expect((value("sloth_store_commit_batch_size_sum") ?? 0) >= 5)
        #expect((value("sloth_store_size_bytes") ?? 0) > 4096)
        #expect(value("sloth_dead_letters") == 1)
        #expect(value("sloth_events_pending_in_store") == 0)
        #expect(value("hb_requests_total", ["http_route": "/api/v1/events", "http_request_method": "POST", "http_response_status_code": "202"]) == 4)
        // Labels stay bounded: no event id appears anywhere.
        #expect(!ids.contains { scrape.text.contains($0) })
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit() == 0)
    }

    struct Sample { let name: String; let labels: [String: String]; let value: Double }

    /// The text through `prometheus_client.parser` (Debian's python3-prometheus-client).
    static func parsePrometheus(_ text: String, cli: CLI) throws -> [Sample] {
        let input = cli.file("scrape.txt", text)
        let script = """
            import json, sys
            from prometheus_client.parser import text_string_to_metric_families
            out = []
            for family in text_string_to_metric_families(open(sys.argv[1]).read()):
                for s in family.samples:
                    out.append({"name": s.name, "labels": s.labels, "value": s.value})
            print(json.dumps(out))
            """
        let p = Process()
        let python = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? "/usr/bin/python3" : "python3"
        p.executableURL = URL(fileURLWithPath: python.hasPrefix("/") ? python : "/usr/bin/env")
        p.arguments = (python.hasPrefix("/") ? [] : [python]) + ["-c", script, input]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let problem = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0, case .array(let items) = try JSONValue.parse(bytes: Array(data)) else {
            throw SlothError.runtime("the Prometheus parser rejected the scrape (run scripts/install-system-deps.sh --test): \(problem)")
        }
        return items.map { item in
            var labels: [String: String] = [:]
            for (k, v) in item["labels"]?.objectValue ?? [:] { labels[k] = v.stringValue ?? "" }
            let value: Double
            switch item["value"] {
            case .int(let i)?: value = Double(i)
            case .double(let d)?: value = d
            default: value = .nan
            }
            return Sample(name: item["name"]?.stringValue ?? "", labels: labels, value: value)
        }
    }

    /// `--tls-cert`/`--tls-key`: the API over HTTPS, with a certificate from a test CA.
    @Test func theAPIServesTLS() async throws {
        let cli = CLI()
        // A test CA and a certificate for 127.0.0.1, as the bench's TLS server makes them.
        let dir = cli.home + "/tls"
        let maker = try cli.startBackground(["slow-http-server", "--delay", "0", "--tls-dir", dir])
        try await eventually(timeout: 30, "no certificate was written:\n\(maker.log)") {
            FileManager.default.fileExists(atPath: dir + "/server-key.pem") && FileManager.default.fileExists(atPath: dir + "/ca.pem")
        }
        maker.kill(SIGTERM)
        _ = try await maker.waitExit()
        var r = try await cli.run("serve", "--tls-cert", dir + "/server.pem")
        #expect(r.status == 2 && r.stderr.contains("go together"), "\(r)")
        r = try await cli.run("serve", "--tls-cert", dir + "/nope.pem", "--tls-key", dir + "/server-key.pem")
        #expect(r.status == 2 && r.stderr.contains("--tls-cert") && r.stderr.contains("nope.pem"), "\(r)")
        let daemon = try await cli.startServe(["--tls-cert", dir + "/server.pem", "--tls-key", dir + "/server-key.pem"])
        let base = try #require(daemon.apiURL)
        #expect(base.hasPrefix("https://"), "\(daemon.log)")
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(dir + "/ca.pem"))
        var request = HTTPClientRequest(url: base + "/api/v1/events")
        request.method = .POST
        request.body = .bytes(ByteBuffer(string: #"{"type": "custom.tls"}"#))
        request.tlsConfiguration = tls
        let response = try await Self.client.execute(request, timeout: .seconds(30))
        #expect(response.status.code == 202)
        // Plain HTTP to the TLS port gets no answer from the API.
        let plain = try? await Self.call("http://" + base.dropFirst("https://".count), .GET, "/healthz")
        #expect(plain == nil || plain?.status != 200, "\(String(describing: plain))")
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit() == 0)
    }

    @Test func addressesAreCheckedAndTheAPICanBeTurnedOff() async throws {
        let cli = CLI()
        var r = try await cli.run("serve", "--http", "0.0.0.0:0")
        #expect(r.status == 2 && r.stderr.contains("loopback"), "\(r)")
        r = try await cli.run("serve", "--http", "localhost")
        #expect(r.status == 2 && r.stderr.contains("HOST:PORT"), "\(r)")
        r = try await cli.run("serve", "--http", "127.0.0.1:70000")
        #expect(r.status == 2 && r.stderr.contains("0 to 65535"), "\(r)")
        // An address another serve holds: said plainly, exit 5 (a conflict).
        let (first, base) = try await serve(cli)
        let taken = String(base.dropFirst("http://".count))
        r = try await CLI().run("serve", "--http", taken)
        #expect(r.status == 5 && r.stderr.contains("cannot listen on \(taken): the address is in use"), "\(r)")
        first.kill(SIGTERM)
        #expect(try await first.waitExit() == 0)
        let daemon = try await cli.startServe(["--http", "off"])
        #expect(!daemon.log.contains("HTTP API listening"), "\(daemon.log)")
        #expect(daemon.log.contains("http=off"), "\(daemon.log)")
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit() == 0)
    }

    /// SIGTERM while requests are in flight: every event the API answered 202 for is in the
    /// store afterwards; the others were refused (503) or never answered — none half-accepted.
    @Test func noAcceptedEventIsLostAtShutdown() async throws {
        let cli = CLI()
        let (daemon, base) = try await serve(cli)
        let answered = Counter()
        let pid = daemon.pid
        let results = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
            for n in 0..<300 {
                group.addTask {
                    do {
                        let a = try await Self.call(base, .POST, "/api/v1/events", body: #"{"type": "custom.load", "data": {"n": \#(n)}}"#)
                        if answered.increment() == 50 { kill(pid, SIGTERM) }
                        return (a.status, a.json["id"]?.stringValue)
                    } catch {
                        return (0, nil)  // the connection was closed by the shutdown
                    }
                }
            }
            var out: [(Int, String?)] = []
            for try await r in group { out.append(r) }
            return out
        }
        #expect(try await daemon.waitExit() == 0, "\(daemon.log)")
        let accepted = results.filter { $0.0 == 202 }.compactMap(\.1)
        #expect(accepted.count >= 50)
        #expect(results.allSatisfy { [0, 202, 503].contains($0.0) }, "\(results.map(\.0))")
        let store = try cli.openStore()
        for id in accepted { #expect((try? await store.resolveEvent(id)) != nil, "event \(id) was answered 202 but is not stored") }
        await store.close()
    }

    /// With `--http-max-connections 1`, a second client waits until the first connection is gone:
    /// the first sits idle until the 1 s idle timeout cuts it, so the second cannot be answered
    /// sooner than that after the first connected (without the limit it is answered at once).
    @Test func connectionsBeyondTheMaximumWait() async throws {
        let cli = CLI()
        let (daemon, base) = try await serve(cli, ["--http-max-connections", "1", "--http-idle-timeout", "1s"])
        let port = try #require(Int(base.split(separator: ":").last ?? ""))
        let idle = Self.openSocket(port: port)
        #expect(idle >= 0)
        defer { close(idle) }
        // A request on the first connection, answered: the server has accepted it (connections
        // arriving together may be accepted in one go), and it is idle from here on.
        let request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        _ = request.withCString { send(idle, $0, strlen($0), 0) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(idle, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        #expect(recv(idle, &buffer, buffer.count, 0) > 0)
        let idleFrom = DispatchTime.now().uptimeNanoseconds
        let answer = try await Self.call(base, .GET, "/healthz")
        let waited = Double(DispatchTime.now().uptimeNanoseconds - idleFrom) / 1e9
        #expect(answer.status == 200)
        #expect(waited >= 0.9, "the second connection was served after \(waited) s, while the first was still open")
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit() == 0)
    }

    static func openSocket(port: Int) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return rc == 0 ? fd : -1
    }

    /// A client that opens a connection and never finishes its request is cut off.
    @Test func aSlowClientIsCutOff() async throws {
        let cli = CLI()
        let (daemon, base) = try await serve(cli, ["--http-idle-timeout", "1s"])
        let port = try #require(Int(base.split(separator: ":").last ?? ""))
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        #expect(connected == 0)
        let partial = "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"ty"
        _ = partial.withCString { send(fd, $0, strlen($0), 0) }
        // The server closes the connection by itself: read returns 0 (end of file).
        var buffer = [UInt8](repeating: 0, count: 4096)
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var n = 1
        while n > 0 { n = recv(fd, &buffer, buffer.count, 0) }
        #expect(n == 0, "the connection was closed by the server, not by the 30 s safety timeout (errno \(errno))")
        #expect(try await countEvents(cli) == 0)
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit() == 0)
    }

    /// A client dribbling its headers is cut off by the header timeout (0.5 s here), long before
    /// the idle timeout (60 s); a keep-alive connection idle between requests is not.
    @Test func aSlowHeaderIsCutOffButAnIdleConnectionIsNot() async throws {
        let cli = CLI()
        let (daemon, base) = try await serve(cli, ["--http-header-timeout", "0.5s", "--http-idle-timeout", "60s"])
        let port = try #require(Int(base.split(separator: ":").last ?? ""))
        func receive(_ fd: Int32) -> Int {
            var buffer = [UInt8](repeating: 0, count: 4096)
            return recv(fd, &buffer, buffer.count, 0)
        }
        /// One whole response (head, then Content-Length bytes of body); false if the
        /// connection ended first.
        func receiveResponse(_ fd: Int32) -> Bool {
            var got: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let text = String(decoding: got, as: UTF8.self)
                if let headEnd = text.range(of: "\r\n\r\n") {
                    let head = text[..<headEnd.lowerBound].lowercased()
                    let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                        .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                    if text.utf8.count - text[..<headEnd.upperBound].utf8.count >= length { return true }
                }
                let n = recv(fd, &buffer, buffer.count, 0)
                guard n > 0 else { return false }
                got += buffer[..<n]
            }
        }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        let slow = Self.openSocket(port: port)
        defer { close(slow) }
        setsockopt(slow, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let started = DispatchTime.now().uptimeNanoseconds
        _ = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ".withCString { send(slow, $0, strlen($0), 0) }
        var n = 1
        while n > 0 { n = receive(slow) }
        let cutAfter = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        #expect(n == 0 && cutAfter < 20, "closed by the server after \(cutAfter) s (errno \(errno)), not by the header timeout")

        // A connection that finished a request and then waits longer than the header timeout
        // is still open for the next one.
        let idle = Self.openSocket(port: port)
        defer { close(idle) }
        setsockopt(idle, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        _ = request.withCString { send(idle, $0, strlen($0), 0) }
        #expect(receiveResponse(idle))
        var ready = pollfd(fd: idle, events: Int16(POLLIN), revents: 0)
        #expect(poll(&ready, 1, 1500) == 0, "the idle connection was closed (or sent something) within 1.5 s")
        _ = request.withCString { send(idle, $0, strlen($0), 0) }
        #expect(receiveResponse(idle), "the idle connection no longer answers")
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit() == 0)
    }

    /// `--http-rate-limit 2/m`: a client's third request within the minute is `429` with
    /// `Retry-After`, per token; health checks are never limited.
    @Test func aClientOverItsRateGets429() async throws {
        let cli = CLI()
        let (daemon, base) = try await serve(cli, ["--http-rate-limit", "2/m"])
        for _ in 0..<2 { #expect(try await Self.call(base, .GET, "/api/v1/events").status == 200) }
        let refused = try await Self.call(base, .POST, "/api/v1/events", body: #"{"type": "custom.x"}"#)
        #expect(refused.status == 429 && refused.errorCode == "rate_limited", "\(refused)")
        let retryAfter = Int(refused.headers["retry-after"].first ?? "") ?? 0
        #expect((1...60).contains(retryAfter), "\(refused.headers)")
        #expect(try await countEvents(cli) == 0, "a refused request stores nothing")
        #expect(try await Self.call(base, .GET, "/healthz").status == 200)
        #expect(try await Self.call(base, .GET, "/metrics").text.contains("sloth_http_rate_limited_total 1"))
        // A token has a budget of its own; guessing tokens from a spent address is throttled too.
        let created = try await cli.run("token", "create", "reader", "--role", "read")
        let token = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try await eventually(timeout: 10, "the token was never accepted") {
            try await Self.call(base, .GET, "/api/v1/events", headers: [("Authorization", "Bearer \(token)")]).status == 200
        }
        let guessed = try await Self.call(base, .GET, "/api/v1/events", headers: [("Authorization", "Bearer srt_guess")])
        #expect(guessed.status == 429, "\(guessed)")
        // A bad value is refused at start, naming the flag.
        let bad = try await cli.run("serve", "--http-rate-limit", "lots")
        #expect(bad.status == 2 && bad.stderr.contains("--http-rate-limit") && bad.stderr.contains("100/s"), "\(bad)")
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit() == 0)
    }

    /// A page on another site cannot make a browser change anything here (the API is open on
    /// loopback without a token): cross-site state changes are refused; programs, same-origin
    /// pages, reads and webhooks are not affected.
    @Test func crossSiteChangesAreRefused() async throws {
        let cli = CLI()
        let (daemon, base) = try await serve(cli)
        let hostPort = String(base.dropFirst("http://".count))
        let event = #"{"type": "custom.csrf"}"#
        var a = try await Self.call(base, .POST, "/api/v1/events", body: event, headers: [("Origin", "http://evil.example"), ("Content-Type", "text/plain")])
        #expect(a.status == 403 && a.errorCode == "cross_origin", "\(a)")
        a = try await Self.call(base, .POST, "/api/v1/hooks?name=x", body: "return {}", headers: [("Sec-Fetch-Site", "cross-site")])
        #expect(a.status == 403 && a.errorCode == "cross_origin", "\(a)")
        a = try await Self.call(base, .DELETE, "/api/v1/state/-/k", headers: [("Origin", "null")])
        #expect(a.status == 403, "\(a)")
        #expect(try await countEvents(cli) == 0)
        // The same origin, a program without the headers, and reads pass.
        a = try await Self.call(base, .POST, "/api/v1/events", body: event, headers: [("Origin", "http://\(hostPort)"), ("Sec-Fetch-Site", "same-origin")])
        #expect(a.status == 202, "\(a)")
        a = try await Self.call(base, .POST, "/api/v1/events", body: event)
        #expect(a.status == 202, "\(a)")
        a = try await Self.call(base, .GET, "/api/v1/events", headers: [("Origin", "http://evil.example")])
        #expect(a.status == 200, "\(a)")
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit() == 0)
    }
}

final class Counter: Sendable {
    private let value = Mutex(0)
    func increment() -> Int { value.withLock { $0 += 1; return $0 } }
}
