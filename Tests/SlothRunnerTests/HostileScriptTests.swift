import Foundation
import Testing
@testable import SlothRunner

/// Scripts that try to escape, exhaust or confuse the sandbox. Each must end as a recorded
/// execution with a clear error (or bounded effect), while the engine keeps processing.
struct HostileCase: Sendable, CustomStringConvertible {
    let description: String
    let body: String
    /// Expected in the recorded error; nil when the run may succeed but must stay bounded.
    let expectedError: String?
    var check: (@Sendable (HookExecution) -> Bool)? = nil
    /// Wall-clock limit in seconds; long enough that CPU-bound cases always trip on their
    /// instruction budget first, however loaded the machine is.
    var timeout = 10
    /// More fields of the hook table (`permissions = {...}`).
    var metadata = ""

    static let all: [HostileCase] = [
        HostileCase(description: "infinite loop", body: "while true do end", expectedError: "instruction limit"),
        HostileCase(description: "loop inside pcall", body: "while true do pcall(function() while true do end end) end", expectedError: "instruction limit"),
        HostileCase(description: "error swallowed in a loop", body: "for i = 1, 1e12 do pcall(error, 'x') end", expectedError: "instruction limit"),
        HostileCase(description: "memory bomb", body: "local t = {} for i = 1, 1e9 do t[i] = {i} end", expectedError: "memory limit 8 MiB exceeded"),
        HostileCase(description: "memory bomb inside pcall", body: "local t = {} while true do pcall(function() for i = 1, 1e9 do t[#t+1] = ('x'):rep(64) .. i end end) end", expectedError: "memory limit 8 MiB exceeded"),
        HostileCase(description: "string.rep bomb", body: "local s = string.rep('x', 1e8)", expectedError: "memory limit 8 MiB exceeded"),
        HostileCase(description: "string doubling", body: "local s = 'x' while true do s = s .. s end", expectedError: "memory limit 8 MiB exceeded"),
        HostileCase(description: "deep recursion", body: "local function f(n) return 1 + f(n + 1) end f(1)", expectedError: nil, check: { !$0.success && ($0.error!.contains("stack overflow") || $0.error!.contains("memory limit")) }),
        HostileCase(description: "coroutine recursion", body: "local function f() return coroutine.wrap(f)() end f()", expectedError: nil, check: { !$0.success && ($0.error!.contains("C stack overflow") || $0.error!.contains("memory limit")) }),
        HostileCase(description: "coroutine bomb", body: "local t = {} while true do t[#t+1] = coroutine.create(function() end) end", expectedError: "memory limit 8 MiB exceeded"),
        HostileCase(description: "busy coroutine", body: "local co = coroutine.wrap(function() while true do end end) co()", expectedError: "instruction limit"),
        HostileCase(description: "os.exit", body: "os.exit(1)", expectedError: "field 'exit'"),
        HostileCase(description: "os.execute", body: "os.execute('touch /tmp/pwned')", expectedError: "field 'execute'"),
        HostileCase(description: "os.remove", body: "os.remove('/tmp/x')", expectedError: "field 'remove'"),
        HostileCase(description: "io.popen", body: "io.popen('id')", expectedError: "global 'io'"),
        HostileCase(description: "require io", body: "require('io')", expectedError: "module 'io' not found"),
        HostileCase(description: "dofile", body: "dofile('/etc/passwd')", expectedError: "global 'dofile'"),
        HostileCase(description: "load of bytecode", body: "local f, err = load(string.char(27) .. 'Lua' .. string.char(84, 0)) assert(f, err)", expectedError: "attempt to load a binary chunk"),
        HostileCase(description: "string.dump", body: "string.dump(function() end)", expectedError: "field 'dump'"),
        HostileCase(description: "dump through the string metatable", body: "local d = ('x').dump d(function() end)", expectedError: "local 'd'"),
        HostileCase(description: "debug library", body: "debug.sethook()", expectedError: "global 'debug'"),
        HostileCase(description: "string metatable", body: "getmetatable('').__index.upper = nil", expectedError: "attempt to index a boolean value"),
        HostileCase(description: "__gc finalizer", body: "setmetatable({}, { __gc = function() while true do end end })", expectedError: "__gc metamethods are not available"),
        HostileCase(description: "collectgarbage stop", body: "collectgarbage('stop')", expectedError: "collectgarbage('stop') is not available"),
        HostileCase(description: "runaway __tostring", body: "print(setmetatable({}, { __tostring = function() while true do end end }))", expectedError: "instruction limit"),
        HostileCase(description: "error object is a table", body: "error({ code = 42 })", expectedError: "(error object is a table)"),
        HostileCase(description: "error table with message", body: "error({ message = 'structured failure' })", expectedError: "structured failure"),
        HostileCase(description: "error table with evil __tostring", body: "error(setmetatable({}, { __tostring = function() while true do end end }))", expectedError: "(error object is a table)"),
        HostileCase(description: "yield across pcall", body: "pcall(coroutine.yield)", expectedError: "coroutine.yield() was called outside of a coroutine"),
        HostileCase(description: "bare yield", body: "coroutine.yield(1, 2, 3)", expectedError: "coroutine.yield() was called outside of a coroutine"),
        HostileCase(description: "sleep inside a coroutine", body: "coroutine.wrap(function() sleep(1) end)()", expectedError: "can only be called from the hook itself"),
        HostileCase(description: "sleep past the timeout", body: "sleep(60)", expectedError: "timeout after 1s", timeout: 1),
        HostileCase(description: "json of a cycle", body: "local t = {} t.t = t require('json').encode(t)", expectedError: "cannot encode a table that contains itself"),
        HostileCase(description: "globals through load", body: "load('x = 1')() assert(x == 1) error('local only')", expectedError: "local only"),
        HostileCase(description: "library mutation", body: "string.format = nil", expectedError: "read-only 'string' library"),
        HostileCase(description: "library rawset", body: "rawset(string, 'format', nil)", expectedError: "read-only library table"),
        HostileCase(description: "environment metatable", body: "setmetatable(_G, {})", expectedError: "protected metatable"),
        HostileCase(description: "huge output", body: "for i = 1, 100000 do print(string.rep('y', 200)) end return true", expectedError: nil, check: { $0.success && $0.output.utf8.count < 70_000 && $0.output.contains("[output truncated") }),
        // Issue 9: library calls that ran past every limit inside C or Swift code.
        HostileCase(description: "catastrophic string.find", body: #"string.find(string.rep("a", 50000), string.rep("a-", 30) .. "b")"#, expectedError: "(in string.find)"),
        HostileCase(description: "catastrophic string.match", body: #"string.match(string.rep("a", 50000), string.rep("a*", 30) .. "b")"#, expectedError: "(in string.match)"),
        HostileCase(description: "catastrophic string.gsub", body: #"string.gsub(string.rep("a", 50000), string.rep("a-", 30) .. "b", "")"#, expectedError: "(in string.gsub)"),
        HostileCase(description: "catastrophic string.gmatch", body: #"for _ in string.gmatch(string.rep("a", 50000), string.rep("a-", 30) .. "b") do end"#, expectedError: "(in string.gmatch)"),
        HostileCase(description: "catastrophic match inside pcall", body: #"while true do pcall(string.find, string.rep("a", 50000), string.rep("a-", 30) .. "b") end"#, expectedError: "instruction limit"),
        HostileCase(description: "quadratic plain find", body: #"local s = string.rep("a", 2000000) for i = 1, 1e9 do string.find(s, string.rep("a", 50000) .. "b", 1, true) end"#, expectedError: "instruction limit"),
        HostileCase(description: "pattern recursion", body: #"string.match(string.rep("a", 300), string.rep("a?", 300))"#, expectedError: "pattern too complex"),
        HostileCase(description: "too many captures", body: #"string.find("x", string.rep("(", 40) .. "x" .. string.rep(")", 40))"#, expectedError: "too many captures"),
        HostileCase(description: "table.move over 2^62 empty slots", body: "table.move({}, 1, math.maxinteger - 1, 1, {})", expectedError: "instruction limit"),
        HostileCase(description: "table.insert trusting a lying __len", body: "table.insert(setmetatable({}, { __len = function() return 1e15 end }), 1, 'x')", expectedError: "instruction limit"),
        HostileCase(description: "table.remove trusting a lying __len", body: "table.remove(setmetatable({}, { __len = function() return 1e15 end }), 1)", expectedError: "instruction limit"),
        HostileCase(description: "template sections 30 deep", body: #"require("template").render(string.rep("{{#a}}", 30) .. "x" .. string.rep("{{/a}}", 30), { a = {1,2,3,4,5,6,7,8,9,10} })"#, expectedError: "(in template.render)", timeout: 2),
        HostileCase(description: "template output bomb", body: #"require("template").render("{{#a}}{{#a}}{{#a}}{{{big}}}{{/a}}{{/a}}{{/a}}", { big = string.rep("x", 100000), a = {1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20} })"#, expectedError: "(in template.render)", timeout: 2),
        HostileCase(description: "template nesting too deep", body: #"require("template").render(string.rep("{{#a}}", 200) .. string.rep("{{/a}}", 200), {})"#, expectedError: "nested deeper than 32"),
        HostileCase(description: "YAML alias bomb", body: #"""
            local y = "l0: &l0 [x, x, x, x, x, x, x, x, x]\n"
            for i = 1, 8 do y = y .. "l" .. i .. ": &l" .. i .. " [" .. string.rep("*l" .. (i - 1) .. ", ", 8) .. "*l" .. (i - 1) .. "]\n" end
            require("yaml").decode(y)
            """#, expectedError: "(in yaml.decode)", timeout: 2),
        HostileCase(description: "YAML nesting bomb", body: #"require("yaml").decode(string.rep("[", 100000))"#, expectedError: "yaml.decode:"),
        HostileCase(description: "json.encode of a table shared 2^40 times", body: "local t = {} for i = 1, 40 do t = { t, t } end require('json').encode(t)", expectedError: "(in json.encode)", timeout: 2),
        HostileCase(description: "json.decode that inflates", body: #"require("json").decode("[" .. string.rep("[],", 600000) .. "[]]")"#, expectedError: "(in json.decode)", timeout: 2),
        HostileCase(description: "event data shared 2^40 times", body: "local t = {} for i = 1, 40 do t = { a = t, b = t } end require('event').dispatch('x.bomb', { t = t })", expectedError: "(in event.dispatch)", timeout: 2),
        HostileCase(description: "log fields shared 2^40 times", body: "local t = {} for i = 1, 40 do t = { t, t } end require('log').info('x', { t = t })", expectedError: "(in log)", timeout: 2),
        HostileCase(description: "exec with a timeout of 1e300 s", body: "return true, require('exec').run({ 'echo', 'fine' }, { timeout = 1e300 }).stdout", expectedError: nil, check: { $0.success && $0.message == "fine\n" }),
        HostileCase(description: "http with a timeout of 1e300 s", body: "require('http').get('http://127.0.0.1:1/', { timeout = 1e300 })", expectedError: "connection refused"),
        HostileCase(description: "sleep(1e300)", body: "sleep(1e300)", expectedError: "timeout after 1s", timeout: 1),
        HostileCase(description: "file.read of /dev/zero", body: "require('file').read('/dev/zero')", expectedError: "is not a regular file"),
        HostileCase(description: "file.read of a pipe", body: "require('file').read('/proc/self/fd/0')", expectedError: "file.read"),
        HostileCase(description: "exec bypass through a shell line", body: "require('exec').run('echo hi; touch /tmp/sloth-hostile-pwned')", expectedError: "is a command line, which runs /bin/sh", metadata: "permissions = { exec = { 'echo' } },"),
        HostileCase(description: "exec of an impostor path", body: "require('exec').run({ '/tmp/no/such/echo' })", expectedError: "not found in PATH", metadata: "permissions = { exec = { 'echo' } },"),
        HostileCase(description: "dispatch flood", body: "for i = 1, 1e9 do require('event').dispatch('x.flood', { i = i }) end", expectedError: "this run has dispatched 20 events"),
    ]
}

@Suite struct HostileScriptTests {
    @Test func corpusIsContainedAndTheEngineKeepsServing() async throws {
        // A runtime of its own: hostile runs hold its threads up to their limits, which would
        // delay other suites' runs on the shared one.
        let runtime = LuaRuntime(threads: 2)
        defer { runtime.shutdown() }
        let h = try EngineHarness(runtime: runtime) { $0.maxDispatchesPerRun = 20 }
        let cases = HostileCase.all
        #expect(cases.count >= 60)
        for (i, c) in cases.enumerated() {
            _ = try await h.addHook(
                """
                return { name = "hostile_\(i)", event_type = "hostile.case_\(i)", timeout = \(c.timeout), max_attempts = 1,
                         memory_limit_mb = 8, max_instructions = 5000000, \(c.metadata)
                         execute = function(event) \(c.body) end }
                """, file: "hostile_\(i).lua")
        }
        _ = try await h.addHook(#"return { name = "canary", event_type = "canary.ping", execute = function(e) return true, "alive " .. e.data.n end }"#, file: "canary.lua")
        try await h.engine.start()

        var hostileIDs: [Int: String] = [:]
        var canaryIDs: [String] = []
        for i in cases.indices {
            hostileIDs[i] = try await h.engine.dispatch(NewEvent(type: "hostile.case_\(i)")).id
            canaryIDs.append(try await h.engine.dispatch(NewEvent(type: "canary.ping", data: .object(["n": .int(Int64(i))]))).id)
        }
        for (i, c) in cases.enumerated() {
            let id = hostileIDs[i]!
            let final = try await h.waitFinal(id)
            let runs = try await h.store.executions(eventID: id)
            #expect(runs.count == 1, "\(c): expected one recorded run, got \(runs.count)")
            guard let run = runs.first else { continue }
            if let expected = c.expectedError {
                #expect(final.status == .failed, "\(c): status \(final.status)")
                #expect(run.error?.contains(expected) == true, "\(c): error was \(run.error ?? "nil")")
            }
            #expect((run.error ?? "").utf8.count <= 4200, "\(c): error text is not bounded")
            if let check = c.check { #expect(check(run), "\(c): \(run.error ?? "ok") / \(run.output.prefix(80))") }
        }
        for id in canaryIDs {
            let final = try await h.waitFinal(id)
            #expect(final.status == .completed)
        }
        // A string-library mutation by one run is not seen by the next.
        _ = try await h.addHook(#"return { name = "vandal", event_type = "after.vandal", execute = function() _G.leak = 1; pcall(function() string.upper = nil end); getmetatable(_G).__index = {} end }"#, file: "v.lua")
        _ = try await h.addHook(#"return { name = "victim", event_type = "after.victim", execute = function() return true, string.upper("ok") .. tostring(leak) end }"#, file: "w.lua")
        try await h.engine.refreshHooks(force: true)
        let v = try await h.engine.dispatch(NewEvent(type: "after.vandal"))
        _ = try await h.waitFinal(v.id)
        let w = try await h.engine.dispatch(NewEvent(type: "after.victim"))
        #expect(try await h.waitFinal(w.id).status == .completed)
        _ = await h.engine.drain(grace: 5)
    }
}
