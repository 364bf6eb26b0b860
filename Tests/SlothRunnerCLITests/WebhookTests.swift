import AsyncHTTPClient
import Crypto
import Foundation
import NIOHTTP1
import SlothRunner
import Testing

/// Webhooks through a real `serve`: each verifier with valid, invalid, missing, expired and
/// replayed deliveries; nothing is stored on a rejection.
@Suite(.serialized) struct WebhookTests {
    typealias API = HTTPAPITests

    static func hmac(_ key: String, _ message: String) -> String {
        HMAC<SHA256>.authenticationCode(for: Array(message.utf8), using: SymmetricKey(data: Array(key.utf8))).map { String(format: "%02x", $0) }.joined()
    }

    func events(_ cli: CLI) async throws -> [Event] {
        let store = try cli.openStore()
        defer { Task { await store.close() } }
        return try await store.listEvents(EventFilter(limit: 100))
    }

    @Test func githubAndStripeDeliveries() async throws {
        let cli = CLI()
        #expect(try await cli.run("secret", "set", "gh", "--value", "gh-key").status == 0)
        #expect(try await cli.run("secret", "set", "st", "--value", "whsec_st").status == 0)
        var r = try await cli.run("webhook", "add", "github", "--event-type", "github.{X-GitHub-Event}", "--verify", "github", "--secret", "gh")
        #expect(r.status == 0, "\(r)")
        r = try await cli.run("webhook", "add", "stripe", "--event-type", "stripe.event", "--verify", "stripe", "--secret", "st", "--stack", "billing")
        #expect(r.status == 0, "\(r)")
        let (daemon, base) = try await HTTPAPITests().serve(cli)

        let push = #"{"ref": "refs/heads/main", "repository": {"name": "app"}}"#
        func github(_ body: String, signature: String?, delivery: String) async throws -> API.Answer {
            var headers = [("X-GitHub-Event", "push"), ("X-GitHub-Delivery", delivery), ("Content-Type", "application/json")]
            if let signature { headers.append(("X-Hub-Signature-256", signature)) }
            return try await API.call(base, .POST, "/webhooks/github", body: body, headers: headers)
        }
        var a = try await github(push, signature: "sha256=" + Self.hmac("gh-key", push), delivery: "d-1")
        #expect(a.status == 202 && a.json["type"] == .string("github.push"), "\(a)")
        #expect(a.json["data"]?["ref"] == .string("refs/heads/main") && a.json["data"]?["_webhook"]?["delivery_id"] == .string("d-1"), "\(a)")
        #expect(a.json["data"]?["_webhook"]?["headers"]?["x-hub-signature-256"] == nil, "the signature is not copied into the event")
        let first = a.json["id"]
        // A redelivery: the first event, nothing new.
        a = try await github(push, signature: "sha256=" + Self.hmac("gh-key", push), delivery: "d-1")
        #expect(a.status == 202 && a.json["id"] == first && a.headers["idempotent-replayed"].first == "true", "\(a)")
        a = try await github(push, signature: "sha256=" + Self.hmac("wrong-key", push), delivery: "d-2")
        #expect(a.status == 401 && a.errorCode == "invalid_signature", "\(a)")
        a = try await github(push + " ", signature: "sha256=" + Self.hmac("gh-key", push), delivery: "d-3")
        #expect(a.status == 401, "a changed body: \(a)")
        a = try await github(push, signature: nil, delivery: "d-4")
        #expect(a.status == 401 && a.errorCode == "missing_signature", "\(a)")

        let charge = #"{"id": "evt_1", "type": "charge.succeeded"}"#
        func stripe(_ body: String, at: Int64, key: String = "whsec_st") async throws -> API.Answer {
            let signature = "t=\(at),v1=" + Self.hmac(key, "\(at).\(body)")
            return try await API.call(base, .POST, "/webhooks/stripe", body: body, headers: [("Stripe-Signature", signature)])
        }
        let now = Int64(Date().timeIntervalSince1970)
        a = try await stripe(charge, at: now)
        #expect(a.status == 202 && a.json["stack"] == .string("billing") && a.json["data"]?["_webhook"]?["delivery_id"] == .string("evt_1"), "\(a)")
        a = try await stripe(charge, at: now)
        #expect(a.status == 202 && a.headers["idempotent-replayed"].first == "true", "replayed within the tolerance: deduplicated \(a)")
        a = try await stripe(#"{"id": "evt_2"}"#, at: now - 600)
        #expect(a.status == 401 && a.errorCode == "expired_signature", "a captured delivery replayed later: \(a)")
        a = try await stripe(#"{"id": "evt_3"}"#, at: now, key: "whsec_other")
        #expect(a.status == 401 && a.errorCode == "invalid_signature", "\(a)")
        a = try await API.call(base, .POST, "/webhooks/stripe", body: charge, headers: [("Stripe-Signature", "v1=abc")])
        #expect(a.status == 401, "\(a)")
        a = try await API.call(base, .POST, "/webhooks/nope", body: "{}")
        #expect(a.status == 404, "\(a)")

        let stored = try await events(cli)
        #expect(stored.count == 2, "one per accepted delivery: \(stored.map(\.type))")
        // Rejections are counted by webhook and reason.
        let samples = try HTTPAPITests.parsePrometheus(try await API.call(base, .GET, "/metrics").text, cli: cli)
        let rejected = samples.filter { $0.name == "sloth_webhook_rejections_total" }
        #expect(rejected.first { $0.labels["webhook"] == "github" && $0.labels["reason"] == "invalid_signature" }?.value == 2, "\(rejected)")
        #expect(rejected.first { $0.labels["webhook"] == "stripe" && $0.labels["reason"] == "expired_signature" }?.value == 1, "\(rejected)")
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit() == 0)
    }

    @Test func hmacTokenNoneAndForms() async throws {
        let cli = CLI()
        #expect(try await cli.run("secret", "set", "k", "--value", "shared").status == 0)
        #expect(try await cli.run("webhook", "add", "signed", "--event-type", "custom.signed", "--verify", "hmac-sha256", "--secret", "k",
                                  "--signature-header", "X-Sig", "--delivery-header", "X-Request-Id").status == 0)
        #expect(try await cli.run("webhook", "add", "bearer", "--event-type", "custom.bearer", "--verify", "token", "--secret", "k").status == 0)
        #expect(try await cli.run("webhook", "add", "open", "--event-type", "custom.open", "--verify", "none").status == 0)
        let (daemon, base) = try await HTTPAPITests().serve(cli)
        let body = "a=1&b=two+words&c=%C3%A9"
        var a = try await API.call(base, .POST, "/webhooks/signed", body: body, headers: [
            ("X-Sig", Self.hmac("shared", body)), ("Content-Type", "application/x-www-form-urlencoded"), ("X-Request-Id", "r-1"),
        ])
        #expect(a.status == 202 && a.json["data"]?["b"] == .string("two words") && a.json["data"]?["c"] == .string("é"), "\(a)")
        a = try await API.call(base, .POST, "/webhooks/signed", body: body, headers: [
            ("X-Sig", "sha256=" + Self.hmac("shared", body)), ("Content-Type", "application/x-www-form-urlencoded"), ("X-Request-Id", "r-1"),
        ])
        #expect(a.status == 202 && a.headers["idempotent-replayed"].first == "true", "the same delivery id: \(a)")
        a = try await API.call(base, .POST, "/webhooks/signed", body: body, headers: [("X-Sig", Self.hmac("shared", body + "x"))])
        #expect(a.status == 401, "\(a)")
        a = try await API.call(base, .POST, "/webhooks/bearer", body: #"{"n": 1}"#, headers: [("Authorization", "Bearer shared")])
        #expect(a.status == 202 && a.json["type"] == .string("custom.bearer"), "\(a)")
        a = try await API.call(base, .POST, "/webhooks/bearer", body: #"{"n": 1}"#, headers: [("Authorization", "Bearer shared2")])
        #expect(a.status == 401, "\(a)")
        a = try await API.call(base, .POST, "/webhooks/open", body: "[1, 2]")
        #expect(a.status == 202 && a.json["data"]?["body"] == .array([.int(1), .int(2)]), "none is accepted on loopback: \(a)")
        a = try await API.call(base, .POST, "/webhooks/open", body: "{oops")
        #expect(a.status == 400 && a.errorCode == "invalid_json", "\(a)")
        #expect(try await events(cli).count == 3)
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit() == 0)
    }

