import CLinux
import Foundation
import Synchronization

/// An inotify instance and the thread that reads it: it blocks in `poll` on the inotify
/// descriptor and an eventfd that wakes it to stop, so an idle watcher costs nothing, and hands
/// each read's events, decoded, to `events`.
package final class Inotify: Sendable {
    package struct Event: Sendable, Equatable {
        package let wd: Int32
        package let mask: UInt32
        package let cookie: UInt32
        package let name: String

        package var isDirectory: Bool { mask & UInt32(IN_ISDIR) != 0 }
        package var overflowed: Bool { mask & UInt32(IN_Q_OVERFLOW) != 0 }

        /// The event as a debug log shows it: `wd/name:CREATE|ISDIR` (and the cookie of a move).
        package var summary: String {
            let names: [(UInt32, String)] = [
                (UInt32(IN_CREATE), "CREATE"), (UInt32(IN_MODIFY), "MODIFY"), (UInt32(IN_CLOSE_WRITE), "CLOSE_WRITE"), (UInt32(IN_ATTRIB), "ATTRIB"),
                (UInt32(IN_DELETE), "DELETE"), (UInt32(IN_MOVED_FROM), "MOVED_FROM"), (UInt32(IN_MOVED_TO), "MOVED_TO"), (UInt32(IN_DELETE_SELF), "DELETE_SELF"),
                (UInt32(IN_MOVE_SELF), "MOVE_SELF"), (UInt32(IN_IGNORED), "IGNORED"), (UInt32(IN_Q_OVERFLOW), "Q_OVERFLOW"), (UInt32(IN_ISDIR), "ISDIR"),
            ]
            let flags = names.filter { mask & $0.0 != 0 }.map(\.1).joined(separator: "|")
            return "\(wd)/\(name):\(flags)" + (cookie != 0 ? "#\(cookie)" : "")
        }
    }

    package static let watchMask = UInt32(IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF)

    private let fd: Int32
    /// An eventfd: written once to stop the reading thread.
    private let wake: Int32
    package let events: AsyncStream<[Event]>
    private let continuation: AsyncStream<[Event]>.Continuation

    package init() throws(SlothError) {
        let fd = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard fd >= 0 else {
            let code = errno
            if code == EMFILE {
                throw .runtime("out of inotify instances (fs.inotify.max_user_instances): raise it, e.g. `sysctl fs.inotify.max_user_instances=1024`")
            }
            throw .runtime("inotify_init1: \(String(cString: strerror(code)))")
        }
        let wake = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        guard wake >= 0 else {
            close(fd)
            throw .runtime("eventfd: \(String(cString: strerror(errno)))")
        }
        self.fd = fd
        self.wake = wake
        (events, continuation) = AsyncStream.makeStream(of: [Event].self, bufferingPolicy: .unbounded)
        let thread = Thread { [fd, wake, continuation] in Self.readLoop(fd: fd, wake: wake, into: continuation) }
        thread.name = "sloth-inotify"
        thread.start()
    }

    /// Watches a directory; its watch descriptor. Running out of watches says which sysctl to raise.
    package func add(_ path: String, mask: UInt32 = Inotify.watchMask | UInt32(IN_ONLYDIR)) throws(SlothError) -> Int32 {
        let wd = inotify_add_watch(fd, path, mask)
        guard wd >= 0 else {
            let code = errno
            if code == ENOSPC {
                let limit = (try? String(contentsOfFile: "/proc/sys/fs/inotify/max_user_watches", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
                throw .runtime("out of inotify watches (fs.inotify.max_user_watches is \(limit)) adding \(path): raise it, e.g. `sysctl fs.inotify.max_user_watches=524288` (and in /etc/sysctl.d to keep it)")
            }
            throw .runtime("cannot watch \(path): \(String(cString: strerror(code)))")
        }
        return wd
    }

    package func remove(_ wd: Int32) { inotify_rm_watch(fd, wd) }

    private let stopped = Atomic<Bool>(false)

    /// Stops the reading thread (which closes the inotify descriptor) and ends `events`.
    package func stop() {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        var one: UInt64 = 1
        _ = write(wake, &one, 8)
    }

    deinit {
        stop()
        close(wake)
    }

    private static func readLoop(fd: Int32, wake: Int32, into continuation: AsyncStream<[Event]>.Continuation) {
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
        defer {
            continuation.finish()
            close(fd)
        }
        while true {
            let ready = poll(&fds, 2, -1)
            if ready < 0 {
                if errno == EINTR { continue }
                return
            }
            if fds[1].revents != 0 { return }
            guard fds[0].revents & Int16(POLLIN) != 0 else { continue }
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                continuation.yield(decode(buffer, count: n))
            }
        }
    }

    static func decode(_ buffer: [UInt8], count: Int) -> [Event] {
        var out: [Event] = []
        var offset = 0
        let header = MemoryLayout<inotify_event>.size
        buffer.withUnsafeBytes { raw in
            while offset + header <= count {
                let wd = raw.loadUnaligned(fromByteOffset: offset, as: Int32.self)
                let mask = raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
                let cookie = raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self)
                let len = Int(raw.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
                let nameBytes = raw[(offset + header)..<min(count, offset + header + len)]
                let name = String(decoding: nameBytes.prefix { $0 != 0 }, as: UTF8.self)
                out.append(Event(wd: wd, mask: mask, cookie: cookie, name: name))
                offset += header + len
            }
        }
        return out
    }
}
