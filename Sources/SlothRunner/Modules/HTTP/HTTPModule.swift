import CLua
import CLuaShim
import Foundation

/// `http.request{method, url, headers, query, body, json, timeout, ca_file, insecure, redirects}`
/// and the `get/post/put/delete` shorthands built on it in the prelude. The hook's coroutine is
/// suspended while the request is in flight, on AsyncHTTPClient (`HTTPTransport`): one path for
/// `http://` and `https://`, pooled keep-alive connections, the system trust store. Redirects
/// are followed here, so each hop is bounded and permission-checked; bodies are bounded.
enum HTTPModule {
    static let maxResponseBytes = 10 << 20
    static let defaultRedirects = 5
    static let maxRedirects = 20
    static let defaultTimeout = 30.0
    static let options = ["method", "url", "headers", "query", "body", "json", "timeout", "ca_file", "insecure", "redirects"]

    struct Request: Sendable {
        var method: String
        var url: URL
        var headers: [(name: String, value: String)]
        var body: [UInt8]?
        var timeout: Double
        var caFile: String?
        var insecure = false
        var redirects = defaultRedirects
    }

    static let request: sb_host_fn = { L, ctx in
        guard let L else { return 0 }
        guard lua_type(L, 1) == LUA_TTABLE, case .object(let o)? = try? LuaValues.json(at: 1, on: L) else {
            return HostFunctions.fail(L, "http.request: expected a table {method =, url =, headers =, query =, body =, json =, timeout =}")
        }
        var built: Request
        switch parse(o) {
        case .success(let r): built = r
        case .failure(let e): return HostFunctions.fail(L, "http: \(e.message)")
        }
        built.timeout = HostFunctions.operationTimeout(built.timeout, ctx)
        let policy = HostFunctions.policy(ctx)
        if let denied = policy.check(.http, built.url.host ?? "") { return HostFunctions.fail(L, "http: \(denied)") }
        if let ca = built.caFile, let denied = policy.check(.file, ca) { return HostFunctions.fail(L, "http: ca_file: \(denied)") }
        if let answer = HostFunctions.sandbox(ctx)?.http(method: built.method, url: built.url.absoluteString, body: built.body) {
            return HostFunctions.suspend(L, ctx, "http") { answer }
        }
        let request = built
        if request.method != "GET", request.method != "HEAD" {
            let arguments: JSONValue = .object([
                "method": .string(request.method), "url": .string(request.url.absoluteString),
                "headers": .array(request.headers.map { .array([.string($0.name.lowercased()), .string($0.value)]) }),
                "body": request.body.map { .string(String(decoding: $0, as: UTF8.self)) } ?? .null,
            ])
            if let journaled = HostFunctions.suspendJournaled(
                L, ctx, "http", kind: "http", summary: "http \(request.method) \(request.url.absoluteString)", arguments: arguments,
                reusedNote: "its response is reused, the request is not sent again", perform: { await perform(request, policy: policy) },
                succeeded: { ($0["status_code"]?.intValue ?? 500) < 400 })
            {
                return journaled
            }
        }
        return HostFunctions.suspend(L, ctx, "http") { await perform(request, policy: policy) }
    }

