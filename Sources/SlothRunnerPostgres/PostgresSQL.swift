import Foundation
import Logging
import PostgresNIO
import SlothRunner
import Synchronization

/// A value bound to a statement's `$n` placeholder.
enum PGValue: Sendable {
    case text(String?)
    case int(Int64?)
    case bool(Bool?)
    /// A `text[]` (for `= ANY($n)`).
    case texts([String])

    static func int(_ i: Int) -> PGValue { .int(Int64(i)) }
}

/// One result row, read by column position (the statements name their columns in order).
struct PGRow: Sendable {
    let cells: [PostgresCell]

    init(_ row: PostgresRow) { cells = Array(row) }

    func text(_ i: Int) -> String? { (try? cells[i].decode(String?.self)) ?? nil }
    func textValue(_ i: Int) -> String { text(i) ?? "" }
    func int(_ i: Int) -> Int64? { (try? cells[i].decode(Int64?.self)) ?? nil }
    func intValue(_ i: Int) -> Int64 { int(i) ?? 0 }
    func bool(_ i: Int) -> Bool { ((try? cells[i].decode(Bool?.self)) ?? nil) ?? false }
    /// This row without its first `n` columns (to read a joined row with another reader).
    func shifted(by n: Int) -> PGRow { PGRow(cells: Array(cells.dropFirst(n))) }
    private init(cells: [PostgresCell]) { self.cells = cells }
}

/// Where statements run: a connection inside a transaction, or the pool (one statement each).
protocol PGExecutor: Sendable {
    func rows(_ sql: String, _ args: [PGValue]) async throws -> [PGRow]
}

extension PGExecutor {
    /// Runs a statement; returns the number of rows it returned (write `RETURNING 1` to count).
    @discardableResult
    func run(_ sql: String, _ args: [PGValue] = []) async throws -> Int { try await rows(sql, args).count }
    func scalarInt(_ sql: String, _ args: [PGValue] = []) async throws -> Int64? { try await rows(sql, args).first?.int(0) }
    func query<T>(_ sql: String, _ args: [PGValue] = [], _ read: (PGRow) throws -> T) async throws -> [T] {
        try await rows(sql, args).map(read)
    }
}

extension PostgresConnection: PGExecutor {
    /// Runs a statement and collects its rows on the event loop. Not the async row sequence:
    /// with it, postgres-nio 1.33 traps (RowStreamStateMachine, "receive a body part after a
    /// channelReadComplete") when the server closes the connection while a result waits for
    /// demand — a PostgreSQL restart under load killed the node (seen here). The callback
    /// form has no demand state.
    func rows(_ sql: String, _ args: [PGValue]) async throws -> [PGRow] {
        // A statement sent on a connection already closed is never answered (its future never
        // completes): refuse it here, as the server would have.
        guard !isClosed else { throw SlothError.storage("the PostgreSQL connection closed (the server went away); nothing more was sent on it") }
        do {
            let result = try await query(sql, args.map(\.postgresData)).get()
            return result.rows.map(PGRow.init)
        } catch {
            throw PostgresErrors.translate(error, sql: sql)
        }
    }
}

extension PGValue {
    var postgresData: PostgresData {
        switch self {
        case .text(let s): return s.map { PostgresData(string: $0) } ?? PostgresData(type: .text)
        case .int(let i): return i.map { PostgresData(int64: $0) } ?? PostgresData(type: .int8)
        case .bool(let b): return b.map { PostgresData(bool: $0) } ?? PostgresData(type: .bool)
        case .texts(let list): return PostgresData(array: list.map { PostgresData(string: $0) }, elementType: .text)
        }
    }
}

/// The pool: each statement on whichever connection is free (its own transaction).
struct PGPool: PGExecutor {
    let client: PostgresClient
    let location: PostgresLocation

    func rows(_ sql: String, _ args: [PGValue]) async throws -> [PGRow] {
        try await withConnection { connection in try await connection.rows(sql, args) }
    }

    /// A connection of the pool for `body`. postgres-nio's pool waits for a connection as long
    /// as it takes while it retries the server; an operation here waits at most the location's
    /// connect timeout for one, then fails saying the server is unreachable (a dispatch during
    /// an outage is refused, not left hanging). Once it has its connection, `body` runs to the end.
    func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let lease = LeaseRace<T>()
        let client = self.client
        let location = self.location
        // Unstructured on purpose: a lease request the pool does not give up when cancelled
        // must not hold the caller (a task group would wait for it). Whichever of the lease
        // and the timer comes first decides; the other finds the race decided and stops.
        let work = Task {
            do {
                let value = try await client.withConnection { connection in
                    guard lease.markLeased() else { throw PostgresUnreachable() }
                    return try await body(connection)
                }
                lease.finish(.success(value))
            } catch {
                lease.finish(.failure(PostgresErrors.translate(error, sql: "", location: location)))
            }
        }
        let timeout = UInt64(location.connectTimeoutSeconds * 1_000_000_000)
        let timer = Task {
            try? await Task.sleep(nanoseconds: timeout)
            if lease.abandonIfWaiting() {
                lease.finish(.failure(SlothError.storage(
                    "the PostgreSQL server at \(location.serverDescription) is unreachable (no connection within \(DurationText.format(millis: Int64(location.connectTimeoutSeconds * 1000)))); nothing was done — retry once it is back")))
                work.cancel()
            }
        }
        defer { timer.cancel() }
        return try await lease.result()
    }
}

