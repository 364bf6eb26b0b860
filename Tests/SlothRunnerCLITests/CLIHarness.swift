import Foundation
import SlothRunner

/// Drives the built `sloth-runner` binary against a private home directory.
final class CLI: Sendable {
    let home: String
    let binary: String

    struct Result: CustomStringConvertible {
        var status: Int32
        var stdout: String
        var stderr: String
        var description: String { "exit \(status)\nstdout:\n\(stdout)\nstderr:\n\(stderr)" }
        var json: JSONValue? { try? JSONValue.parse(stdout) }
    }

    init() {
        home = NSTemporaryDirectory() + "sloth-cli-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        binary = CLI.locateBinary()
    }

    deinit { try? FileManager.default.removeItem(atPath: home) }

    var databasePath: String { home + "/sloth.db" }

    static func locateBinary() -> String {
        if let b = ProcessInfo.processInfo.environment["SLOTH_RUNNER_BIN"] { return b }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/sloth-runner").path
    }

    func file(_ name: String, _ contents: String) -> String {
        let p = home + "/" + name
        _ = FileManager.default.createFile(atPath: p, contents: Data(contents.utf8))
        return p
    }

    private func makeProcess(
        _ args: [String], stdout: String, stderr: String, stdin: String? = nil, environment: [String: String] = [:], launcher: [String] = []
    ) -> Process {
        let p = Process()
        // With a launcher, `args` is the whole argument list after it (the launcher runs the binary).
        p.executableURL = URL(fileURLWithPath: launcher.first ?? binary)
        p.arguments = launcher.isEmpty ? args : Array(launcher.dropFirst()) + args
        var env = ProcessInfo.processInfo.environment
        // Nothing from the developer's own setup (a config file, a log level) reaches a test.
        for key in env.keys where key.hasPrefix("SLOTH_RUNNER_") && key != "SLOTH_RUNNER_BIN" { env.removeValue(forKey: key) }
        env.removeValue(forKey: "NO_COLOR")
        env["SLOTH_RUNNER_HOME"] = home
        // Tests run in parallel: each serve's HTTP API takes a free port, never the fixed 7077.
        env["SLOTH_RUNNER_HTTP"] = "127.0.0.1:0"
        for (k, v) in environment { env[k] = v }
        p.environment = env
        _ = FileManager.default.createFile(atPath: stdout, contents: nil)
        _ = FileManager.default.createFile(atPath: stderr, contents: nil)
        p.standardOutput = FileHandle(forWritingAtPath: stdout)
        p.standardError = FileHandle(forWritingAtPath: stderr)
        p.standardInput = stdin.flatMap { FileHandle(forReadingAtPath: $0) } ?? FileHandle.nullDevice
        return p
    }

    /// Runs a command to completion. Output goes through files, so any size is safe.
    @discardableResult
    func run(_ args: String...) async throws -> Result { try await run(args) }

    /// Runs a command to completion without blocking a Swift concurrency thread meanwhile.
    /// `stdin`: a file fed to it; `launcher`: another program (with its first arguments) that
    /// is run instead, with `args` after it — say `setpriv --reuid=65534 ...` with the binary
    /// and its arguments, or `script -qec COMMAND /dev/null`.
    func run(_ args: [String], stdin: String? = nil, environment: [String: String] = [:], launcher: [String] = []) async throws -> Result {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw SlothError.notFound("the sloth-runner binary is not at \(binary); run `swift build` first (scripts/test.sh does)")
        }
        let id = UUID().uuidString
        let out = home + "/.out-\(id)", err = home + "/.err-\(id)"
        let p = makeProcess(args, stdout: out, stderr: err, stdin: stdin, environment: environment, launcher: launcher)
        let exited = AsyncStream<Void>.makeStream()
        p.terminationHandler = { _ in exited.continuation.yield() }
        try p.run()
        for await _ in exited.stream { break }
        defer { try? FileManager.default.removeItem(atPath: out); try? FileManager.default.removeItem(atPath: err) }
        return Result(
            status: p.terminationStatus, stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
    }

    /// Starts `sloth-runner serve` in the background and waits until it says it is serving (and,
    /// unless it runs with `--http off`, where its HTTP API listens: `daemon.apiURL`).
    /// The engine's own events (system.startup, system.shutdown) are off unless `environment`
    /// turns them on: most tests count the events they dispatched.
    func startServe(_ extra: [String] = [], environment: [String: String] = [:]) async throws -> Daemon {
        let log = home + "/serve-\(UUID().uuidString).log"
        var environment = environment
        if environment["SLOTH_RUNNER_ENGINE_EVENTS"] == nil { environment["SLOTH_RUNNER_ENGINE_EVENTS"] = "false" }
        let p = makeProcess(["serve"] + extra, stdout: home + "/.serve-out", stderr: log, environment: environment)
        try p.run()
        let daemon = Daemon(process: p, logPath: log)
        let httpOff = zip(extra, extra.dropFirst()).contains { $0 == "--http" && $1 == "off" } || environment["SLOTH_RUNNER_HTTP"] == "off"
        try await eventually(timeout: 30, "serve did not start:\n\(daemon.log)") {
            (daemon.log.contains("serving") && (httpOff || daemon.apiURL != nil)) || !p.isRunning
        }
        guard p.isRunning else { throw SlothError.runtime("serve exited at start:\n\(daemon.log)") }
        return daemon
    }

    /// Starts a command in the background (its stderr is the `log`), without waiting for it.
    func startBackground(_ args: [String]) throws -> Daemon {
        let log = home + "/bg-\(UUID().uuidString).log"
        let p = makeProcess(args, stdout: home + "/.bg-out-\(UUID().uuidString)", stderr: log)
        try p.run()
        return Daemon(process: p, logPath: log)
    }

    func openStore() throws -> SQLiteEventStore { try SQLiteEventStore(path: databasePath) }
}

final class Daemon {
    let process: Process
    let logPath: String
    init(process: Process, logPath: String) {
        self.process = process
        self.logPath = logPath
    }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
    var pid: Int32 { process.processIdentifier }

    /// `http://127.0.0.1:PORT` (or `https://`) of the HTTP API, from the line serve logs once it listens.
    var apiURL: String? {
        guard let line = log.split(separator: "\n").first(where: { $0.contains("HTTP API listening on http") }),
            let start = line.range(of: "https://") ?? line.range(of: "http://"),
            let end = line.range(of: "/api/v1", range: start.upperBound..<line.endIndex)
        else { return nil }
        return String(line[start.lowerBound..<end.lowerBound])
    }

    /// A field of /proc/PID/status in KiB (VmHWM: the peak resident set so far).
    func statusKiB(_ field: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        }
        return nil
    }

    func kill(_ signal: Int32) {
        Foundation.kill(process.processIdentifier, signal)
    }

    /// Waits for the process to exit; returns its status.
    func waitExit(timeout: Double = 60) async throws -> Int32 {
        try await eventually(timeout: timeout, "serve did not exit:\n\(log)") { !process.isRunning }
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit {
        if process.isRunning {
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// Polls a condition until it holds: synchronisation on an observable state, never on time alone.
func eventually(timeout: Double, _ message: @autoclosure () -> String, _ condition: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try await condition() { return }
        try await Task.sleep(nanoseconds: 5_000_000)
    }
    if try await condition() { return }
    throw SlothError.runtime("timed out after \(timeout)s: \(message())")
}
