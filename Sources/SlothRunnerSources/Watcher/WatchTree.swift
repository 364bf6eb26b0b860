import CLinux
import Foundation
import SlothRunner

/// What one watch knows of its tree, and what it owes: inotify's events come in, settle, and go
/// out as `file.*` changes. A burst of writes to one file within the settle period is one
/// `modified`; a create then writes, one `created`; a rename inside the tree, one `renamed`;
/// a create then delete within the period, nothing. After an overflow, or at start against the
/// stored snapshot, the tree is scanned and compared.
struct WatchTree {
    struct Change: Equatable {
        enum Kind: String { case created, modified, deleted, renamed }
        var kind: Kind
        var path: String
        var oldPath: String?
        var file: WatchedFile?
    }

    let watch: FileWatch
    /// Every path the watch knows, as last seen (the snapshot).
    private(set) var known: [String: WatchedFile] = [:]
    /// Watched directories by descriptor, and back.
    private(set) var directories: [Int32: String] = [:]
    private var descriptors: [String: Int32] = [:]

    private enum Pending { case created, modified, deleted, renamed(from: String) }
    private var pending: [String: (what: Pending, due: Millis)] = [:]
    private var movedFrom: [UInt32: (path: String, isDirectory: Bool, due: Millis)] = [:]

    /// Left out whatever the watch says: version control and editors' swap and backup files.
    static let defaultExcludes = [".git", "*.swp", "*.swo", "*.swx", "*~", ".#*", "4913"]

    init(watch: FileWatch) { self.watch = watch }

    // MARK: filters

    /// The root a path falls under, if any.
    func root(of path: String) -> String? {
        watch.paths.first { path == $0 || path.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }
    }

    func wanted(_ path: String, isDirectory: Bool) -> Bool {
        guard let root = root(of: path) else { return false }
        let relative = path == root ? (path as NSString).lastPathComponent : String(path.dropFirst(root.count + (root.hasSuffix("/") ? 0 : 1)))
        let components = relative.split(separator: "/").map(String.init)
        let name = components.last ?? relative
        for pattern in Self.defaultExcludes + watch.exclude {
            if pattern.contains("/") {
                if fnmatch(pattern, relative, 0) == 0 || fnmatch(pattern.hasSuffix("/") ? pattern + "*" : pattern, relative, 0) == 0 { return false }
            } else if components.contains(where: { fnmatch(pattern, $0, 0) == 0 }) {
                return false
            }
        }
        if isDirectory || watch.include.isEmpty { return true }
        return watch.include.contains { p in p.contains("/") ? fnmatch(p, relative, 0) == 0 : fnmatch(p, name, 0) == 0 }
    }

    /// Directories are reported only when no include narrows the watch to some files.
    var reportsDirectories: Bool { watch.include.isEmpty }

    // MARK: scanning

