/// A parsed Mustache template: text, variables and sections, nested.
///
/// Our own rather than swift-mustache's, because a hook's template must not be able to stall
/// the engine: swift-mustache renders a section by concatenating the strings of its inner
/// renders, with nowhere to count work or stop, so `{{#a}}` fifty deep over ten items asks for
/// 10^50 renders. This one is rendered by `TemplateRenderer` against a `WorkBudget`, and the
/// parser bounds nesting and size.
struct ParsedTemplate: Sendable {
    indirect enum Node: Sendable, Equatable {
        case text(String)
        /// A dotted name (`["a", "b"]`; `["."]` is the current item); escaped unless `{{{ }}}`/`{{& }}`.
        case variable(path: [String], escaped: Bool)
        case section(path: [String], inverted: Bool, children: [Node])
    }

    let nodes: [Node]

    static let maxBytes = 1 << 20
    static let maxNesting = 32

    struct SyntaxError: Error, CustomStringConvertible {
        let line: Int
        let message: String
        var description: String { "invalid template at line \(line): \(message)" }
    }

    init(_ text: String) throws(SyntaxError) {
        let bytes = Array(text.utf8)
        guard bytes.count <= Self.maxBytes else {
            throw SyntaxError(line: 1, message: "the template is \(bytes.count) bytes; the limit is \(Self.maxBytes)")
        }
        var scanner = Scanner(bytes: bytes)
        let tokens = try scanner.tokens()
        nodes = try Self.build(tokens, bytes: bytes)
    }

    // MARK: tokens

    enum Kind: Equatable {
        case text, variable, unescaped, sectionOpen, invertedOpen, sectionClose, comment, delimiters, partial

        /// Tags that vanish with their whole line when they stand alone on it.
        var canStandAlone: Bool {
            switch self {
            case .sectionOpen, .invertedOpen, .sectionClose, .comment, .delimiters, .partial: return true
            case .text, .variable, .unescaped: return false
            }
        }
    }

    struct Token {
        var kind: Kind
        /// For text: the bytes it covers; for a tag: the whole tag, delimiters included.
        var start: Int
        var end: Int
        var content: String = ""
        var line: Int
    }

    struct Scanner {
        let bytes: [UInt8]
        var open: [UInt8] = Array("{{".utf8)
        var close: [UInt8] = Array("}}".utf8)

        init(bytes: [UInt8]) { self.bytes = bytes }

        func find(_ needle: [UInt8], from: Int) -> Int? {
            guard !needle.isEmpty, from + needle.count <= bytes.count else { return nil }
            var i = from
            let first = needle[0]
            while i + needle.count <= bytes.count {
                if bytes[i] == first && bytes[i..<i + needle.count].elementsEqual(needle) { return i }
                i += 1
            }
            return nil
        }

        mutating func tokens() throws(SyntaxError) -> [Token] {
            var tokens: [Token] = []
            var pos = 0
            var line = 1
            func advanceLine(_ from: Int, _ to: Int) {
                for i in from..<to where bytes[i] == 0x0A { line += 1 }
            }
            while pos < bytes.count {
                guard let tagStart = find(open, from: pos) else {
                    tokens.append(Token(kind: .text, start: pos, end: bytes.count, line: line))
                    break
                }
                if tagStart > pos { tokens.append(Token(kind: .text, start: pos, end: tagStart, line: line)) }
                advanceLine(pos, tagStart)
                var inner = tagStart + open.count
                var kind = Kind.variable
                var closing = close
                if inner < bytes.count {
                    switch bytes[inner] {
                    case UInt8(ascii: "#"): kind = .sectionOpen
                    case UInt8(ascii: "^"): kind = .invertedOpen
                    case UInt8(ascii: "/"): kind = .sectionClose
                    case UInt8(ascii: "!"): kind = .comment
                    case UInt8(ascii: ">"): kind = .partial
                    case UInt8(ascii: "&"): kind = .unescaped
                    case UInt8(ascii: "{"):
                        kind = .unescaped
                        closing = Array("}".utf8) + close
                    case UInt8(ascii: "="):
                        kind = .delimiters
                        closing = Array("=".utf8) + close
                    default: break
                    }
                    if kind != .variable { inner += 1 }
                }
                guard let closeAt = find(closing, from: inner) else {
                    throw SyntaxError(line: line, message: "a tag opened with \(String(decoding: open, as: UTF8.self)) is never closed")
                }
                let content = String(decoding: bytes[inner..<closeAt], as: UTF8.self).trimmingCharacters(in: .whitespaces)
                let end = closeAt + closing.count
                tokens.append(Token(kind: kind, start: tagStart, end: end, content: content, line: line))
                advanceLine(tagStart, end)
                if kind == .delimiters { try setDelimiters(content, line: line) }
                pos = end
            }
            return tokens
        }

