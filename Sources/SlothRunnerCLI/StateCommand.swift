import ArgumentParser
import Foundation
import SlothRunner

struct StateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "state",
        abstract: "Read and change the key-value state hooks share per stack.",
        discussion: """
            Hooks without a stack share the default namespace; --stack picks another.

            Examples:
              sloth-runner state set last_scale_time 1764400000
              sloth-runner state set feature '{"enabled": true}' --stack production --ttl 1h
              sloth-runner state get last_scale_time
              sloth-runner state list --prefix deploy.
              sloth-runner state delete last_scale_time
            """,
        subcommands: [StateGet.self, StateSet.self, StateList.self, StateDelete.self]
    )
}

struct StateGet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get", abstract: "Print a value as JSON.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Key.") var key: String
    @Option(help: "Stack namespace (default: hooks without a stack).") var stack = ""
    func run() async throws {
        try await global.withStore { store in
            guard let value = try await store.stateGet(stack: stack, key: key, now: nowMillis()) else {
                throw SlothError.notFound("no state '\(key)'\(stack.isEmpty ? "" : " in stack \(stack)") (see `sloth-runner state list`)")
            }
            printJSON(value)
        }
    }
}

struct StateSet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "set", abstract: "Set a value (JSON; a bare word is taken as a string).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Key.") var key: String
    @Argument(help: "Value as JSON, e.g. 42, \"text\", {\"a\": 1}; anything that is not JSON is stored as a string.") var value: String
    @Option(help: "Stack namespace (default: hooks without a stack).") var stack = ""
    @Option(help: "Expire after this long, e.g. 10m, 24h.") var ttl: String?
    func run() async throws {
        try await runReporting {
            guard !key.isEmpty, key.utf8.count <= 256 else { throw SlothError.invalidInput("a key is 1-256 bytes") }
            let parsed = (try? JSONValue.parse(value)) ?? .string(value)
            let expires = try ttl.map { nowMillis() + (try DurationText.millis($0, for: "--ttl", in: 0.001...DurationText.maxSeconds)) }
            try await global.withStore { store in
                try await store.stateSet(stack: stack, key: key, value: parsed, expiresAt: expires, now: nowMillis())
                if global.json { printJSON(.object(["key": .string(key), "value": parsed])) } else { print("State '\(key)' set.") }
            }
        }
    }
}

struct StateList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List keys and values.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Only this stack namespace (default: all).") var stack: String?
    @Option(help: "Only keys starting with this.") var prefix = ""
    func run() async throws {
        try await global.withStore { store in
            let entries = try await store.stateEntries(stack: stack, prefix: prefix, now: nowMillis())
            if global.json {
                printJSON(.array(entries.map(\.json)))
                return
            }
            if entries.isEmpty { print("No state\(prefix.isEmpty ? "" : " with prefix \(prefix)")."); return }
            var t = Table(["Stack", "Key", "Value", "Expires", "Updated"])
            for e in entries {
                t.add([e.stack.isEmpty ? "-" : e.stack, e.key, HookView.firstLine(e.value.serialized(), max: 50), Format.timestamp(e.expiresAt), Format.timestamp(e.updatedAt)])
            }
            print(t.render())
        }
    }
}

struct StateDelete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a key.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Key.") var key: String
    @Option(help: "Stack namespace (default: hooks without a stack).") var stack = ""
    func run() async throws {
        try await global.withStore { store in
            guard try await store.stateDelete(stack: stack, key: key) else { throw SlothError.notFound("no state '\(key)'") }
            if global.json { printJSON(.object(["key": .string(key), "deleted": .bool(true)])) } else { print("State '\(key)' deleted.") }
        }
    }
}
