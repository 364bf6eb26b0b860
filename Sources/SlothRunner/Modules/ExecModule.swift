import CLua
import CLuaShim
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `exec.run(cmd [, {timeout, env, cwd, stdin}])`: a string runs through `/bin/sh -c`; a list
/// runs that argv with no shell. Returns `{exit_code, stdout, stderr, duration_ms, signal}`.
/// The hook is suspended while the command runs; output is bounded; at its timeout, or when the
/// hook itself is killed, the command's whole process group is killed.
enum ExecModule {
    static let maxOutputBytes = 1 << 20
    static let defaultTimeout = 60.0

    struct Command: Sendable {
        var executable: String
        var arguments: [String]
        var display: String
        /// The program name permissions are checked against (`make` for "make test").
        var program: String
        var timeout: Double
        var environment: [String: String]
        var directory: String?
        var stdin: Data?
    }

    static let run: sb_host_fn = { L, ctx in
        guard let L else { return 0 }
        let command: Command
        switch parse(L) {
        case .success(let c): command = c
        case .failure(let e): return HostFunctions.fail(L, "exec.run: \(e.message)")
        }
        if let denied = HostFunctions.policy(ctx).check(.exec, command.program) {
            return HostFunctions.fail(L, "exec.run: \(denied)")
        }
        var bounded = command
        bounded.timeout = HostFunctions.operationTimeout(command.timeout, ctx)
        let final = bounded
        return HostFunctions.suspend(L, ctx, "exec.run") { await execute(final) }
    }

    static func firstWord(_ s: String) -> String {
        String(s.trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "")
    }

    static func parse(_ L: OpaquePointer) -> Result<Command, ModuleError> {
        var command: Command
        if let text = LuaValues.string(at: 1, on: L) {
            guard !text.trimmingCharacters(in: .whitespaces).isEmpty else { return .failure(ModuleError("empty command")) }
            command = Command(
                executable: "/bin/sh", arguments: ["-c", text], display: text, program: (firstWord(text) as NSString).lastPathComponent,
                timeout: defaultTimeout, environment: [:])
        } else if lua_type(L, 1) == LUA_TTABLE, case .array(let items)? = try? LuaValues.json(at: 1, on: L) {
            let argv = items.compactMap(\.stringValue)
            guard argv.count == items.count, let program = argv.first, !program.isEmpty else {
                return .failure(ModuleError("the argv list must hold strings, starting with the program"))
            }
            guard let path = resolve(program) else { return .failure(ModuleError("program '\(program)' not found in PATH")) }
            command = Command(
                executable: path, arguments: Array(argv.dropFirst()), display: argv.joined(separator: " "),
                program: (program as NSString).lastPathComponent, timeout: defaultTimeout, environment: [:])
        } else {
            return .failure(ModuleError("expected a command string or an argv list like {\"ls\", \"-l\"}"))
        }
        guard lua_type(L, 2) == LUA_TTABLE else { return .success(command) }
        guard case .object(let o)? = try? LuaValues.json(at: 2, on: L) else { return .failure(ModuleError("options must be a table")) }
        switch o["timeout"] {
        case .int(let i)? where i > 0: command.timeout = Double(i)
        case .double(let d)? where d > 0: command.timeout = d
        case nil: break
        default: return .failure(ModuleError("timeout must be a positive number of seconds"))
        }
        if case .object(let env)? = o["env"] {
            for (k, v) in env {
                guard let s = v.stringValue ?? (v == .null ? nil : v.serialized()) else { continue }
                command.environment[k] = s
            }
        }
        if let cwd = o["cwd"]?.stringValue { command.directory = cwd }
        if let input = o["stdin"]?.stringValue { command.stdin = Data(input.utf8) }
        return .success(command)
    }

    static func resolve(_ program: String) -> String? {
        if program.contains("/") { return FileManager.default.isExecutableFile(atPath: program) ? program : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(program)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
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

    /// Starts the process with no signals blocked. `posix_spawn` hands the child the calling
    /// thread's signal mask, and the threads Swift concurrency runs on block nearly every signal:
    /// commands would otherwise ignore SIGTERM forever (`timeout 5 cmd` inside a hook would not work).
    static func spawnWithEmptySignalMask(_ process: Process) throws {
        var none = sigset_t()
        var previous = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        try process.run()
    }

    static func execute(_ c: Command) async -> Result<JSONValue, ModuleError> {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: c.executable)
        process.arguments = c.arguments
        if !c.environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(c.environment) { $1 }
        }
        if let dir = c.directory {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
                return .failure(ModuleError("working directory \(dir) does not exist"))
            }
            process.currentDirectoryURL = URL(fileURLWithPath: dir)
        }
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = c.stdin == nil ? FileHandle.nullDevice : input
        let stdout = Collector(), stderr = Collector()
        for (pipe, collector) in [(out, stdout), (err, stderr)] {
            pipe.fileHandleForReading.readabilityHandler = { handle in
                let chunk = handle.availableData
                if chunk.isEmpty {
                    handle.readabilityHandler = nil
                    collector.done.signal()
                } else {
                    collector.append(chunk)
                }
            }
        }
        let started = monotonicSeconds()
        let exited = AsyncStream<Void>.makeStream()
        process.terminationHandler = { _ in exited.continuation.yield() }
        do {
            try spawnWithEmptySignalMask(process)
        } catch {
            return .failure(ModuleError("cannot start \(c.display): \(error.localizedDescription)"))
        }
        let pid = process.processIdentifier
        if let data = c.stdin {
            let writer = input.fileHandleForWriting
            DispatchQueue.global().async {
                try? writer.write(contentsOf: data)
                try? writer.close()
            }
        }
        let timedOut = Flag()
        await withTaskCancellationHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { for await _ in exited.stream { break } }
                group.addTask {
                    try? await Task.sleep(nanoseconds: UInt64(c.timeout * 1e9))
                    if !Task.isCancelled {
                        timedOut.set()
                        kill(-pid, SIGKILL)
                    }
                }
                await group.next()
                group.cancelAll()
            }
        } onCancel: {
            kill(-pid, SIGKILL)
        }
        // Let the pipes drain; a background child that kept them open is not waited for.
        await stdout.done.wait(millis: 500)
        await stderr.done.wait(millis: 500)
        let duration = Int64(((monotonicSeconds() - started) * 1000).rounded())
        if timedOut.isSet {
            return .failure(ModuleError("'\(c.display)' timed out after \(formatSeconds(millis: Int64(c.timeout * 1000))) and was killed"))
        }
        if Task.isCancelled { return .failure(ModuleError("cancelled")) }
        let signaled = process.terminationReason == .uncaughtSignal
        return .success(.object([
            "exit_code": .int(Int64(signaled ? 128 + process.terminationStatus : process.terminationStatus)),
            "signal": signaled ? .int(Int64(process.terminationStatus)) : .null,
            "stdout": .string(stdout.text), "stderr": .string(stderr.text), "duration_ms": .int(duration),
        ]))
    }
}
