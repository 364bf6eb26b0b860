import ArgumentParser
import Foundation
import SlothRunner

struct SecretCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secret",
        abstract: "Manage secrets hooks read with secret.get (encrypted at rest with AES-256-GCM).",
        discussion: """
            The key comes from SLOTH_RUNNER_SECRET_KEY (32 bytes as base64 or hex) or from
            secret.key beside the database, created with mode 0600 when the first secret is set.
            The database remembers which key sealed its secrets: another key, or a missing key
            file, is an error saying how to recover (never a silent new key). Values are never
            printed; hooks' output and errors show them (and their base64, hex and URL forms) as ***.

            Examples:
              sloth-runner secret set slack_webhook_url --value https://hooks.slack.com/services/...
              sloth-runner secret set db_password --from-file /run/keys/db
              printf %s "$TOKEN" | sloth-runner secret set api_token
              sloth-runner secret list
              sloth-runner secret delete api_token
              sloth-runner secret reset --yes      # the key is lost: delete what cannot be opened
            """,
        subcommands: [SecretSet.self, SecretList.self, SecretDelete.self, SecretReset.self]
    )
}

struct SecretSet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "set", abstract: "Store or replace a secret (value from --value, --from-file, or stdin).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Secret name.") var name: String
    @Option(help: "The value (visible in shell history: prefer --from-file or stdin).") var value: String?
    @Option(help: "Read the value from this file.") var fromFile: String?

    func run() async throws {
        try await runReporting {
            try SecretVault.validateName(name)
            if value != nil && fromFile != nil { throw SlothError.invalidInput("give --value or --from-file, not both") }
            var secret: String
            if let value {
                secret = value
            } else {
                // Bounded: a secret is at most 64 KiB (plus a trailing newline).
                let data = try readBounded(fromFile ?? "-", limit: SecretVault.maxValueBytes + 2, what: "the secret value")
                guard let text = String(data: data, encoding: .utf8) else { throw SlothError.invalidInput("the secret value is not UTF-8 text") }
                secret = text
            }
            if value == nil && secret.hasSuffix("\n") { secret.removeLast() }
            try await global.withStore { store in
                try await SecretVault(driver: store, databasePath: global.databasePath).set(name, value: secret)
                if global.json { printJSON(.object(["name": .string(name), "stored": .bool(true)])) } else { print("Secret '\(name)' stored.") }
            }
        }
    }
}

struct SecretList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List secret names and dates (never values).")
    @OptionGroup var global: GlobalOptions
    func run() async throws {
        try await global.withStore { store in
            let all = try await store.secretList()
            if global.json {
                printJSON(.array(all.map(\.json)))
                return
            }
            if all.isEmpty { print("No secrets. Add one with `sloth-runner secret set NAME`."); return }
            var t = Table(["Name", "Created", "Updated"])
            for s in all { t.add([s.name, Format.timestamp(s.createdAt), Format.timestamp(s.updatedAt)]) }
            print(t.render())
        }
    }
}

struct SecretDelete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a secret.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Secret name.") var name: String
    func run() async throws {
        try await global.withStore { store in
            guard try await store.secretDelete(name: name) else { throw SlothError.notFound("no secret named '\(name)' (see `sloth-runner secret list`)") }
            if global.json { printJSON(.object(["name": .string(name), "deleted": .bool(true)])) } else { print("Secret '\(name)' deleted.") }
        }
    }
}

struct SecretReset: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reset", abstract: "Delete every secret and forget which key sealed them (when that key is lost).",
        discussion: """
            For the one case the key check cannot help with: the key that sealed the secrets is gone
            (secret.key deleted, SLOTH_RUNNER_SECRET_KEY forgotten). Afterwards `secret set` seals
            with the key in use, or creates a new key file.

            Example:
              sloth-runner secret reset --yes
            """)
    @OptionGroup var global: GlobalOptions
    @Flag(help: "Confirm: the secrets are deleted for good.") var yes = false
    func run() async throws {
        try await global.withStore { store in
            let count = try await store.secretList().count
            guard yes else {
                throw SlothError.invalidInput("this deletes all \(count) secret\(count == 1 ? "" : "s") for good; run again with --yes to do it")
            }
            let n = try await store.secretDeleteAll()
            if global.json { printJSON(.object(["deleted": .int(Int64(n))])) } else { print("Deleted \(n) secret\(n == 1 ? "" : "s"); the next `secret set` starts with the key in use.") }
        }
    }
}
