import Foundation
import Testing
@testable import SlothRunner
@testable import SlothRunnerSources

@Suite struct WatchTreeTests {
    func file(_ inode: UInt64, size: Int64 = 1, mtime: Int64 = 1, dir: Bool = false) -> WatchedFile {
        WatchedFile(size: size, mtimeNanos: mtime, inode: inode, isDirectory: dir)
    }

    @Test func diffFindsRenamesByInodeAndDirectoryMovesOnce() {
        let old: [String: WatchedFile] = [
            "/t/a": file(1), "/t/b": file(2), "/t/dir": file(3, dir: true), "/t/dir/x": file(4), "/t/dir/y": file(5, mtime: 1), "/t/gone": file(6),
        ]
        let new: [String: WatchedFile] = [
            "/t/a": file(1, size: 9), "/t/b2": file(2), "/t/moved": file(3, dir: true), "/t/moved/x": file(4), "/t/moved/y": file(5, mtime: 2), "/t/new": file(7),
        ]
        let changes = WatchTree.diff(old, new).map { c in "\(c.kind.rawValue) \(c.oldPath.map { $0 + " -> " } ?? "")\(c.path)" }
        #expect(changes == [
            "deleted /t/gone", "renamed /t/b -> /t/b2", "renamed /t/dir -> /t/moved", "modified /t/moved/y", "created /t/new", "modified /t/a",
        ])
    }

    @Test func filtersLeaveOutGitSwapFilesAndExcludesAndKeepIncludes() {
        let w = FileWatch(name: "w", paths: ["/t"], recursive: true, include: ["*.conf"], exclude: ["cache/*"], createdAt: 0)
        let tree = WatchTree(watch: w)
        #expect(tree.wanted("/t/app.conf", isDirectory: false))
        #expect(tree.wanted("/t/sub/app.conf", isDirectory: false))
        #expect(!tree.wanted("/t/app.txt", isDirectory: false))
        #expect(!tree.wanted("/t/.git/config.conf", isDirectory: false))
        #expect(!tree.wanted("/t/.app.conf.swp", isDirectory: false))
        #expect(!tree.wanted("/t/cache/a.conf", isDirectory: false))
        #expect(tree.wanted("/t/sub", isDirectory: true))
        #expect(!tree.wanted("/t/.git", isDirectory: true))
        #expect(!tree.wanted("/elsewhere/app.conf", isDirectory: false))
    }
}
