import Foundation
import Synchronization

/// A hook run whose side effects are recorded instead of performed: `hook test --history`
/// (a what-if run over stored events) and `hook test --cases` (unit tests with mocks). The
/// modules ask it before they act (`exec.run`, `http`, `file`); the state and dispatch of such
/// a run are recording wrappers (`RecordingState`, the dry run's dispatcher). Nothing is
/// performed except what the mode allows: GET/HEAD and file reads with `--allow-reads`.
package final class HookSandbox: Sendable {
    package enum Mode: Sendable {
        /// Over history: effects recorded and answered with a neutral result (exit 0, HTTP 200);
        /// reads (GET/HEAD, file reads) performed only when allowed, else answered empty.
        case whatIf(allowReads: Bool)
        /// A test case: every call answered by its mocks; a call no mock answers fails.
        case mocked(HookMocks)
    }

    /// One call the run made that changes something outside it, in order.
    package struct Effect: Sendable, Equatable {
        /// `exec`, `http`, `file.write`, `file.append`, `file.remove`, `file.mkdir`, `state.set`,
        /// `state.delete`, `state.incr`, `state.compare_and_set`, `event.dispatch`.
        package var kind: String
        /// What it acts on: the command line, `POST https://…`, the path, the key, the event type.
        package var target: String
        /// Its arguments (a request's body, a file's bytes, a state value, event data).
        package var detail: JSONValue

        package init(kind: String, target: String, detail: JSONValue = .null) {
            self.kind = kind
            self.target = target
            self.detail = detail
        }

        /// `http POST https://hooks.example.com/x`: what a cases file's `effects` lists.
        package var line: String { "\(kind) \(target)" }

        package var json: JSONValue { .object(["kind": .string(kind), "target": .string(target), "detail": detail]) }
    }

    package let mode: Mode
    private let recorded = Mutex<(effects: [Effect], reads: Int)>(([], 0))

    package init(_ mode: Mode) { self.mode = mode }

    /// The effects recorded so far, in order.
    package var effects: [Effect] { recorded.withLock { $0.effects } }
    /// Reads answered without being performed (what-if without `--allow-reads`).
    package var mockedReads: Int { recorded.withLock { $0.reads } }

    package func record(_ effect: Effect) { recorded.withLock { $0.effects.append(effect) } }

    private func noteMockedRead() { recorded.withLock { $0.reads += 1 } }

    /// The fixed clock of a test case, in Unix seconds; nil: the real one.
    package var clockSeconds: Double? {
        guard case .mocked(let m) = mode, let at = m.clockMillis else { return nil }
        return Double(at) / 1000
    }

    /// The environment a test case gives `env.get`; nil: the real one.
    package var environment: [String: String]? {
        guard case .mocked(let m) = mode else { return nil }
        return m.env
    }

    // MARK: answers

    /// `exec.run`: recorded; a what-if answers exit 0 with no output, a case its mock.
    func exec(_ display: String, stdin: String?) -> Result<JSONValue, ModuleError> {
        record(Effect(kind: "exec", target: display, detail: stdin.map { .object(["stdin": .string($0)]) } ?? .null))
        switch mode {
        case .whatIf:
            return .success(Self.execResult(exitCode: 0, stdout: "", stderr: ""))
        case .mocked(let mocks):
            guard let mock = mocks.exec.first(where: { $0.command.matches(display) }) else {
                return .failure(ModuleError("no mock answers command '\(display)' (add one under mocks.exec)"))
            }
            return .success(Self.execResult(exitCode: mock.exitCode, stdout: mock.stdout, stderr: mock.stderr))
        }
    }

    static func execResult(exitCode: Int64, stdout: String, stderr: String) -> JSONValue {
        .object(["exit_code": .int(exitCode), "stdout": .string(stdout), "stderr": .string(stderr), "duration_ms": .int(0), "signal": .null])
    }

    /// `http`: nil to perform the request (a read a what-if may make); else the answer. Calls
    /// other than GET/HEAD are effects; a read is not.
    func http(method: String, url: String, body: [UInt8]?) -> Result<JSONValue, ModuleError>? {
        let read = method == "GET" || method == "HEAD"
        if !read {
            let text = body.map { String(decoding: $0, as: UTF8.self) }
            record(Effect(kind: "http", target: "\(method) \(url)", detail: text.map { .object(["body": .string($0)]) } ?? .null))
        }
        switch mode {
        case .whatIf(let allowReads):
            if read && allowReads { return nil }
            if read { noteMockedRead() }
            return .success(.object(["status_code": .int(200), "headers": .object([:]), "body": .string(""), "url": .string(url)]))
        case .mocked(let mocks):
            guard let mock = mocks.http.first(where: { ($0.method == nil || $0.method == method) && $0.url.matches(url) }) else {
                return .failure(ModuleError("no mock answers \(method) \(url) (add one under mocks.http)"))
            }
            var answer: [String: JSONValue] = [
                "status_code": .int(mock.status), "headers": .object(mock.headers.mapValues(JSONValue.string)), "url": .string(url),
            ]
            if let json = mock.json {
                answer["body"] = .string(json.serialized())
                answer["json"] = json
            } else {
                answer["body"] = .string(mock.body)
            }
            return .success(.object(answer))
        }
    }

    /// A file change (`write`, `append`, `remove`, `mkdir`): recorded, never performed.
    func fileChange(_ kind: String, path: String, bytes: [UInt8]?) {
        record(Effect(kind: "file." + kind, target: path, detail: bytes.map { .object(["content": .string(String(decoding: $0, as: UTF8.self))]) } ?? .null))
    }

    /// What `file.read` answers under the sandbox.
    enum FileRead {
        /// Read the disk (a what-if with `--allow-reads`).
        case perform
        case contents(String)
        /// A test case's files do not hold it.
        case missing
    }

    func fileRead(path: String) -> FileRead {
        switch mode {
        case .whatIf(let allowReads):
            if allowReads { return .perform }
            noteMockedRead()
            return .contents("")
        case .mocked(let mocks):
            return mocks.files[path].map(FileRead.contents) ?? .missing
        }
    }

    /// `file.exists` under the sandbox; nil: look at the disk.
    func fileExists(path: String) -> Bool? {
        switch mode {
        case .whatIf(let allowReads):
            if allowReads { return nil }
            noteMockedRead()
            return false
        case .mocked(let mocks):
            let prefix = path.hasSuffix("/") ? path : path + "/"
            return mocks.files[path] != nil || mocks.files.keys.contains { $0.hasPrefix(prefix) }
        }
    }

    /// The names directly under `path` among a test case's files (nil: read the disk).
    func fileList(path: String) -> [String]? {
        switch mode {
        case .whatIf(let allowReads):
            if allowReads { return nil }
            noteMockedRead()
            return []
        case .mocked(let mocks):
            let prefix = path.hasSuffix("/") ? path : path + "/"
            var names: Set<String> = []
            for file in mocks.files.keys where file.hasPrefix(prefix) {
                if let first = file.dropFirst(prefix.count).split(separator: "/").first { names.insert(String(first)) }
            }
            return names.sorted()
        }
    }
}

