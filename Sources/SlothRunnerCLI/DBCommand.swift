import ArgumentParser
import Foundation
import SlothRunner
import SlothRunnerPostgres

struct DBCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db",
        abstract: "Look after the database: shrink, back up or check a SQLite file; copy it into PostgreSQL.",
        subcommands: [DBVacuum.self, DBBackup.self, DBCheck.self, DBCopy.self]
    )
}

struct DBVacuum: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vacuum",
        abstract: "Rewrite the database without its free pages, and let it shrink by itself from then on.",
        discussion: """
            Pruning (events cleanup, serve's retention) frees pages; files made by this release
            give them back as they go (incremental auto-vacuum). An older file keeps them until
            `db vacuum`, which also switches it to incremental auto-vacuum. The rewrite holds the
            database's writer: a running serve waits meanwhile, so pick a quiet moment.

            Example:
              sloth-runner db vacuum
            """)
    @OptionGroup var global: GlobalOptions
    func run() async throws {
        try await global.withSQLiteStore(command: "db vacuum") { store in
            let r = try await store.vacuum()
            if global.json {
                printJSON(.object(["bytes_before": .int(r.bytesBefore), "bytes_after": .int(r.bytesAfter), "incremental_auto_vacuum": .bool(r.incremental)]))
            } else {
                print("Vacuumed \(store.path): \(Format.bytes(Int(r.bytesBefore))) → \(Format.bytes(Int(r.bytesAfter)))\(r.incremental ? "; it now gives space back as it goes" : "").")
            }
        }
    }
}

struct DBBackup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy the database to a new file, consistently, even while serve runs.",
        discussion: """
            Uses SQLite's online backup API from one snapshot: the copy holds every event
            committed before the backup began, and opens as a database of its own
            (sloth-runner --db FILE ...). The file must not exist yet.

            Examples:
              sloth-runner db backup /var/backups/sloth-$(date +%F).db
              sloth-runner --db /var/lib/sloth/sloth.db db backup /mnt/backup/sloth.db -o json
            """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The new file to write.") var file: String
    func run() async throws {
        try await global.withSQLiteStore(command: "db backup") { store in
            let r = try await store.backup(to: file)
            if global.json {
                printJSON(.object(["path": .string(r.path), "bytes": .int(r.bytes), "events": .int(Int64(r.events))]))
            } else {
                print("Backed up \(store.path) to \(r.path) (\(Format.bytes(Int(r.bytes))), \(r.events) event\(r.events == 1 ? "" : "s")).")
            }
        }
    }
}

struct DBCheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check the database's integrity and schema version; exit 7 if anything is wrong.",
        discussion: "Example:\n  sloth-runner db check")
    @OptionGroup var global: GlobalOptions
    func run() async throws {
        try await global.withSQLiteStore(command: "db check") { store in
            let r = try await store.check()
            if global.json {
                printJSON(.object([
                    "healthy": .bool(r.isHealthy), "integrity": .array(r.integrity.map { .string($0) }),
                    "foreign_key_problems": .int(Int64(r.foreignKeyProblems)), "schema_version": .int(Int64(r.schemaVersion)),
                    "known_schema_version": .int(Int64(r.knownSchemaVersion)), "pages": .int(r.pages), "free_pages": .int(r.freePages),
                    "auto_vacuum": .string(r.autoVacuum),
                ]))
            } else {
                print("""
                    Database:        \(store.path)
                    Integrity:       \(r.integrity == ["ok"] ? "ok" : r.integrity.joined(separator: "\n                 "))
                    Foreign keys:    \(r.foreignKeyProblems == 0 ? "ok" : "\(r.foreignKeyProblems) problem(s)")
                    Schema version:  \(r.schemaVersion) (this release: \(r.knownSchemaVersion))
                    Pages:           \(r.pages), \(r.freePages) free
                    Auto-vacuum:     \(r.autoVacuum)\(r.autoVacuum == "incremental" ? "" : " (`sloth-runner db vacuum` switches it to incremental)")
                    """)
            }
            if !r.isHealthy { throw SlothError.storage("the database check found problems (see above)") }
        }
    }
}

struct DBCopy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Copy a SQLite database into PostgreSQL, for serve nodes sharing it.",
        discussion: """
            Copies every hook (with its source), event (with its executions and retry state),
            shared state entry, sealed secret, setting, API token, webhook, schedule (with the
            slot it is up to), check and watch (with its snapshot), ids kept. The change journal
            and the node registry start afresh. The target must hold no sloth-runner data yet;
            --allow-non-empty adds what is missing and keeps rows already there (so a copy cut
            short is finished by running it again). Stop the serve on the SQLite file first:
            events it handles during the copy may be copied in an earlier state.

            Secrets stay sealed with the key that sealed them: every node of the PostgreSQL
            database needs that key (SLOTH_RUNNER_SECRET_KEY, or the secret.key file beside the
            SQLite database copied into each node's SLOTH_RUNNER_HOME).

            Examples:
              sloth-runner db copy --to postgres://sloth:secret@db.internal:5432/sloth
              sloth-runner --db /var/lib/sloth/sloth.db db copy --to "$SLOTH_RUNNER_DATABASE_URL" -o json
            """)
    @OptionGroup var global: GlobalOptions
    @Option(help: "The PostgreSQL database to copy into: postgres://USER:PASSWORD@HOST:PORT/DATABASE.") var to: String
    @Flag(help: "Copy into a database that holds data already: rows whose id is there are kept as they are.") var allowNonEmpty = false

    func run() async throws {
        try await global.withSQLiteStore(command: "db copy") { source in
            let location = try PostgresLocation(url: to)
            let target = try await PostgresEventStore(location: location)
            do {
                let quiet = global.json
                let report = try await target.copy(from: source, allowNonEmpty: allowNonEmpty) { table, rows in
                    if !quiet && rows % 10_000 == 0 { warn("copying \(table): \(rows) rows") }
                }
                await target.close()
                if global.json {
                    printJSON(.object([
                        "from": .string(source.path), "to": .string(location.description), "rows": .int(Int64(report.total)),
                        "tables": .array(report.tables.map { .object(["table": .string($0.table), "copied": .int(Int64($0.rows)), "kept": .int(Int64($0.skipped))]) }),
                    ]))
                    return
                }
                var t = Table(["Table", "Copied", "Already there"])
                for r in report.tables { t.add([r.table, "\(r.rows)", "\(r.skipped)"]) }
                print(t.render(headers: !global.noHeaders))
                print("Copied \(report.total) rows from \(source.path) to \(location).")
                let secrets = report.tables.first { $0.table == "secrets" }?.rows ?? 0
                if secrets > 0 {
                    print("Its \(secrets) secret(s) stay sealed with the key at \(SecretKeyring.keyFilePath(databasePath: source.path)) (or SLOTH_RUNNER_SECRET_KEY): give every node that key.")
                }
            } catch {
                await target.close()
                throw error
            }
        }
    }
}
