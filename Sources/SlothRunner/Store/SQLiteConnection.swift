import CSQLite
import CSQLiteVFS
import Foundation
import Synchronization

private let SQLITE_TRANSIENT_DESTRUCTOR = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// A value bound to or read from a statement.
package enum SQLValue: Sendable, Equatable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)

    package var int: Int64? { if case .int(let v) = self { return v }; return nil }
    package var text: String? { if case .text(let v) = self { return v }; return nil }
}

/// A statement on the hot path: prepared once per connection and found by its slot, so running
/// it costs no hashing of its text (`run(_ sql: String, ...)` keys its cache by the text).
final class HotStatement: Sendable {
    let sql: String
    let slot: Int
    private static let slots = Mutex(0)

    init(_ sql: String) {
        self.sql = sql
        slot = Self.slots.withLock { n in
            defer { n += 1 }
            return n
        }
    }
}

/// Binds the parameters of a hot statement in place (no array of values per call).
struct StatementBinder {
    let stmt: OpaquePointer

    func bind(_ index: Int32, _ value: Int64) { sqlite3_bind_int64(stmt, index, value) }
    func bind(_ index: Int32, _ value: Int64?) {
        if let value { sqlite3_bind_int64(stmt, index, value) } else { sqlite3_bind_null(stmt, index) }
    }
    func bind(_ index: Int32, _ value: String) {
        var value = value
        value.withUTF8 { bytes in
            guard let base = bytes.baseAddress, bytes.count > 0 else {
                // An empty buffer may have no address, which SQLite would store as NULL.
                sqlite3_bind_text(stmt, index, "", 0, SQLITE_TRANSIENT_DESTRUCTOR)
                return
            }
            base.withMemoryRebound(to: CChar.self, capacity: bytes.count) {
                _ = sqlite3_bind_text(stmt, index, $0, Int32(bytes.count), SQLITE_TRANSIENT_DESTRUCTOR)
            }
        }
    }
    func bind(_ index: Int32, _ value: String?) {
        if let value { bind(index, value) } else { sqlite3_bind_null(stmt, index) }
    }
}

/// Configures the SQLite library once, before its first use in this process.
let sqliteLibraryConfigured: Void = {
    _ = sloth_sqlite_disable_memstatus()
    _ = sloth_walbatch_register()
}()

/// The VFS every connection opens with: the default one, with the frames of each WAL commit
/// written in a few large writes instead of two per page (see `walbatch.h`; measured 78,800 →
/// 21,800 `pwrite` calls for `bench --events 60000`, ~10 % less writer CPU).
/// `SLOTH_RUNNER_WAL_BATCHING=off` opens with SQLite's default VFS instead.
let sqliteVFS: String? = ProcessInfo.processInfo.environment["SLOTH_RUNNER_WAL_BATCHING"] == "off" ? nil : SLOTH_WALBATCH_VFS

/// One SQLite connection with a cache of prepared statements. Not thread-safe by design:
/// each connection lives on its own thread (`SQLiteThread`).
final class SQLiteConnection {
    private(set) var handle: OpaquePointer?
    private var cache: [String: OpaquePointer] = [:]
    private var hot: [OpaquePointer?] = []
    let path: String
    /// Work a writer batch defers to its end, inside the same transaction (aggregated counters).
    var batchEpilogue: ((SQLiteConnection) throws -> Void)?
    /// Hook run counters gathered during the current batch: id → (runs, latest run).
    var pendingHookRuns: [String: (count: Int64, last: Int64)] = [:]

