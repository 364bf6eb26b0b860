import CLua
import CLuaShim
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `http.request{method, url, headers, body, json, timeout}` and the `get/post/put/delete`
/// shorthands built on it in the prelude. The hook's coroutine is suspended while the request
/// is in flight. Redirects are followed here (so each hop is bounded and permission-checked);
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
        let built: Request
        switch parse(o) {
        case .success(let r): built = r
        case .failure(let e): return HostFunctions.fail(L, "http.request: \(e.message)")
        }
        let policy = HostFunctions.policy(ctx)
        if let denied = policy.check(.http, built.url.host ?? "") { return HostFunctions.fail(L, "http: \(denied)") }
        return HostFunctions.suspend(L, ctx, "http") { await perform(built, policy: policy) }
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

    static func perform(_ request: Request, policy: PermissionPolicy) async -> Result<JSONValue, ModuleError> {
        var current = request
        for _ in 0...maxRedirects {
            var built = URLRequest(url: current.url, timeoutInterval: current.timeout)
            built.httpMethod = current.method
            for (k, v) in current.headers { built.setValue(v, forHTTPHeaderField: k) }
            built.httpBody = current.body
            let r = built
            let data: Data
            let response: URLResponse
            do {
                (data, response) = try await withTimeout(current.timeout) { try await session.data(for: r) }
            } catch is TimedOut {
                return .failure(ModuleError("request to \(current.url.absoluteString) timed out after \(formatSeconds(millis: Int64(current.timeout * 1000)))"))
            } catch let error as URLError {
                return .failure(ModuleError(describe(error, url: current.url, timeout: current.timeout)))
            } catch {
                return .failure(ModuleError("\(current.method) \(current.url.absoluteString) failed: \(error.localizedDescription)"))
            }
            guard let http = response as? HTTPURLResponse else { return .failure(ModuleError("not an HTTP response")) }
            if (300...399).contains(http.statusCode), http.statusCode != 304,
                let location = http.value(forHTTPHeaderField: "Location"), let next = URL(string: location, relativeTo: current.url)?.absoluteURL
            {
                if let denied = policy.check(.http, next.host ?? "") { return .failure(ModuleError("redirect to \(next.absoluteString): \(denied)")) }
                current.url = next
                if http.statusCode == 303 || ((http.statusCode == 301 || http.statusCode == 302) && current.method == "POST") {
                    current.method = "GET"
                    current.body = nil
                }
                continue
            }
            guard data.count <= maxResponseBytes else {
                return .failure(ModuleError("response from \(current.url.absoluteString) is \(data.count) bytes; the limit is \(maxResponseBytes)"))
            }
            var headers: [String: JSONValue] = [:]
            for (k, v) in http.allHeaderFields {
                if let k = k as? String, let v = v as? String { headers[k.lowercased()] = .string(v) }
            }
            return .success(.object([
                "status_code": .int(Int64(http.statusCode)), "headers": .object(headers),
                "body": .string(String(decoding: data, as: UTF8.self)), "url": .string(current.url.absoluteString),
            ]))
        }
        return .failure(ModuleError("too many redirects (more than \(maxRedirects)) from \(request.url.absoluteString)"))
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
