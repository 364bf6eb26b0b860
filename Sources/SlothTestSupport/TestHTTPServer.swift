import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A minimal HTTP/1.1 server on 127.0.0.1 and an ephemeral port, for tests (never shipped in
/// the executable). Routes: /ok, /status/N, /slow/MS, /redirect/N (chains to /ok), /big/BYTES, /echo; for
/// response framing: /chunked/BYTES, /unframed (close-delimited), /continue (a 100 first),
/// /garbage, /cut (shorter than its Content-Length); /goto?to=URL (a redirect anywhere), /query
/// (echoes the raw query string); /exists?path=ABS (200 while the file exists, 503 once it is gone:
/// a service a test makes fail and recover).
public final class TestHTTPServer: Sendable {
    public let port: UInt16
    private let fd: Int32
    private final class Count: Sendable { let value = Atomic<Int>(0) }
    private let accepted = Count()

    /// Connections accepted so far (a test that must make no request checks it stays 0).
    public var connections: Int { accepted.value.load(ordering: .acquiring) }

    public init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 512) == 0 else { throw POSIXError(.EADDRINUSE) }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        self.port = UInt16(bigEndian: addr.sin_port)
        let listener = fd
        let thread = Thread { [accepted] in
            while true {
                let client = accept(listener, nil, nil)
                if client < 0 { return }
                accepted.value.add(1, ordering: .releasing)
                Thread.detachNewThread { TestHTTPServer.serve(client) }
            }
        }
        thread.start()
    }

    deinit {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    public var base: String { "http://127.0.0.1:\(port)" }

    private static func serve(_ client: Int32) {
        defer { close(client) }
        var buffer = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        var headerEnd: Int?
        while headerEnd == nil {
            let n = read(client, &chunk, chunk.count)
            if n <= 0 { return }
            buffer += chunk[0..<n]
            if let r = buffer.firstRange(of: Array("\r\n\r\n".utf8)) { headerEnd = r.upperBound }
        }
        let head = String(decoding: buffer[0..<headerEnd!], as: UTF8.self)
        let lines = head.split(separator: "\r\n")
        let parts = lines.first?.split(separator: " ") ?? []
        let method = parts.count > 0 ? String(parts[0]) : "GET"
        let path = parts.count > 1 ? String(parts[1]) : "/"
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            if let colon = line.firstIndex(of: ":") {
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        while buffer.count - headerEnd! < length {
            let n = read(client, &chunk, chunk.count)
            if n <= 0 { break }
            buffer += chunk[0..<n]
        }
        let body = String(decoding: buffer[headerEnd!...], as: UTF8.self)
        let segments = (path.split(separator: "?").first ?? "").split(separator: "/").map(String.init)
        var status = 200
        var extra = ""
        var payload = "{\"ok\":true}"
        var raw: String?  // a whole response written as is, for framing tests
        switch segments.first {
        case "chunked":
            let text = String(repeating: "y", count: Int(segments.last ?? "0") ?? 0)
            var chunks = ""
            var rest = Substring(text)
            while !rest.isEmpty {
                let piece = rest.prefix(7)
                rest = rest.dropFirst(7)
                chunks += String(piece.count, radix: 16) + ";ext=1\r\n" + piece + "\r\n"
            }
            raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Multi: a\r\nX-Multi: b\r\n\r\n\(chunks)0\r\nX-Trailer: t\r\n\r\n"
        case "unframed": raw = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nunframed-body"
        case "continue": raw = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\ndone"
        case "garbage": raw = "NOT HTTP AT ALL\r\n\r\n"
        case "cut": raw = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-this"
        case "status": status = Int(segments.last ?? "500") ?? 500; payload = "{\"status\":\(status)}"
        case "slow": usleep(UInt32(Int(segments.last ?? "1000") ?? 1000) * 1000); payload = "{\"slow\":true}"
        case "redirect":
            let n = Int(segments.last ?? "0") ?? 0
            status = 302
            extra = "Location: \(n > 1 ? "/redirect/\(n - 1)" : "/ok")\r\n"
            payload = ""
        case "goto":
            // /goto?to=URL: a redirect anywhere (another host, another scheme).
            let target = path.split(separator: "?", maxSplits: 1).last.flatMap { q in
                q.split(separator: "&").first { $0.hasPrefix("to=") }.map { String($0.dropFirst(3)).removingPercentEncoding ?? "" }
            } ?? "/ok"
            status = 302
            extra = "Location: \(target)\r\n"
            payload = ""
        case "exists":
            let query = path.split(separator: "?", maxSplits: 1).dropFirst().first.map(String.init) ?? ""
            let file = query.hasPrefix("path=") ? String(query.dropFirst(5)).removingPercentEncoding ?? "" : ""
            status = FileManager.default.fileExists(atPath: file) ? 200 : 503
            payload = status == 200 ? "{\"up\":true}" : "{\"up\":false}"
        case "query":
            let query = path.split(separator: "?", maxSplits: 1).dropFirst().first.map(String.init) ?? ""
            payload = "{\"query\":\"\(query)\"}"
        case "big": payload = String(repeating: "x", count: Int(segments.last ?? "0") ?? 0)
        case "echo":
            let escapedBody = body.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            payload = "{\"path\":\"\(path)\",\"method\":\"\(method)\",\"body\":\"\(escapedBody)\",\"content_type\":\"\(headers["content-type"] ?? "")\",\"token\":\"\(headers["x-token"] ?? "")\"}"
        default: break
        }
        let response = raw ?? "HTTP/1.1 \(status) X\r\nContent-Type: application/json\r\nContent-Length: \(payload.utf8.count)\r\nConnection: close\r\n\(extra)\r\n\(payload)"
        _ = writeAll(client, Array(response.utf8))
    }

    /// Writes all of `bytes[..<count]`; false when the peer went away first.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8], count: Int? = nil) -> Bool {
        let total = count ?? bytes.count
        var sent = 0
        while sent < total {
            let offset = sent
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, total - offset) }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }
}