/// The race between a lease and its deadline, decided once; and the operation's result,
/// delivered once to whoever waits.
final class LeaseRace<T: Sendable>: Sendable {
    private enum Phase { case waiting, leased, abandoned }
    private struct State {
        var phase = Phase.waiting
        var result: Result<T, any Error>?
        var waiter: CheckedContinuation<T, any Error>?
    }
    private let state = Mutex(State())

    func markLeased() -> Bool {
        state.withLock { s in
            guard s.phase == .waiting else { return false }
            s.phase = .leased
            return true
        }
    }

    func abandonIfWaiting() -> Bool {
        state.withLock { s in
            guard s.phase == .waiting else { return false }
            s.phase = .abandoned
            return true
        }
    }

    func finish(_ result: Result<T, any Error>) {
        let waiter = state.withLock { s -> CheckedContinuation<T, any Error>? in
            guard s.result == nil else { return nil }
            s.result = result
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(with: result)
    }

    func result() async throws -> T {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
            let ready = state.withLock { s -> Result<T, any Error>? in
                if let r = s.result { return r }
                s.waiter = c
                return nil
            }
            if let ready { c.resume(with: ready) }
        }
    }
}

private struct PostgresUnreachable: Error {}



/// PostgreSQL's errors in the operator's terms. postgres-nio hides a server error's text behind
/// a generic description (it may hold data); we show the server's message and SQL state, which
/// name the problem, and never a statement's bound values.
enum PostgresErrors {
    static let quiet = Logger(label: "sloth.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    /// The server's SQL state (`23505` unique violation, `23503` foreign key), if it sent one.
    static func sqlState(_ error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.sqlState] ?? (error as? PostgresStoreError)?.sqlState
    }

    static func translate(_ error: any Error, sql: String, location: PostgresLocation? = nil) -> any Error {
        if error is SlothError || error is PostgresStoreError || error is CancellationError { return error }
        guard let e = error as? PSQLError else { return SlothError.storage("PostgreSQL: \(error)") }
        if let info = e.serverInfo {
            let message = info[.message] ?? "unknown error"
            let state = info[.sqlState] ?? "?????"
            var text = "PostgreSQL refused a statement: \(message) (SQL state \(state))"
            if let detail = info[.detail] { text += "; \(detail)" }
            return PostgresStoreError(sqlState: state, message: text)
        }
        return SlothError.storage(unreachable(e, location: location))
    }

    /// What a connection-level failure means for the operator.
    static func unreachable(_ e: PSQLError, location: PostgresLocation?) -> String {
        let at = location.map { " at \($0.serverDescription)" } ?? ""
        let cause = e.underlying.map { "\($0)" } ?? e.code.description
        return "the PostgreSQL server\(at) is unreachable (\(cause)); nothing was written — retry once it is back"
    }
}

/// A statement the server refused. Kept apart from `SlothError` while a transaction runs, so a
/// constraint the store expects (a unique key taken) is told from other failures; it reaches
/// users as `SlothError.storage`.
struct PostgresStoreError: Error, CustomStringConvertible {
    let sqlState: String
    let message: String
    var description: String { message }
    var slothError: SlothError { .storage(message) }
}

/// Builds a JSON array of row objects for `json_to_recordset`: many rows in one bound value
/// (one statement, one round trip), nulls included, which `unnest` of typed arrays cannot carry.
/// Read as `json`, not `jsonb`: the server then reads each row once, as it takes it, instead of
/// first building a binary copy of the whole array (measured on 30,000 event rows: the insert
/// 26 % faster, the parsing a third cheaper).
struct PGRecordSet {
    // Bytes, not a String: a batch's rows are written on the writer's path, and appending to a
    // String piece by piece (temporaries for every name and value) was a tenth of the
    // process's CPU under load.
    private var bytes: [UInt8] = [UInt8(ascii: "[")]
    private(set) var count = 0

    mutating func row(_ fields: KeyValuePairs<String, PGField>) {
        if count > 0 { bytes.append(UInt8(ascii: ",")) }
        bytes.append(UInt8(ascii: "{"))
        count += 1
        var firstField = true
        for (name, value) in fields {
            if !firstField { bytes.append(UInt8(ascii: ",")) }
            firstField = false
            bytes.append(UInt8(ascii: "\""))
            bytes.append(contentsOf: name.utf8)
            bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
            switch value {
            case .text(let s?): JSONValue.writeString(s, into: &bytes)
            case .int(let i?): JSONValue.writeInteger(i, into: &bytes)
            case .bool(let b?): bytes.append(contentsOf: (b ? "true" : "false").utf8)
            case .json(let raw): bytes.append(contentsOf: raw.utf8)
            case .text(nil), .int(nil), .bool(nil): bytes.append(contentsOf: "null".utf8)
            }
        }
        bytes.append(UInt8(ascii: "}"))
    }

    /// A row already written as a JSON object.
    mutating func raw(_ object: String) {
        if count > 0 { bytes.append(UInt8(ascii: ",")) }
        bytes.append(contentsOf: object.utf8)
        count += 1
    }

    var json: String { String(decoding: bytes + [UInt8(ascii: "]")], as: UTF8.self) }
}

enum PGField {
    case text(String?)
    case int(Int64?)
    case bool(Bool?)
    /// Already JSON text, embedded as it is (an event's data).
    case json(String)
}
