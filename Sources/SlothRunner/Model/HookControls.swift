/// A hook's storm control and side-effect policy, from its table (`throttle`, `debounce`,
/// `rate_limit`, `concurrency`, `circuit_breaker`, `effects`) or `hook add` flags. Their state
/// lives in the store (`EventStoreDriver.controlState`), so it holds across restarts and nodes.
public struct HookControls: Sendable, Equatable {
    /// The first event of a group in the window runs; later ones are skipped (recorded, with
    /// the event that ran).
    public struct Throttle: Sendable, Equatable {
        public var windowMillis: Int64
        public var groupBy: [String]
    }

    /// One run per burst, with the burst's last event, once the group was quiet this long.
    public struct Debounce: Sendable, Equatable {
        public var quietMillis: Int64
        public var groupBy: [String]
    }

    /// At most `count` runs per `periodMillis` (per group); excess runs are delayed, never dropped.
    public struct RateLimit: Sendable, Equatable {
        public var count: Int
        public var periodMillis: Int64
        public var groupBy: [String]
    }

    /// At most `limit` runs at once (per group); the others wait.
    public struct Concurrency: Sendable, Equatable {
        public var limit: Int
        public var groupBy: [String]
    }

    /// `failures` failed runs within `withinMillis` open the circuit for `openForMillis`: runs
    /// are deferred meanwhile (not failed), then one trial run decides.
    public struct CircuitBreaker: Sendable, Equatable {
        public var failures: Int
        public var withinMillis: Int64
        public var openForMillis: Int64
    }

    public var throttle: Throttle?
    public var debounce: Debounce?
    public var rateLimit: RateLimit?
    public var concurrency: Concurrency?
    public var circuitBreaker: CircuitBreaker?
    /// `effects = "once"`: an `exec.run` or non-GET `http` call that completed in an earlier
    /// attempt for the same event, with the same arguments at the same position, returns its
    /// recorded result instead of running again.
    public var effectsOnce = false

    public init() {}

    /// The hook table's fields this reads.
    package static let fields = ["throttle", "debounce", "rate_limit", "concurrency", "circuit_breaker", "effects"]

    /// Whether any storm control is set (the engine asks the store only then).
    public var gatesRuns: Bool { throttle != nil || debounce != nil || rateLimit != nil || concurrency != nil || circuitBreaker != nil }

    public var isEmpty: Bool { !gatesRuns && !effectsOnce }

    // MARK: reading a hook's table

    /// Reads the fields of a hook's table (`meta`); errors name the field and say the form.
    package static func parse(_ meta: [String: JSONValue]) throws(SlothError) -> HookControls {
        var c = HookControls()
        if let v = meta["throttle"] {
            let (o, _) = try table(v, field: "throttle", shorthandKey: "once_within", known: ["once_within", "group_by"])
            c.throttle = Throttle(windowMillis: try duration(o["once_within"], field: "throttle.once_within"), groupBy: try paths(o["group_by"], field: "throttle.group_by"))
        }
        if let v = meta["debounce"] {
            let (o, _) = try table(v, field: "debounce", shorthandKey: "quiet", known: ["quiet", "group_by"])
            c.debounce = Debounce(quietMillis: try duration(o["quiet"], field: "debounce.quiet"), groupBy: try paths(o["group_by"], field: "debounce.group_by"))
        }
        if c.throttle != nil && c.debounce != nil {
            throw .invalidHook("give throttle or debounce, not both: each decides which event of a burst runs")
        }
        if let v = meta["rate_limit"] {
            let (o, _) = try table(v, field: "rate_limit", shorthandKey: "rate", known: ["rate", "group_by"])
            guard let text = o["rate"]?.stringValue else { throw .invalidHook("rate_limit must be a rate like \"10/m\" or { rate = \"10/m\", group_by = {...} }") }
            let (count, period) = try rate(text)
            c.rateLimit = RateLimit(count: count, periodMillis: period, groupBy: try paths(o["group_by"], field: "rate_limit.group_by"))
        }
        if let v = meta["concurrency"] {
            let (o, _) = try table(v, field: "concurrency", shorthandKey: "limit", known: ["limit", "group_by"])
            guard let n = o["limit"]?.intValue, (1...10_000).contains(n) else {
                throw .invalidHook("concurrency must be a whole number from 1 to 10000 (or { limit = 1, group_by = {...} })")
            }
            c.concurrency = Concurrency(limit: Int(n), groupBy: try paths(o["group_by"], field: "concurrency.group_by"))
        }
        if let v = meta["circuit_breaker"] {
            guard case .object(let o) = v else {
                throw .invalidHook("circuit_breaker must be a table like { failures = 5, within = \"1m\", open_for = \"5m\" }")
            }
            try unknown(o, known: ["failures", "within", "open_for"], field: "circuit_breaker")
            guard let n = o["failures"]?.intValue, (1...10_000).contains(n) else {
                throw .invalidHook("circuit_breaker.failures must be a whole number from 1 to 10000")
            }
            c.circuitBreaker = CircuitBreaker(
                failures: Int(n), withinMillis: try duration(o["within"], field: "circuit_breaker.within"),
                openForMillis: try duration(o["open_for"], field: "circuit_breaker.open_for"))
        }
        if let v = meta["effects"] {
            switch v.stringValue {
            case "once": c.effectsOnce = true
            case "always": c.effectsOnce = false
            default: throw .invalidHook("effects must be \"once\" (a retry returns the recorded result of exec.run and non-GET http calls that completed) or \"always\" (the default)")
            }
        }
        return c
    }

