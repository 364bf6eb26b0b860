/// Renders a `ParsedTemplate` over JSON data with every piece of output and every section
/// iteration charged to a `WorkBudget`: the output can never outgrow the budget's bytes, and
/// the deadline is looked at while it grows.
struct TemplateRenderer {
    var budget: WorkBudget
    /// The output limit regardless of the budget.
    let maxOutputBytes: Int
    private var out: [UInt8] = []
    private var stack: [JSONValue] = []

    enum Failure: Error {
        case exhausted(WorkBudget.Exhausted)
        case tooLarge(Int)
    }

    init(budget: WorkBudget, maxOutputBytes: Int) {
        self.budget = budget
        self.maxOutputBytes = maxOutputBytes
    }

    mutating func render(_ template: ParsedTemplate, data: JSONValue) throws(Failure) -> String {
        out.removeAll(keepingCapacity: true)
        stack = [data]
        try render(template.nodes)
        return String(decoding: out, as: UTF8.self)
    }

    private mutating func emit(_ text: String) throws(Failure) {
        var text = text
        let count = text.utf8.count
        do { try budget.charge(count + 1) } catch { throw .exhausted(error) }
        guard out.count + count <= maxOutputBytes else { throw .tooLarge(maxOutputBytes) }
        text.withUTF8 { out.append(contentsOf: $0) }  // one copy, not a byte at a time
    }

    private mutating func render(_ nodes: [ParsedTemplate.Node]) throws(Failure) {
        for node in nodes {
            switch node {
            case .text(let text):
                try emit(text)
            case .variable(let path, let escaped):
                guard let value = lookup(path) else { continue }
                let text = Self.text(of: value)
                try emit(escaped ? Self.htmlEscaped(text) : text)
            case .section(let path, let inverted, let children):
                let value = lookup(path)
                if inverted {
                    if Self.isFalsey(value) { try render(children) }
                    continue
                }
                guard let value, !Self.isFalsey(value) else { continue }
                if case .array(let items) = value {
                    for item in items {
                        do { try budget.charge(1) } catch { throw .exhausted(error) }
                        stack.append(item)
                        try render(children)
                        stack.removeLast()
                    }
                } else {
                    stack.append(value)
                    try render(children)
                    stack.removeLast()
                }
            }
        }
    }

    /// The first frame from the top that has the name's first part, then the rest within it.
    private func lookup(_ path: [String]) -> JSONValue? {
        if path == ["."] { return stack.last }
        for frame in stack.reversed() {
            guard case .object(let o) = frame, var value = o[path[0]] else { continue }
            for part in path.dropFirst() {
                guard case .object(let inner) = value, let next = inner[part] else { return nil }
                value = next
            }
            return value
        }
        return nil
    }

    /// False, null, a missing name, an empty list and an empty table (which is what an empty
    /// Lua list arrives as) hide a section.
    static func isFalsey(_ value: JSONValue?) -> Bool {
        switch value {
        case nil, .null?, .bool(false)?: return true
        case .array(let a)?: return a.isEmpty
        case .object(let o)?: return o.isEmpty
        default: return false
        }
    }

    static func text(of value: JSONValue) -> String {
        switch value {
        case .null: return ""
        case .string(let s): return s
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        default: return value.serialized()
        }
    }

    /// `&`, `<`, `>`, `"` and `'` as entities; byte by byte over the UTF-8 (none of these bytes
    /// occurs inside a multi-byte character).
    static func htmlEscaped(_ text: String) -> String {
        var text = text
        return text.withUTF8 { bytes -> String in
            var firstSpecial = -1
            for i in 0..<bytes.count where Self.isSpecial(bytes[i]) {
                firstSpecial = i
                break
            }
            if firstSpecial < 0 { return String(decoding: bytes, as: UTF8.self) }
            var out: [UInt8] = []
            out.reserveCapacity(bytes.count + bytes.count / 8)
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[0..<firstSpecial]))
            for i in firstSpecial..<bytes.count {
                let b = bytes[i]
                if Self.isSpecial(b), let entity = Self.entity(for: b) { out.append(contentsOf: entity) } else { out.append(b) }
            }
            return String(decoding: out, as: UTF8.self)
        }
    }

    private static let amp = Array("&amp;".utf8), lt = Array("&lt;".utf8), gt = Array("&gt;".utf8)
    private static let quot = Array("&quot;".utf8), apos = Array("&#39;".utf8)

    @inline(__always)
    private static func isSpecial(_ b: UInt8) -> Bool {
        b == 0x26 || b == 0x3C || b == 0x3E || b == 0x22 || b == 0x27
    }

    private static func entity(for byte: UInt8) -> [UInt8]? {
        switch byte {
        case 0x26: return amp
        case 0x3C: return lt
        case 0x3E: return gt
        case 0x22: return quot
        case 0x27: return apos
        default: return nil
        }
    }
}