    @Test func declaringAWebhookChecksEverything() async throws {
        let cli = CLI()
        var r = try await cli.run("webhook", "add", "x", "--event-type", "custom.x", "--verify", "githb", "--secret", "s")
        #expect(r.status == 2 && r.stderr.contains("did you mean 'github'"), "\(r)")
        r = try await cli.run("webhook", "add", "x", "--event-type", "custom.x", "--verify", "github")
        #expect(r.status == 2 && r.stderr.contains("needs --secret"), "\(r)")
        r = try await cli.run("webhook", "add", "x", "--event-type", "custom.x", "--verify", "github", "--secret", "missing")
        #expect(r.status == 3 && r.stderr.contains("secret set missing"), "\(r)")
        r = try await cli.run("webhook", "add", "Bad Name", "--event-type", "custom.x", "--verify", "none")
        #expect(r.status == 2, "\(r)")
        r = try await cli.run("webhook", "add", "x", "--event-type", "NOT A TYPE", "--verify", "none")
        #expect(r.status == 2, "\(r)")
        r = try await cli.run("webhook", "add", "x", "--event-type", "custom.x", "--verify", "none")
        #expect(r.status == 0, "\(r)")
        r = try await cli.run("webhook", "add", "x", "--event-type", "custom.x", "--verify", "none")
        #expect(r.status == 5, "\(r)")
        r = try await cli.run("webhook", "list", "-o", "json")
        #expect(r.status == 0 && r.stdout.contains("/webhooks/x"), "\(r)")
        // webhook test: the verdict and the event, nothing stored.
        #expect(try await cli.run("secret", "set", "gh", "--value", "gh-key").status == 0)
        #expect(try await cli.run("webhook", "add", "github", "--event-type", "github.{X-GitHub-Event}", "--verify", "github", "--secret", "gh").status == 0)
        let push = #"{"ref": "main"}"#
        let file = cli.file("push.json", push)
        r = try await cli.run("webhook", "test", "github", "--body", file, "--header", "X-GitHub-Event:push",
                              "--header", "X-Hub-Signature-256:sha256=" + Self.hmac("gh-key", push), "-o", "json")
        let verdict = (try? JSONValue.parse(r.stdout)) ?? .null
        #expect(r.status == 0 && verdict["accepted"] == .bool(true) && verdict["event"]?["type"] == .string("github.push"), "\(r)")
        r = try await cli.run("webhook", "test", "github", "--body", file, "--header", "X-GitHub-Event:push", "--header", "X-Hub-Signature-256:sha256=00")
        #expect(r.status == 1 && r.stdout.contains("refused (invalid_signature)"), "\(r)")
        r = try await cli.run("webhook", "test", "github", "--body", file, "--header", "X-Hub-Signature-256:sha256=" + Self.hmac("gh-key", push))
        #expect(r.status == 1 && r.stdout.contains("X-GitHub-Event header"), "the type's header is missing: \(r)")
        #expect(try await events(cli).isEmpty, "a test stores nothing")
        #expect(try await cli.run("webhook", "remove", "x").status == 0)
        #expect(try await cli.run("webhook", "get", "x").status == 3)
    }

