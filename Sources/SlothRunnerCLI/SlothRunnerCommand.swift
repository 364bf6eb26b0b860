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
        await Self.main(nil)
    }
}
