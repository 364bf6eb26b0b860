import Foundation
import Testing
@testable import SlothRunner

@Suite struct ExecModuleTests {
    func run(_ body: String, permissions: PermissionPolicy = .open, timeoutMillis: Int64 = 20_000) async -> HookRunResult {
        await LuaTestSupport.run(
            "local exec = require('exec') return { execute = function() \(body) end }",
            limits: HookLimits(timeoutMillis: timeoutMillis, memoryBytes: 64 << 20, instructions: 50_000_000), permissions: permissions)
    }

    /// Whether a process still exists (signal 0 probes without sending anything).
    func alive(_ pid: Int32) -> Bool { kill(pid, 0) == 0 }

    @Test func shellAndArgvForms() async {
        var r = await run("local x = exec.run('echo out; echo err >&2; exit 3') return true, x.exit_code .. '|' .. x.stdout .. '|' .. x.stderr")
        #expect(r.message == "3|out\n|err\n", "\(r.message ?? "")")
        r = await run("local x = exec.run({'printf', '%s|%s', 'a b', '$HOME'}) return true, x.stdout")
        #expect(r.message == "a b|$HOME", "no shell expansion in the argv form")
        r = await run("local x = exec.run('cat; echo $FOO; pwd', { stdin = 'in ', env = { FOO = 'bar' }, cwd = '/tmp' }) return true, x.stdout")
        #expect(r.message == "in bar\n/tmp\n", "\(r.message ?? "")")
        r = await run("local x = exec.run('kill -KILL $$') return true, x.exit_code .. ' ' .. x.signal")
        #expect(r.message == "137 9")
        // Commands start with no signal blocked, so SIGTERM works (and `timeout` inside them).
        r = await run("local x = exec.run('kill -TERM $$; echo survived') return true, x.exit_code .. ' ' .. x.signal .. ' ' .. x.stdout")
        #expect(r.message == "143 15 ", "\(r.message ?? "")")
        r = await run("return true, exec.run('timeout 0.2 sleep 5').exit_code")
        #expect(r.message == "124", "\(r.message ?? "")")
    }

    @Test func failuresAreClear() async {
        var r = await run("exec.run({'no-such-program-here'})")
        #expect(!r.success && r.message?.contains("not found in PATH") == true)
        r = await run("exec.run('true', { cwd = '/nonexistent' })")
        #expect(!r.success && r.message?.contains("does not exist") == true)
        r = await run("exec.run(42)")
        #expect(!r.success && r.message?.contains("expected a command string") == true)
        r = await run("local x = exec.run('head -c 3000000 /dev/zero | tr \"\\\\0\" x') return true, #x.stdout")
        #expect(r.success && (Int(r.message ?? "") ?? 0) < ExecModule.maxOutputBytes + 100, "output is bounded: \(r.message ?? "")")
    }

    @Test func timeoutKillsTheWholeProcessGroup() async throws {
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        let pidFile = dir.path + "/pid"
        let r = await run("exec.run('sleep 30 & echo $! > \(pidFile); wait', { timeout = 0.5 })")
        #expect(!r.success && r.message?.contains("timed out after 0.5s and was killed") == true, "\(r.message ?? "")")
        let pid = try #require(Int32((try? String(contentsOfFile: pidFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""))
        try await eventuallyTrue { !alive(pid) }
    }

    @Test func killingTheHookKillsItsCommand() async throws {
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        let pidFile = dir.path + "/pid"
        // The hook's own limit, generous enough for the shell to start on a loaded machine.
        let r = await run("exec.run('sleep 30 & echo $! > \(pidFile); wait')", timeoutMillis: 6000)
        #expect(!r.success && r.message == "timeout after 6s", "\(r.message ?? "")")
        let pid = try #require(Int32((try? String(contentsOfFile: pidFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""))
        try await eventuallyTrue { !alive(pid) }
    }

    @Test func commandPermissions() async {
        let policy = PermissionPolicy(declared: HookPermissions(grants: [.exec: ["echo"]]), strict: false)
        var r = await run("return true, exec.run({'echo', 'hi'}).stdout", permissions: policy)
        #expect(r.message == "hi\n")
        r = await run("exec.run({'ls', '/'})", permissions: policy)
        #expect(!r.success && r.message?.contains("may not run command 'ls'") == true, "\(r.message ?? "")")
    }