    /// Webhooks declared in the config file: `serve` makes the store match the file at start
    /// (added, changed, dropped ones removed; one from `webhook add` left alone), and a bad
    /// entry stops it with the file and line, changing nothing.
    @Test func webhooksDeclaredInTheConfigFile() async throws {
        let cli = CLI()
        #expect(try await cli.run("secret", "set", "alerts_key", "--value", "k-1").status == 0)
        #expect(try await cli.run("webhook", "add", "manual", "--event-type", "custom.manual", "--verify", "token", "--secret", "alerts_key").status == 0)
        let config = cli.file("declared.yaml", """
            webhooks:
              alerts:
                event_type: custom.alert
                verify: token
                secret: alerts_key
                stack: production
              ci:
                event_type: ci.{X-Event}
                verify: hmac-sha256
                secret: alerts_key
                signature_header: X-CI-Signature
            """)
        let daemon = try await cli.startServe(["--config", config])
        let base = try #require(daemon.apiURL, "\(daemon.log)")
        var a = try await API.call(base, .POST, "/webhooks/alerts", body: #"{"level": "high"}"#, headers: [("Authorization", "Bearer k-1")])
        #expect(a.status == 202 && a.json["type"] == .string("custom.alert") && a.json["stack"] == .string("production"), "\(a)")
        let body = #"{"ok": true}"#
        a = try await API.call(base, .POST, "/webhooks/ci", body: body, headers: [("X-Event", "build"), ("X-CI-Signature", Self.hmac("k-1", body))])
        #expect(a.status == 202 && a.json["type"] == .string("ci.build"), "\(a)")
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit() == 0)
        var r = try await cli.run("webhook", "list", "-o", "json")
        var listed = (try? JSONValue.parse(r.stdout))?.arrayValue ?? []
        #expect(listed.compactMap { $0["name"]?.stringValue } == ["alerts", "ci", "manual"], "\(r)")
        #expect(listed.first { $0["name"] == .string("alerts") }?["declared_in"] == .string(config))
        #expect(listed.first { $0["name"] == .string("manual") }?["declared_in"] == .null)

        // The file changes: ci is dropped, alerts changes stack. The next start follows it.
        _ = cli.file("declared.yaml", """
            webhooks:
              alerts:
                event_type: custom.alert
                verify: token
                secret: alerts_key
                stack: staging
            """)
        let second = try await cli.startServe(["--config", config])
        #expect(second.log.contains("webhooks from \(config)") && second.log.contains("removed [\"ci\"]"), "\(second.log)")
        second.kill(SIGTERM)
        #expect(try await second.waitExit() == 0)
        r = try await cli.run("webhook", "list", "-o", "json")
        listed = (try? JSONValue.parse(r.stdout))?.arrayValue ?? []
        #expect(listed.compactMap { $0["name"]?.stringValue } == ["alerts", "manual"], "\(r)")
        #expect(listed.first?["stack"] == .string("staging"))

        // Bad entries: refused with the file and line; the store keeps what it had.
        let cases: [(String, Int32, String)] = [
            ("webhooks:\n  alerts:\n    event_type: custom.alert\n    verfy: token\n", 2, "declared.yaml:4: unknown field 'webhooks.alerts.verfy'"),
            ("webhooks:\n  alerts:\n    event_type: custom.alert\n    verify: token\n    secret: nope\n", 3, "declared.yaml:5: webhooks.alerts.secret: secret 'nope' does not exist"),
            ("webhooks:\n  alerts:\n    event_type: custom.alert\n    verify: sometimes\n    secret: alerts_key\n", 2, "declared.yaml:4: webhooks.alerts.verify must be one of"),
            ("webhooks:\n  Bad Name:\n    event_type: custom.alert\n    verify: none\n", 2, "declared.yaml:2: webhooks.Bad Name: webhook name"),
            ("webhooks:\n  alerts:\n    verify: none\n", 2, "webhooks.alerts needs event_type"),
        ]
        for (text, status, message) in cases {
            _ = cli.file("declared.yaml", text)
            let refused = try await cli.run("serve", "--config", config)
            #expect(refused.status == status && refused.stderr.contains(message), "\(text): \(refused)")
        }
        r = try await cli.run("webhook", "list", "-o", "json")
        #expect(((try? JSONValue.parse(r.stdout))?.arrayValue ?? []).count == 2, "\(r)")
    }