/// A test case's mocks (`hook test --cases`, docs/hook-authoring.md).
package struct HookMocks: Sendable, Equatable {
    package struct HTTPAnswer: Sendable, Equatable {
        /// nil: any method.
        package var method: String?
        package var url: GlobPattern
        package var status: Int64 = 200
        package var body: String = ""
        package var json: JSONValue?
        package var headers: [String: String] = [:]
    }

    package struct ExecAnswer: Sendable, Equatable {
        package var command: GlobPattern
        package var exitCode: Int64 = 0
        package var stdout: String = ""
        package var stderr: String = ""
    }

    package var http: [HTTPAnswer] = []
    package var exec: [ExecAnswer] = []
    package var state: [String: JSONValue] = [:]
    package var secrets: [String: String] = [:]
    package var env: [String: String]?
    package var files: [String: String] = [:]
    package var clockMillis: Millis?

    package init() {}
}

/// `*` matches any run of characters (`/` included), everything else itself:
/// `https://hooks.slack.com/*`, `systemctl restart *`.
package struct GlobPattern: Sendable, Equatable, CustomStringConvertible {
    package let text: String
    private let parts: [Substring]

    package init(_ text: String) {
        self.text = text
        parts = text.split(separator: "*", omittingEmptySubsequences: false)
    }

    package var description: String { text }

    package func matches(_ candidate: String) -> Bool {
        guard parts.count > 1 else { return candidate == text }
        var rest = Substring(candidate)
        guard rest.hasPrefix(parts[0]) else { return false }
        rest = rest.dropFirst(parts[0].count)
        for (i, part) in parts.enumerated().dropFirst() {
            if i == parts.count - 1 { return part.isEmpty || rest.hasSuffix(part) }
            if part.isEmpty { continue }
            guard let r = rest.range(of: part) else { return false }
            rest = rest[r.upperBound...]
        }
        return true
    }
}

