import Hummingbird
import Mustache
import NIOCore
import SlothRunner

/// The UI's templates (embedded by WebAssetsPlugin) and the pieces of markup built in Swift:
/// SVG charts and highlighted Lua. Mustache escapes every `{{value}}`; only `{{{…}}}` takes
/// markup, and only markup made here from escaped text.
enum WebPages {
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        for (name, text) in WebAssets.files where name.hasSuffix(".mustache") {
            do { try library.register(text, named: String(name.dropLast(".mustache".count))) } catch {
                preconditionFailure("the embedded template \(name) does not parse: \(error)")
            }
        }
        return library
    }()

    /// The page `name` in the layout; `context` holds what the template shows.
    static func render(_ name: String, _ context: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        let html = library.render(context, withTemplate: name) ?? "template \(name) is missing"
        return Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    static func asset(_ name: String) -> Response? {
        guard !name.hasSuffix(".mustache"), let text = WebAssets.files[name] else { return nil }
        let type = name.hasSuffix(".css") ? "text/css; charset=utf-8" : name.hasSuffix(".js") ? "text/javascript; charset=utf-8"
            : name.hasSuffix(".svg") ? "image/svg+xml" : "text/plain; charset=utf-8"
        return Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-cache"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    /// A bar chart of `buckets` (total, failed) as SVG; `label` names each bar for screen readers.
    static func barChart(_ buckets: [(label: String, total: Int, failed: Int)], title: String) -> String {
        let width = 720.0, height = 140.0, top = 10.0, bottom = 20.0
        let peak = max(1, buckets.map(\.total).max() ?? 1)
        let step = width / Double(max(1, buckets.count))
        var svg = #"<svg class="chart" viewBox="0 0 720 140" role="img" aria-label="\#(escape(title))"><title>\#(escape(title))</title>"#
        for (i, b) in buckets.enumerated() {
            let x = Double(i) * step
            let h = (height - top - bottom) * Double(b.total) / Double(peak)
            let f = (height - top - bottom) * Double(b.failed) / Double(peak)
            let y = height - bottom - h
            svg += #"<rect class="bar" x="\#(fmt(x + 1))" y="\#(fmt(y))" width="\#(fmt(max(1, step - 2)))" height="\#(fmt(h))"><title>\#(escape(b.label)): \#(b.total) events, \#(b.failed) failed</title></rect>"#
            if b.failed > 0 {
                svg += #"<rect class="fail" x="\#(fmt(x + 1))" y="\#(fmt(height - bottom - f))" width="\#(fmt(max(1, step - 2)))" height="\#(fmt(f))"/>"#
            }
        }
        svg += #"<line class="axis" x1="0" y1="\#(fmt(height - bottom))" x2="720" y2="\#(fmt(height - bottom))"/>"#
        if let first = buckets.first, let last = buckets.last {
            svg += #"<text x="0" y="136">\#(escape(first.label))</text><text x="720" y="136" text-anchor="end">\#(escape(last.label))</text>"#
        }
        svg += #"<text x="2" y="10">\#(peak)</text></svg>"#
        return svg
    }

    /// A small line of the last runs' durations, oldest first.
    static func sparkline(_ values: [Int64]) -> String {
        guard values.count > 1, let peak = values.max() else { return "" }
        let points = values.enumerated().map { i, v in
            "\(fmt(Double(i) * 80 / Double(values.count - 1))),\(fmt(17 - 16 * Double(v) / Double(max(1, peak))))"
        }.joined(separator: " ")
        return #"<svg class="spark" viewBox="0 0 80 18" role="img" aria-label="durations of the last \#(values.count) runs"><polyline points="\#(points)"/></svg>"#
    }

    /// A coordinate with one decimal at most.
    private static func fmt(_ v: Double) -> String {
        let r = (v * 10).rounded() / 10
        return r == r.rounded() ? String(Int(r)) : String(r)
    }

    static let luaKeywords: Set<String> = [
        "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in", "local", "nil", "not",
        "or", "repeat", "return", "then", "true", "until", "while",
    ]

    /// Lua, line by line, as escaped HTML with keywords, strings, numbers and comments marked
    /// (a small tokenizer: multi-line strings and comments are marked line by line).
    static func highlightedLua(_ source: String) -> [String] {
        var lines: [String] = []
        var inLongComment = false
        for raw in source.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = Array(raw)
            var out = ""
            var i = 0
            if inLongComment {
                if let close = String(raw).range(of: "]]") {
                    let head = String(raw[..<close.upperBound])
                    out += #"<span class="tok-c">\#(escape(head))</span>"#
                    i = head.count
                    inLongComment = false
                } else {
                    lines.append(#"<span class="tok-c">\#(escape(String(raw)))</span>"#)
                    continue
                }
            }
            while i < line.count {
                let c = line[i]
                if c == "-", i + 1 < line.count, line[i + 1] == "-" {
                    let rest = String(line[i...])
                    if rest.hasPrefix("--[[") && !rest.contains("]]") { inLongComment = true }
                    out += #"<span class="tok-c">\#(escape(rest))</span>"#
                    i = line.count
                } else if c == "\"" || c == "'" {
                    var j = i + 1
                    while j < line.count, line[j] != c { j += line[j] == "\\" ? 2 : 1 }
                    let end = min(j + 1, line.count)
                    out += #"<span class="tok-s">\#(escape(String(line[i..<end])))</span>"#
                    i = end
                } else if c.isLetter || c == "_" {
                    var j = i
                    while j < line.count, line[j].isLetter || line[j].isNumber || line[j] == "_" { j += 1 }
                    let word = String(line[i..<j])
                    out += luaKeywords.contains(word) ? #"<span class="tok-k">\#(word)</span>"# : escape(word)
                    i = j
                } else if c.isNumber {
                    var j = i
                    while j < line.count, line[j].isNumber || line[j] == "." || line[j] == "x" || line[j].isHexDigit { j += 1 }
                    out += #"<span class="tok-n">\#(escape(String(line[i..<j])))</span>"#
                    i = j
                } else {
                    out += escape(String(c))
                    i += 1
                }
            }
            lines.append(out)
        }
        return lines
    }
}

extension JSONValue {
    /// The value as Mustache reads it: objects as dictionaries, arrays as arrays; nulls are left
    /// out, so `{{#field}}` sections skip them.
    var mustache: Any? {
        switch self {
        case .null: return nil
        case .bool(let b): return b
        case .int(let i): return i
        case .double(let d): return d
        case .string(let s): return s
        case .array(let items): return items.compactMap(\.mustache)
        case .object(let fields):
            var out: [String: Any] = [:]
            for (k, v) in fields { if let m = v.mustache { out[k] = m } }
            return out
        }
    }
}
