import CSQLite
import Foundation

/// Looking after the database file: shrinking it, copying it while it is in use, checking it.
extension SQLiteEventStore {
    /// What `vacuum()` did.
    public struct VacuumReport: Sendable {
        /// The file's size before and after.
        public var bytesBefore: Int64
        public var bytesAfter: Int64
        /// Whether the file frees pages as it goes from now on (incremental auto-vacuum).
        public var incremental: Bool
    }

    /// Rewrites the file without its free pages, and switches it to incremental auto-vacuum (so
    /// later pruning gives space back by itself). Holds the writer for the whole rewrite: a
    /// `serve` on the same file waits meanwhile, so run it in a quiet moment.
    public func vacuum() async throws -> VacuumReport {
        let before = Self.fileBytes(path)
        let incremental = try await writerPerformAlone { db -> Bool in
            try db.execute("PRAGMA auto_vacuum = INCREMENTAL")
            try db.execute("VACUUM")
            try db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return try db.scalarInt("PRAGMA auto_vacuum") == 2
        }
        return VacuumReport(bytesBefore: before, bytesAfter: Self.fileBytes(path), incremental: incremental)
    }

    /// What `backup(to:)` wrote.
    public struct BackupReport: Sendable {
        /// The copy, its size, and how many events it holds.
        public var path: String
        public var bytes: Int64
        public var events: Int
    }

    /// Copies the database to `destination` with SQLite's online backup API, from one read
    /// snapshot: the copy holds every event committed before the backup began, and a `serve`
    /// writing meanwhile is not held up (WAL readers do not block the writer). The destination
    /// must not exist; a partial copy is removed.
    public func backup(to destination: String) async throws -> BackupReport {
        guard !FileManager.default.fileExists(atPath: destination) else {
            throw SlothError.conflict("\(destination) already exists; give a new file name (a backup never overwrites)")
        }
        let directory = (destination as NSString).deletingLastPathComponent
        var isDir: ObjCBool = false
        guard directory.isEmpty || (FileManager.default.fileExists(atPath: directory, isDirectory: &isDir) && isDir.boolValue) else {
            throw SlothError.invalidInput("cannot write the backup: the directory \(directory) does not exist")
        }
        let source = try SQLiteConnection(path: path, readOnly: true)
        defer { source.close() }
        var target: OpaquePointer?
        guard sqlite3_open_v2(destination, &target, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nil) == SQLITE_OK, let target else {
            sqlite3_close(target)
            throw SlothError.storage("cannot create the backup file \(destination)")
        }
        func fail(_ message: String) -> SlothError {
            sqlite3_close(target)
            try? FileManager.default.removeItem(atPath: destination)
            return .storage(message)
        }
        guard let backup = sqlite3_backup_init(target, "main", source.handle, "main") else {
            throw fail("cannot start the backup: \(String(cString: sqlite3_errmsg(target)))")
        }
        // One step copies every page under one read transaction: a consistent snapshot.
        let rc = sqlite3_backup_step(backup, -1)
        sqlite3_backup_finish(backup)
        guard rc == SQLITE_DONE else { throw fail("the backup failed: \(String(cString: sqlite3_errstr(rc)))") }
        // A standalone file: no WAL beside it.
        sqlite3_exec(target, "PRAGMA journal_mode=DELETE", nil, nil, nil)
        var events = 0
        var stmt: OpaquePointer?
        if sqlite3_prepare_v2(target, "SELECT count(*) FROM events", -1, &stmt, nil) == SQLITE_OK, sqlite3_step(stmt) == SQLITE_ROW {
            events = Int(sqlite3_column_int64(stmt, 0))
        }
        sqlite3_finalize(stmt)
        sqlite3_close(target)
        return BackupReport(path: destination, bytes: Self.fileBytes(destination), events: events)
    }

    /// What `check()` found.
    public struct CheckReport: Sendable {
        /// "ok", or what SQLite found wrong (at most 100 lines).
        public var integrity: [String]
        /// Rows pointing at rows that do not exist.
        public var foreignKeyProblems: Int
        /// The schema version of the file, and the one this build writes.
        public var schemaVersion: Int
        public var knownSchemaVersion: Int
        /// Pages in the file, and how many of them are free.
        public var pages: Int64
        public var freePages: Int64
        /// The auto-vacuum mode (`none`, `full`, `incremental`).
        public var autoVacuum: String
        /// Integrity ok, no dangling rows, and the current schema.
        public var isHealthy: Bool { integrity == ["ok"] && foreignKeyProblems == 0 && schemaVersion == knownSchemaVersion }
    }

    /// SQLite's integrity check, foreign keys, the schema version and how much of the file is free.
    public func check() async throws -> CheckReport {
        try await readerPerform { db in
            let integrity = try db.query("PRAGMA integrity_check(100)", []) { $0.textValue(0) }
            let foreign = try db.query("PRAGMA foreign_key_check", []) { _ in 1 }.count
            let mode = try db.scalarInt("PRAGMA auto_vacuum") ?? 0
            return CheckReport(
                integrity: integrity, foreignKeyProblems: foreign, schemaVersion: Int(try db.scalarInt("PRAGMA user_version") ?? 0),
                knownSchemaVersion: SQLiteSchema.migrations.count, pages: try db.scalarInt("PRAGMA page_count") ?? 0,
                freePages: try db.scalarInt("PRAGMA freelist_count") ?? 0, autoVacuum: ["none", "full", "incremental"][Int(min(2, max(0, mode)))])
        }
    }

    static func fileBytes(_ path: String) -> Int64 {
        let main = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)??.int64Value ?? 0
        let wal = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? NSNumber)??.int64Value ?? 0
        return main + wal
    }
}
