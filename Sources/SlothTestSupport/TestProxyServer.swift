import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A forward proxy on 127.0.0.1 for tests: it answers `CONNECT host:port` by opening a tunnel
/// to that address (HTTPS and, as AsyncHTTPClient sends it, plain HTTP through a proxy), and
/// counts the tunnels it opened, so a test can tell that a request went through it.
public final class TestProxyServer: Sendable {
    public let port: UInt16
    private let fd: Int32
    private let tunnels = Atomic<Int>(0)
    private let targets = Mutex<[String]>([])

    public init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 128) == 0 else { throw POSIXError(.EADDRINUSE) }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        port = UInt16(bigEndian: addr.sin_port)
        let listener = fd
        Thread.detachNewThread { [self] in
            while true {
                let client = accept(listener, nil, nil)
                if client < 0 { return }
                Thread.detachNewThread { self.handle(client) }
            }
        }
    }

    deinit {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    /// Tunnels opened so far, and to where (`host:port`).
    public var tunnelCount: Int { tunnels.load(ordering: .acquiring) }
    public var tunnelTargets: [String] { targets.withLock { $0 } }

    private func handle(_ client: Int32) {
        var head = [UInt8]()
        var byte: UInt8 = 0
        while !head.suffix(4).elementsEqual(Array("\r\n\r\n".utf8)) {
            guard read(client, &byte, 1) == 1 else { close(client); return }
            head.append(byte)
        }
        let line = String(decoding: head, as: UTF8.self).split(separator: "\r\n").first ?? ""
        let parts = line.split(separator: " ")
        guard parts.count >= 2, parts[0] == "CONNECT", let colon = parts[1].lastIndex(of: ":"), let port = UInt16(parts[1][parts[1].index(after: colon)...]) else {
            reply(client, "HTTP/1.1 405 Only CONNECT\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            close(client)
            return
        }
        let host = String(parts[1][..<colon])
        let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr(host == "localhost" ? "127.0.0.1" : host)
        let connected = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard connected == 0 else {
            reply(client, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            close(client)
            close(upstream)
            return
        }
        targets.withLock { $0.append(String(parts[1])) }
        tunnels.add(1, ordering: .releasing)
        reply(client, "HTTP/1.1 200 Connection established\r\n\r\n")
        let back = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            Self.pump(from: upstream, to: client)
            back.signal()
        }
        Self.pump(from: client, to: upstream)
        back.wait()
        close(client)
        close(upstream)
    }

    private func reply(_ fd: Int32, _ text: String) {
        _ = text.withCString { write(fd, $0, strlen($0)) }
    }

    /// Copies one direction until it ends, then ends the other side's writing.
    private static func pump(from: Int32, to: Int32) {
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = read(from, &buffer, buffer.count)
            if n <= 0 || !TestHTTPServer.writeAll(to, buffer, count: n) { break }
        }
        shutdown(to, Int32(SHUT_WR))
        shutdown(from, Int32(SHUT_RD))
    }
}
