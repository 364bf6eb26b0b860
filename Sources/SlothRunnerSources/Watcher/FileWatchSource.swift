import Foundation
import SlothRunner

/// Runs the store's file watches on inotify, one instance and one reading thread per watch,
/// idle at no cost. Each watch keeps a snapshot of its tree in the store: at start it compares
/// the snapshot with the disk and reports what changed while it was not running (`offline`
/// in the event data), as watchman's "since" cursors do. Changes by the CLI are picked up
/// within `pollMillis`.
public struct FileWatchSource: EventSourcePlugin {
    public let name = "watcher"
    public let kind = "watch"
    let pollMillis: Int64

    public init(pollMillis: Int64 = 1000) { self.pollMillis = pollMillis }

    public func run(_ context: SourceContext) async throws {
        let watches = context.watches
        var version: Int64 = -1
        var running: [String: (watch: FileWatch, task: Task<Void, Never>)] = [:]
        defer { for r in running.values { r.task.cancel() } }
        while true {
            try Task.checkCancellation()
            let current = try await watches.watchesVersion()
            if current != version {
                version = current
                let wanted = Dictionary(try await watches.watchList().map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
                for (name, r) in running where wanted[name] != r.watch {
                    r.task.cancel()
                    running[name] = nil
                }
                for (name, watch) in wanted where running[name] == nil {
                    running[name] = (watch, Task { await Self.keep(watch, context) })
                }
                context.running()
            }
            try await context.clock.sleep(forMillis: pollMillis)
        }
    }

    /// Runs one watch; when it fails (a root gone, out of watches) says why and tries again.
    static func keep(_ watch: FileWatch, _ context: SourceContext) async {
        while !Task.isCancelled {
            do {
                try await WatchRun(watch: watch, context: context).run()
                return
            } catch is CancellationError {
                return
            } catch {
                let why = "watch \(watch.name): \((error as? SlothError)?.description ?? "\(error)")"
                context.failing(why)
                context.logger.error("\(why); trying again in 5s", metadata: ["watch": "\(watch.name)"])
                do { try await context.clock.sleep(forMillis: 5000) } catch { return }
            }
        }
    }
}

/// One watch at work: its tree, its inotify instance, and the loop between them.
struct WatchRun {
    let watch: FileWatch
    let context: SourceContext

    enum Input: Sendable { case events([Inotify.Event]), tick, ended }

    func run() async throws {
        var tree = WatchTree(watch: watch)
        let inotify = try Inotify()
        defer { inotify.stop() }
        for root in watch.paths where !FileManager.default.fileExists(atPath: root) {
            throw SlothError.runtime("'\(root)' does not exist (any more)")
        }
        let scan = tree.scan()
        for dir in scan.directories { tree.watched(dir, wd: try inotify.add(dir)) }
        let watches = context.watches
        if let stored = try await watches.watchSnapshot(watch.name) {
            let missed = WatchTree.diff(stored, scan.files)
            if !missed.isEmpty {
                try await emit(missed, offline: true)
                context.logger.info("watch \(watch.name): \(missed.count) change(s) made while no watcher ran", metadata: ["watch": "\(watch.name)"])
            }
        }
        tree.adopt(scan.files)
        try await watches.watchSnapshotApply(watch.name, changed: scan.files, removed: [], replace: true)
        context.running()
        context.logger.info("watch \(watch.name): watching \(scan.directories.count) director\(scan.directories.count == 1 ? "y" : "ies"), \(scan.files.count) path(s) known",
                            metadata: ["watch": "\(watch.name)"])

        let (inputs, feed) = AsyncStream.makeStream(of: Input.self, bufferingPolicy: .unbounded)
        let forwarder = Task {
            for await batch in inotify.events { feed.yield(.events(batch)) }
            feed.yield(.ended)
        }
        defer { forwarder.cancel() }
        var timer: (due: Millis, task: Task<Void, Never>)?
        defer { timer?.task.cancel() }
        let clock = context.clock
        for await input in inputs {
            try Task.checkCancellation()
            // Settle deadlines are on the monotonic clock: a wall clock stepped back between a
            // file's last write and a later change would otherwise hold the file back behind it.
            let now = clock.monotonicNow()
            switch input {
            case .ended:
                throw SlothError.runtime("the inotify reader stopped")
            case .events(let batch):
                context.logger.debug("watch \(watch.name): inotify \(batch.map(\.summary).joined(separator: " "))", metadata: ["watch": "\(watch.name)"])
                for e in batch {
                    if e.overflowed {
                        try await rescan(&tree, inotify)
                        continue
                    }
                    for dir in tree.apply(e, at: now) {
                        do { tree.watched(dir, wd: try inotify.add(dir)) } catch {
                            // Gone again already, or out of watches: the latter is said.
                            if "\(error)".contains("out of inotify watches") { throw error }
                            continue
                        }
                        tree.appeared(dir, at: now)
                    }
                }
            case .tick:
                timer = nil
            }
            let settled = tree.settled(at: now)
            if !settled.isEmpty { try await record(settled, tree) }
            if let due = tree.nextDue, timer.map({ $0.due != due }) ?? true {
                timer?.task.cancel()
                timer = (due, Task {
                    do { try await clock.sleep(untilMonotonic: due) } catch { return }
                    feed.yield(.tick)
                })
            }
        }
    }

