import ArgumentParser
import Foundation
import SlothRunner

struct WebhookCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webhook",
        abstract: "Manage webhooks: HTTP endpoints (POST /webhooks/NAME on serve) that turn verified deliveries into events.",
        discussion: """
            Verification, in constant time, with the key from a secret (`sloth-runner secret set`):
              github       X-Hub-Signature-256 (HMAC-SHA256 of the body); X-GitHub-Delivery dedupes
              stripe       Stripe-Signature (t=..,v1=..; the timestamp within 5 minutes); the event id dedupes
              hmac-sha256  a hex HMAC-SHA256 of the body in --signature-header (default X-Signature-256)
              token        Authorization: Bearer SECRET
              none         nothing: accepted only while serve listens on loopback
            A bad or missing signature is 401 and stores nothing. The event type may take a
            header: github.{X-GitHub-Event} makes github.push. The body (JSON, or a form) becomes
            the event's data, with `_webhook` {name, delivery_id, headers} alongside.

            Examples:
              sloth-runner secret set github_hook --value "$SECRET"
              sloth-runner webhook add github --event-type 'github.{X-GitHub-Event}' --verify github --secret github_hook
              sloth-runner webhook add alerts --event-type custom.alert --verify token --secret alert_token --stack production
              sloth-runner webhook list
              sloth-runner webhook test github --body push.json --header X-GitHub-Event:push --header "X-Hub-Signature-256:sha256=..."
              sloth-runner webhook remove alerts
            """,
        subcommands: [WebhookAdd.self, WebhookList.self, WebhookGet.self, WebhookRemove.self, WebhookTest.self]
    )
}

struct WebhookAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Declare a webhook.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Its name: the URL is /webhooks/NAME.") var name: String
    @Option(help: "The event type, or a template with a header: github.{X-GitHub-Event}.") var eventType: String
    @Option(help: "github, stripe, hmac-sha256, token or none.") var verify: String
    @Option(help: "The secret holding the key (all but --verify none).") var secret: String?
    @Option(help: "The stack of its events.") var stack: String?
    @Option(help: "For hmac-sha256: the header with the signature (default X-Signature-256).") var signatureHeader: String?
    @Option(help: "A header identifying each delivery, to drop redeliveries.") var deliveryHeader: String?

    func run() async throws {
        try await global.withStore { store in
            let secrets = Set(try await store.secretList().map(\.name))
            let hook = try Webhook.declare(
                name: name, eventType: eventType, verify: verify, secret: secret, stack: stack, signatureHeader: signatureHeader,
                deliveryHeader: deliveryHeader, now: nowMillis(), field: { "--" + $0.replacingOccurrences(of: "_", with: "-") },
                secretExists: { secrets.contains($0) })
            try await store.webhookAdd(hook)
            if global.json { printJSON(hook.json) } else { print("Webhook '\(name)' added: POST /webhooks/\(name) on serve's HTTP address.") }
        }
    }
}

/// Stack names are checked by the event they end up in; nothing more to say here.
enum StackCheck {
    static func validate(_ stack: String) throws(SlothError) { _ = try NewEvent(type: "custom.x", stack: stack).validated() }
}

struct WebhookList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List webhooks.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await global.withStore { store in
            let all = try await store.webhookList()
            if global.json { printJSON(.array(all.map(\.json))); return }
            if all.isEmpty { print("No webhooks. Declare one with `sloth-runner webhook add NAME --event-type T --verify V --secret S`."); return }
            var t = Table(["Name", "Event type", "Verify", "Secret", "Stack", "Declared in"])
            for w in all { t.add([w.name, w.eventType, w.verification.rawValue, w.secret ?? "-", w.stack ?? "-", w.declaredIn ?? "webhook add"]) }
            print(t.render(headers: !global.noHeaders))
        }
    }
}

struct WebhookGet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get", abstract: "Show a webhook.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Its name.") var name: String

    func run() async throws {
        try await global.withStore { store in
            guard let w = try await store.webhook(named: name) else { throw SlothError.notFound("no webhook named '\(name)' (see `sloth-runner webhook list`)") }
            if global.json { printJSON(w.json); return }
            print("Name:        \(w.name)")
            print("URL path:    /webhooks/\(w.name)")
            print("Event type:  \(w.eventType)")
            print("Verify:      \(w.verification.rawValue)\(w.secret.map { " with secret \($0)" } ?? "")")
            if let h = w.signatureHeader { print("Signature:   \(h)") }
            if let h = w.deliveryHeader { print("Delivery id: \(h)") }
            print("Stack:       \(w.stack ?? "-")")
            print("Declared in: \(w.declaredIn ?? "webhook add")")
        }
    }
}

