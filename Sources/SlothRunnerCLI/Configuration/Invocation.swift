import Foundation
import SlothRunner

/// What main() takes from the command line before ArgumentParser sees it. `--log-level`,
/// `--log-format` and `--config` apply to the whole process (logging starts before any command
/// is parsed), so they are accepted anywhere before a `--`, the subcommand's name included
/// (the specification writes `sloth-runner --log-level debug events list`). The other options
/// every command has (`--db`, `-o`, `--no-headers`) may also come before the subcommand; they
/// are handed on after it.
struct Invocation: Sendable {
    /// The arguments for ArgumentParser, without the program name.
    var arguments: [String] = []
    /// Setting key → text, for the process-wide flags that were given.
    var flags: [String: String] = [:]
    var configPath: String?
    /// `-o json` was asked for: errors, usage errors included, are JSON on stderr too.
    var wantsJSON = false

    static let processWide: [String: String] = ["--log-level": "log.level", "--log-format": "log.format"]
    /// Options of every command that take a value, and may come before the subcommand.
    static let handedOn: Set<String> = ["--db", "-o", "--output"]

    static func parse(_ argv: [String]) throws(SlothError) -> Invocation {
        var out = Invocation()
        var moved: [String] = []
        var seenCommand = false
        var i = 0
        while i < argv.count {
            let arg = argv[i]
            if arg == "--" {
                out.arguments.append(contentsOf: argv[i...])
                break
            }
            let (name, inlineValue) = split(arg)
            func value() throws(SlothError) -> String {
                if let inlineValue { return inlineValue }
                guard i + 1 < argv.count, argv[i + 1] != "--" else { throw .invalidInput("\(name) needs a value") }
                i += 1
                return argv[i]
            }
            if let key = processWide[name] {
                out.flags[key] = try value()
            } else if name == "--config" {
                out.configPath = try value()
            } else if handedOn.contains(name) {
                let v = try value()
                if name != "--db" && v.lowercased() == "json" { out.wantsJSON = true }
                if seenCommand { out.arguments += [name, v] } else { moved += [name, v] }
            } else if name == "--no-headers" && !seenCommand {
                moved.append(arg)
            } else {
                if !arg.hasPrefix("-") { seenCommand = true }
                out.arguments.append(arg)
            }
            i += 1
        }
        if !moved.isEmpty {
            let end = out.arguments.firstIndex(of: "--") ?? out.arguments.endIndex
            out.arguments.insert(contentsOf: moved, at: end)
        }
        return out
    }

    /// `--name=value` → ("--name", "value"); `-ojson` → ("-o", "json").
    private static func split(_ arg: String) -> (String, String?) {
        if arg.hasPrefix("--"), let eq = arg.firstIndex(of: "=") {
            return (String(arg[..<eq]), String(arg[arg.index(after: eq)...]))
        }
        if arg.hasPrefix("-o"), arg.count > 2, !arg.hasPrefix("--") { return ("-o", String(arg.dropFirst(2))) }
        return (arg, nil)
    }
}

/// What every command starts from: the command line, the environment and the config file,
/// read once when the process starts.
struct Startup: Sendable {
    let invocation: Invocation
    let environment: [String: String]
    let file: ConfigFile?

    /// Read on first use from the process's own arguments; main() touches it first and reports
    /// its error (a bad flag value, an unreadable or invalid config file) before anything runs.
    static let current: Result<Startup, SlothError> = Result { () throws(SlothError) -> Startup in
        try Startup(arguments: Array(CommandLine.arguments.dropFirst()), environment: ProcessInfo.processInfo.environment)
    }

    init(arguments: [String], environment: [String: String]) throws(SlothError) {
        invocation = try Invocation.parse(arguments)
        self.environment = environment
        if let explicit = invocation.configPath ?? environment["SLOTH_RUNNER_CONFIG"].flatMap({ $0.isEmpty ? nil : $0 }) {
            // Named: it must be there.
            file = try ConfigFile.load(path: Setting.expandingTilde(explicit))
        } else {
            let implicit = Startup.home(environment) + "/config.yaml"
            file = FileManager.default.fileExists(atPath: implicit) ? try ConfigFile.load(path: implicit) : nil
        }
    }

    /// The settings with a command's own flags (setting key → text) on top of the process-wide ones.
    func settings(flags: [String: String] = [:]) throws(SlothError) -> EffectiveSettings {
        try EffectiveSettings.resolve(file: file, environment: environment, flags: invocation.flags.merging(flags) { _, command in command })
    }

    /// $SLOTH_RUNNER_HOME, or ~/.sloth-runner.
    static func home(_ environment: [String: String]) -> String {
        if let home = environment["SLOTH_RUNNER_HOME"], !home.isEmpty { return home }
        return NSHomeDirectory() + "/.sloth-runner"
    }

    /// For code that runs after main() checked it.
    static var checked: Startup {
        switch current {
        case .success(let s): return s
        case .failure(let e): preconditionFailure("Startup.current was not checked by main(): \(e)")
        }
    }
}
