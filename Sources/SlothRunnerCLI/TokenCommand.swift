import ArgumentParser
import Foundation
import SlothRunner

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Manage the HTTP API's tokens (only a hash of each is stored).",
        discussion: """
            With no token, the API is open, and serve listens only on a loopback address. Once
            any token exists, every /api request needs `Authorization: Bearer TOKEN`, and serve
            may listen on any address. Roles: read (GET), write (also dispatch, retry, state),
            admin (also hooks, the dry run of hook test, and tokens). A running serve sees a new
            or revoked token at its next request.

            Examples:
              sloth-runner token create ci --role write
              sloth-runner token list
              sloth-runner token revoke ci
            """,
        subcommands: [TokenCreate.self, TokenList.self, TokenRevoke.self]
    )
}

struct TokenCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Create a token and print it, once: it cannot be shown again.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "A name for the token (who or what uses it).") var name: String
    @Option(help: "read, write or admin.") var role: String

    func run() async throws {
        try await runReporting {
            try APIToken.validateName(name)
            guard let role = APIToken.Role(rawValue: role.lowercased()) else {
                throw SlothError.invalidInput("--role must be read, write or admin, not '\(role)'")
            }
            let secret = APIToken.generate()
            let token = APIToken(name: name, role: role, createdAt: nowMillis())
            try await global.withStore { store in
                try await store.tokenCreate(token, hash: APIToken.hash(secret))
            }
            if global.json {
                guard case .object(var o) = token.json else { return }
                o["token"] = .string(secret)
                printJSON(.object(o))
            } else {
                print(secret)
                warn("token '\(name)' (\(role.rawValue)) created; it is shown only this once")
            }
        }
    }
}

struct TokenList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List tokens: name, role, created, revoked (never the tokens).")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await global.withStore { store in
            let all = try await store.tokenList()
            if global.json { printJSON(.array(all.map(\.json))); return }
            if all.isEmpty { print("No tokens: the HTTP API is open on loopback. Create one with `sloth-runner token create NAME --role ROLE`."); return }
            var t = Table(["Name", "Role", "Created", "Revoked"])
            for k in all { t.add([k.name, k.role.rawValue, Format.timestamp(k.createdAt), k.revokedAt.map(Format.timestamp) ?? "-"]) }
            print(t.render(headers: !global.noHeaders))
        }
    }
}

struct TokenRevoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke a token; requests with it are refused from then on.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The token's name.") var name: String

    func run() async throws {
        try await global.withStore { store in
            guard try await store.tokenRevoke(name: name, now: nowMillis()) else {
                throw SlothError.notFound("no live token named '\(name)' (see `sloth-runner token list`)")
            }
            if global.json { printJSON(.object(["name": .string(name), "revoked": .bool(true)])) } else { print("Token '\(name)' revoked.") }
        }
    }
}
