import ArgumentParser
import CLinux
import Foundation
import SlothRunner

/// A loopback HTTP server that answers every request after a fixed delay, on one epoll
/// thread, for `bench --waiting --wait-http`: ten thousand connections waiting at once must
/// cost the load generator less than the engine it measures. Hidden from help: a bench tool.
struct SlowHTTPServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slow-http-server",
        abstract: "Serve HTTP on 127.0.0.1, answering every request after --delay seconds (for bench).",
        discussion: """
            Prints its URL on the first line of standard output, then serves until killed.
            With --tls-dir DIR it serves HTTPS with a certificate for 127.0.0.1 from a test CA
            it makes there (DIR/ca.pem: give it to http.get as ca_file).

            Examples:
              sloth-runner slow-http-server --delay 1
              sloth-runner slow-http-server --delay 0 --tls-dir /tmp/test-ca
            """,
        shouldDisplay: false
    )

    @Option(help: "Seconds to wait before answering each request.") var delay = 1.0
    @Option(help: "Serve HTTPS, with a test CA and certificate written to this directory.") var tlsDir: String?
    @Flag(help: "Exit when standard input closes (the parent that started it has gone).") var exitWhenStdinCloses = false

    func run() throws {
        ProcessStats.raiseOpenFileLimit()
        if exitWhenStdinCloses {
            Thread.detachNewThread {
                var byte: UInt8 = 0
                while read(0, &byte, 1) > 0 {}
                Foundation.exit(0)
            }
        }
        if let tlsDir {
            let server = try TLSLoopbackServer(delay: delay, certificateDirectory: tlsDir)
            FileHandle.standardOutput.write(Data("https://127.0.0.1:\(server.port)/slow\n".utf8))
            try server.serveForever()
            return
        }
        let server = try SlowHTTPServer(delay: delay)
        // Written straight to the descriptor: the parent reads this line while we keep running.
        FileHandle.standardOutput.write(Data("http://127.0.0.1:\(server.port)/slow\n".utf8))
        server.serve()
    }
}

final class SlowHTTPServer {
    let port: UInt16
    private let delayNanos: UInt64
    private let listener: Int32
    private let epollFD: Int32
    private var partial: [Int32: [UInt8]] = [:]
    /// Requests read in full, in arrival order; the delay is the same for all, so arrival
    /// order is also answer order and a FIFO replaces a timer heap.
    private var due: [(fd: Int32, at: UInt64)] = []
    private var dueHead = 0

    init(delay: Double) throws {
        delayNanos = UInt64(max(0, delay) * 1e9)
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(listener, 65535) == 0 else { throw ValidationError("cannot listen on 127.0.0.1: errno \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        port = UInt16(bigEndian: addr.sin_port)
        _ = fcntl(listener, F_SETFL, fcntl(listener, F_GETFL) | O_NONBLOCK)
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        watch(listener)
    }

    private func watch(_ fd: Int32) {
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = fd
        epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event)
    }

    func serve() -> Never {
        var events = [epoll_event](repeating: epoll_event(), count: 1024)
        var buffer = [UInt8](repeating: 0, count: 4096)
        let body = "{\"ok\":true}"
        let response = Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)".utf8)
        while true {
            var timeout: Int32 = -1
            if dueHead < due.count {
                let at = due[dueHead].at, now = monotonicNanos()
                timeout = at <= now ? 0 : Int32((at - now + 999_999) / 1_000_000)
            }
            let ready = epoll_wait(epollFD, &events, Int32(events.count), timeout)
            for i in 0..<max(0, Int(ready)) {
                let fd = events[i].data.fd
                if fd == listener {
                    while true {
                        let client = accept(listener, nil, nil)
                        if client < 0 { break }
                        _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
                        watch(client)
                    }
                    continue
                }
                let n = read(fd, &buffer, buffer.count)
                if n <= 0 {
                    if n < 0, errno == EAGAIN { continue }
                    partial[fd] = nil
                    close(fd)
                    continue
                }
                var seen = partial[fd] ?? []
                seen.append(contentsOf: buffer[0..<n])
                if seen.count >= 4, seen.suffix(4).elementsEqual([13, 10, 13, 10]) {
                    partial[fd] = nil
                    epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, nil)
                    due.append((fd, monotonicNanos() + delayNanos))
                } else {
                    partial[fd] = seen
                }
            }
            let now = monotonicNanos()
            while dueHead < due.count, due[dueHead].at <= now {
                let fd = due[dueHead].fd
                _ = response.withUnsafeBytes { send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
                close(fd)
                dueHead += 1
            }
            if dueHead > 4096, dueHead * 2 > due.count {
                due.removeFirst(dueHead)
                dueHead = 0
            }
        }
    }
}
