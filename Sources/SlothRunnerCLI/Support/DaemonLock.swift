import Foundation
import Glibc
import SlothRunner

/// An exclusive lock beside the database, held by the process that runs the engine. It tells the
/// CLI whether a daemon is serving this database, and keeps two engines of one node apart.
///
/// Keyed by the database file's real path: a symbolic link or a `..` in `--db` leads to the
/// same lock as the plain path.
final class DaemonLock {
    let path: String
    /// The database file the lock is for, links resolved.
    let databaseFile: String
    private var fd: Int32 = -1

    init(databasePath: String) throws(SlothError) {
        databaseFile = Self.realPath(databasePath)
        path = databaseFile + ".lock"
    }

    /// The path with every symbolic link resolved; for a file that does not exist yet, its
    /// directory's real path and its name.
    static func realPath(_ path: String) -> String {
        if let p = realpath(path, nil) {
            defer { free(p) }
            return String(cString: p)
        }
        let dir = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        if let p = realpath(dir.isEmpty ? "." : dir, nil) {
            defer { free(p) }
            return String(cString: p) + "/" + name
        }
        return path
    }

    /// Takes the lock if nobody holds it; false when another process does. A lock file that
    /// cannot be created or locked for another reason (a read-only directory) is an error that
    /// says so, not "another engine".
    func tryAcquire() throws(SlothError) -> Bool {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let why = String(cString: strerror(errno))
            throw .invalidInput("cannot create the lock file \(path): \(why) (the database's directory must be writable)")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            close(fd)
            fd = -1
            if code == EWOULDBLOCK { return false }
            throw .storage("cannot lock \(path): \(String(cString: strerror(code)))")
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