    static func table(_ v: JSONValue, field: String, shorthandKey: String, known: [String]) throws(SlothError) -> ([String: JSONValue], Bool) {
        switch v {
        case .object(let o):
            try unknown(o, known: known, field: field)
            return (o, false)
        case .string, .int, .double: return ([shorthandKey: v], true)
        default: throw .invalidHook("field '\(field)' must be a value or a table { \(known.map { "\($0) = ..." }.joined(separator: ", ")) }")
        }
    }

    static func unknown(_ o: [String: JSONValue], known: [String], field: String) throws(SlothError) {
        if let key = o.keys.sorted().first(where: { !known.contains($0) }) {
            throw .invalidHook("\(field): unknown key '\(key)'\(NameSuggestion.hint(for: key, among: known)); known: \(known.joined(separator: ", "))")
        }
    }

    static func duration(_ v: JSONValue?, field: String) throws(SlothError) -> Int64 {
        guard let v else { throw .invalidHook("\(field) is required (a duration like \"5m\")") }
        let seconds: Double
        switch v {
        case .int(let i): seconds = Double(i)
        case .double(let d): seconds = d
        case .string(let s):
            do { seconds = try DurationText.parseSeconds(s) } catch { throw .invalidHook("\(field): \(error.description)") }
        default: throw .invalidHook("\(field) must be a duration like \"5m\" or a number of seconds")
        }
        guard seconds.isFinite, seconds >= 0.001, seconds <= 30 * 86_400 else { throw .invalidHook("\(field) must be from 1ms to 30 days") }
        return Int64((seconds * 1000).rounded())
    }

