import CLua
import CLuaShim
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `exec.run(cmd [, {timeout, env, cwd, stdin}])`: a string runs through `/bin/sh -c`; a list
/// runs that argv with no shell. Returns `{exit_code, stdout, stderr, duration_ms, signal}`.
/// The hook is suspended while the command runs; output is bounded. Every command runs under a
/// supervisor of its own (`ExecSupervision`): when it exits, at its timeout, or when the hook
/// is killed, nothing it started survives it — background jobs, double forks and `setsid`
/// escapes included.
enum ExecModule {
    static let maxOutputBytes = 1 << 20
    static let defaultTimeout = 60.0

    struct Command: Sendable {
        /// The absolute path that runs (`/bin/sh` for a command line).
        var executable: String
        var arguments: [String]
        var display: String
        var viaShell: Bool
        var timeout: Double
        var environment: [String: String]
        var directory: String?
        var stdin: Data?
    }

    static let run: sb_host_fn = { L, ctx in
        guard let L else { return 0 }
        var command: Command
        // A sandboxed run records the command rather than running it: a program missing here
        // (a what-if on a laptop of a hook for servers) is still recorded by its name.
        switch parse(L, allowUnresolved: HostFunctions.sandbox(ctx) != nil) {
        case .success(let c): command = c
        case .failure(let e): return HostFunctions.fail(L, "exec.run: \(e.message)")
        }
        if let denied = HostFunctions.policy(ctx).checkExec(executable: command.executable, viaShell: command.viaShell, display: command.display) {
            return HostFunctions.fail(L, "exec.run: \(denied)")
        }
        if let sandbox = HostFunctions.sandbox(ctx) {
            let answer = sandbox.exec(command.display, stdin: command.stdin.map { String(decoding: $0, as: UTF8.self) })
            return HostFunctions.suspend(L, ctx, "exec.run") { answer }
        }
        command.timeout = HostFunctions.operationTimeout(command.timeout, ctx)
        let final = command
        let arguments: JSONValue = .object([
            "executable": .string(final.executable), "arguments": .array(final.arguments.map(JSONValue.string)),
            "env": .object(final.environment.mapValues(JSONValue.string)), "cwd": final.directory.map(JSONValue.string) ?? .null,
            "stdin": final.stdin.map { .string(String(decoding: $0, as: UTF8.self)) } ?? .null,
        ])
        if let journaled = HostFunctions.suspendJournaled(
            L, ctx, "exec.run", kind: "exec", summary: "exec " + final.display, arguments: arguments,
            reusedNote: "its result is reused, the command does not run again", perform: { await execute(final) },
            succeeded: { $0["exit_code"]?.intValue == 0 })
        {
            return journaled
        }
        return HostFunctions.suspend(L, ctx, "exec.run") { await execute(final) }
    }

    static func parse(_ L: OpaquePointer, allowUnresolved: Bool = false) -> Result<Command, ModuleError> {
        var command: Command
        if let text = LuaValues.string(at: 1, on: L) {
            guard !text.trimmingCharacters(in: .whitespaces).isEmpty else { return .failure(ModuleError("empty command")) }
            command = Command(
                executable: ExecutablePath.shell, arguments: ["-c", text], display: text, viaShell: true,
                timeout: defaultTimeout, environment: [:])
        } else if lua_type(L, 1) == LUA_TTABLE, case .array(let items)? = try? LuaValues.json(at: 1, on: L) {
            let argv = items.compactMap(\.stringValue)
            guard argv.count == items.count, let program = argv.first, !program.isEmpty else {
                return .failure(ModuleError("the argv list must hold strings, starting with the program"))
            }
            guard let path = ExecutablePath.resolve(program) ?? (allowUnresolved ? program : nil) else {
                return .failure(ModuleError("program '\(program)' not found in PATH"))
            }
            command = Command(
                executable: path, arguments: Array(argv.dropFirst()), display: argv.joined(separator: " "), viaShell: false,
                timeout: defaultTimeout, environment: [:])
        } else {
            return .failure(ModuleError("expected a command string or an argv list like {\"ls\", \"-l\"}"))
        }
        guard lua_type(L, 2) == LUA_TTABLE else { return .success(command) }
        guard case .object(let o)? = try? LuaValues.json(at: 2, on: L) else { return .failure(ModuleError("options must be a table")) }
        if let unknown = ModuleOptions.unknownKey(in: o, known: ["timeout", "env", "cwd", "stdin"]) { return .failure(unknown) }
        switch o["timeout"] {
        case .int(let i)? where i > 0: command.timeout = Double(i)
        case .double(let d)? where d > 0: command.timeout = d
        case nil: break
        default: return .failure(ModuleError("timeout must be a positive number of seconds"))
        }
        if case .object(let env)? = o["env"] {
            for (k, v) in env {
                guard let s = v.stringValue ?? (v == .null ? nil : v.serialized()) else { continue }
                guard !k.isEmpty, !k.contains("="), !k.contains("\0"), !s.contains("\0") else {
                    return .failure(ModuleError("environment variable '\(k)' has a name or value a process cannot take"))
                }
                command.environment[k] = s
            }
        }
        if let cwd = o["cwd"]?.stringValue { command.directory = cwd }
        if let input = o["stdin"]?.stringValue { command.stdin = Data(input.utf8) }
        guard !command.arguments.contains(where: { $0.contains("\0") }) else {
            return .failure(ModuleError("an argument holds a zero byte, which a process cannot take"))
        }
        return .success(command)
    }

