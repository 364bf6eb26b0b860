import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// Every hook's HTTP on AsyncHTTPClient: connections pooled and kept alive per host, on the
/// process's shared event loops (one thread per core, however many requests wait). One client
/// per way out — direct, through `http_proxy`, through `https_proxy` — because a client's proxy
/// is fixed when it is made and `no_proxy` decides per request.
final class HTTPTransport: Sendable {
    static let shared = HTTPTransport(proxies: ProxySettings.fromEnvironment)

    struct Fetched: Sendable {
        var status: Int
        /// Lowercased names; a repeated header's values joined with ", ".
        var headers: [String: String]
        var body: [UInt8]
    }

    let proxies: ProxySettings
    /// Several clients, each with a pool of its own, taken in turn: AsyncHTTPClient's pool
    /// slows down more than linearly with the connections it holds to one host (10,000 HTTPS
    /// requests in flight on one pool: 24 s; 2,000: 2.7 s), so ten thousand waiting hooks are
    /// spread over `shards` pools.
    private let direct: [HTTPClient]
    private let nextShard = Atomic<Int>(0)
    static let shards = 4
    private let viaHTTPProxy: HTTPClient?
    private let viaHTTPSProxy: HTTPClient?
    private let trustRoots = Mutex<[String: [NIOSSLCertificate]]>([:])

    init(proxies: ProxySettings) {
        self.proxies = proxies
        direct = (0..<Self.shards).map { _ in Self.client(proxy: nil) }
        viaHTTPProxy = proxies.http.map { Self.client(proxy: $0) }
        viaHTTPSProxy = proxies.https.map { Self.client(proxy: $0) }
    }

    /// Closes every pooled connection. The shared transport lives as long as the process; one
    /// made for a purpose (tests, another proxy setting) must be shut down before it goes.
    func shutdown() async {
        for client in direct + [viaHTTPProxy, viaHTTPSProxy].compactMap({ $0 }) { try? await client.shutdown() }
    }