        mutating func setDelimiters(_ content: String, line: Int) throws(SyntaxError) {
            let parts = content.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard parts.count == 2, !parts[0].contains("="), !parts[1].contains("=") else {
                throw SyntaxError(line: line, message: "a delimiter change takes two delimiters, like {{=<% %>=}}")
            }
            open = Array(parts[0].utf8)
            close = Array(parts[1].utf8)
        }
    }

    // MARK: tree

    static func isBlank(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0D }

    /// Applies the standalone-line rule, then nests the sections.
    static func build(_ raw: [Token], bytes: [UInt8]) throws(SyntaxError) -> [Node] {
        var tokens = raw
        for i in tokens.indices where tokens[i].kind.canStandAlone {
            var lineStart = tokens[i].start
            while lineStart > 0 && bytes[lineStart - 1] != 0x0A {
                guard isBlank(bytes[lineStart - 1]) else { break }
                lineStart -= 1
            }
            guard lineStart == 0 || bytes[lineStart - 1] == 0x0A else { continue }
            var lineEnd = tokens[i].end
            while lineEnd < bytes.count && bytes[lineEnd] != 0x0A {
                guard isBlank(bytes[lineEnd]) else { break }
                lineEnd += 1
            }
            guard lineEnd == bytes.count || bytes[lineEnd] == 0x0A else { continue }
            // Standalone: the line's blanks and its newline go with the tag.
            if i > 0, tokens[i - 1].kind == .text { tokens[i - 1].end = max(tokens[i - 1].start, lineStart) }
            if i + 1 < tokens.count, tokens[i + 1].kind == .text {
                tokens[i + 1].start = min(tokens[i + 1].end, lineEnd + 1)
            }
        }

        struct Open {
            var path: [String]
            var name: String
            var inverted: Bool
            var line: Int
            var children: [Node] = []
        }
        var stack: [Open] = [Open(path: [], name: "", inverted: false, line: 0)]
        for t in tokens {
            switch t.kind {
            case .text:
                if t.end > t.start { stack[stack.count - 1].children.append(.text(String(decoding: bytes[t.start..<t.end], as: UTF8.self))) }
            case .comment, .delimiters:
                continue
            case .partial:
                throw SyntaxError(line: t.line, message: "partials ({{> \(t.content)}}) are not available to hooks")
            case .variable, .unescaped:
                stack[stack.count - 1].children.append(.variable(path: try path(t.content, line: t.line), escaped: t.kind == .variable))
            case .sectionOpen, .invertedOpen:
                guard stack.count <= maxNesting else {
                    throw SyntaxError(line: t.line, message: "sections nested deeper than \(maxNesting) levels")
                }
                stack.append(Open(path: try path(t.content, line: t.line), name: t.content, inverted: t.kind == .invertedOpen, line: t.line))
            case .sectionClose:
                guard stack.count > 1 else { throw SyntaxError(line: t.line, message: "{{/\(t.content)}} closes a section that was never opened") }
                let open = stack.removeLast()
                guard open.name == t.content else {
                    throw SyntaxError(line: t.line, message: "{{/\(t.content)}} closes {{\(open.inverted ? "^" : "#")\(open.name)}} opened at line \(open.line)")
                }
                stack[stack.count - 1].children.append(.section(path: open.path, inverted: open.inverted, children: open.children))
            }
        }
        guard stack.count == 1 else {
            let open = stack[stack.count - 1]
            throw SyntaxError(line: open.line, message: "{{\(open.inverted ? "^" : "#")\(open.name)}} is never closed")
        }
        return stack[0].children
    }

    static func path(_ name: String, line: Int) throws(SyntaxError) -> [String] {
        if name == "." { return ["."] }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !name.isEmpty, !parts.contains(where: \.isEmpty) else {
            throw SyntaxError(line: line, message: "'\(name)' is not a name (use a, a.b or .)")
        }
        return parts
    }
}
