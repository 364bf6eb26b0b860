import CLua
import CLuaShim
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `http.request{method, url, headers, body, json, timeout}` and the `get/post/put/delete`
/// shorthands built on it in the prelude. The hook's coroutine is suspended while the request
/// is in flight: `http://` goes through our own event-loop client (`HTTPClient`, one thread for
/// every request in flight), `https://` through URLSession. Redirects are followed here (so each hop is bounded and permission-checked);
/// response bodies are bounded.
enum HTTPModule {
    static let maxResponseBytes = 10 << 20
    static let maxRedirects = 5
    static let defaultTimeout = 30.0

    struct Request: Sendable {
        var method: String
        var url: URL
        var headers: [String: String]
        var body: Data?
        var timeout: Double
    }

    /// Refuses URLSession's own redirect handling: `perform` follows them itself.
    final class NoRedirects: NSObject, URLSessionTaskDelegate, Sendable {
        func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                        newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void) {
            completionHandler(nil)
        }
    }

    static let session: URLSession = {
        let config = URLSessionConfiguration.ephemeral
        config.httpCookieStorage = nil
        config.urlCache = nil
        // Hooks wait on HTTP concurrently; the default of 6 connections per host would queue them.
        config.httpMaximumConnectionsPerHost = 65_536
        return URLSession(configuration: config, delegate: NoRedirects(), delegateQueue: nil)
    }()

    static let request: sb_host_fn = { L, ctx in
        guard let L else { return 0 }
        guard lua_type(L, 1) == LUA_TTABLE, case .object(let o)? = try? LuaValues.json(at: 1, on: L) else {
            return HostFunctions.fail(L, "http.request: expected a table {method =, url =, headers =, body =, json =, timeout =}")
        }
        var built: Request
        switch parse(o) {
        case .success(let r): built = r
        case .failure(let e): return HostFunctions.fail(L, "http.request: \(e.message)")
        }
        built.timeout = HostFunctions.operationTimeout(built.timeout, ctx)
        let policy = HostFunctions.policy(ctx)
        if let denied = policy.check(.http, built.url.host ?? "") { return HostFunctions.fail(L, "http: \(denied)") }
        let request = built
        return HostFunctions.suspend(L, ctx, "http") { await perform(request, policy: policy) }
    }

    static func parse(_ o: [String: JSONValue]) -> Result<Request, ModuleError> {
        guard let urlText = o["url"]?.stringValue, let url = URL(string: urlText), let scheme = url.scheme?.lowercased(),
            scheme == "http" || scheme == "https", url.host != nil
        else { return .failure(ModuleError("url must be an absolute http:// or https:// URL")) }
        let method = (o["method"]?.stringValue ?? "GET").uppercased()
        guard ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"].contains(method) else {
            return .failure(ModuleError("unsupported method \(method)"))
        }
        var headers: [String: String] = [:]
        if case .object(let h)? = o["headers"] {
            for (k, v) in h {
                switch v {
                case .string(let s): headers[k] = s
                case .int(let i): headers[k] = String(i)
                default: return .failure(ModuleError("header \(k) must be a string"))
                }
                guard !k.isEmpty, !k.contains(where: { $0 == "\r" || $0 == "\n" || $0 == ":" || $0 == " " }),
                    headers[k]?.contains(where: { $0 == "\r" || $0 == "\n" }) != true
                else { return .failure(ModuleError("header '\(k)' has a name or value that would break the request (CR, LF, ':' or space)")) }
            }
        }
        var body: Data?
        if let json = o["json"] {
            body = Data(json.serialized().utf8)
            if !headers.keys.contains(where: { $0.lowercased() == "content-type" }) { headers["Content-Type"] = "application/json" }
        } else if let b = o["body"] {
            guard case .string(let s) = b else { return .failure(ModuleError("body must be a string (use json = {...} for a table)")) }
            body = Data(s.utf8)
        }
        var timeout = defaultTimeout
        if let t = o["timeout"] {
            switch t {
            case .int(let i) where i > 0: timeout = Double(i)
            case .double(let d) where d > 0: timeout = d
            default: return .failure(ModuleError("timeout must be a positive number of seconds"))
            }
        }
        return .success(Request(method: method, url: url, headers: headers, body: body, timeout: timeout))
    }

    /// A response as both transports deliver it.
    struct Fetched {
        var status: Int
        var headers: [String: String]
        var body: [UInt8]
    }

    static func perform(_ request: Request, policy: PermissionPolicy) async -> Result<JSONValue, ModuleError> {
        var current = request
        for _ in 0...maxRedirects {
            let fetched: Fetched
            switch await fetch(current) {
            case .success(let f): fetched = f
            case .failure(let e): return .failure(e)
            }
            if (300...399).contains(fetched.status), fetched.status != 304,
                let location = fetched.headers["location"], let next = URL(string: location, relativeTo: current.url)?.absoluteURL
            {
                if let denied = policy.check(.http, next.host ?? "") { return .failure(ModuleError("redirect to \(next.absoluteString): \(denied)")) }
                current.url = next
                if fetched.status == 303 || ((fetched.status == 301 || fetched.status == 302) && current.method == "POST") {
                    current.method = "GET"
                    current.body = nil
                }
                continue
            }
            return .success(.object([
                "status_code": .int(Int64(fetched.status)), "headers": .object(fetched.headers.mapValues { .string($0) }),
                "body": .string(String(decoding: fetched.body, as: UTF8.self)), "url": .string(current.url.absoluteString),
            ]))
        }
        return .failure(ModuleError("too many redirects (more than \(maxRedirects)) from \(request.url.absoluteString)"))
    }

    /// One hop: `http://` through our event-loop client (no thread per request, see
    /// `HTTPClient`), `https://` — and `http://` when an `http_proxy` applies, which our client
    /// does not speak — through URLSession.
    static func fetch(_ request: Request) async -> Result<Fetched, ModuleError> {
        if request.url.scheme?.lowercased() == "http", !ProxySettings.fromEnvironment.proxies(host: request.url.host ?? "") {
            return await fetchPlain(request)
        }
        return await fetchTLS(request)
    }

    static func fetchPlain(_ request: Request) async -> Result<Fetched, ModuleError> {
        let url = request.url
        var host = url.host ?? ""
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard let port = UInt16(exactly: url.port ?? 80) else { return .failure(ModuleError("bad port in \(url.absoluteString)")) }
        let parts = URLComponents(url: url, resolvingAgainstBaseURL: true)
        var target = parts?.percentEncodedPath ?? "/"
        if target.isEmpty { target = "/" }
        if let query = parts?.percentEncodedQuery { target += "?\(query)" }
        let outgoing = HTTPClientRequest(
            method: request.method, host: host, port: port, target: target,
            headers: request.headers.sorted { $0.key < $1.key }.map { (name: $0.key, value: $0.value) },
            body: request.body.map { [UInt8]($0) } ?? [], timeout: request.timeout, maxBodyBytes: maxResponseBytes)
        switch await HTTPClient.shared.execute(outgoing) {
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
            case .badResponse(.bodyTooLarge(let limit)): return .failure(ModuleError("response from \(target) is too large; the limit is \(limit) bytes"))
            case .badResponse(.truncated): return .failure(ModuleError("response from \(target) was cut short"))
            case .badResponse(.malformed(let m)): return .failure(ModuleError("malformed response from \(target): \(m)"))
            }
        }
    }

    static func fetchTLS(_ request: Request) async -> Result<Fetched, ModuleError> {
        var built = URLRequest(url: request.url, timeoutInterval: request.timeout)
        built.httpMethod = request.method
        for (k, v) in request.headers { built.setValue(v, forHTTPHeaderField: k) }
        built.httpBody = request.body
        let r = built
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await withTimeout(request.timeout) { try await session.data(for: r) }
        } catch is TimedOut {
            return .failure(ModuleError("request to \(request.url.absoluteString) timed out after \(formatSeconds(millis: Int64(request.timeout * 1000)))"))
        } catch let error as URLError {
            return .failure(ModuleError(describe(error, url: request.url, timeout: request.timeout)))
        } catch {
            return .failure(ModuleError("\(request.method) \(request.url.absoluteString) failed: \(error.localizedDescription)"))
        }
        guard let http = response as? HTTPURLResponse else { return .failure(ModuleError("not an HTTP response")) }
        guard data.count <= maxResponseBytes else {
            return .failure(ModuleError("response from \(request.url.absoluteString) is \(data.count) bytes; the limit is \(maxResponseBytes)"))
        }
        var headers: [String: String] = [:]
        for (k, v) in http.allHeaderFields {
            if let k = k as? String, let v = v as? String { headers[k.lowercased()] = v }
        }
        return .success(Fetched(status: http.statusCode, headers: headers, body: [UInt8](data)))
    }

    struct TimedOut: Error {}

    /// Runs `work`, cancelling it after `seconds`: URLSession on Linux does not honour short
    /// request timeouts by itself.
    static func withTimeout<T: Sendable>(_ seconds: Double, _ work: @escaping @Sendable () async throws -> T) async throws -> T {
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

    static func describe(_ error: URLError, url: URL, timeout: Double) -> String {
        let target = url.absoluteString
        switch error.code {
        case .timedOut: return "request to \(target) timed out after \(formatSeconds(millis: Int64(timeout * 1000)))"
        case .cannotConnectToHost: return "connection refused by \(url.host ?? target)"
        case .cannotFindHost, .dnsLookupFailed: return "cannot resolve host \(url.host ?? target)"
        case .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate, .serverCertificateNotYetValid:
            return "TLS handshake with \(url.host ?? target) failed"
        default: return "request to \(target) failed: \(error.localizedDescription)"
        }
    }
}

/// The `http_proxy` / `no_proxy` environment convention, read once.
struct ProxySettings: Sendable {
    var httpProxy: String?
    var noProxy: [String]

    static let fromEnvironment: ProxySettings = {
        let env = ProcessInfo.processInfo.environment
        let proxy = (env["http_proxy"] ?? env["HTTP_PROXY"]).flatMap { $0.isEmpty ? nil : $0 }
        let exclusions = (env["no_proxy"] ?? env["NO_PROXY"] ?? "").split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
        return ProxySettings(httpProxy: proxy, noProxy: exclusions)
    }()

    /// Whether a request to `host` would go through the proxy.
    func proxies(host: String) -> Bool {
        guard httpProxy != nil else { return false }
        let h = host.lowercased()
        for rule in noProxy {
            if rule == "*" { return false }
            let suffix = rule.hasPrefix(".") ? String(rule.dropFirst()) : rule
            if h == suffix || h.hasSuffix("." + suffix) { return false }
        }
        return true
    }
}
