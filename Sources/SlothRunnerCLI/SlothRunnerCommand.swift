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
        version: "sloth-runner \(BuildInfo.version) (commit \(BuildInfo.commit))",
        subcommands: [
            HookCommand.self, EventsCommand.self, StateCommand.self, SecretCommand.self, ServeCommand.self, StatusCommand.self, TokenCommand.self, WebhookCommand.self, ScheduleCommand.self, CheckCommand.self, WatchCommand.self, SourcesCommand.self, NodesCommand.self, ConfigCommand.self, DBCommand.self,
            BenchCommand.self, SlowHTTPServerCommand.self,
        ]
    )



    static func main() async {
        // Swift hands arguments over with invalid UTF-8 replaced by U+FFFD: data, names and
        // paths would be stored changed without a word. The raw bytes are checked first.
        for i in 1..<Int(CommandLine.argc) {
            guard let raw = CommandLine.unsafeArgv[i] else { continue }
            let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(raw).assumingMemoryBound(to: UInt8.self), count: strlen(raw))
            if String(validating: bytes, as: UTF8.self) == nil {
                FileHandle.standardError.write(Data("error: argument \(i) is not valid UTF-8 text (\(TerminalText.escaped(String(decoding: bytes, as: UTF8.self))))\n".utf8))
                Foundation.exit(2)
            }
        }
        let startup: Startup
        switch Startup.current {
        case .success(let s): startup = s
        case .failure(let error):
            let json = CommandLine.arguments.contains { $0 == "json" || $0 == "--output=json" || $0 == "-ojson" }
            ErrorReport.write(error.description, code: error.code, json: json)
            Foundation.exit(error.exitCode)
        }
        do {
            // Every setting is checked once here, whatever the command: a bad variable or
            // file value is an error, never silently ignored.
            LogSetup.bootstrap(try startup.settings())
        } catch {
            ErrorReport.write(error.description, code: "invalid_input", json: startup.invocation.wantsJSON)
            Foundation.exit(2)
        }
        await run(startup.invocation)
    }

    /// ArgumentParser's main, but a usage error exits 2 like all other bad input (its own
    /// convention is 64), and is JSON on stderr under `-o json`.
    static func run(_ invocation: Invocation) async {
        do {
            var command = try parseAsRoot(invocation.arguments)
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                var message = fullMessage(for: error)
                if message.hasPrefix("Error: ") { message.removeFirst(7) }
                ErrorReport.write(message, code: "usage", json: invocation.wantsJSON)
                Foundation.exit(2)
            }
            if invocation.wantsJSON, code != .success, !(error is ExitCode) {
                ErrorReport.write(fullMessage(for: error), code: "error", json: true)
                Foundation.exit(code.rawValue)
            }
            exit(withError: error)
        }
    }
}