    /// After an overflow some events are lost: the disk is compared with what is known.
    func rescan(_ tree: inout WatchTree, _ inotify: Inotify) async throws {
        let scan = tree.scan()
        for dir in scan.directories where !tree.directories.values.contains(dir) {
            if let wd = try? inotify.add(dir) { tree.watched(dir, wd: wd) }
        }
        let changes = WatchTree.diff(tree.known, scan.files)
        tree.adopt(scan.files)
        context.logger.warning("watch \(watch.name): the inotify queue overflowed; rescanned, \(changes.count) change(s) found", metadata: ["watch": "\(watch.name)"])
        if !changes.isEmpty { try await emit(changes, offline: false, rescan: true) }
        try await context.watches.watchSnapshotApply(watch.name, changed: scan.files, removed: [], replace: true)
    }

    func record(_ changes: [WatchTree.Change], _ tree: WatchTree) async throws {
        context.logger.debug("watch \(watch.name): settled \(changes.map { "\($0.kind.rawValue) \($0.path)" }.joined(separator: ", "))", metadata: ["watch": "\(watch.name)"])
        try await emit(changes, offline: false)
        var changed: [String: WatchedFile] = [:]
        var removed: [String] = []
        for c in changes {
            if let old = c.oldPath { removed.append(old) }
            if c.kind == .deleted { removed.append(c.path) } else if let f = tree.known[c.path] { changed[c.path] = f }
        }
        try await context.watches.watchSnapshotApply(watch.name, changed: changed, removed: removed, replace: false)
    }

    func emit(_ changes: [WatchTree.Change], offline: Bool, rescan: Bool = false) async throws {
        let batch = changes.map { c -> (type: String, data: [String: JSONValue], stack: String?) in
            var data: [String: JSONValue] = ["path": .string(c.path), "watcher": .string(watch.name), "offline": .bool(offline)]
            if rescan { data["rescan"] = .bool(true) }
            if let f = c.file {
                data["is_dir"] = .bool(f.isDirectory)
                if c.kind != .deleted {
                    data["size"] = .int(f.size)
                    data["modification_time"] = .string(RFC3339.string(millis: f.mtimeNanos / 1_000_000))
                    data["inode"] = .int(Int64(bitPattern: f.inode))
                    if let mode = WatchTree.mode(c.path) { data["mode"] = .string(mode) }
                }
            }
            if let old = c.oldPath {
                data["old_path"] = .string(old)
                data["new_path"] = .string(c.path)
            }
            return ("file." + c.kind.rawValue, data, watch.stack)
        }
        // Large rescans go in slices, each one commit.
        for start in stride(from: 0, to: batch.count, by: 1000) {
            try await context.emit(batch: Array(batch[start..<min(batch.count, start + 1000)]))
        }
    }
}
