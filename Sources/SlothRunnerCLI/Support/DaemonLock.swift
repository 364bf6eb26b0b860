import Foundation
import Glibc

/// An exclusive lock beside the database, held by the process that runs the engine. It tells the
/// CLI whether a daemon is serving this database, and keeps two engines of one node apart.
final class DaemonLock {
    let path: String
    private var fd: Int32 = -1

    init(databasePath: String) { path = databasePath + ".lock" }

    /// Takes the lock if nobody holds it; false when another process does.
    func tryAcquire() -> Bool {
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return false }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            close(fd)
            fd = -1
            return false
        }
        let pid = "\(getpid())\n"
        ftruncate(fd, 0)
        _ = pid.withCString { write(fd, $0, strlen($0)) }
        return true
    }

    /// The pid written by the holder, if readable.
    var holderPID: String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func release() {
        if fd >= 0 {
            flock(fd, LOCK_UN)
            close(fd)
            fd = -1
        }
    }

    deinit { release() }
}