    /// The pid a command wrote to `file`, once it is there.
    func pid(in file: String) async throws -> Int32 {
        var text = ""
        for _ in 0..<400 {
            text = (try? String(contentsOfFile: file, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            if let pid = Int32(text) { return pid }
            try await Task.sleep(nanoseconds: 5_000_000)
        }
        throw SlothError.runtime("no pid in \(file): '\(text)'")
    }

    @Test func aShellLineIsRefusedUnlessTheShellIsGranted() async {
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        let marker = dir.path + "/pwned"
        let echoOnly = PermissionPolicy(declared: HookPermissions(grants: [.exec: ["echo"]]), strict: false)
        var r = await run("exec.run('echo hi; touch \(marker)')", permissions: echoOnly)
        #expect(!r.success && r.message?.contains("is a command line, which runs /bin/sh") == true, "\(r.message ?? "")")
        #expect(!FileManager.default.fileExists(atPath: marker), "the second command of the line ran")
        let strict = PermissionPolicy(declared: nil, strict: true)
        r = await run("exec.run('true')", permissions: strict)
        #expect(!r.success && r.message?.contains("strict permissions are on") == true, "\(r.message ?? "")")
        let shell = PermissionPolicy(declared: HookPermissions(grants: [.exec: ["sh"]]), strict: false)
        r = await run("return true, exec.run('echo granted').stdout", permissions: shell)
        #expect(r.success && r.message == "granted\n", "\(r.message ?? "")")
        // Unrestricted hooks keep command lines.
        r = await run("return true, exec.run('echo open').stdout")
        #expect(r.message == "open\n")
    }

    @Test func argvZeroIsMatchedAsTheFileThatWouldRun() async throws {
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        let impostor = dir.file("echo", "#!/bin/sh\ntouch \(dir.path)/impostor-ran\n")
        chmod(impostor, 0o755)
        let echoOnly = PermissionPolicy(declared: HookPermissions(grants: [.exec: ["echo"]]), strict: false)
        var r = await run("exec.run({'\(impostor)', 'x'})", permissions: echoOnly)
        #expect(!r.success && r.message?.contains("may not run command") == true, "\(r.message ?? "")")
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/impostor-ran"))
        // The real echo through another path (on Debian /bin links to /usr/bin) is the same file.
        r = await run("return true, exec.run({'/bin/echo', 'same file'}).stdout", permissions: echoOnly)
        #expect(r.success && r.message == "same file\n", "\(r.message ?? "")")
    }

    @Test func nothingACommandStartsOutlivesIt() async throws {
        let dir = TempDir()
        defer { withExtendedLifetime(dir) {} }
        // The issue's case: a subshell puts a new session in the background and exits at once.
        let detached = dir.path + "/detached"
        var r = await run("return true, exec.run(\"(setsid sh -c 'echo $$ > \(detached); exec sleep 301' &); sleep 0.2\").exit_code")
        #expect(r.message == "0", "\(r.message ?? "")")
        let first = try await pid(in: detached)
        try await eventuallyTrue { !alive(first) }
        // A double fork with a new session, while the command itself is killed at its timeout.
        let doubled = dir.path + "/doubled"
        r = await run("exec.run(\"sh -c '(setsid sh -c \\\"echo \\\\$\\\\$ > \(doubled); exec sleep 302\\\" &)'; sleep 30\", { timeout = 0.5 })")
        #expect(!r.success && r.message?.contains("timed out after 0.5s") == true, "\(r.message ?? "")")
        let second = try await pid(in: doubled)
        try await eventuallyTrue { !alive(second) }
    }

    /// Polls a condition that becomes true shortly (a killed process being reaped).
    func eventuallyTrue(_ condition: () -> Bool) async throws {
        for _ in 0..<400 {
            if condition() { return }
            try await Task.sleep(nanoseconds: 5_000_000)
        }
        Issue.record("condition did not become true within 2 s")
    }
}
