import Foundation
import SlothRunner
import SlothRunnerServer

/// One configurable value: its key in the config file, its environment variable and flag, its
/// default and what it accepts. Every value, wherever it comes from, goes through `parse`, so
/// a bad one gets the same message from a flag, a variable or the file.
struct Setting: Sendable {
    /// Dotted key: `serve.workers` is `workers:` under `serve:` in the file.
    let key: String
    let environment: String
    /// The flag that sets it, or nil when only the file and environment do.
    let flag: String?
    let kind: Kind
    /// The default in the form the file takes; nil: unset (a computed default, said in `help`).
    let defaultValue: SettingValue?
    let help: String
    /// A second environment variable read when the first is unset (`SLOTH_RUNNER_DATABASE_URL`).
    var environmentAlias: String? = nil

    enum Kind: Sendable {
        case integer(ClosedRange<Int>)
        /// A duration (`30s`, `500ms`, `1h`); seconds in the range, 0 allowed when the range starts at 0.
        case duration(ClosedRange<Double>)
        case choice([String])
        case boolean
        /// Names, in the file a YAML list (or a comma-separated string, as in the environment).
        case list
        /// A non-empty name without '/'.
        case name
        case path
        /// `HOST:PORT` (`[::1]:PORT` for IPv6), or `off`.
        case listenAddress
        /// Requests per period (`100/s`, `600/m`), or `off`.
        case rate
    }

    /// Reads `text` (a flag, a variable, a file scalar) as this setting's value; `origin` names
    /// where it came from in the message (`--workers`, `SLOTH_RUNNER_WORKERS`, `config.yaml:3: serve.workers`).
    func parse(_ text: String, origin: String) -> Result<SettingValue, SlothError> {
        switch parseValue(text, origin: origin) {
        case .success(let v): return .success(v)
        case .failure(let problem): return .failure(.invalidInput(problem.message))
        }
    }

    private func parseValue(_ text: String, origin: String) -> Result<SettingValue, SettingProblem> {
        func problem(_ what: String) -> Result<SettingValue, SettingProblem> { .failure(SettingProblem("\(origin) \(what)")) }
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        switch kind {
        case .integer(let range):
            guard let n = Int(trimmed), range.contains(n) else {
                return problem("must be an integer from \(range.lowerBound) to \(range.upperBound), not '\(text)'")
            }
            return .success(.integer(n))
        case .duration(let range):
            do throws(SlothError) {
                _ = try DurationText.seconds(trimmed, for: origin, in: range)
                return .success(.text(trimmed))
            } catch {
                return .failure(SettingProblem(error.description))
            }
        case .choice(let options):
            let lower = trimmed.lowercased()
            guard options.contains(lower) else {
                return problem("must be one of \(options.joined(separator: ", ")), not '\(text)'" + NameSuggestion.hint(for: lower, among: options))
            }
            return .success(.text(lower))
        case .boolean:
            switch trimmed.lowercased() {
            case "true", "yes", "on", "1": return .success(.boolean(true))
            case "false", "no", "off", "0": return .success(.boolean(false))
            default: return problem("must be true or false, not '\(text)'")
            }
        case .list:
            return .success(.list(trimmed.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }))
        case .name:
            guard !trimmed.isEmpty, !trimmed.contains("/") else { return problem("must be a non-empty name without '/', not '\(text)'") }
            return .success(.text(trimmed))
        case .listenAddress:
            switch ListenAddress.parse(trimmed) {
            case .success(let address): return .success(.text(address?.description ?? "off"))
            case .failure(let why): return problem(why.message)
            }
        case .rate:
            switch RequestRate.parse(trimmed) {
            case .success(let rate): return .success(.text(rate?.description ?? "off"))
            case .failure(let why): return problem(why.message)
            }
        case .path:
            // Checked where it is used (the store says what is wrong with a database path).
            // A database URL is taken as it is.
            if text.contains("://") { return .success(.text(text)) }
            return .success(.text(Self.expandingTilde(text)))
        }
    }

    /// A YAML list for a list setting; every other kind takes a scalar.
    func parse(list items: [String], origin: String) -> Result<SettingValue, SlothError> {
        guard case .list = kind else { return .failure(.invalidInput("\(origin) takes a single value, not a list")) }
        return .success(.list(items))
    }

    static func expandingTilde(_ path: String) -> String {
        guard path == "~" || path.hasPrefix("~/") else { return path }
        return NSHomeDirectory() + path.dropFirst()
    }
}

/// What is wrong with a value; the caller adds where the value came from.
struct SettingProblem: Error, Sendable {
    let message: String
    init(_ message: String) { self.message = message }
}

enum SettingValue: Sendable, Equatable, CustomStringConvertible {
    case integer(Int)
    case text(String)
    case boolean(Bool)
    case list([String])

    var description: String {
        switch self {
        case .integer(let n): return String(n)
        case .text(let s): return s
        case .boolean(let b): return b ? "true" : "false"
        case .list(let items): return items.joined(separator: ",")
        }
    }

    var json: JSONValue {
        switch self {
        case .integer(let n): return .int(Int64(n))
        case .text(let s): return .string(s)
        case .boolean(let b): return .bool(b)
        case .list(let items): return .array(items.map { .string($0) })
        }
    }
}
