import ArgumentParser
import Foundation
import SlothRunner

@main
struct SlothRunnerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sloth-runner",
        abstract: "Event-driven automation: dispatch events, run Lua hooks, keep a record of every run.",
        discussion: """
            Data lives in one SQLite file: --db PATH, or $SLOTH_RUNNER_HOME/sloth.db, or ~/.sloth-runner/sloth.db.

            Examples:
              sloth-runner hook add examples/hooks/notify_on_failure.lua
              sloth-runner events dispatch task.failed --data '{"task":{"task_name":"deploy"}}' --wait
              sloth-runner events show 0193
              sloth-runner serve
            """,
        subcommands: [HookCommand.self, EventsCommand.self, StateCommand.self, SecretCommand.self, ServeCommand.self, BenchCommand.self, SlowHTTPServerCommand.self]
    )
}
