import Foundation
import SlothRunner

/// File watches in PostgreSQL, with each watch's snapshot of the tree.
extension PostgresEventStore: FileWatchStore {
    private static let watchColumns = "name, paths, recursive, include, exclude, settle_ms, stack, created_at, declared_in"

    private static let watchSelect = "name, paths::text, recursive, include::text, exclude::text, settle_ms, stack, created_at, declared_in"

    private static let watchInsert = "INSERT INTO watches (\(watchColumns)) VALUES ($1,$2::jsonb,$3,$4::jsonb,$5::jsonb,$6,$7,$8,$9)"

    private static func strings(_ list: [String]) -> PGValue { .text(JSONValue.array(list.map(JSONValue.string)).serialized()) }

    private static func strings(_ text: String) -> [String] { (try? JSONValue.parse(text))?.arrayValue?.compactMap(\.stringValue) ?? [] }

    private static func watchValues(_ w: FileWatch) -> [PGValue] {
        [.text(w.name), strings(w.paths), .bool(w.recursive), strings(w.include), strings(w.exclude), .int(w.settleMillis), .text(w.stack),
         .int(w.createdAt), .text(w.declaredIn)]
    }

    private static func watch(from row: PGRow) -> FileWatch {
        FileWatch(
            name: row.textValue(0), paths: strings(row.textValue(1)), recursive: row.bool(2), include: strings(row.textValue(3)),
            exclude: strings(row.textValue(4)), settleMillis: row.intValue(5), stack: row.text(6), createdAt: row.intValue(7), declaredIn: row.text(8))
    }

    private static func forgetWatch(_ name: String, _ tx: PGTransaction) async throws {
        try await tx.run("DELETE FROM watch_files WHERE watch = $1 RETURNING 1", [.text(name)])
        try await tx.run("DELETE FROM meta WHERE key = $1 RETURNING 1", [.text("watch_snapshot:" + name)])
    }

    package func watchAdd(_ watch: FileWatch) async throws {
        try await write { tx in
            guard try await tx.run(Self.watchInsert + " ON CONFLICT (name) DO NOTHING RETURNING 1", Self.watchValues(watch)) == 1 else {
                throw SlothError.conflict("a watch named '\(watch.name)' exists already; remove it first (`sloth-runner watch remove \(watch.name)`)")
            }
            try await Self.bumpVersion("watches_version", tx)
        }
    }

    package func watch(named name: String) async throws -> FileWatch? {
        try await pool.query("SELECT \(Self.watchSelect) FROM watches WHERE name = $1", [.text(name)], Self.watch(from:)).first
    }

    package func watchList() async throws -> [FileWatch] {
        try await pool.query("SELECT \(Self.watchSelect) FROM watches ORDER BY name COLLATE \"C\"", [], Self.watch(from:))
    }

    package func watchRemove(name: String) async throws -> Bool {
        try await write { tx in
            let removed = try await tx.run("DELETE FROM watches WHERE name = $1 RETURNING 1", [.text(name)]) == 1
            try await Self.forgetWatch(name, tx)
            if removed { try await Self.bumpVersion("watches_version", tx) }
            return removed
        }
    }

    package func watchSync(declared: [FileWatch]) async throws -> (added: [String], changed: [String], removed: [String]) {
        let plan = try await write { tx in
            let plan = DeclaredSync(stored: try await tx.query("SELECT \(Self.watchSelect) FROM watches FOR UPDATE", [], Self.watch(from:)), declared: declared)
            for name in plan.removed {
                try await tx.run("DELETE FROM watches WHERE name = $1 RETURNING 1", [.text(name)])
                try await Self.forgetWatch(name, tx)
            }
            for name in plan.changed { try await tx.run("DELETE FROM watches WHERE name = $1 RETURNING 1", [.text(name)]) }
            for w in plan.writes { try await tx.run(Self.watchInsert + " RETURNING 1", Self.watchValues(w)) }
            if plan.changesAnything { try await Self.bumpVersion("watches_version", tx) }
            return plan
        }
        return plan.summary
    }

    package func watchesVersion() async throws -> Int64 { try await version("watches_version") }

    package func watchSnapshot(_ watch: String) async throws -> [String: WatchedFile]? {
        guard try await pool.scalarInt("SELECT value FROM meta WHERE key = $1", [.text("watch_snapshot:" + watch)]) != nil else { return nil }
        let rows = try await pool.query("SELECT path, size, mtime_ns, inode, is_dir FROM watch_files WHERE watch = $1", [.text(watch)]) { row in
            (row.textValue(0), WatchedFile(size: row.intValue(1), mtimeNanos: row.intValue(2), inode: UInt64(bitPattern: row.intValue(3)), isDirectory: row.bool(4)))
        }
        return Dictionary(rows, uniquingKeysWith: { a, _ in a })
    }

    package func watchSnapshotApply(_ watch: String, changed: [String: WatchedFile], removed: [String], replace: Bool) async throws {
        try await write { tx in
            try await tx.run("INSERT INTO meta(key, value) VALUES ($1, 1) ON CONFLICT (key) DO NOTHING RETURNING 1", [.text("watch_snapshot:" + watch)])
            if replace { try await tx.run("DELETE FROM watch_files WHERE watch = $1 RETURNING 1", [.text(watch)]) }
            if !removed.isEmpty { try await tx.run("DELETE FROM watch_files WHERE watch = $1 AND path = ANY($2) RETURNING 1", [.text(watch), .texts(removed)]) }
            if !changed.isEmpty {
                var set = PGRecordSet()
                for (path, f) in changed.sorted(by: { $0.key < $1.key }) {
                    set.row(["path": .text(path), "size": .int(f.size), "mtime_ns": .int(f.mtimeNanos), "inode": .int(Int64(bitPattern: f.inode)), "is_dir": .bool(f.isDirectory)])
                }
                try await tx.run(
                    """
                    INSERT INTO watch_files (watch, path, size, mtime_ns, inode, is_dir)
                    SELECT $1, r.path, r.size, r.mtime_ns, r.inode, r.is_dir FROM json_to_recordset($2::json) AS r(path text, size bigint, mtime_ns bigint, inode bigint, is_dir boolean)
                    ON CONFLICT (watch, path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, inode = excluded.inode, is_dir = excluded.is_dir
                    RETURNING 1
                    """, [.text(watch), .text(set.json)])
            }
        }
    }
}
