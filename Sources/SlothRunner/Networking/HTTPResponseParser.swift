import Foundation

/// An HTTP/1.1 response as the client hands it back: header names lower-cased, repeated
/// headers joined with ", ", the body de-chunked.
struct PlainHTTPResponse: Sendable, Equatable {
    var status: Int
    var headers: [String: String]
    var body: [UInt8]
}

/// Why a response could not be read.
enum HTTPParseError: Error, Equatable, Sendable {
    case malformed(String)
    case bodyTooLarge(limit: Int)
    case truncated
}

/// Incremental HTTP/1.1 response parser: feed it bytes as they arrive, it answers with the
/// response once complete. Framing by Content-Length, chunked transfer coding, or the end of
/// the connection; interim 1xx responses are skipped. Bodies are bounded by `maxBodyBytes`
/// (checked against Content-Length before any body arrives).
struct HTTPResponseParser {
    static let maxHeadBytes = 64 << 10
    static let maxChunkLineBytes = 4096

    private enum Stage {
        case head
        case fixed(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case untilClose
        case done
    }

    let maxBodyBytes: Int
    let bodyless: Bool
    private var stage = Stage.head
    private var buffer: [UInt8] = []
    private var cursor = 0
    private var status = 0
    private var headers: [String: String] = [:]
    private var body: [UInt8] = []

    /// `bodyless`: the request was HEAD, so no body follows whatever the headers say.
    init(maxBodyBytes: Int, bodyless: Bool = false) {
        self.maxBodyBytes = maxBodyBytes
        self.bodyless = bodyless
    }

    /// Consumes `bytes`; returns the response once it is complete.
    mutating func feed(_ bytes: UnsafeRawBufferPointer) throws(HTTPParseError) -> PlainHTTPResponse? {
        if case .done = stage { return nil }
        buffer.append(contentsOf: bytes)
        defer { compact() }
        return try advance()
    }

    /// The peer closed the connection: completes a close-delimited body, otherwise the
    /// response was cut short.
    mutating func finish() throws(HTTPParseError) -> PlainHTTPResponse {
        switch stage {
        case .untilClose:
            body.append(contentsOf: buffer[cursor...])
            guard body.count <= maxBodyBytes else { throw .bodyTooLarge(limit: maxBodyBytes) }
            stage = .done
            return response
        default:
            throw .truncated
        }
    }

    private var response: PlainHTTPResponse { PlainHTTPResponse(status: status, headers: headers, body: body) }

    private var available: Int { buffer.count - cursor }

    private mutating func advance() throws(HTTPParseError) -> PlainHTTPResponse? {
        while true {
            switch stage {
            case .head:
                guard let end = find(crlfcrlf, from: cursor) else {
                    if available > Self.maxHeadBytes { throw .malformed("response headers exceed \(Self.maxHeadBytes) bytes") }
                    return nil
                }
                try parseHead(buffer[cursor..<end])
                cursor = end + 4
            case .fixed(let remaining):
                let left = takeBody(upTo: remaining)
                if left > 0 {
                    stage = .fixed(remaining: left)
                    return nil
                }
                stage = .done
            case .chunkSize:
                guard let end = find(crlf, from: cursor) else {
                    if available > Self.maxChunkLineBytes { throw .malformed("chunk size line too long") }
                    return nil
                }
                var size = 0
                var digits = 0
                for byte in buffer[cursor..<end] {
                    let digit: Int
                    switch byte {
                    case 48...57: digit = Int(byte - 48)
                    case 65...70: digit = Int(byte - 55)
                    case 97...102: digit = Int(byte - 87)
                    case 59, 32, 9: digit = -1  // ';' starts an extension; spaces end the number
                    default: throw .malformed("bad chunk size")
                    }
                    if digit < 0 { break }
                    guard digits < 15 else { throw .malformed("chunk size too large") }
                    size = size * 16 + digit
                    digits += 1
                }
                guard digits > 0 else { throw .malformed("bad chunk size") }
                cursor = end + 2
                if size == 0 {
                    stage = .trailers
                } else {
                    guard body.count + size <= maxBodyBytes else { throw .bodyTooLarge(limit: maxBodyBytes) }
                    stage = .chunkData(remaining: size)
                }
            case .chunkData(let remaining):
                let left = takeBody(upTo: remaining)
                if left > 0 {
                    stage = .chunkData(remaining: left)
                    return nil
                }
                stage = .chunkDataEnd
            case .chunkDataEnd:
                guard available >= 2 else { return nil }
                guard buffer[cursor] == 13, buffer[cursor + 1] == 10 else { throw .malformed("chunk not followed by CRLF") }
                cursor += 2
                stage = .chunkSize
            case .trailers:
                guard let end = find(crlf, from: cursor) else {
                    if available > Self.maxHeadBytes { throw .malformed("trailers too long") }
                    return nil
                }
                let empty = end == cursor
                cursor = end + 2
                if empty { stage = .done }
            case .untilClose:
                body.append(contentsOf: buffer[cursor...])
                cursor = buffer.count
                guard body.count <= maxBodyBytes else { throw .bodyTooLarge(limit: maxBodyBytes) }
                return nil
            case .done:
                return response
            }
        }
    }