    /// The server holds webhooks and their opened keys in memory: a key rotated with
    /// `secret set` (another process) counts within its reload tick, and the old key stops.
    @Test func aRotatedKeyCountsWithinATick() async throws {
        let cli = CLI()
        #expect(try await cli.run("secret", "set", "hook_key", "--value", "old-key").status == 0)
        #expect(try await cli.run("webhook", "add", "rotating", "--event-type", "custom.rotated", "--verify", "token", "--secret", "hook_key").status == 0)
        let (daemon, base) = try await HTTPAPITests().serve(cli)
        func deliver(_ key: String) async throws -> Int {
            try await API.call(base, .POST, "/webhooks/rotating", body: "{}", headers: [("Authorization", "Bearer \(key)")]).status
        }
        #expect(try await deliver("old-key") == 202)
        #expect(try await cli.run("secret", "set", "hook_key", "--value", "new-key").status == 0)
        try await eventually(timeout: 10, "the rotated key was not taken up") { try await deliver("new-key") == 202 }
        #expect(try await deliver("old-key") == 401)
        // A webhook removed with the CLI is gone within the tick too.
        #expect(try await cli.run("webhook", "remove", "rotating").status == 0)
        try await eventually(timeout: 10, "the removed webhook still answered") { try await deliver("new-key") == 404 }
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit() == 0)
    }
}