    init(path: String, readOnly: Bool = false, busyTimeoutMillis: Int32 = 10_000) throws(SlothError) {
        self.path = path
        sqliteLibraryConfigured
        let flags = (readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) | SQLITE_OPEN_NOMUTEX
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(path, &db, flags, sqliteVFS)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(db)
            throw .storage("cannot open database \(path): \(message)")
        }
        handle = db
        sqlite3_busy_timeout(db, busyTimeoutMillis)
        sqlite3_extended_result_codes(db, 1)
    }

    deinit { close() }

    func close() {
        for (_, stmt) in cache { sqlite3_finalize(stmt) }
        cache.removeAll()
        for stmt in hot { sqlite3_finalize(stmt) }
        hot.removeAll()
        if let handle { sqlite3_close_v2(handle) }
        handle = nil
    }

    /// The name of the VFS this connection opened with.
    var vfsName: String? {
        var vfs: UnsafeMutablePointer<sqlite3_vfs>?
        guard sqlite3_file_control(handle, "main", SQLITE_FCNTL_VFS_POINTER, &vfs) == SQLITE_OK, let vfs else { return nil }
        return String(cString: vfs.pointee.zName)
    }

    var errorMessage: String { handle.map { String(cString: sqlite3_errmsg($0)) } ?? "closed" }

    /// Whether SQLite opened the file for reading only (it does so silently when it cannot write).
    var isReadOnly: Bool { handle.map { sqlite3_db_readonly($0, "main") == 1 } ?? true }

    /// Whether a transaction is open. SQLite rolls a whole transaction back by itself on some
    /// errors (a full disk, I/O errors, running out of memory); after one, statements would run
    /// one by one in autocommit mode, so a batch must stop at once.
    var inTransaction: Bool { handle.map { sqlite3_get_autocommit($0) == 0 } ?? false }

    /// The extended result code of the last failed call (SQLITE_CONSTRAINT_FOREIGNKEY, ...).
    var lastErrorCode: Int32 { handle.map { sqlite3_extended_errcode($0) } ?? SQLITE_MISUSE }

    func execute(_ sql: String) throws(SlothError) {
        var err: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &err)
        if rc != SQLITE_OK {
            let message = err.map { String(cString: $0) } ?? errorMessage
            sqlite3_free(err)
            throw .storage("database error: \(message)")
        }
    }

    private func statement(_ sql: String) throws(SlothError) -> OpaquePointer {
        if let s = cache[sql] { return s }
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw .storage("cannot prepare statement: \(errorMessage)\n\(sql)") }
        cache[sql] = stmt
        return stmt
    }

    private func bind(_ stmt: OpaquePointer, _ args: [SQLValue]) {
        for (i, arg) in args.enumerated() {
            let idx = Int32(i + 1)
            switch arg {
            case .null: sqlite3_bind_null(stmt, idx)
            case .int(let v): sqlite3_bind_int64(stmt, idx, v)
            case .double(let v): sqlite3_bind_double(stmt, idx, v)
            case .text(let v): sqlite3_bind_text(stmt, idx, v, -1, SQLITE_TRANSIENT_DESTRUCTOR)
            }
        }
    }

    private func statement(_ hotSQL: HotStatement) throws(SlothError) -> OpaquePointer {
        if hotSQL.slot < hot.count, let s = hot[hotSQL.slot] { return s }
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, hotSQL.sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw .storage("cannot prepare statement: \(errorMessage)\n\(hotSQL.sql)") }
        if hot.count <= hotSQL.slot { hot += Array(repeating: nil, count: hotSQL.slot + 1 - hot.count) }
        hot[hotSQL.slot] = stmt
        return stmt
    }

    /// Runs a hot statement that returns no rows, binding its parameters in place; returns the
    /// number of rows it changed.
    @discardableResult
    func run(_ sql: HotStatement, _ bind: (StatementBinder) -> Void) throws(SlothError) -> Int {
        let stmt = try statement(sql)
        defer { sqlite3_reset(stmt); sqlite3_clear_bindings(stmt) }
        bind(StatementBinder(stmt: stmt))
        var rc = sqlite3_step(stmt)
        while rc == SQLITE_ROW { rc = sqlite3_step(stmt) }
        guard rc == SQLITE_DONE else { throw .storage("database error: \(errorMessage)") }
        return Int(sqlite3_changes(handle))
    }

    /// Runs a statement that returns no rows; returns the number of rows it changed.
    @discardableResult
    func run(_ sql: String, _ args: [SQLValue] = []) throws(SlothError) -> Int {
        let stmt = try statement(sql)
        defer { sqlite3_reset(stmt); sqlite3_clear_bindings(stmt) }
        bind(stmt, args)
        var rc = sqlite3_step(stmt)
        while rc == SQLITE_ROW { rc = sqlite3_step(stmt) }
        guard rc == SQLITE_DONE else { throw .storage("database error: \(errorMessage)") }
        return Int(sqlite3_changes(handle))
    }

    /// Runs a query and maps each row.
    func query<T>(_ sql: String, _ args: [SQLValue] = [], _ map: (Row) throws(SlothError) -> T) throws(SlothError) -> [T] {
        let stmt = try statement(sql)
        defer { sqlite3_reset(stmt); sqlite3_clear_bindings(stmt) }
        bind(stmt, args)
        var out: [T] = []
        while true {
            let rc = sqlite3_step(stmt)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw .storage("database error: \(errorMessage)") }
            out.append(try map(Row(stmt: stmt)))
        }
        return out
    }

    func scalarInt(_ sql: String, _ args: [SQLValue] = []) throws(SlothError) -> Int64? {
        try query(sql, args) { row in row.int(0) }.first ?? nil
    }

    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    struct Row {
        let stmt: OpaquePointer
        /// Where this row's columns start: a joined query reads each table's part with that
        /// table's own row reader (`shifted(by:)`).
        var offset: Int32 = 0
        func shifted(by n: Int32) -> Row { Row(stmt: stmt, offset: offset + n) }
        func isNull(_ i: Int32) -> Bool { sqlite3_column_type(stmt, offset + i) == SQLITE_NULL }
        func int(_ i: Int32) -> Int64? { isNull(i) ? nil : sqlite3_column_int64(stmt, offset + i) }
        func intValue(_ i: Int32) -> Int64 { sqlite3_column_int64(stmt, offset + i) }
        func double(_ i: Int32) -> Double? { isNull(i) ? nil : sqlite3_column_double(stmt, offset + i) }
        func text(_ i: Int32) -> String? {
            guard let p = sqlite3_column_text(stmt, offset + i) else { return nil }
            return String(cString: p)
        }
        func textValue(_ i: Int32) -> String { text(i) ?? "" }
        enum ColumnType { case integer, float, text, blob, null }
        /// What the cell holds (SQLite types values per cell, not per column).
        func columnType(_ i: Int32) -> ColumnType {
            switch sqlite3_column_type(stmt, offset + i) {
            case SQLITE_INTEGER: return .integer
            case SQLITE_FLOAT: return .float
            case SQLITE_NULL: return .null
            case SQLITE_BLOB: return .blob
            default: return .text
            }
        }
    }
}