    static func stat(_ path: String) -> WatchedFile? {
        var st = Glibc.stat()
        guard lstat(path, &st) == 0 else { return nil }
        let isDirectory = (st.st_mode & S_IFMT) == S_IFDIR
        return WatchedFile(size: isDirectory ? 0 : Int64(st.st_size), mtimeNanos: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec),
                           inode: UInt64(st.st_ino), isDirectory: isDirectory)
    }

    static func mode(_ path: String) -> String? {
        var st = Glibc.stat()
        guard lstat(path, &st) == 0 else { return nil }
        return String(format: "%04o", Int(st.st_mode & 0o7777))
    }

    /// Every wanted path under the roots now (roots themselves excluded), and the directories
    /// to watch (roots included).
    func scan() -> (files: [String: WatchedFile], directories: [String]) {
        var files: [String: WatchedFile] = [:]
        var dirs: [String] = []
        for root in watch.paths {
            guard let info = Self.stat(root) else { continue }
            if !info.isDirectory {
                files[root] = info
                continue
            }
            dirs.append(root)
            var stack = [root]
            while let dir = stack.popLast() {
                guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { continue }
                for name in names {
                    let path = dir + "/" + name
                    guard let f = Self.stat(path), wanted(path, isDirectory: f.isDirectory) else { continue }
                    if f.isDirectory {
                        if reportsDirectories { files[path] = f }
                        if watch.recursive {
                            dirs.append(path)
                            stack.append(path)
                        }
                    } else {
                        files[path] = f
                    }
                }
            }
        }
        return (files, dirs)
    }

    /// What changed from `old` to `new`: a path gone and another come with the same inode is
    /// a rename (and a renamed directory's contents are not listed again).
    static func diff(_ old: [String: WatchedFile], _ new: [String: WatchedFile]) -> [Change] {
        var gone = Set(old.keys.filter { new[$0] == nil })
        var come = Set(new.keys.filter { old[$0] == nil })
        var byInode: [UInt64: String] = [:]
        for p in gone { byInode[old[p]!.inode] = p }
        var renames: [(from: String, to: String)] = []
        for p in come.sorted() {
            if let from = byInode[new[p]!.inode], old[from]!.isDirectory == new[p]!.isDirectory {
                renames.append((from, p))
                byInode[new[p]!.inode] = nil
            }
        }
        for r in renames { gone.remove(r.from); come.remove(r.to) }
        // Children of a renamed directory moved with it.
        let dirRenames = renames.filter { old[$0.from]!.isDirectory }
        let implied = renames.filter { r in
            dirRenames.contains { d in d.from != r.from && r.from.hasPrefix(d.from + "/") && r.to == d.to + r.from.dropFirst(d.from.count) }
        }
        var out: [Change] = []
        for p in gone.sorted() { out.append(Change(kind: .deleted, path: p, file: old[p])) }
        for r in renames where !implied.contains(where: { $0.from == r.from }) {
            out.append(Change(kind: .renamed, path: r.to, oldPath: r.from, file: new[r.to]))
        }
        // A file that moved with its directory and changed too.
        for r in implied where !old[r.from]!.isDirectory {
            let (o, n) = (old[r.from]!, new[r.to]!)
            if o.size != n.size || o.mtimeNanos != n.mtimeNanos { out.append(Change(kind: .modified, path: r.to, file: n)) }
        }
        for p in come.sorted() { out.append(Change(kind: .created, path: p, file: new[p])) }
        for (p, n) in new.sorted(by: { $0.key < $1.key }) {
            guard let o = old[p], !n.isDirectory, o.size != n.size || o.mtimeNanos != n.mtimeNanos || o.inode != n.inode else { continue }
            out.append(Change(kind: .modified, path: p, file: n))
        }
        return out
    }

    // MARK: the snapshot

    mutating func adopt(_ files: [String: WatchedFile]) { known = files }

    mutating func watched(_ path: String, wd: Int32) {
        directories[wd] = path
        descriptors[path] = wd
    }

    mutating func unwatched(wd: Int32) {
        if let path = directories.removeValue(forKey: wd) { descriptors[path] = nil }
    }

    /// Descriptors of directories at or under `path` (gone or moved away).
    func descriptors(under path: String) -> [Int32] {
        descriptors.filter { $0.key == path || $0.key.hasPrefix(path + "/") }.map(\.value)
    }

    // MARK: events

    /// What an event means; directories that appeared and want watching are returned.
    mutating func apply(_ e: Inotify.Event, at now: Millis) -> [String] {
        guard let dir = directories[e.wd] else { return [] }
        let mask = e.mask
        if mask & UInt32(IN_IGNORED) != 0 { unwatched(wd: e.wd); return [] }
        if mask & UInt32(IN_DELETE_SELF | IN_MOVE_SELF) != 0 { return [] }
        guard !e.name.isEmpty else { return [] }
        let path = dir + "/" + e.name
        guard wanted(path, isDirectory: e.isDirectory) else { return [] }
        let due = now + watch.settleMillis
        var newDirectories: [String] = []
        if e.isDirectory, !reportsDirectories {
            // Directories are not reported, only walked.
            if mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0, watch.recursive { newDirectories.append(path) }
            if mask & UInt32(IN_MOVED_FROM) != 0 { movedFrom[e.cookie] = (path, true, due) }
            if mask & UInt32(IN_MOVED_TO) != 0, let from = movedFrom.removeValue(forKey: e.cookie) { moveKnown(from: from.path, to: path) }
            return newDirectories
        }
        if mask & UInt32(IN_CREATE) != 0 {
            note(path, pending[path].map { p -> Pending in if case .deleted = p.what { return .modified } else { return p.what } } ?? .created, due)
            if e.isDirectory, watch.recursive { newDirectories.append(path) }
        } else if mask & UInt32(IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB) != 0 {
            guard !e.isDirectory else { return [] }
            switch pending[path]?.what {
            case .created?, .renamed?: note(path, pending[path]!.what, due)
            default: note(path, known[path] == nil ? .created : .modified, due)
            }
        } else if mask & UInt32(IN_DELETE) != 0 {
            if case .created? = pending[path]?.what, known[path] == nil {
                pending[path] = nil  // came and went within the settle period
            } else {
                note(path, .deleted, due)
            }
        } else if mask & UInt32(IN_MOVED_FROM) != 0 {
            movedFrom[e.cookie] = (path, e.isDirectory, due)
        } else if mask & UInt32(IN_MOVED_TO) != 0 {
            if let from = movedFrom.removeValue(forKey: e.cookie) {
                if case .created? = pending[from.path]?.what { pending[from.path] = nil; note(path, .created, due) } else {
                    pending[from.path] = nil
                    note(path, .renamed(from: from.path), due)
                }
                if e.isDirectory { moveKnown(from: from.path, to: path) }
            } else {
                note(path, .created, due)
                if e.isDirectory, watch.recursive { newDirectories.append(path) }
            }
        }
        return newDirectories
    }

    /// A directory moved inside the tree: what is known under it moves too (its watches
    /// follow by themselves; their paths are rewritten).
    private mutating func moveKnown(from: String, to: String) {
        for (p, f) in known where p.hasPrefix(from + "/") {
            known[p] = nil
            known[to + p.dropFirst(from.count)] = f
        }
        for (wd, p) in directories where p == from || p.hasPrefix(from + "/") {
            let moved = to + p.dropFirst(from.count)
            directories[wd] = moved
            descriptors[p] = nil
            descriptors[moved] = wd
        }
    }

    /// A directory that appeared: what is in it already (made before its watch was added)
    /// is created too.
    mutating func appeared(_ dir: String, at now: Millis) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        for name in names {
            let path = dir + "/" + name
            guard known[path] == nil, pending[path] == nil, let f = Self.stat(path), wanted(path, isDirectory: f.isDirectory) else { continue }
            if f.isDirectory && !reportsDirectories { continue }
            note(path, .created, now + watch.settleMillis)
        }
    }

    private mutating func note(_ path: String, _ what: Pending, _ due: Millis) { pending[path] = (what, due) }

    /// When the next settled change is due.
    var nextDue: Millis? { (pending.values.map(\.due) + movedFrom.values.map(\.due)).min() }

    /// The changes settled by `now`, with the snapshot updated; paths moved out of the tree
    /// (a move whose other half never came) are deleted.
    mutating func settled(at now: Millis) -> [Change] {
        for (cookie, m) in movedFrom where m.due <= now {
            movedFrom[cookie] = nil
            if case .created? = pending[m.path]?.what, known[m.path] == nil { pending[m.path] = nil } else { pending[m.path] = (.deleted, m.due) }
        }
        var out: [Change] = []
        for (path, p) in pending.sorted(by: { $0.key < $1.key }) where p.due <= now {
            pending[path] = nil
            let current = Self.stat(path)
            switch p.what {
            case .deleted:
                guard let before = known.removeValue(forKey: path) else { continue }
                if let current, current.inode != before.inode { known[path] = current; out.append(Change(kind: .modified, path: path, file: current)); continue }
                for child in known.keys where child.hasPrefix(path + "/") { known[child] = nil }
                out.append(Change(kind: .deleted, path: path, file: before))
            case .created, .modified:
                guard let f = current else {
                    if known.removeValue(forKey: path) != nil { out.append(Change(kind: .deleted, path: path)) }
                    continue
                }
                let kind: Change.Kind = known[path] == nil ? .created : .modified
                if kind == .modified, known[path] == f, f.isDirectory { continue }
                known[path] = f
                out.append(Change(kind: kind, path: path, file: f))
            case .renamed(let from):
                known[from] = nil
                guard let f = current else { continue }
                known[path] = f
                out.append(Change(kind: .renamed, path: path, oldPath: from, file: f))
            }
        }
        return out
    }
}
