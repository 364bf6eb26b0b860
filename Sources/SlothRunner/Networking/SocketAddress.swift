import Foundation
import Synchronization
import CLinux
#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 address with its port, ready for `connect`.
struct SocketAddress: Sendable {
    enum Storage: Sendable {
        case v4(sockaddr_in)
        case v6(sockaddr_in6)
    }
    let storage: Storage

    var family: Int32 {
        switch storage {
        case .v4: AF_INET
        case .v6: AF_INET6
        }
    }

    /// A numeric address (`127.0.0.1`, `::1`, `[::1]`), or nil for a name that needs resolving.
    init?(numeric host: String, port: UInt16) {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        var v4 = sockaddr_in()
        if inet_pton(AF_INET, bare, &v4.sin_addr) == 1 {
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = port.bigEndian
            storage = .v4(v4)
            return
        }
        var v6 = sockaddr_in6()
        if inet_pton(AF_INET6, bare, &v6.sin6_addr) == 1 {
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = port.bigEndian
            storage = .v6(v6)
            return
        }
        return nil
    }

    private init(_ storage: Storage) { self.storage = storage }

    /// Calls `connect` on `fd` with this address.
    func connect(_ fd: Int32) -> Int32 {
        switch storage {
        case .v4(var a):
            withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        case .v6(var a):
            withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        }
    }

    /// Resolves `host` for TCP: numeric addresses at once, names through `getaddrinfo` on a
    /// background queue (it blocks) with a short-lived cache, so a burst of hooks calling
    /// the same host resolves it once.
    static func resolve(_ host: String, port: UInt16) async -> [SocketAddress] {
        if let numeric = SocketAddress(numeric: host, port: port) { return [numeric] }
        let now = ContinuousClock.now
        if let cached = cache.withLock({ $0[host] }), cached.expires > now {
            return cached.addresses.map { $0.withPort(port) }
        }
        let found: [SocketAddress] = await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: lookup(host)) }
        }
        if !found.isEmpty { cache.withLock { $0[host] = CacheEntry(addresses: found, expires: now + .seconds(30)) } }
        return found.map { $0.withPort(port) }
    }

    private struct CacheEntry: Sendable {
        var addresses: [SocketAddress]
        var expires: ContinuousClock.Instant
    }
    private static let cache = Mutex<[String: CacheEntry]>([:])

    private func withPort(_ port: UInt16) -> SocketAddress {
        switch storage {
        case .v4(var a):
            a.sin_port = port.bigEndian
            return SocketAddress(.v4(a))
        case .v6(var a):
            a.sin6_port = port.bigEndian
            return SocketAddress(.v6(a))
        }
    }

    private static func lookup(_ host: String) -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0 else { return [] }
        defer { freeaddrinfo(list) }
        var result: [SocketAddress] = []
        var node = list
        while let info = node?.pointee {
            if info.ai_family == AF_INET, let a = info.ai_addr {
                result.append(SocketAddress(.v4(a.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee })))
            } else if info.ai_family == AF_INET6, let a = info.ai_addr {
                result.append(SocketAddress(.v6(a.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee })))
            }
            node = info.ai_next
        }
        // IPv4 first: loopback services commonly listen on 127.0.0.1 only; the rest is tried in order.
        return result.filter { $0.family == AF_INET } + result.filter { $0.family == AF_INET6 }
    }
}
