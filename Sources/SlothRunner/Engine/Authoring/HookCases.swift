import Foundation

/// A hook's unit tests (`hook test FILE --cases CASES.yaml`): each case gives an event, mocks
/// for everything outside the hook (HTTP answers, command results, state, secrets, the
/// environment, files, the clock) and what must come of it (success, message, output, the
/// side effects in order, the events dispatched, the state after). Nothing is performed: every
/// call is answered by a mock, and one without a mock fails the run. The format, with an
/// example per mock kind, is in docs/hook-authoring.md.
package enum HookCases {
    package struct Case: Sendable {
        package var name: String
        package var event: NewEvent
        package var mocks: HookMocks
        package var expect: Expectation
    }

    package struct Expectation: Sendable {
        package var ok = true
        package var message: GlobPattern?
        package var output: GlobPattern?
        /// `kind target` globs, matched in order against every effect (`http POST https://x/*`).
        package var effects: [GlobPattern]?
        package var dispatched: [(type: String, data: JSONValue?)]?
        /// Keys the state must hold afterwards (a value of null: must be absent).
        package var state: [String: JSONValue]?
    }

    /// One case's verdict.
    package struct Result: Sendable {
        package var name: String
        package var differences: [String]
        package var outcome: HookDryRun.Outcome
        package var effects: [HookSandbox.Effect]
        package var passed: Bool { differences.isEmpty }

        package var json: JSONValue {
            .object([
                "name": .string(name), "passed": .bool(passed), "differences": .array(differences.map(JSONValue.string)),
                "success": .bool(outcome.result.success), "message": outcome.result.message.map(JSONValue.string) ?? .null,
                "output": .string(outcome.result.output), "effects": .array(effects.map(\.json)),
            ])
        }
    }

    static let topKeys = ["hook", "cases"]
    static let caseKeys = ["name", "event", "mocks", "expect"]
    static let eventKeys = ["type", "data", "stack"]
    static let mockKeys = ["http", "exec", "state", "secrets", "env", "files", "clock"]
    static let httpKeys = ["method", "url", "status", "body", "json", "headers"]
    static let execKeys = ["command", "exit_code", "stdout", "stderr"]
    static let expectKeys = ["ok", "message", "output", "effects", "dispatched", "state"]

    /// Reads a cases file's text (YAML or JSON).
    package static func parse(text: String, file: String, defaultType: String?) throws(SlothError) -> [Case] {
        try parse(try YAMLModule.document(text, what: file), file: file, defaultType: defaultType)
    }

    /// Reads a cases document; `defaultType` is the event type of a case that gives none.
    package static func parse(_ doc: JSONValue, file: String, defaultType: String?) throws(SlothError) -> [Case] {
        guard case .object(let top) = doc else { throw .invalidInput("\(file): expected a mapping with 'cases:' (a list)") }
        try unknown(in: top, known: topKeys, at: file)
        guard case .array(let list)? = top["cases"], !list.isEmpty else { throw .invalidInput("\(file): 'cases:' must be a non-empty list") }
        var cases: [Case] = []
        for (i, item) in list.enumerated() {
            let place = "\(file): cases[\(i)]"
            guard case .object(let c) = item else { throw .invalidInput("\(place) must be a mapping (name, event, mocks, expect)") }
            try unknown(in: c, known: caseKeys, at: place)
            let name = c["name"]?.stringValue ?? "case \(i + 1)"
            let at = "\(file): case '\(name)'"
            if cases.contains(where: { $0.name == name }) { throw .invalidInput("\(at): two cases have this name") }
            cases.append(Case(
                name: name, event: try event(c["event"], at: at, defaultType: defaultType), mocks: try mocks(c["mocks"], at: at),
                expect: try expectation(c["expect"], at: at)))
        }
        return cases
    }

    static func unknown(in o: [String: JSONValue], known: [String], at place: String) throws(SlothError) {
        if let key = o.keys.sorted().first(where: { !known.contains($0) }) {
            throw .invalidInput("\(place): unknown key '\(key)'\(NameSuggestion.hint(for: key, among: known)); expected \(known.joined(separator: ", "))")
        }
    }

    static func event(_ v: JSONValue?, at place: String, defaultType: String?) throws(SlothError) -> NewEvent {
        var o: [String: JSONValue] = [:]
        if let v {
            guard case .object(let given) = v else { throw .invalidInput("\(place): event must be a mapping (type, data, stack)") }
            o = given
        }
        try unknown(in: o, known: eventKeys, at: place + ": event")
        guard let type = o["type"]?.stringValue ?? defaultType else {
            throw .invalidInput("\(place): event.type is required (the hook listens to patterns only)")
        }
        let event = NewEvent(type: type, data: o["data"] ?? .object([:]), stack: o["stack"]?.stringValue)
        do { _ = try event.validated() } catch { throw .invalidInput("\(place): event: \(error.description)") }
        return event
    }

    static func strings(_ v: JSONValue?, at place: String) throws(SlothError) -> [String: String] {
        guard let v else { return [:] }
        guard case .object(let o) = v else { throw .invalidInput("\(place) must be a mapping of names to strings") }
        var out: [String: String] = [:]
        for (k, value) in o {
            switch value {
            case .string(let s): out[k] = s
            case .int, .double, .bool: out[k] = value.serialized()
            default: throw .invalidInput("\(place).\(k) must be a string")
            }
        }
        return out
    }

    static func mocks(_ v: JSONValue?, at place: String) throws(SlothError) -> HookMocks {
        var m = HookMocks()
        guard let v else { return m }
        guard case .object(let o) = v else { throw .invalidInput("\(place): mocks must be a mapping (\(mockKeys.joined(separator: ", ")))") }
        try unknown(in: o, known: mockKeys, at: place + ": mocks")
        for (i, item) in (o["http"]?.arrayValue ?? []).enumerated() {
            let at = "\(place): mocks.http[\(i)]"
            guard case .object(let h) = item else { throw .invalidInput("\(at) must be a mapping (method, url, status, body, json, headers)") }
            try unknown(in: h, known: httpKeys, at: at)
            guard let url = h["url"]?.stringValue else { throw .invalidInput("\(at): url is required (a URL, * matches any text)") }
            var answer = HookMocks.HTTPAnswer(method: h["method"]?.stringValue?.uppercased(), url: GlobPattern(url))
            if let s = h["status"] {
                guard let code = s.intValue, (100...599).contains(code) else { throw .invalidInput("\(at): status must be an HTTP status from 100 to 599") }
                answer.status = code
            }
            if h["body"] != nil && h["json"] != nil { throw .invalidInput("\(at): give body or json, not both") }
            answer.body = h["body"]?.stringValue ?? ""
            answer.json = h["json"]
            answer.headers = try strings(h["headers"], at: at + ".headers")
            m.http.append(answer)
        }
        if let http = o["http"], http.arrayValue == nil { throw .invalidInput("\(place): mocks.http must be a list") }
        for (i, item) in (o["exec"]?.arrayValue ?? []).enumerated() {
            let at = "\(place): mocks.exec[\(i)]"
            guard case .object(let e) = item else { throw .invalidInput("\(at) must be a mapping (command, exit_code, stdout, stderr)") }
            try unknown(in: e, known: execKeys, at: at)
            guard let command = e["command"]?.stringValue else { throw .invalidInput("\(at): command is required (the command line, * matches any text)") }
            var answer = HookMocks.ExecAnswer(command: GlobPattern(command))
            if let code = e["exit_code"] {
                guard let c = code.intValue else { throw .invalidInput("\(at): exit_code must be a whole number") }
                answer.exitCode = c
            }
            answer.stdout = e["stdout"]?.stringValue ?? ""
            answer.stderr = e["stderr"]?.stringValue ?? ""
            m.exec.append(answer)
        }
        if let exec = o["exec"], exec.arrayValue == nil { throw .invalidInput("\(place): mocks.exec must be a list") }
        if let state = o["state"] {
            guard case .object(let s) = state else { throw .invalidInput("\(place): mocks.state must be a mapping of keys to values") }
            m.state = s
        }
        m.secrets = try strings(o["secrets"], at: place + ": mocks.secrets")
        if o["env"] != nil { m.env = try strings(o["env"], at: place + ": mocks.env") }
        m.files = try strings(o["files"], at: place + ": mocks.files")
        if let clock = o["clock"] {
            if let text = clock.stringValue, let at = RFC3339.parse(text) { m.clockMillis = at } else if let seconds = clock.intValue {
                m.clockMillis = seconds * 1000
            } else {
                throw .invalidInput("\(place): mocks.clock must be an RFC 3339 time (2026-12-01T10:00:00Z) or Unix seconds")
            }
        }
        return m
    }

    static func expectation(_ v: JSONValue?, at place: String) throws(SlothError) -> Expectation {
        var e = Expectation()
        guard let v else { return e }
        guard case .object(let o) = v else { throw .invalidInput("\(place): expect must be a mapping (\(expectKeys.joined(separator: ", ")))") }
        try unknown(in: o, known: expectKeys, at: place + ": expect")
        if let ok = o["ok"] {
            guard case .bool(let b) = ok else { throw .invalidInput("\(place): expect.ok must be true or false") }
            e.ok = b
        }
        e.message = o["message"]?.stringValue.map(GlobPattern.init)
        e.output = o["output"]?.stringValue.map(GlobPattern.init)
        if let effects = o["effects"] {
            guard let list = effects.arrayValue else { throw .invalidInput("\(place): expect.effects must be a list like [\"http POST https://x/*\", \"exec systemctl restart *\"]") }
            e.effects = try list.map { item throws(SlothError) -> GlobPattern in
                guard let s = item.stringValue else { throw .invalidInput("\(place): expect.effects holds strings ('KIND TARGET')") }
                return GlobPattern(s)
            }
        }
        if let dispatched = o["dispatched"] {
            guard let list = dispatched.arrayValue else { throw .invalidInput("\(place): expect.dispatched must be a list of {type, data}") }
            e.dispatched = try list.map { item throws(SlothError) -> (type: String, data: JSONValue?) in
                if let t = item.stringValue { return (t, nil) }
                guard case .object(let d) = item, let t = d["type"]?.stringValue else {
                    throw .invalidInput("\(place): expect.dispatched holds event types or {type, data}")
                }
                return (t, d["data"])
            }
        }
        if let state = o["state"] {
            guard case .object(let s) = state else { throw .invalidInput("\(place): expect.state must be a mapping of keys to values") }
            e.state = s
        }
        return e
    }

    /// Runs every case; the hook is run as `hook test` runs it, inside a sandbox of mocks.
    package static func run(_ hook: Hook, cases: [Case], runtime: LuaRuntime, strictPermissions: Bool) async -> [Result] {
        var results: [Result] = []
        for c in cases {
            let sandbox = HookSandbox(.mocked(c.mocks))
            let state = MemoryState()
            for (k, v) in c.mocks.state { try? await state.set(k, v, ttl: nil) }
            let at = c.mocks.clockMillis ?? nowMillis()
            let event = Event(
                id: EventID.make(millis: at), type: c.event.type, stack: c.event.stack, timestamp: at, data: c.event.data, createdAt: at, attempts: 1)
            let outcome = await HookDryRun.run(
                hook, on: event, runtime: runtime, strictPermissions: strictPermissions, secrets: MockSecrets(c.mocks.secrets), state: state,
                sandbox: sandbox)
            let effects = sandbox.effects
            var differences = await compare(c.expect, outcome: outcome, effects: effects, state: state)
            if let mismatch = outcome.mismatch { differences.insert(mismatch + " (in the engine)", at: 0) }
            results.append(Result(name: c.name, differences: differences, outcome: outcome, effects: effects))
        }
        return results
    }

    static func compare(_ e: Expectation, outcome: HookDryRun.Outcome, effects: [HookSandbox.Effect], state: MemoryState) async -> [String] {
        var d: [String] = []
        let r = outcome.result
        if r.success != e.ok {
            d.append("expected \(e.ok ? "success" : "failure"), got \(r.success ? "success" : "failure")\(r.message.map { ": \($0)" } ?? "")")
        }
        if let m = e.message, !m.matches(r.message ?? "") {
            d.append("message: expected '\(m)', got '\(r.message ?? "")'")
        }
        if let o = e.output, !o.matches(r.output) {
            d.append("output: expected '\(o)', got '\(r.output.trimmingCharacters(in: .newlines))'")
        }
        if let expected = e.effects {
            let lines = effects.map(\.line)
            for (i, pattern) in expected.enumerated() {
                if i >= lines.count {
                    d.append("effects[\(i)]: expected '\(pattern)', but the hook made only \(lines.count) effect\(lines.count == 1 ? "" : "s")")
                } else if !pattern.matches(lines[i]) {
                    d.append("effects[\(i)]: expected '\(pattern)', got '\(lines[i])'")
                }
            }
            if lines.count > expected.count {
                d.append("effects: expected \(expected.count), got \(lines.count); not expected: " + lines[expected.count...].map { "'\($0)'" }.joined(separator: ", "))
            }
        }
        if let expected = e.dispatched {
            let sent = outcome.dispatched
            if sent.count != expected.count {
                d.append("dispatched: expected \(expected.count) event\(expected.count == 1 ? "" : "s"), got \(sent.count)\(sent.isEmpty ? "" : " (" + sent.map(\.type).joined(separator: ", ") + ")")")
            }
            for (i, (want, got)) in zip(expected, sent).enumerated() {
                if want.type != got.type { d.append("dispatched[\(i)]: expected type \(want.type), got \(got.type)") }
                if let data = want.data, let miss = subsetMismatch(data, got.data, path: "data") {
                    d.append("dispatched[\(i)]: \(miss)")
                }
            }
        }
        if let expected = e.state {
            for (key, want) in expected.sorted(by: { $0.key < $1.key }) {
                let got = (try? await state.get(key)) ?? nil
                if want == .null {
                    if let got { d.append("state.\(key): expected absent, got \(got.serialized())") }
                } else if got != want {
                    d.append("state.\(key): expected \(want.serialized()), got \(got?.serialized() ?? "nothing")")
                }
            }
        }
        return d
    }

    /// Where `actual` lacks what `expected` holds (objects compared key by key, the rest equal).
    static func subsetMismatch(_ expected: JSONValue, _ actual: JSONValue, path: String) -> String? {
        if case .object(let want) = expected {
            guard case .object(let got) = actual else { return "\(path): expected an object, got \(actual.serialized())" }
            for (k, v) in want.sorted(by: { $0.key < $1.key }) {
                guard let g = got[k] else { return "\(path).\(k): expected \(v.serialized()), got nothing" }
                if let miss = subsetMismatch(v, g, path: path + "." + k) { return miss }
            }
            return nil
        }
        return expected == actual ? nil : "\(path): expected \(expected.serialized()), got \(actual.serialized())"
    }
}
