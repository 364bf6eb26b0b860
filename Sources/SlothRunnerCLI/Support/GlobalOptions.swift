import ArgumentParser
import Foundation
import SlothRunner

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json
}

/// Options every command accepts.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Path of the SQLite database (default: $SLOTH_RUNNER_HOME/sloth.db or ~/.sloth-runner/sloth.db).")
    var db: String?

    @Option(name: .long, help: "Log level: debug, info, warn, error (default: $SLOTH_RUNNER_LOG_LEVEL or info).")
    var logLevel: LogLevel?

    @Option(name: [.customShort("o"), .long], help: "Output format: table for people, json for scripts.")
    var output: OutputFormat = .table

    var databasePath: String {
        if let db { return db }
        return Self.defaultHome + "/sloth.db"
    }

    /// $SLOTH_RUNNER_HOME, or ~/.sloth-runner.
    static var defaultHome: String {
        if let home = ProcessInfo.processInfo.environment["SLOTH_RUNNER_HOME"], !home.isEmpty { return home }
        return NSHomeDirectory() + "/.sloth-runner"
    }

    /// The default home is created on first use (its parent must exist); a `--db` path is
    /// taken as given, its directory included: a typo there is an error, not a new tree.
    func prepareDatabaseDirectory() throws(SlothError) {
        guard db == nil else { return }
        let home = Self.defaultHome
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: home, isDirectory: &isDir) {
            guard isDir.boolValue else { throw .invalidInput("the sloth-runner home \(home) is not a directory") }
            return
        }
        let parent = (home as NSString).deletingLastPathComponent
        guard parent.isEmpty || FileManager.default.fileExists(atPath: parent, isDirectory: &isDir), isDir.boolValue || parent.isEmpty else {
            throw .invalidInput("cannot create the sloth-runner home \(home): \(parent) does not exist")
        }
        do { try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700]) } catch {
            throw .storage("cannot create the sloth-runner home \(home): \(error.localizedDescription)")
        }
    }

    var effectiveLogLevel: LogLevel {
        if let logLevel { return logLevel }
        if let raw = ProcessInfo.processInfo.environment["SLOTH_RUNNER_LOG_LEVEL"], let l = LogLevel(rawValue: raw.lowercased()) { return l }
        return .info
    }

    func openStore(synchronous: SQLiteSynchronous = .normal) throws(SlothError) -> SQLiteEventStore {
        try prepareDatabaseDirectory()
        do {
            return try SQLiteEventStore(path: databasePath, synchronous: synchronous)
        } catch let e as SlothError {
            throw e
        } catch {
            throw .storage("cannot open the database at \(databasePath): \(error)")
        }
    }

    var json: Bool { output == .json }

    /// Opens the store for a command's body and closes it after; engine errors become a message
    /// on stderr and their exit code.
    func withStore(_ body: (SQLiteEventStore) async throws -> Void) async throws {
        try await runReporting {
            let store = try openStore()
            defer { store.closeNow() }
            try await body(store)
        }
    }
}

enum LogLevel: String, ExpressibleByArgument, CaseIterable, Comparable {
    case debug, info, warn, error
    static func < (a: LogLevel, b: LogLevel) -> Bool { a.order < b.order }
    private var order: Int { [.debug: 0, .info: 1, .warn: 2, .error: 3][self]! }
}

/// Plain stderr logging for the CLI and the daemon.
struct Log: Sendable {
    let level: LogLevel
    func callAsFunction(_ l: LogLevel, _ message: String) {
        guard l >= level else { return }
        let stamp = Format.timestamp(nowMillis())
        FileHandle.standardError.write(Data("\(stamp) \(l.rawValue.uppercased()) \(TerminalText.escapedBlock(message))\n".utf8))
    }
}
