import Foundation

/// A JSON value that keeps integers as integers: `1` and `1.0` stay different, so an id of
/// 2^60 reaches a Lua hook intact (Foundation's number bridging would make it a double).
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// The member `key` of an object; nil for anything else.
    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    /// The elements of an array; nil for anything else.
    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The text of a string; nil for anything else.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// A whole number (an integer, or a double without a fraction); nil for anything else.
    public var intValue: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d.rounded() == d && abs(d) < 9.2e18: return Int64(d)
        default: return nil
        }
    }

    /// The members of an object; nil for anything else.
    public var objectValue: [String: JSONValue]? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// The JSON type's name, for messages: null, boolean, number, string, array, object.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .int, .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}

/// Where and why a JSON text could not be read.
public struct JSONParseError: Error, Equatable, CustomStringConvertible {
    /// What is wrong, and where: line and column, from 1.
    public let message: String
    public let line: Int
    public let column: Int
    /// Set when parsing stopped because the budget it was given ran out, not at bad input.
    package var exhausted: WorkBudget.Exhausted?
    /// The message with its position.
    public var description: String { "invalid JSON at line \(line), column \(column): \(message)" }
}

extension JSONValue {
    package static let maxDepth = 64

    /// Parses JSON text (nesting at most 64 deep).
    public static func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        var parser = JSONParser(bytes: Array(text.utf8), budget: .unlimited)
        return try parser.parseDocument()
    }

    /// Parses JSON from UTF-8 bytes.
    public static func parse(bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
        var parser = JSONParser(bytes: bytes, budget: .unlimited)
        return try parser.parseDocument()
    }

    /// Parses with the work charged to `budget` (a hook's `json.decode`): a document of small
    /// values can decode to many times its size.
    package static func parse(bytes: [UInt8], budget: inout WorkBudget) throws(JSONParseError) -> JSONValue {
        var parser = JSONParser(bytes: bytes, budget: budget)
        defer { budget = parser.budget }
        return try parser.parseDocument()
    }

    /// Compact JSON with object keys sorted, so equal values always print the same.
    public func serialized(pretty: Bool = false) -> String {
        // Written as bytes and decoded once: appending to a String piece by piece costs a
        // capacity check and often a reallocation per piece, and events are serialized per
        // dispatch.
        var out: [UInt8] = []
        out.reserveCapacity(128)
        write(into: &out, pretty: pretty, indent: 0)
        return String(decoding: out, as: UTF8.self)
    }

    private func write(into out: inout [UInt8], pretty: Bool, indent: Int) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i): JSONValue.writeInteger(i, into: &out)
        case .double(let d):
            if d.isFinite, d == d.rounded(), abs(d) < 1e15 {
                out.append(contentsOf: String(format: "%.1f", d).utf8)
            } else if d.isFinite {
                out.append(contentsOf: "\(d)".utf8)
            } else {
                out.append(contentsOf: "null".utf8)
            }
        case .string(let s): JSONValue.writeString(s, into: &out)
        case .array(let a):
            if a.isEmpty { out.append(contentsOf: "[]".utf8); return }
            out.append(UInt8(ascii: "["))
            for (i, v) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                if pretty { JSONValue.newline(indent + 1, into: &out) }
                v.write(into: &out, pretty: pretty, indent: indent + 1)
            }
            if pretty { JSONValue.newline(indent, into: &out) }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            if o.isEmpty { out.append(contentsOf: "{}".utf8); return }
            out.append(UInt8(ascii: "{"))
            for (i, member) in o.sorted(by: { $0.key < $1.key }).enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                if pretty { JSONValue.newline(indent + 1, into: &out) }
                JSONValue.writeString(member.key, into: &out)
                if pretty { out.append(contentsOf: ": ".utf8) } else { out.append(UInt8(ascii: ":")) }
                member.value.write(into: &out, pretty: pretty, indent: indent + 1)
            }
            if pretty { JSONValue.newline(indent, into: &out) }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static func newline(_ indent: Int, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\n"))
        for _ in 0..<indent { out.append(contentsOf: "  ".utf8) }
    }

    package static func writeInteger(_ value: Int64, into out: inout [UInt8]) {
        if value == 0 { out.append(UInt8(ascii: "0")); return }
        // Digits of the magnitude, least significant first; Int64.min has no positive twin.
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            while magnitude > 0 {
                buffer[count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            }
        }
        if value < 0 { out.append(UInt8(ascii: "-")) }
        withUnsafeBytes(of: &digits) { buffer in
            for i in stride(from: count - 1, through: 0, by: -1) { out.append(buffer[i]) }
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    package static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Most strings (ids, types, names) need no escape: copied whole.
        let copied: Bool? = s.utf8.withContiguousStorageIfAvailable { bytes in
            guard !bytes.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else { return false }
            out.append(contentsOf: bytes)
            return true
        }
        if copied == true {
            out.append(UInt8(ascii: "\""))
            return
        }
        // UTF-8 passes through unchanged; only quotes, backslashes and control bytes (all ASCII,
        // so never part of a multi-byte sequence) are escaped.
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\n"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: "\r"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case UInt8(ascii: "\t"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

private struct JSONParser {
    let bytes: [UInt8]
    var pos = 0
    var budget: WorkBudget

    init(bytes: [UInt8], budget: WorkBudget) {
        self.bytes = bytes
        self.budget = budget
    }

    mutating func charge(_ cost: Int) throws(JSONParseError) {
        do { try budget.charge(cost) } catch {
            var e = self.error("the decoded value would exceed the hook's \(error == .memory ? "memory limit" : "time limit")")
            e.exhausted = error
            throw e
        }
    }

    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        skipWhitespace()
        if pos >= bytes.count { throw error("empty input") }
        let value = try parseValue(depth: 0)
        skipWhitespace()
        if pos < bytes.count { throw error("unexpected '\(char(at: pos))' after the JSON value") }
        return value
    }

    func error(_ message: String) -> JSONParseError {
        var line = 1, column = 1
        for b in bytes[0..<min(pos, bytes.count)] {
            if b == UInt8(ascii: "\n") { line += 1; column = 1 } else { column += 1 }
        }
        return JSONParseError(message: message, line: line, column: column)
    }

    /// The character at `at` as text: a whole UTF-8 sequence (not its first byte as Latin-1),
    /// control bytes and invalid bytes escaped.
    func char(at position: Int) -> String {
        let at = position
        let b = bytes[at]
        if b < 0x20 || b == 0x7F { return String(format: "\\u%04x", b) }
        if b < 0x80 { return String(UnicodeScalar(b)) }
        let length = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1
        if at + length <= bytes.count, let s = String(validating: bytes[at..<at + length], as: UTF8.self) { return s }
        return String(format: "\\x%02x", b)
    }

    mutating func skipWhitespace() {
        while pos < bytes.count {
            switch bytes[pos] {
            case 0x20, 0x0A, 0x0D, 0x09: pos += 1
            default: return
            }
        }
    }

    mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth < JSONValue.maxDepth else { throw error("nesting deeper than \(JSONValue.maxDepth) levels") }
        guard pos < bytes.count else { throw error("unexpected end of input") }
        try charge(WorkBudget.Cost.scalar)
        switch bytes[pos] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectWord("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectWord("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectWord("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw error("unexpected '\(char(at: pos))'")
        }
    }

    mutating func expectWord(_ word: String) throws(JSONParseError) {
        let w = Array(word.utf8)
        guard pos + w.count <= bytes.count, Array(bytes[pos..<pos + w.count]) == w else {
            throw error("expected '\(word)'")
        }
        pos += w.count
    }

    mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONValue {
        try charge(WorkBudget.Cost.container)
        pos += 1
        var result: [String: JSONValue] = [:]
        skipWhitespace()
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(result) }
        while true {
            skipWhitespace()
            guard pos < bytes.count else { throw error("unexpected end of input inside an object") }
            guard bytes[pos] == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let key = try parseString()
            try charge(WorkBudget.Cost.entry)
            skipWhitespace()
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else { throw error("expected ':' after key \"\(key)\"") }
            pos += 1
            skipWhitespace()
            result[key] = try parseValue(depth: depth + 1)
            skipWhitespace()
            guard pos < bytes.count else { throw error("unexpected end of input inside an object") }
            if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
            if bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(result) }
            throw error("expected ',' or '}' in an object")
        }
    }

    mutating func parseArray(depth: Int) throws(JSONParseError) -> JSONValue {
        try charge(WorkBudget.Cost.container)
        pos += 1
        var result: [JSONValue] = []
        skipWhitespace()
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(result) }
        while true {
            skipWhitespace()
            result.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            guard pos < bytes.count else { throw error("unexpected end of input inside an array") }
            if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
            if bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(result) }
            throw error("expected ',' or ']' in an array")
        }
    }

    mutating func parseString() throws(JSONParseError) -> String {
        pos += 1
        var scalars = String.UnicodeScalarView()
        var runStart = pos
        var buffer: [UInt8] = []
        while true {
            guard pos < bytes.count else { throw error("unterminated string") }
            let b = bytes[pos]
            if b == UInt8(ascii: "\"") {
                buffer.append(contentsOf: bytes[runStart..<pos])
                pos += 1
                break
            }
            if b < 0x20 { throw error("control character in a string") }
            if b == UInt8(ascii: "\\") {
                buffer.append(contentsOf: bytes[runStart..<pos])
                pos += 1
                guard pos < bytes.count else { throw error("unterminated escape") }
                let e = bytes[pos]
                pos += 1
                switch e {
                case UInt8(ascii: "\""): buffer.append(0x22)
                case UInt8(ascii: "\\"): buffer.append(0x5C)
                case UInt8(ascii: "/"): buffer.append(0x2F)
                case UInt8(ascii: "b"): buffer.append(0x08)
                case UInt8(ascii: "f"): buffer.append(0x0C)
                case UInt8(ascii: "n"): buffer.append(0x0A)
                case UInt8(ascii: "r"): buffer.append(0x0D)
                case UInt8(ascii: "t"): buffer.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try parseHex4()
                    if (0xD800...0xDBFF).contains(code) {
                        guard pos + 1 < bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") else {
                            throw error("unpaired surrogate in \\u escape")
                        }
                        pos += 2
                        let low = try parseHex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw error("invalid low surrogate") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw error("invalid \\u escape") }
                    buffer.append(contentsOf: Array(String(scalar).utf8))
                default: throw error("invalid escape '\\\(char(at: pos - 1))'")
                }
                runStart = pos
                continue
            }
            pos += 1
        }
        try charge(WorkBudget.Cost.stringOverhead + buffer.count)
        guard let s = String(validating: buffer, as: UTF8.self) else { throw error("string is not valid UTF-8") }
        _ = scalars
        scalars = s.unicodeScalars
        return String(scalars)
    }

    mutating func parseHex4() throws(JSONParseError) -> UInt32 {
        guard pos + 4 <= bytes.count else { throw error("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[pos]
            let d: UInt32
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(b - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(b - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(b - UInt8(ascii: "A") + 10)
            default: throw error("invalid hex digit in \\u escape")
            }
            v = v * 16 + d
            pos += 1
        }
        return v
    }

    mutating func parseNumber() throws(JSONParseError) -> JSONValue {
        let start = pos
        var isInteger = true
        if bytes[pos] == UInt8(ascii: "-") { pos += 1 }
        guard pos < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[pos]) else {
            throw error("invalid number")
        }
        if bytes[pos] == UInt8(ascii: "0"), pos + 1 < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[pos + 1]) {
            throw error("leading zeros are not allowed")
        }
        while pos < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[pos]) { pos += 1 }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: ".") {
            isInteger = false
            pos += 1
            guard pos < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[pos]) else { throw error("invalid number: digit expected after '.'") }
            while pos < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[pos]) { pos += 1 }
        }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E") {
            isInteger = false
            pos += 1
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-") { pos += 1 }
            guard pos < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[pos]) else { throw error("invalid number: digit expected in exponent") }
            while pos < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[pos]) { pos += 1 }
        }
        let text = String(decoding: bytes[start..<pos], as: UTF8.self)
        if isInteger, let i = Int64(text) { return .int(i) }
        guard let d = Double(text) else { throw error("invalid number") }
        // Double("1e999") is infinity, which JSON cannot hold and would be stored as null.
        guard d.isFinite else {
            pos = start
            throw error("number \(text) is out of range (a JSON number must fit a 64-bit float)")
        }
        return .double(d)
    }
}