    /// `10/m`, `100/h`, `5/30s`: a count per period.
    package static func rate(_ text: String) throws(SlothError) -> (Int, Int64) {
        let parts = text.split(separator: "/", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, let n = Int(parts[0]), (1...1000).contains(n) else {
            throw .invalidHook("rate_limit '\(text)' must look like 10/m, 100/h or 5/30s (a count from 1 to 1000 per period)")
        }
        let unit = ["s": "1s", "m": "1m", "h": "1h", "d": "1d"][parts[1]] ?? parts[1]
        let period: Int64
        do { period = try duration(.string(unit), field: "rate_limit") } catch {
            throw .invalidHook("rate_limit '\(text)': the period must be s, m, h, d or a duration like 30s")
        }
        return (n, period)
    }

    static func paths(_ v: JSONValue?, field: String) throws(SlothError) -> [String] {
        guard let v else { return [] }
        let list: [JSONValue]
        switch v {
        case .string: list = [v]
        case .array(let items): list = items
        case .object(let o) where o.isEmpty: list = []
        default: throw .invalidHook("\(field) must list paths such as {\"data.agent.name\"}")
        }
        return try list.map { item throws(SlothError) -> String in
            guard let p = item.stringValue, p == "type" || p == "stack" || (p.hasPrefix("data.") && p.count > 5 && !p.contains("..") && !p.hasSuffix(".")) else {
                throw .invalidHook("\(field): '\(item.stringValue ?? item.serialized())' is not a path; use type, stack or data.FIELD (data.agent.name)")
            }
            return p
        }
    }

    // MARK: stored and shown

    /// As stored (the hooks table's `controls`), shown by `hook get` and the API.
    public var json: JSONValue {
        var o: [String: JSONValue] = [:]
        func groups(_ g: [String]) -> JSONValue { .array(g.map(JSONValue.string)) }
        if let t = throttle { o["throttle"] = .object(["once_within_ms": .int(t.windowMillis), "group_by": groups(t.groupBy)]) }
        if let d = debounce { o["debounce"] = .object(["quiet_ms": .int(d.quietMillis), "group_by": groups(d.groupBy)]) }
        if let r = rateLimit { o["rate_limit"] = .object(["count": .int(Int64(r.count)), "period_ms": .int(r.periodMillis), "group_by": groups(r.groupBy)]) }
        if let c = concurrency { o["concurrency"] = .object(["limit": .int(Int64(c.limit)), "group_by": groups(c.groupBy)]) }
        if let b = circuitBreaker {
            o["circuit_breaker"] = .object(["failures": .int(Int64(b.failures)), "within_ms": .int(b.withinMillis), "open_for_ms": .int(b.openForMillis)])
        }
        o["effects"] = .string(effectsOnce ? "once" : "always")
        return .object(o)
    }

    /// Read back from `json` (nil text: none).
    package static func stored(_ text: String?) -> HookControls {
        var c = HookControls()
        guard let text, let v = try? JSONValue.parse(text) else { return c }
        func groups(_ x: JSONValue?) -> [String] { x?.arrayValue?.compactMap(\.stringValue) ?? [] }
        if let t = v["throttle"], let w = t["once_within_ms"]?.intValue { c.throttle = Throttle(windowMillis: w, groupBy: groups(t["group_by"])) }
        if let d = v["debounce"], let q = d["quiet_ms"]?.intValue { c.debounce = Debounce(quietMillis: q, groupBy: groups(d["group_by"])) }
        if let r = v["rate_limit"], let n = r["count"]?.intValue, let p = r["period_ms"]?.intValue {
            c.rateLimit = RateLimit(count: Int(n), periodMillis: p, groupBy: groups(r["group_by"]))
        }
        if let x = v["concurrency"], let n = x["limit"]?.intValue { c.concurrency = Concurrency(limit: Int(n), groupBy: groups(x["group_by"])) }
        if let b = v["circuit_breaker"], let f = b["failures"]?.intValue, let w = b["within_ms"]?.intValue, let o = b["open_for_ms"]?.intValue {
            c.circuitBreaker = CircuitBreaker(failures: Int(f), withinMillis: w, openForMillis: o)
        }
        c.effectsOnce = v["effects"]?.stringValue == "once"
        return c
    }

    /// The text stored, nil when nothing is set.
    package var storedText: String? { isEmpty ? nil : json.serialized() }

    /// One line per control, for `hook get`.
    package var lines: [String] {
        func by(_ g: [String]) -> String { g.isEmpty ? "" : " per \(g.joined(separator: ", "))" }
        var out: [String] = []
        if let t = throttle { out.append("throttle: once within \(DurationText.format(millis: t.windowMillis))\(by(t.groupBy))") }
        if let d = debounce { out.append("debounce: once quiet for \(DurationText.format(millis: d.quietMillis))\(by(d.groupBy))") }
        if let r = rateLimit { out.append("rate limit: \(r.count) per \(DurationText.format(millis: r.periodMillis))\(by(r.groupBy)) (excess delayed)") }
        if let c = concurrency { out.append("concurrency: \(c.limit) at a time\(by(c.groupBy))") }
        if let b = circuitBreaker {
            out.append("circuit breaker: \(b.failures) failures within \(DurationText.format(millis: b.withinMillis)) open it for \(DurationText.format(millis: b.openForMillis))")
        }
        if effectsOnce { out.append("effects: once (a retry reuses completed exec/http results)") }
        return out
    }

    /// The group an event falls in for `paths` ("" without paths): the values at the paths.
    package static func group(_ paths: [String], of event: Event) -> String {
        guard !paths.isEmpty else { return "" }
        return paths.map { path -> String in
            switch path {
            case "type": return event.type
            case "stack": return event.stack ?? ""
            default:
                var current: JSONValue? = event.data
                for segment in path.dropFirst(5).split(separator: ".") { current = current?[String(segment)] }
                return current.map { $0.stringValue ?? $0.serialized() } ?? "∅"
            }
        }.joined(separator: "\u{1F}")
    }
}
