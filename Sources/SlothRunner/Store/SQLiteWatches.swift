/// File watches in SQLite, with each watch's snapshot of the tree.
extension SQLiteEventStore: FileWatchStore {
    private static let watchColumns = "name, paths, recursive, include, exclude, settle_ms, stack, created_at, declared_in"

    private static func strings(_ list: [String]) -> SQLValue { .text(JSONValue.array(list.map(JSONValue.string)).serialized()) }

    private static func strings(_ text: String) -> [String] { (try? JSONValue.parse(text))?.arrayValue?.compactMap(\.stringValue) ?? [] }

    private static func watchValues(_ w: FileWatch) -> [SQLValue] {
        [.text(w.name), strings(w.paths), .int(w.recursive ? 1 : 0), strings(w.include), strings(w.exclude), .int(w.settleMillis),
         Self.optionalText(w.stack), .int(w.createdAt), Self.optionalText(w.declaredIn)]
    }

    private static func watch(from row: SQLiteConnection.Row) -> FileWatch {
        FileWatch(
            name: row.textValue(0), paths: strings(row.textValue(1)), recursive: row.intValue(2) != 0, include: strings(row.textValue(3)),
            exclude: strings(row.textValue(4)), settleMillis: row.intValue(5), stack: row.text(6), createdAt: row.intValue(7), declaredIn: row.text(8))
    }

    private static func bumpWatchesVersion(_ db: SQLiteConnection) throws(SlothError) {
        try db.run("UPDATE meta SET value = value + 1 WHERE key = 'watches_version'")
    }

    package func watchAdd(_ watch: FileWatch) async throws {
        try await writer.perform { db in
            if try db.scalarInt("SELECT 1 FROM watches WHERE name = ?", [.text(watch.name)]) != nil {
                throw SlothError.conflict("a watch named '\(watch.name)' exists already; remove it first (`sloth-runner watch remove \(watch.name)`)")
            }
            try db.run("INSERT INTO watches (\(Self.watchColumns)) VALUES (?,?,?,?,?,?,?,?,?)", Self.watchValues(watch))
            try Self.bumpWatchesVersion(db)
        }
    }

    package func watch(named name: String) async throws -> FileWatch? {
        try await reader.perform { db in try db.query("SELECT \(Self.watchColumns) FROM watches WHERE name = ?", [.text(name)], Self.watch(from:)).first }
    }

    package func watchList() async throws -> [FileWatch] {
        try await reader.perform { db in try db.query("SELECT \(Self.watchColumns) FROM watches ORDER BY name", [], Self.watch(from:)) }
    }

    package func watchRemove(name: String) async throws -> Bool {
        try await writer.perform { db in
            let removed = try db.run("DELETE FROM watches WHERE name = ?", [.text(name)]) == 1
            try db.run("DELETE FROM watch_files WHERE watch = ?", [.text(name)])
            try db.run("DELETE FROM meta WHERE key = ?", [.text("watch_snapshot:" + name)])
            if removed { try Self.bumpWatchesVersion(db) }
            return removed
        }
    }

    package func watchSync(declared: [FileWatch]) async throws -> (added: [String], changed: [String], removed: [String]) {
        try await writer.perform { db in
            let plan = DeclaredSync(stored: try db.query("SELECT \(Self.watchColumns) FROM watches", [], Self.watch(from:)), declared: declared)
            for name in plan.removed {
                try db.run("DELETE FROM watches WHERE name = ?", [.text(name)])
                try db.run("DELETE FROM watch_files WHERE watch = ?", [.text(name)])
                try db.run("DELETE FROM meta WHERE key = ?", [.text("watch_snapshot:" + name)])
            }
            for w in plan.writes { try db.run("INSERT OR REPLACE INTO watches (\(Self.watchColumns)) VALUES (?,?,?,?,?,?,?,?,?)", Self.watchValues(w)) }
            if plan.changesAnything { try Self.bumpWatchesVersion(db) }
            return plan.summary
        }
    }

    package func watchesVersion() async throws -> Int64 {
        try await reader.perform { db in try db.scalarInt("SELECT value FROM meta WHERE key = 'watches_version'") ?? 0 }
    }

    package func watchSnapshot(_ watch: String) async throws -> [String: WatchedFile]? {
        try await reader.perform { db in
            // A snapshot of an empty tree has no rows: the meta row says one was taken.
            guard try db.scalarInt("SELECT value FROM meta WHERE key = ?", [.text("watch_snapshot:" + watch)]) != nil else { return nil }
            let rows = try db.query("SELECT path, size, mtime_ns, inode, is_dir FROM watch_files WHERE watch = ?", [.text(watch)]) { row in
                (row.textValue(0), WatchedFile(size: row.intValue(1), mtimeNanos: row.intValue(2), inode: UInt64(bitPattern: row.intValue(3)), isDirectory: row.intValue(4) != 0))
            }
            return Dictionary(rows, uniquingKeysWith: { a, _ in a })
        }
    }

    package func watchSnapshotApply(_ watch: String, changed: [String: WatchedFile], removed: [String], replace: Bool) async throws {
        try await writer.perform { db in
            try db.run("INSERT OR IGNORE INTO meta(key, value) VALUES (?, 1)", [.text("watch_snapshot:" + watch)])
            if replace { try db.run("DELETE FROM watch_files WHERE watch = ?", [.text(watch)]) }
            for path in removed { try db.run("DELETE FROM watch_files WHERE watch = ? AND path = ?", [.text(watch), .text(path)]) }
            for (path, f) in changed {
                try db.run(
                    "INSERT OR REPLACE INTO watch_files (watch, path, size, mtime_ns, inode, is_dir) VALUES (?,?,?,?,?,?)",
                    [.text(watch), .text(path), .int(f.size), .int(f.mtimeNanos), .int(Int64(bitPattern: f.inode)), .int(f.isDirectory ? 1 : 0)])
            }
        }
    }
}
