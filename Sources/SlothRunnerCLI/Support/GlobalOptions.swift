import ArgumentParser
import Foundation
import SlothRunner
import SlothRunnerPostgres

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json
}

/// Options every command accepts. `--log-level`, `--log-format` and `--config` are read by
/// main() wherever they stand (see `Invocation`); they are declared here for the help text.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "SQLite database file, or postgres://USER:PASSWORD@HOST:PORT/DATABASE for the PostgreSQL store (default: database in the config file, $SLOTH_RUNNER_DB, $SLOTH_RUNNER_DATABASE_URL, or $SLOTH_RUNNER_HOME/sloth.db).")
    var db: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warn, error, critical (default: $SLOTH_RUNNER_LOG_LEVEL or info). May come before the subcommand.")
    var logLevel: String?

    @Option(name: .long, help: "Log format on stderr: text or json (default: $SLOTH_RUNNER_LOG_FORMAT or text).")
    var logFormat: String?

    @Option(name: .long, help: "Config file (default: $SLOTH_RUNNER_CONFIG, or $SLOTH_RUNNER_HOME/config.yaml when present).")
    var config: String?

    @Option(name: [.customShort("o"), .long], help: "Output format: table for people, json for scripts.")
    var output: OutputFormat = .table

    @Flag(name: .long, help: "Leave out table headers and notes about cut lists (for scripts reading the table).")
    var noHeaders = false

    var json: Bool { output == .json }

    /// The effective settings with this command's flags (setting key → text) on top.
    func settings(flags: [String: String] = [:]) throws(SlothError) -> EffectiveSettings {
        var all = flags
        if let db { all["database"] = db }
        return try Startup.checked.settings(flags: all)
    }

    /// A local path standing for the database: the SQLite file itself; for PostgreSQL, a name
    /// in the sloth-runner home (`postgres.db`, never created) beside which the secret key file
    /// and the daemon's lock live.
    var databasePath: String {
        if let db, !PostgresLocation.isPostgresURL(db) { return db }
        return (try? settings()).map(databasePath) ?? Startup.home(ProcessInfo.processInfo.environment) + "/sloth.db"
    }

    func databasePath(_ settings: EffectiveSettings) -> String {
        let home = Startup.home(ProcessInfo.processInfo.environment)
        guard let text = settings.text("database") else { return home + "/sloth.db" }
        return PostgresLocation.isPostgresURL(text) ? home + "/postgres.db" : text
    }

    /// The PostgreSQL database the settings name, if they name one.
    func postgresLocation(_ settings: EffectiveSettings) throws(SlothError) -> PostgresLocation? {
        guard let text = settings.text("database"), PostgresLocation.isPostgresURL(text) else { return nil }
        return try PostgresLocation(url: text)
    }

    /// The default home is created on first use (its parent must exist); a database path given
    /// by flag, variable or file is taken as given, its directory included: a typo there is an
    /// error, not a new tree.
    func prepareDatabaseDirectory(_ settings: EffectiveSettings) throws(SlothError) {
        guard settings.text("database") == nil else { return }
        let home = Startup.home(ProcessInfo.processInfo.environment)
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

    func openStore(synchronous: SQLiteSynchronous = .normal) async throws -> any EventStoreDriver {
        try await openStore(try settings(), synchronous: synchronous)
    }

    /// Opens the store the settings name: the PostgreSQL one for a `postgres://` URL, else the
    /// SQLite file (creating the default home on first use).
    func openStore(_ settings: EffectiveSettings, synchronous: SQLiteSynchronous = .normal) async throws -> any EventStoreDriver {
        if let location = try postgresLocation(settings) {
            return try await PostgresEventStore(location: location)
        }
        try prepareDatabaseDirectory(settings)
        let path = databasePath(settings)
        do {
            return try SQLiteEventStore(path: path, synchronous: synchronous)
        } catch let e as SlothError {
            throw e
        } catch {
            throw SlothError.storage("cannot open the database at \(path): \(error)")
        }
    }

    /// The SQLite store, for commands only it has (`db vacuum|backup|check`).
    func openSQLiteStore(command: String) async throws -> SQLiteEventStore {
        let settings = try settings()
        if let location = try postgresLocation(settings) {
            throw SlothError.invalidInput("`sloth-runner \(command)` works on a SQLite database; \(location) is PostgreSQL (use its own tools: pg_dump, VACUUM, amcheck)")
        }
        guard let store = try await openStore(settings) as? SQLiteEventStore else { throw SlothError.storage("expected a SQLite store") }
        return store
    }

    /// Opens the store for a command's body and closes it after; engine errors become a message
    /// on stderr and their exit code.
    func withStore(_ body: (any EventStoreDriver) async throws -> Void) async throws {
        try await runReporting {
            let store = try await openStore()
            defer { store.closeNow() }
            try await body(store)
        }
    }

    /// `withStore` for the SQLite-only commands.
    func withSQLiteStore(command: String, _ body: (SQLiteEventStore) async throws -> Void) async throws {
        try await runReporting {
            let store = try await openSQLiteStore(command: command)
            defer { store.closeNow() }
            try await body(store)
        }
    }
}
