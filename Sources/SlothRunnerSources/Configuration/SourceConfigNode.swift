import SlothRunner

/// A source's section of the config file (`monitor:`, `checks:`, …) as written, every value
/// with its line, so each source reads its own settings and an error names the file, the line
/// and the field: `config.yaml:14: monitor.cpu.above: must be a number from 0 to 100`.
public struct SourceConfigNode: Sendable {
    public enum Value: Sendable {
        case scalar(String)
        case mapping([(key: String, value: SourceConfigNode)])
        case sequence([SourceConfigNode])
    }
    public let value: Value
    public let line: Int
    /// Where it is: `config.yaml` and the dotted field (`monitor.cpu`).
    public let file: String
    public let field: String

    public init(value: Value, line: Int, file: String, field: String) {
        self.value = value
        self.line = line
        self.file = file
        self.field = field
    }

    func error(_ message: String) -> SlothError { .invalidInput("\(file):\(line): \(field): \(message)") }

    var isEmpty: Bool {
        if case .scalar(let s) = value { return s.isEmpty || s == "~" || s == "null" }
        return false
    }

    /// The members of a mapping, refusing keys outside `known` (with a suggestion).
    func members(_ known: [String], what: String) throws(SlothError) -> [String: SourceConfigNode] {
        if isEmpty { return [:] }
        guard case .mapping(let pairs) = value else { throw error("must be a mapping of \(what), not a \(kind)") }
        var out: [String: SourceConfigNode] = [:]
        for (key, node) in pairs {
            guard known.contains(key) else {
                throw node.error("unknown field" + NameSuggestion.hint(for: key, among: known) + "; known: \(known.joined(separator: ", "))")
            }
            out[key] = node
        }
        return out
    }

    /// The entries of a mapping of named things (`checks: {web: {...}, db: {...}}`).
    func entries(what: String) throws(SlothError) -> [(name: String, node: SourceConfigNode)] {
        if isEmpty { return [] }
        guard case .mapping(let pairs) = value else { throw error("must map each \(what)'s name to its fields, not a \(kind)") }
        return pairs.map { ($0.key, $0.value) }
    }

    var kind: String {
        switch value {
        case .scalar: return "value"
        case .mapping: return "mapping"
        case .sequence: return "list"
        }
    }

    func text() throws(SlothError) -> String {
        guard case .scalar(let s) = value else { throw error("takes a value, not a \(kind)") }
        return s
    }

    func number(in range: ClosedRange<Double>) throws(SlothError) -> Double {
        let t = try text()
        guard let n = Double(t.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "%", with: "")), n.isFinite, range.contains(n) else {
            throw error("must be a number from \(Self.show(range.lowerBound)) to \(Self.show(range.upperBound)), not '\(t)'")
        }
        return n
    }

    func millis(in range: ClosedRange<Double> = 0...DurationText.maxSeconds) throws(SlothError) -> Int64 {
        let t = try text()
        do { return try DurationText.millis(t, for: "duration", in: range) } catch { throw self.error(error.description.replacingOccurrences(of: "duration: ", with: "")) }
    }

    func bool() throws(SlothError) -> Bool {
        switch try text().lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        case let other: throw error("must be true or false, not '\(other)'")
        }
    }

    func texts() throws(SlothError) -> [String] {
        switch value {
        case .scalar(let s): return [s]
        case .sequence(let items):
            var out: [String] = []
            for item in items { out.append(try item.text()) }
            return out
        case .mapping: throw error("takes a list of values, not a mapping")
        }
    }

    private static func show(_ d: Double) -> String { d == d.rounded() ? String(Int(d)) : String(d) }
}
