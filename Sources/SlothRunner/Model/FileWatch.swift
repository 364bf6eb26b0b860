import Foundation

/// A file watch (`watch add`): paths whose changes become `file.*` events.
package struct FileWatch: Sendable, Equatable {
    package var name: String
    /// Directories (watched inside) or files, absolute.
    package var paths: [String]
    package var recursive: Bool
    /// Globs a path (relative to its root) or its file name must match; empty: everything.
    package var include: [String]
    /// Globs that leave a path out; `.git/` and editor swap files are always left out.
    package var exclude: [String]
    /// Writes to one file within this long are one event.
    package var settleMillis: Int64
    package var stack: String?
    package var createdAt: Millis
    package var declaredIn: String?

    package init(name: String, paths: [String], recursive: Bool = false, include: [String] = [], exclude: [String] = [], settleMillis: Int64 = 100,
                 stack: String? = nil, createdAt: Millis, declaredIn: String? = nil) {
        self.name = name
        self.paths = paths
        self.recursive = recursive
        self.include = include
        self.exclude = exclude
        self.settleMillis = settleMillis
        self.stack = stack
        self.createdAt = createdAt
        self.declaredIn = declaredIn
    }

    /// Checks a declaration; paths are made absolute and must exist.
    package func validated(field: (String) -> String) throws(SlothError) -> FileWatch {
        try SourceThingName.validate(name, what: "watch")
        guard !paths.isEmpty else { throw .invalidInput("\(field("paths")): give at least one path to watch") }
        var out = self
        out.paths = []
        for p in paths {
            let absolute = URL(fileURLWithPath: p).standardizedFileURL.path
            guard FileManager.default.fileExists(atPath: absolute) else { throw .invalidInput("\(field("paths")): '\(p)' does not exist") }
            if !out.paths.contains(absolute) { out.paths.append(absolute) }
        }
        guard settleMillis >= 0, settleMillis <= 60_000 else { throw .invalidInput("\(field("settle")) must be from 0 to 60s") }
        for g in include + exclude where g.isEmpty { throw .invalidInput("\(field("include")): an empty glob") }
        return out
    }

    package var json: JSONValue {
        var o: [String: JSONValue] = [
            "name": .string(name), "paths": .array(paths.map(JSONValue.string)), "recursive": .bool(recursive),
            "include": .array(include.map(JSONValue.string)), "exclude": .array(exclude.map(JSONValue.string)),
            "settle_ms": .int(settleMillis), "created_at": .string(RFC3339.string(millis: createdAt)), "created_at_ms": .int(createdAt),
        ]
        o["stack"] = stack.map(JSONValue.string) ?? .null
        o["declared_in"] = declaredIn.map(JSONValue.string) ?? .null
        return .object(o)
    }
}

/// What a watch last knew of a path, kept in the store so changes made while no watcher ran
/// are found at the next start.
package struct WatchedFile: Sendable, Equatable {
    package var size: Int64
    package var mtimeNanos: Int64
    package var inode: UInt64
    package var isDirectory: Bool
    package init(size: Int64, mtimeNanos: Int64, inode: UInt64, isDirectory: Bool) {
        self.size = size
        self.mtimeNanos = mtimeNanos
        self.inode = inode
        self.isDirectory = isDirectory
    }
}