    /// Collects a pipe's output up to the bound without blocking a thread.
    final class Collector: Sendable {
        private let state = Mutex<(data: Data, dropped: Int)>((Data(), 0))
        let done = Wakeup()

        func append(_ chunk: Data) {
            state.withLock { s in
                let room = ExecModule.maxOutputBytes - s.data.count
                if room >= chunk.count { s.data.append(chunk) } else {
                    if room > 0 { s.data.append(chunk.prefix(room)) }
                    s.dropped += chunk.count - max(0, room)
                }
            }
        }

        var text: String {
            state.withLock { s in
                let t = String(decoding: s.data, as: UTF8.self)
                return s.dropped > 0 ? t + "\n[output truncated: \(s.dropped) bytes dropped]" : t
            }
        }
    }

    final class Flag: Sendable {
        private let value = Atomic<Bool>(false)
        func set() { value.store(true, ordering: .relaxed) }
        var isSet: Bool { value.load(ordering: .relaxed) }
    }

    static func execute(_ c: Command) async -> Result<JSONValue, ModuleError> {
        if let dir = c.directory {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
                return .failure(ModuleError("working directory \(dir) does not exist"))
            }
        }
        let environment = ProcessInfo.processInfo.environment.merging(c.environment) { $1 }
        let started = monotonicSeconds()
        let process: SupervisedProcess
        do {
            process = try ExecSupervision.shared.start(
                executable: c.executable, arguments: [c.executable] + c.arguments, environment: environment, directory: c.directory,
                stdin: c.stdin)
        } catch {
            return .failure(ModuleError("cannot start \(c.display): \(error.message)"))
        }
        let stdout = Collector(), stderr = Collector()
        process.read(stdout: stdout, stderr: stderr)
        let timedOut = Flag()
        let report: SupervisedProcess.Report = await withTaskCancellationHandler {
            await withTaskGroup(of: SupervisedProcess.Report?.self) { group in
                group.addTask { await process.finished() }
                group.addTask {
                    try? await Task.sleep(nanoseconds: UInt64(c.timeout * 1e9))
                    if !Task.isCancelled {
                        timedOut.set()
                        process.kill()
                    }
                    return nil
                }
                var result: SupervisedProcess.Report?
                while let next = await group.next() {
                    if let next {
                        result = next
                        group.cancelAll()
                    }
                }
                return result!
            }
        } onCancel: {
            process.kill()
        }
        // The supervisor killed whatever was left of the tree, so both pipes reach their end
        // at once (a process outside the tree handed a copy of them is not waited for long).
        await stdout.done.wait(millis: 2000)
        await stderr.done.wait(millis: 2000)
        let duration = Int64(((monotonicSeconds() - started) * 1000).rounded())
        if timedOut.isSet {
            return .failure(ModuleError("'\(c.display)' timed out after \(formatSeconds(millis: Int64((c.timeout * 1000).rounded()))) and was killed"))
        }
        if Task.isCancelled { return .failure(ModuleError("cancelled")) }
        switch report.outcome {
        case .notStarted(let why):
            return .failure(ModuleError("cannot start \(c.display): \(why)"))
        case .exited(let code):
            return .success(.object([
                "exit_code": .int(Int64(code)), "signal": .null, "stdout": .string(stdout.text), "stderr": .string(stderr.text),
                "duration_ms": .int(duration),
            ]))
        case .signaled(let signal):
            return .success(.object([
                "exit_code": .int(Int64(128 + signal)), "signal": .int(Int64(signal)), "stdout": .string(stdout.text),
                "stderr": .string(stderr.text), "duration_ms": .int(duration),
            ]))
        }
    }
}

/// Where a program name leads: resolved on `PATH` like a shell would, then with symbolic links
/// resolved, so an allow-list entry and a hook's argv[0] are compared as the file that would
/// actually run.
enum ExecutablePath {
    /// What a command line runs through.
    static let shell = "/bin/sh"

    static var searchPath: String { ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin" }

    /// The absolute path that running `program` would execute, or nil if there is none.
    static func resolve(_ program: String) -> String? {
        if program.contains("/") {
            return FileManager.default.isExecutableFile(atPath: program) ? URL(fileURLWithPath: program).standardizedFileURL.path : nil
        }
        for dir in searchPath.split(separator: ":") where !dir.isEmpty {
            let candidate = "\(dir)/\(program)"
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDir), !isDir.boolValue,
                FileManager.default.isExecutableFile(atPath: candidate)
            {
                return candidate
            }
        }
        return nil
    }

    /// The file itself, links resolved (nil if it does not exist).
    static func real(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    /// The real file a program name or path names.
    static func realProgram(_ program: String) -> String? { resolve(program).flatMap(real) }
}