    private static func client(proxy: ProxySettings.Proxy?) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        // Followed by `HTTPModule.perform`, hop by hop, so each is permission-checked.
        configuration.redirectConfiguration = .disallow
        // Ten thousand hooks may wait on one host at once: a low per-host limit would queue
        // them behind each other instead of sending them.
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 65_536)
        configuration.timeout = .init(connect: .seconds(30), read: .seconds(30))
        configuration.httpVersion = .http1Only
        // A refused connection is the hook's answer at once ("connection refused by ..."), not
        // retried with backoff until the connect timeout.
        configuration.connectionPool.retryConnectionEstablishment = false
        if let proxy {
            configuration.proxy = .server(host: proxy.host, port: proxy.port, authorization: proxy.authorization)
        }
        return HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
    }

    func fetch(_ request: HTTPModule.Request, maxBodyBytes: Int) async -> Result<Fetched, ModuleError> {
        let url = request.url
        let target = url.absoluteString
        var outgoing = HTTPClientRequest(url: target)
        outgoing.method = HTTPMethod(rawValue: request.method)
        for (name, value) in request.headers { outgoing.headers.add(name: name, value: value) }
        if !outgoing.headers.contains(name: "user-agent") { outgoing.headers.add(name: "User-Agent", value: "sloth-runner") }
        if let body = request.body { outgoing.body = .bytes(ByteBuffer(bytes: body)) }
        if request.caFile != nil || request.insecure {
            var tls = TLSConfiguration.makeClientConfiguration()
            if let path = request.caFile {
                switch certificates(path) {
                case .success(let roots): tls.trustRoots = .certificates(roots)
                case .failure(let e): return .failure(e)
                }
            }
            if request.insecure { tls.certificateVerification = .none }
            outgoing.tlsConfiguration = tls
        }
        let scheme = url.scheme?.lowercased() ?? "http"
        let proxied = proxies.applies(to: url.host ?? "") && (scheme == "https" ? viaHTTPSProxy : viaHTTPProxy) != nil
        // Plain http:// straight to the server goes through our own client (see `PlainHTTPClient`):
        // AsyncHTTPClient did not meet the 10,000-waiting-hooks figure (README, note of issue 10).
        if scheme == "http" && !proxied { return await fetchPlain(request, maxBodyBytes: maxBodyBytes) }
        let shard = direct[nextShard.add(1, ordering: .relaxed).newValue % direct.count]
        let client = proxied ? (scheme == "https" ? viaHTTPSProxy : viaHTTPProxy) ?? shard : shard
        let timeout = request.timeout
        let prepared = outgoing
        do {
            return .success(try await withDeadline(seconds: timeout) {
                let response = try await client.execute(prepared, timeout: .nanoseconds(Int64(timeout * 1e9)))
                let body = try await response.body.collect(upTo: maxBodyBytes)
                var headers: [String: String] = [:]
                for (name, value) in response.headers {
                    let key = name.lowercased()
                    headers[key] = headers[key].map { "\($0), \(value)" } ?? value
                }
                return Fetched(status: Int(response.status.code), headers: headers, body: Array(buffer: body))
            })
        } catch {
            return .failure(ModuleError(Self.describe(error, url: url, timeout: timeout, maxBodyBytes: maxBodyBytes)))
        }
    }

    /// One `http://` exchange on `PlainHTTPClient`: one epoll thread for every request in
    /// flight, `Connection: close`, no TLS and no proxy.
    private func fetchPlain(_ request: HTTPModule.Request, maxBodyBytes: Int) async -> Result<Fetched, ModuleError> {
        let url = request.url
        var host = url.host ?? ""
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard let port = UInt16(exactly: url.port ?? 80) else { return .failure(ModuleError("bad port in \(url.absoluteString)")) }
        let parts = URLComponents(url: url, resolvingAgainstBaseURL: true)
        var target = parts?.percentEncodedPath ?? "/"
        if target.isEmpty { target = "/" }
        if let query = parts?.percentEncodedQuery { target += "?\(query)" }
        let outgoing = PlainHTTPRequest(
            method: request.method, host: host, port: port, target: target, headers: request.headers,
            body: request.body ?? [], timeout: request.timeout, maxBodyBytes: maxBodyBytes)
        switch await PlainHTTPClient.shared.execute(outgoing) {
        case .success(let r):
            return .success(Fetched(status: r.status, headers: r.headers, body: r.body))
        case .failure(let error):
            let target = url.absoluteString
            switch error {
            case .cannotResolve(let h): return .failure(ModuleError("cannot resolve host \(h)"))
            case .connectionRefused(let h): return .failure(ModuleError("connection refused by \(h):\(port)"))
            case .connectFailed(let h, let reason): return .failure(ModuleError("cannot connect to \(h):\(port): \(reason)"))
            case .timedOut: return .failure(ModuleError("request to \(target) timed out after \(formatSeconds(millis: Int64(request.timeout * 1000)))"))
            case .cancelled: return .failure(ModuleError("request to \(target) was cancelled"))
            case .io(let m): return .failure(ModuleError("request to \(target) failed: \(m)"))
            case .badResponse(.bodyTooLarge): return .failure(ModuleError("response from \(target) is too large; the limit is \(maxBodyBytes) bytes"))
            case .badResponse(.truncated): return .failure(ModuleError("response from \(target) was cut short"))
            case .badResponse(.malformed(let m)): return .failure(ModuleError("malformed response from \(target): \(m)"))
            }
        }
    }

    /// The CA certificates of a `ca_file`, read once per path.
    private func certificates(_ path: String) -> Result<[NIOSSLCertificate], ModuleError> {
        if let known = trustRoots.withLock({ $0[path] }) { return .success(known) }
        guard FileManager.default.isReadableFile(atPath: path) else { return .failure(ModuleError("ca_file \(path) does not exist or cannot be read")) }
        do {
            let loaded = try NIOSSLCertificate.fromPEMFile(path)
            guard !loaded.isEmpty else { return .failure(ModuleError("ca_file \(path) holds no PEM certificate")) }
            trustRoots.withLock { $0[path] = loaded }
            return .success(loaded)
        } catch {
            return .failure(ModuleError("ca_file \(path) is not a PEM file of certificates: \(error)"))
        }
    }

    struct TimedOut: Error {}

    /// The whole exchange, body included, within `seconds` (the client's own deadline covers
    /// the response head).
    private func withDeadline<T: Sendable>(seconds: Double, _ work: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await work() }
            group.addTask {
                try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
                throw TimedOut()
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }

    static func describe(_ error: any Error, url: URL, timeout: Double, maxBodyBytes: Int) -> String {
        let target = url.absoluteString
        let host = url.host ?? target
        let port = url.port ?? (url.scheme?.lowercased() == "https" ? 443 : 80)
        let timedOut = "request to \(target) timed out after \(formatSeconds(millis: Int64(timeout * 1000)))"
        if error is TimedOut { return timedOut }
        if error is NIOTooManyBytesError { return "response from \(target) is too large; the limit is \(maxBodyBytes) bytes" }
        if let e = error as? HTTPClientError {
            switch e {
            case .deadlineExceeded, .readTimeout, .connectTimeout: return timedOut
            case .tlsHandshakeTimeout: return "TLS handshake with \(host) timed out"
            case .remoteConnectionClosed: return "\(host):\(port) closed the connection before answering"
            case .cancelled: return "request to \(target) was cancelled"
            case .invalidProxyResponse, .proxyAuthenticationRequired, .httpProxyHandshakeTimeout: return "the proxy refused or failed the request to \(target) (\(e))"
            default: return "request to \(target) failed: \(e)"
            }
        }
        if let e = error as? NIOConnectionError {
            if e.dnsAError != nil || e.dnsAAAAError != nil, e.connectionErrors.isEmpty { return "cannot resolve host \(host)" }
            if e.connectionErrors.contains(where: { ($0.error as? IOError)?.errnoCode == ECONNREFUSED }) { return "connection refused by \(host):\(port)" }
            return "cannot connect to \(host):\(port): \(e)"
        }
        if let e = error as? IOError, e.errnoCode == ECONNREFUSED { return "connection refused by \(host):\(port)" }
        if error is NIOSSLError || error is BoringSSLError || "\(type(of: error))".contains("SSL") {
            return "TLS handshake with \(host) failed: \(error) (a private CA: pass ca_file = \"/path/ca.pem\"; insecure = true skips verification)"
        }
        if error is CancellationError { return "request to \(target) was cancelled" }
        return "request to \(target) failed: \(error)"
    }
}