    static func parse(_ o: [String: JSONValue]) -> Result<Request, ModuleError> {
        if let unknown = ModuleOptions.unknownKey(in: o, known: options) { return .failure(unknown) }
        guard let urlText = o["url"]?.stringValue, var parts = URLComponents(string: urlText), let scheme = parts.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = parts.host, !host.isEmpty
        else { return .failure(ModuleError("url must be an absolute http:// or https:// URL")) }
        let method = (o["method"]?.stringValue ?? "GET").uppercased()
        guard ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"].contains(method) else {
            return .failure(ModuleError("unsupported method \(method)"))
        }
        if let query = o["query"] {
            guard case .object(let q) = query else { return .failure(ModuleError("query must be a table of names and values, like { page = 2 }")) }
            var items = parts.queryItems ?? []
            for (name, value) in q.sorted(by: { $0.key < $1.key }) {
                switch value {
                case .string(let s): items.append(URLQueryItem(name: name, value: s))
                case .int, .double, .bool: items.append(URLQueryItem(name: name, value: value.serialized()))
                case .array(let values):
                    for v in values {
                        guard v.stringValue != nil || v.isScalarNumberOrBool else { return .failure(ModuleError("query value '\(name)' must hold strings or numbers")) }
                        items.append(URLQueryItem(name: name, value: v.stringValue ?? v.serialized()))
                    }
                default: return .failure(ModuleError("query value '\(name)' must be a string, a number or a list of them"))
                }
            }
            parts.queryItems = items
            // URLComponents leaves '+' alone, which servers read as a space.
            parts.percentEncodedQuery = parts.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        }
        guard let url = parts.url else { return .failure(ModuleError("url must be an absolute http:// or https:// URL")) }
        var headers: [(name: String, value: String)] = []
        if let h = o["headers"] {
            guard case .object(let given) = h else { return .failure(ModuleError("headers must be a table of names and values")) }
            for (k, v) in given.sorted(by: { $0.key < $1.key }) {
                let value: String
                switch v {
                case .string(let s): value = s
                case .int(let i): value = String(i)
                default: return .failure(ModuleError("header \(k) must be a string"))
                }
                guard !k.isEmpty, !k.contains(where: { $0 == "\r" || $0 == "\n" || $0 == ":" || $0 == " " }), !value.contains(where: { $0 == "\r" || $0 == "\n" }) else {
                    return .failure(ModuleError("header '\(k)' has a name or value that would break the request (CR, LF, ':' or space)"))
                }
                headers.append((k, value))
            }
        }
        var body: [UInt8]?
        if let json = o["json"] {
            guard o["body"] == nil else { return .failure(ModuleError("give either body or json, not both")) }
            body = Array(json.serialized().utf8)
            if !headers.contains(where: { $0.name.lowercased() == "content-type" }) { headers.append(("Content-Type", "application/json")) }
        } else if let b = o["body"] {
            guard case .string(let s) = b else { return .failure(ModuleError("body must be a string (use json = {...} for a table)")) }
            body = Array(s.utf8)
        }
        var request = Request(method: method, url: url, headers: headers, body: body, timeout: defaultTimeout)
        if let t = o["timeout"] {
            switch t {
            case .int(let i) where i > 0: request.timeout = Double(i)
            case .double(let d) where d > 0 && d.isFinite: request.timeout = d
            default: return .failure(ModuleError("timeout must be a positive number of seconds"))
            }
        }
        if let ca = o["ca_file"] {
            guard let path = ca.stringValue, !path.isEmpty else { return .failure(ModuleError("ca_file must be the path of a PEM file of CA certificates")) }
            request.caFile = path
        }
        if let insecure = o["insecure"] {
            guard case .bool(let b) = insecure else { return .failure(ModuleError("insecure must be true or false")) }
            request.insecure = b
        }
        if let r = o["redirects"] {
            guard case .int(let n) = r, (0...Int64(maxRedirects)).contains(n) else {
                return .failure(ModuleError("redirects must be a whole number from 0 to \(maxRedirects) (0: return the redirect itself)"))
            }
            request.redirects = Int(n)
        }
        return .success(request)
    }

    /// Sends the request, following up to `redirects` redirects: each hop's host must be
    /// allowed by the hook's permissions, as the first one is.
    static func perform(_ request: Request, policy: PermissionPolicy, transport: HTTPTransport = .shared) async -> Result<JSONValue, ModuleError> {
        var current = request
        let deadline = monotonicSeconds() + request.timeout
        for hop in 0...request.redirects {
            current.timeout = max(0.001, deadline - monotonicSeconds())
            let fetched: HTTPTransport.Fetched
            switch await transport.fetch(current, maxBodyBytes: maxResponseBytes) {
            case .success(let f): fetched = f
            case .failure(let e): return .failure(e)
            }
            if request.redirects > 0, [301, 302, 303, 307, 308].contains(fetched.status),
                let location = fetched.headers["location"], let next = URL(string: location, relativeTo: current.url)?.absoluteURL,
                ["http", "https"].contains(next.scheme?.lowercased() ?? "")
            {
                guard hop < request.redirects else { break }
                if let denied = policy.check(.http, next.host ?? "") { return .failure(ModuleError("redirect to \(next.absoluteString): \(denied)")) }
                // Credentials are for the host they were given for.
                if next.host?.lowercased() != current.url.host?.lowercased() {
                    current.headers.removeAll { ["authorization", "cookie", "proxy-authorization"].contains($0.name.lowercased()) }
                }
                current.url = next
                if fetched.status == 303 || ((fetched.status == 301 || fetched.status == 302) && current.method == "POST") {
                    current.method = "GET"
                    current.body = nil
                    current.headers.removeAll { ["content-type", "content-length"].contains($0.name.lowercased()) }
                }
                continue
            }
            return .success(response(fetched, url: current.url))
        }
        return .failure(ModuleError("too many redirects (more than \(request.redirects)) from \(request.url.absoluteString)"))
    }

    /// `{status_code, headers, body, url, json}`; `json` is the decoded body when the response
    /// says it is JSON (`application/json`, `…+json`) and it parses.
    static func response(_ fetched: HTTPTransport.Fetched, url: URL) -> JSONValue {
        var out: [String: JSONValue] = [
            "status_code": .int(Int64(fetched.status)), "headers": .object(fetched.headers.mapValues { .string($0) }),
            "body": .string(String(decoding: fetched.body, as: UTF8.self)), "url": .string(url.absoluteString),
        ]
        let type = fetched.headers["content-type"]?.lowercased().split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        if type == "application/json" || type.hasSuffix("+json"), let decoded = try? JSONValue.parse(bytes: fetched.body) {
            out["json"] = decoded
        }
        return .object(out)
    }
}

extension JSONValue {
    var isScalarNumberOrBool: Bool {
        switch self {
        case .int, .double, .bool: return true
        default: return false
        }
    }
}
