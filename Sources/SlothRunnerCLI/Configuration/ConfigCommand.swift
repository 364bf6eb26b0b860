import ArgumentParser
import Foundation
import SlothRunner

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Show the effective configuration and where each value came from.",
        discussion: """
            Settings come from, in order of precedence: flags, SLOTH_RUNNER_* environment
            variables, the config file (--config FILE, $SLOTH_RUNNER_CONFIG, or
            $SLOTH_RUNNER_HOME/config.yaml when present), and the defaults. See
            examples/config.yaml for every key.
            """,
        subcommands: [ConfigShow.self]
    )
}

struct ConfigShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Print every setting's effective value and its source.",
        discussion: """
            Examples:
              sloth-runner config show
              sloth-runner --config /etc/sloth-runner/config.yaml config show -o json
              SLOTH_RUNNER_WORKERS=200 sloth-runner config show
            """
    )

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await runReporting {
            let settings = try global.settings()
            if global.json {
                printJSON(.object([
                    "config_file": settings.configPath.map { .string($0) } ?? .null,
                    "settings": .array(settings.entries.map { e in
                        .object([
                            "key": .string(e.setting.key), "value": e.value?.json ?? .null, "source": .string(e.source.description),
                            "environment": .string(e.setting.environment), "flag": e.setting.flag.map { .string($0) } ?? .null,
                        ])
                    }),
                ]))
                return
            }
            var table = Table(["KEY", "VALUE", "SOURCE"])
            for e in settings.entries {
                table.add([e.setting.key, e.value?.description ?? "(\(e.setting.help.components(separatedBy: "(default: ").dropFirst().first?.dropLast() ?? "unset"))", e.source.description])
            }
            print(table.render(headers: !global.noHeaders))
            if !global.noHeaders { print("config file: \(settings.configPath ?? "none")") }
        }
    }
}