    /// Parses the status line and header fields byte-wise (this runs once per response on the
    /// loop thread, so it avoids `String` grapheme work).
    /// Moves up to `wanted` buffered bytes into the body; returns how many are still to come.
    private mutating func takeBody(upTo wanted: Int) -> Int {
        let take = min(wanted, available)
        body.append(contentsOf: buffer[cursor..<(cursor + take)])
        cursor += take
        return wanted - take
    }

    private mutating func parseHead(_ head: ArraySlice<UInt8>) throws(HTTPParseError) {
        var lines: [ArraySlice<UInt8>] = []
        var start = head.startIndex
        var i = head.startIndex
        while i < head.endIndex {
            if head[i] == 13, i + 1 < head.endIndex, head[i + 1] == 10 {
                lines.append(head[start..<i])
                i += 2
                start = i
            } else {
                i += 1
            }
        }
        lines.append(head[start..<head.endIndex])
        let statusLine = lines[0]
        // "HTTP/1.x NNN reason"
        guard statusLine.count >= 12, statusLine.starts(with: Self.httpSlash1), statusLine[statusLine.startIndex + 8] == 32 else {
            throw .malformed("bad status line '\(String(decoding: statusLine.prefix(80), as: UTF8.self))'")
        }
        var code = 0
        for byte in statusLine[(statusLine.startIndex + 9)..<(statusLine.startIndex + 12)] {
            guard (48...57).contains(byte) else { throw .malformed("bad status code in '\(String(decoding: statusLine.prefix(80), as: UTF8.self))'") }
            code = code * 10 + Int(byte - 48)
        }
        guard code >= 100 else { throw .malformed("bad status code \(code)") }
        var fields: [String: String] = [:]
        for line in lines.dropFirst() where !line.isEmpty {
            guard let colon = line.firstIndex(of: 58) else {
                throw .malformed("bad header line '\(String(decoding: line.prefix(80), as: UTF8.self))'")
            }
            let name = String(decoding: line[line.startIndex..<colon].map { (65...90).contains($0) ? $0 + 32 : $0 }, as: UTF8.self)
            var valueStart = line.index(after: colon)
            var valueEnd = line.endIndex
            while valueStart < valueEnd, line[valueStart] == 32 || line[valueStart] == 9 { valueStart += 1 }
            while valueEnd > valueStart, line[valueEnd - 1] == 32 || line[valueEnd - 1] == 9 { valueEnd -= 1 }
            let value = String(decoding: line[valueStart..<valueEnd], as: UTF8.self)
            fields[name] = fields[name].map { "\($0), \(value)" } ?? value
        }
        if (100...199).contains(code) { return }  // interim response: the real one follows
        status = code
        headers = fields
        if bodyless || code == 204 || code == 304 {
            stage = .done
        } else if let coding = fields["transfer-encoding"], coding.lowercased().contains("chunked") {
            stage = .chunkSize
        } else if let length = fields["content-length"] {
            guard let n = Int(length.prefix { $0 != "," }.trimmingCharacters(in: .whitespaces)), n >= 0 else {
                throw .malformed("bad Content-Length '\(length)'")
            }
            guard n <= maxBodyBytes else { throw .bodyTooLarge(limit: maxBodyBytes) }
            body.reserveCapacity(n)
            stage = n == 0 ? .done : .fixed(remaining: n)
        } else {
            stage = .untilClose
        }
    }

    private static let httpSlash1: [UInt8] = Array("HTTP/1.".utf8)
    private let crlf: [UInt8] = [13, 10]
    private let crlfcrlf: [UInt8] = [13, 10, 13, 10]

    private func find(_ needle: [UInt8], from start: Int) -> Int? {
        guard buffer.count >= needle.count else { return nil }
        var i = start
        let last = buffer.count - needle.count
        while i <= last {
            if buffer[i] == needle[0] {
                var match = true
                for j in 1..<needle.count where buffer[i + j] != needle[j] { match = false; break }
                if match { return i }
            }
            i += 1
        }
        return nil
    }

    /// Drops consumed bytes once they dominate the buffer, so long bodies stay linear.
    private mutating func compact() {
        if cursor == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            cursor = 0
        } else if cursor > 65536, cursor > buffer.count / 2 {
            buffer.removeFirst(cursor)
            cursor = 0
        }
    }
}