/// The proxy environment convention (`http_proxy`, `https_proxy`, `no_proxy`, also upper case),
/// read once.
struct ProxySettings: Sendable {
    struct Proxy: Sendable, Equatable {
        var host: String
        var port: Int
        var username: String?
        var password: String?

        var authorization: HTTPClient.Authorization? {
            username.map { .basic(username: $0, password: password ?? "") }
        }

        /// `host:port`, `http://host:port`, `http://user:pass@host:port/`.
        init?(_ text: String) {
            let withScheme = text.contains("://") ? text : "http://" + text
            guard let parts = URLComponents(string: withScheme), let host = parts.host, !host.isEmpty, parts.scheme?.lowercased() == "http" else { return nil }
            self.host = host
            port = parts.port ?? 80
            username = parts.user
            password = parts.password
        }
    }

    var http: Proxy?
    var https: Proxy?
    var noProxy: [String]

    static let fromEnvironment = ProxySettings(environment: ProcessInfo.processInfo.environment)

    init(environment env: [String: String]) {
        func value(_ name: String) -> String? { (env[name] ?? env[name.uppercased()]).flatMap { $0.isEmpty ? nil : $0 } }
        http = value("http_proxy").flatMap(Proxy.init)
        https = value("https_proxy").flatMap(Proxy.init)
        noProxy = (value("no_proxy") ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
    }

    /// Whether a request to `host` goes through a proxy (when one is set for its scheme):
    /// not when `no_proxy` lists the host or a domain it is in, or is `*`.
    func applies(to host: String) -> Bool {
        guard http != nil || https != nil else { return false }
        let h = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        for rule in noProxy {
            if rule == "*" { return false }
            let bare = rule.split(separator: ":").first.map(String.init) ?? rule
            let suffix = bare.hasPrefix(".") ? String(bare.dropFirst()) : bare
            if h == suffix || h.hasSuffix("." + suffix) { return false }
        }
        return true
    }
}
