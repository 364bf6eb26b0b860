import Foundation
import SlothRunner

/// Where a PostgreSQL store lives, read from a `postgres://` URL the way libpq reads one:
/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require][&host=/socket/dir]`.
/// A `host` parameter naming a directory (or an empty host in the authority) means the server's
/// unix socket in that directory (`.s.PGSQL.PORT`), as `psql` does.
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible {
    public enum TLSMode: String, Sendable, CaseIterable {
        case disable, prefer, require
    }

    public enum Endpoint: Sendable, Equatable {
        case tcp(host: String, port: Int)
        /// The socket file itself (directory + `.s.PGSQL.PORT`).
        case unixSocket(path: String)
    }

    public var endpoint: Endpoint
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode
    /// The schema holding sloth-runner's tables (`?schema=NAME`, created if missing); nil: the
    /// user's default (`public`). Lets several stores share one database (the tests do).
    public var schema: String?
    /// How long an operation waits for a connection before it fails, saying the server is
    /// unreachable (`?connect_timeout=SECONDS`, as libpq's; default 10).
    public var connectTimeoutSeconds: Double = 10

    public init(endpoint: Endpoint, username: String, password: String?, database: String, tls: TLSMode, schema: String? = nil) {
        self.endpoint = endpoint
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
        self.schema = schema
    }

    /// Whether `text` names a PostgreSQL database rather than a SQLite file.
    public static func isPostgresURL(_ text: String) -> Bool {
        let lower = text.lowercased()
        return lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://")
    }

    /// Parses a URL; what is wrong with it is said in the operator's terms (never echoing the password).
    public init(url text: String) throws(SlothError) {
        guard Self.isPostgresURL(text) else {
            throw .invalidInput("'\(Self.redacted(text))' is not a PostgreSQL URL; write postgres://USER:PASSWORD@HOST:PORT/DATABASE")
        }
        guard let components = URLComponents(string: text) else {
            throw .invalidInput("cannot read the PostgreSQL URL '\(Self.redacted(text))' (characters such as @ : / in a password must be percent-encoded)")
        }
        var query: [String: String] = [:]
        for item in components.queryItems ?? [] {
            guard let value = item.value else { throw .invalidInput("the PostgreSQL URL's parameter '\(item.name)' has no value") }
            query[item.name] = value
        }
        for key in query.keys where !["sslmode", "host", "port", "user", "password", "schema", "connect_timeout"].contains(key) {
            throw .invalidInput("the PostgreSQL URL has an unknown parameter '\(key)' (known: sslmode, host, port, user, password, schema, connect_timeout)")
        }
        let user = query["user"] ?? components.percentEncodedUser.flatMap { $0.removingPercentEncoding }
        guard let user, !user.isEmpty else {
            throw .invalidInput("the PostgreSQL URL names no user; write postgres://USER@HOST/DATABASE")
        }
        username = user
        password = query["password"] ?? components.percentEncodedPassword.flatMap { $0.removingPercentEncoding }
        var path = components.path
        if path.hasPrefix("/") { path.removeFirst() }
        guard !path.isEmpty, !path.contains("/") else {
            throw .invalidInput("the PostgreSQL URL names no database; write postgres://USER@HOST/DATABASE")
        }
        database = path
        var port = components.port ?? 5432
        if let p = query["port"] {
            guard let n = Int(p), (1...65535).contains(n) else { throw .invalidInput("the PostgreSQL URL's port '\(p)' is not a port number") }
            port = n
        }
        let host = query["host"] ?? components.host ?? ""
        if host.isEmpty || host.hasPrefix("/") {
            let directory = host.isEmpty ? "/var/run/postgresql" : host
            endpoint = .unixSocket(path: directory + "/.s.PGSQL.\(port)")
            tls = .disable
        } else {
            endpoint = .tcp(host: host, port: port)
            tls = .prefer
        }
        if let t = query["connect_timeout"] {
            guard let seconds = Double(t), seconds > 0, seconds <= 3600 else {
                throw .invalidInput("the PostgreSQL URL's connect_timeout '\(t)' is not a number of seconds from 0 to 3600")
            }
            connectTimeoutSeconds = seconds
        }
        if let s = query["schema"] {
            guard let first = s.first, first.isLetter || first == "_", s.count <= 63,
                  s.allSatisfy({ ($0.isLetter && $0.isASCII && $0.isLowercase) || $0.isNumber || $0 == "_" })
            else { throw .invalidInput("the PostgreSQL URL's schema '\(s)' is not a plain name (lower-case letters, digits, _; at most 63)") }
            schema = s
        }
        if let mode = query["sslmode"] {
            switch mode {
            case "disable", "allow": tls = .disable
            case "prefer": tls = .prefer
            case "require", "verify-ca", "verify-full": tls = .require
            default: throw .invalidInput("the PostgreSQL URL's sslmode '\(mode)' is not one of disable, prefer, require, verify-ca, verify-full")
            }
            if case .unixSocket = endpoint, tls == .require {
                throw .invalidInput("sslmode=\(mode) cannot be used over a unix socket; give a TCP host")
            }
        }
    }

    /// The URL with its password replaced by `***`, for logs and errors.
    public var description: String {
        let credentials = username + (password == nil ? "" : ":***")
        switch endpoint {
        case .tcp(let host, let port):
            return "postgres://\(credentials)@\(host):\(port)/\(database)?sslmode=\(tls.rawValue)" + (schema.map { "&schema=" + $0 } ?? "")
        case .unixSocket(let path):
            let directory = (path as NSString).deletingLastPathComponent
            let port = path.split(separator: ".").last.map(String.init) ?? "5432"
            return "postgres://\(credentials)@/\(database)?host=\(directory)&port=\(port)" + (schema.map { "&schema=" + $0 } ?? "")
        }
    }

    /// Where the server is, for messages: `host:port` or the socket path.
    public var serverDescription: String {
        switch endpoint {
        case .tcp(let host, let port): return "\(host):\(port)"
        case .unixSocket(let path): return path
        }
    }

    /// `text` with any password in it replaced by `***`.
    public static func redacted(_ text: String) -> String {
        guard let at = text.range(of: "@"), let scheme = text.range(of: "://"), scheme.upperBound < at.lowerBound else { return text }
        let credentials = text[scheme.upperBound..<at.lowerBound]
        guard let colon = credentials.firstIndex(of: ":") else { return text }
        return String(text[..<text.index(after: colon)]) + "***" + String(text[at.lowerBound...])
    }
}