struct WebhookRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove a webhook; its deliveries are refused (404) from then on.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Its name.") var name: String

    func run() async throws {
        try await global.withStore { store in
            let declaredIn = try await store.webhook(named: name)?.declaredIn
            guard try await store.webhookRemove(name: name) else { throw SlothError.notFound("no webhook named '\(name)'") }
            if let declaredIn {
                warn("'\(name)' is declared in \(declaredIn); serve declares it again at its next start unless it is removed there")
            }
            if global.json { printJSON(.object(["name": .string(name), "removed": .bool(true)])) } else { print("Webhook '\(name)' removed.") }
        }
    }
}

struct WebhookTest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Check a delivery against a webhook — does its signature verify, what event would it make — storing nothing.",
        discussion: """
            Exit 0 when the delivery would be accepted, 1 when it would be refused (the reason is
            printed). Headers are given as NAME:VALUE, as many as needed.

            Examples:
              sloth-runner webhook test github --body push.json --header X-GitHub-Event:push --header "X-Hub-Signature-256:sha256=6f1e..."
              sloth-runner webhook test alerts --body alert.json --header "Authorization:Bearer $TOKEN" -o json
            """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The webhook's name.") var name: String
    @Option(help: "A file holding the delivery's body ('-': standard input).") var body: String
    @Option(help: "A header of the delivery, NAME:VALUE (repeatable).") var header: [String] = []

    func run() async throws {
        try await global.withStore { store in
            guard let hook = try await store.webhook(named: name) else { throw SlothError.notFound("no webhook named '\(name)' (see `sloth-runner webhook list`)") }
            let bytes = Array(try readBounded(body, limit: 64 << 20, what: "the delivery body"))
            var headers: [(String, String)] = []
            for h in header {
                guard let colon = h.firstIndex(of: ":"), colon != h.startIndex else { throw SlothError.invalidInput("--header '\(h)' must be NAME:VALUE") }
                headers.append((h[..<colon].lowercased(), h[h.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
            }
            var key: String?
            if let secret = hook.secret { key = try await SecretVault(driver: store, databasePath: global.databasePath).get(secret) }
            let rejection = hook.verify(body: bytes, key: key, now: nowMillis()) { name in headers.first { $0.0 == name.lowercased() }?.1 }
            var made: NewEvent?, delivery: String?, problem: String?
            if rejection == nil {
                do { (made, delivery) = try hook.event(body: bytes, contentType: headers.first { $0.0 == "content-type" }?.1, headers: headers) } catch {
                    problem = "\(error)"
                }
            }
            let accepted = rejection == nil && problem == nil
            if global.json {
                var o: [String: JSONValue] = ["webhook": .string(hook.name), "verified": .bool(rejection == nil), "accepted": .bool(accepted)]
                o["rejection"] = rejection.map { .object(["reason": .string($0.reason), "message": .string($0.message)]) } ?? .null
                o["error"] = problem.map(JSONValue.string) ?? .null
                o["event"] = made.map { .object(["type": .string($0.type), "stack": $0.stack.map(JSONValue.string) ?? .null, "data": $0.data]) } ?? .null
                o["delivery_id"] = delivery.map(JSONValue.string) ?? .null
                printJSON(.object(o))
            } else {
                print("Webhook:     \(hook.name) (verify \(hook.verification.rawValue))")
                if let rejection {
                    print("Signature:   refused (\(rejection.reason)): \(rejection.message)")
                } else {
                    print("Signature:   \(hook.verification == .none ? "not checked (verify none: loopback only)" : "verified")")
                }
                if let problem { print("Event:       refused: \(problem)") }
                if let made {
                    print("Event:       \(made.type)\(made.stack.map { " (stack \($0))" } ?? "")\(delivery.map { ", delivery \($0)" } ?? "")")
                    print("Data:        \(made.data.serialized())")
                }
                print("Stored:      nothing (a test)")
            }
            if !accepted { throw ExitCode(1) }
        }
    }
}
