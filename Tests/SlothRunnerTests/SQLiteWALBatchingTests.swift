import Foundation
import Testing
@testable import SlothRunner

/// The WAL-batching VFS holds a transaction's frames until its commit frame is complete. Other
/// connections (readers, the checkpointer) must see every committed row and nothing torn, in
/// both durability modes, including commits larger than one write (the unix VFS writes at most
/// 128 KiB per call).
@Suite struct SQLiteWALBatchingTests {
    @Test(arguments: SQLiteSynchronous.allCases)
    func committedRowsAreVisibleToOtherConnectionsAndSurviveCheckpoints(sync: SQLiteSynchronous) throws {
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        let path = dir.path + "/wal.db"
        let writer = try SQLiteConnection(path: path)
        try writer.execute("PRAGMA journal_mode=WAL")
        try writer.execute("PRAGMA synchronous=\(sync.rawValue.uppercased())")
        try writer.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT NOT NULL, v TEXT NOT NULL)")
        try writer.execute("CREATE INDEX t_k ON t(k)")
        let reader = try SQLiteConnection(path: path)
        let checkpointer = try SQLiteConnection(path: path)
        let payload = String(repeating: "x", count: 300)
        var expected = 0
        for round in 0..<60 {
            // Alternate small and large commits: 400 rows of ~350 bytes is several hundred KiB.
            let rows = round % 3 == 0 ? 400 : 7
            try writer.execute("BEGIN IMMEDIATE")
            for i in 0..<rows {
                try writer.run("INSERT INTO t (k, v) VALUES (?, ?)", [.text("r\(round)-\(i)-\(UUID().uuidString)"), .text(payload)])
            }
            try writer.execute("COMMIT")
            expected += rows
            #expect(try reader.scalarInt("SELECT count(*) FROM t") == Int64(expected), "round \(round)")
            if round % 4 == 0 { try checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)") }
        }
        writer.close()
        reader.close()
        checkpointer.close()
        // A fresh connection rebuilds its view from the files alone.
        let fresh = try SQLiteConnection(path: path)
        defer { fresh.close() }
        #expect(try fresh.query("PRAGMA integrity_check", []) { $0.textValue(0) } == ["ok"])
        #expect(try fresh.scalarInt("SELECT count(*) FROM t") == Int64(expected))
    }

    @Test func connectionsUseTheBatchingVFS() throws {
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        let db = try SQLiteConnection(path: dir.path + "/vfs.db")
        defer { db.close() }
        #expect(db.vfsName == "sloth-walbatch")
    }
}