/// A test case's secrets, for `secret.get` and `crypto.encrypt/decrypt`.
package struct MockSecrets: SecretReading {
    package let values: [String: String]
    package init(_ values: [String: String]) { self.values = values }
    package func get(_ name: String) async throws -> String? { values[name] }
}

/// State for a sandboxed run: writes are recorded as effects, then applied to `inner` (a
/// scratch copy, so the run sees its own writes and nothing is stored).
package struct RecordingState: StateAccess {
    package let inner: any StateAccess
    package let sandbox: HookSandbox

    package init(inner: any StateAccess, sandbox: HookSandbox) {
        self.inner = inner
        self.sandbox = sandbox
    }

    package func get(_ key: String) async throws -> JSONValue? { try await inner.get(key) }
    package func set(_ key: String, _ value: JSONValue, ttl: Double?) async throws {
        sandbox.record(HookSandbox.Effect(kind: "state.set", target: key, detail: value))
        try await inner.set(key, value, ttl: ttl)
    }
    package func delete(_ key: String) async throws -> Bool {
        sandbox.record(HookSandbox.Effect(kind: "state.delete", target: key))
        return try await inner.delete(key)
    }
    package func increment(_ key: String, by: Int64) async throws -> Int64 {
        sandbox.record(HookSandbox.Effect(kind: "state.incr", target: key, detail: .int(by)))
        return try await inner.increment(key, by: by)
    }
    package func compareAndSet(_ key: String, expected: JSONValue?, value: JSONValue, ttl: Double?) async throws -> Bool {
        sandbox.record(HookSandbox.Effect(kind: "state.compare_and_set", target: key, detail: value))
        return try await inner.compareAndSet(key, expected: expected, value: value, ttl: ttl)
    }
    package func keys(prefix: String) async throws -> [String] { try await inner.keys(prefix: prefix) }
}

/// State read from the store and written to a scratch copy on top of it (a what-if run over
/// history sees the real state; what it would write stays in the copy).
package final class OverlayState: StateAccess {
    private let base: any StateAccess
    private let written = Mutex<[String: JSONValue?]>([:])

    package init(base: any StateAccess) { self.base = base }

    package func get(_ key: String) async throws -> JSONValue? {
        if let local = written.withLock({ $0[key] }) { return local }
        return try await base.get(key)
    }
    package func set(_ key: String, _ value: JSONValue, ttl: Double?) async throws { written.withLock { $0[key] = .some(value) } }
    package func delete(_ key: String) async throws -> Bool {
        let had = try await get(key) != nil
        written.withLock { $0[key] = .some(nil) }
        return had
    }
    package func increment(_ key: String, by: Int64) async throws -> Int64 {
        let sum = try StateIncrement.sum(try await get(key), by: by, key: key)
        written.withLock { $0[key] = .some(.int(sum)) }
        return sum
    }
    package func compareAndSet(_ key: String, expected: JSONValue?, value: JSONValue, ttl: Double?) async throws -> Bool {
        guard try await get(key) == expected else { return false }
        written.withLock { $0[key] = .some(value) }
        return true
    }
    package func keys(prefix: String) async throws -> [String] {
        var all = Set(try await base.keys(prefix: prefix))
        for (k, v) in written.withLock({ $0 }) where k.hasPrefix(prefix) {
            if v == nil { all.remove(k) } else { all.insert(k) }
        }
        return all.sorted()
    }
}
