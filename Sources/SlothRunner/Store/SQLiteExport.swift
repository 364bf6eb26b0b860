import Foundation

/// Reading a table out whole, for `db copy` (SQLite → PostgreSQL): rows as plain values, a page
/// at a time, from one read transaction per page.
extension SQLiteEventStore {
    /// A cell as SQLite holds it.
    package enum ExportValue: Sendable, Equatable {
        case null
        case int(Int64)
        case double(Double)
        case text(String)
    }

    /// The table's column names, in order.
    package func exportColumns(of table: String) async throws -> [String] {
        guard table.allSatisfy({ $0.isLetter || $0 == "_" }) else { throw SlothError.invalidInput("not a table name: \(table)") }
        return try await readerPerform { db in try db.query("SELECT name FROM pragma_table_info(?)", [.text(table)]) { $0.textValue(0) } }
    }

    /// Up to `limit` rows of `table` after the first `offset` (in primary-key order), with `columns`.
    package func exportRows(of table: String, columns: [String], orderBy: String, offset: Int, limit: Int, where condition: String? = nil) async throws -> [[ExportValue]] {
        for name in [table, orderBy] + columns where !name.allSatisfy({ $0.isLetter || $0 == "_" || $0 == "," || $0 == " " }) {
            throw SlothError.invalidInput("not a column or table name: \(name)")
        }
        let sql = "SELECT \(columns.joined(separator: ", ")) FROM \(table)\(condition.map { " WHERE " + $0 } ?? "") ORDER BY \(orderBy) LIMIT ? OFFSET ?"
        let width = Int32(columns.count)
        return try await readerPerform { db in
            try db.query(sql, [.int(Int64(limit)), .int(Int64(offset))]) { row in
                (0..<width).map { i -> ExportValue in
                    if row.isNull(i) { return .null }
                    switch row.columnType(i) {
                    case .integer: return .int(row.intValue(i))
                    case .float: return .double(row.double(i) ?? 0)
                    default: return .text(row.textValue(i))
                    }
                }
            }
        }
    }
}
