import Foundation
import Synchronization
import Testing
@testable import SlothRunner

/// Library calls that used to run past every limit inside C or Swift code, where the count
/// hook and the allocator cannot see them. Each must now end as a kill naming the call, within
/// the run's timeout plus a second, and the thread must serve other hooks afterwards.
struct RunawayCall: Sendable, CustomStringConvertible {
    let description: String
    let body: String
    /// Expected in the error: the limit (or only the call, where either the memory or the time
    /// limit may come first) and the call it tripped in.
    let expected: [String]

    static let timeoutMillis: Int64 = 500
    static let memoryBytes = 8 << 20

    static let all: [RunawayCall] = [
        RunawayCall(description: "catastrophic string.find", body: #"string.find(string.rep("a", 50000), string.rep("a-", 30) .. "b")"#, expected: ["timeout after 0.5s", "in string.find"]),
        RunawayCall(description: "catastrophic string.match", body: #"string.match(string.rep("a", 50000), string.rep("a*", 30) .. "b")"#, expected: ["timeout after 0.5s", "in string.match"]),
        RunawayCall(description: "catastrophic string.gsub", body: #"string.gsub(string.rep("a", 50000), string.rep("a-", 30) .. "b", "x")"#, expected: ["timeout after 0.5s", "in string.gsub"]),
        RunawayCall(description: "catastrophic string.gmatch", body: #"for _ in string.gmatch(string.rep("a", 50000), string.rep("a-", 30) .. "b") do end"#, expected: ["timeout after 0.5s", "in string.gmatch"]),
        RunawayCall(description: "quadratic plain find", body: #"local s = string.rep("a", 4000000) for i = 1, 1e9 do string.find(s, string.rep("a", 100000) .. "b", 1, true) end"#, expected: ["timeout after 0.5s"]),
        RunawayCall(description: "table.move over an empty range of 2^62", body: "table.move({}, 1, math.maxinteger - 1, 1, {})", expected: ["timeout after 0.5s"]),
        RunawayCall(description: "table.insert trusting a lying __len", body: "table.insert(setmetatable({}, { __len = function() return 1e15 end }), 1, 'x')", expected: ["timeout after 0.5s"]),
        RunawayCall(description: "table.remove trusting a lying __len", body: "table.remove(setmetatable({}, { __len = function() return 1e15 end }), 1)", expected: ["timeout after 0.5s"]),
        RunawayCall(description: "template sections 30 deep over 10 items", body: #"require("template").render(string.rep("{{#a}}", 30) .. "x" .. string.rep("{{/a}}", 30), { a = {1,2,3,4,5,6,7,8,9,10} })"#, expected: ["in template.render"]),
        RunawayCall(description: "template output growing past memory", body: #"require("template").render("{{#a}}{{#a}}{{#a}}{{{big}}}{{/a}}{{/a}}{{/a}}", { big = string.rep("x", 100000), a = {1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20} })"#, expected: ["in template.render"]),
        RunawayCall(description: "YAML alias bomb", body: #"""
            local y = "l0: &l0 [x, x, x, x, x, x, x, x, x]\n"
            for i = 1, 8 do y = y .. "l" .. i .. ": &l" .. i .. " [" .. string.rep("*l" .. (i - 1) .. ", ", 8) .. "*l" .. (i - 1) .. "]\n" end
            require("yaml").decode(y)
            """#, expected: ["in yaml.decode"]),
        RunawayCall(description: "json.encode of a table shared 2^40 times", body: "local t = {} for i = 1, 40 do t = { t, t } end require('json').encode(t)", expected: ["in json.encode"]),
        RunawayCall(description: "json.decode of a document that inflates", body: #"require("json").decode("[" .. string.rep("[],", 600000) .. "[]]")"#, expected: ["in json.decode"]),
        RunawayCall(description: "event data shared 2^40 times", body: "local t = {} for i = 1, 40 do t = { a = t, b = t } end require('yaml').encode(t)", expected: ["in yaml.encode"]),
    ]
}

/// Serialized: each case is measured against its own limits, not against the other cases'
/// CPU use on two cores.
@Suite(.serialized) struct RunawayLibraryCallTests {
    /// Each case on a runtime of its own: a case holds an executor thread for up to its
    /// timeout, and what is measured is how that call is stopped, not how runs queue behind it.
    static func run(_ source: String) async -> HookRunResult {
        let runtime = LuaRuntime(threads: 1)
        defer { runtime.shutdown() }
        return await runtime.run(HookRunRequest(
            hookID: "h", hookName: "runaway", source: source, sourceHash: UUID().uuidString, chunkName: "runaway.lua",
            event: .object(["id": .string("e")]), eventStack: nil, chainDepth: 0, limits: limits, dispatcher: nil))
    }

    static let limits = HookLimits(timeoutMillis: RunawayCall.timeoutMillis, memoryBytes: RunawayCall.memoryBytes, instructions: 1_000_000_000_000)

    @Test(arguments: RunawayCall.all)
    func runawayCallIsStoppedAtTheRunsLimits(_ c: RunawayCall) async {
        let r = await Self.run("return { execute = function() \(c.body) end }")
        #expect(!r.success && r.killed, "\(c): \(r.message ?? "ok")")
        // Conversions charge memory and time: which one runs out first depends on how fast
        // the machine is at the moment; either is the run's own limit.
        let limit = r.message?.hasPrefix("memory limit 8 MiB exceeded") == true || r.message?.hasPrefix("timeout after 0.5s") == true
            || r.message?.hasPrefix("instruction limit") == true
        #expect(limit, "\(c): \(r.message ?? "ok")")
        for part in c.expected { #expect(r.message?.contains(part) == true, "\(c): \(r.message ?? "ok")") }
        #expect(r.durationMillis <= RunawayCall.timeoutMillis + 1000, "\(c) ran \(r.durationMillis) ms")
    }

    /// Limits for the semantic checks, which run on the shared runtime (they hog nothing).
    static let roomy = HookLimits(timeoutMillis: 60_000, memoryBytes: 64 << 20, instructions: 1_000_000_000_000)

    @Test func boundedMatcherKeepsLuaSemantics() async {
        let r = await LuaTestSupport.run(limits: Self.roomy, #"""
            return { execute = function()
              local function eq(a, b, what) if a ~= b then error(what .. ": got " .. tostring(a) .. ", want " .. tostring(b), 2) end end
              eq(("hello world"):gsub("o", "0"), "hell0 w0rld", "gsub")
              eq(select(2, ("abc"):gsub("", "-")), 4, "empty matches")
              eq(("abc"):gsub("", "-"), "-a-b-c-", "empty match text")
              eq(("x=1, y=2"):gsub("(%w+)=(%w+)", "%2=%1"), "1=x, 2=y", "captures in replacement")
              local t = {} for k, v in string.gmatch("a=1, b=2", "(%w+)=(%w+)") do t[#t + 1] = k .. v end
              eq(table.concat(t, ","), "a1,b2", "gmatch")
              eq(select(3, string.find("THE (quick) fox", "%((%a+)%)")), "quick", "find capture")
              eq(string.match("  trim  ", "^%s*(.-)%s*$"), "trim", "lazy")
              eq(string.match("f[[x]]y", "%b[]"), "[[x]]", "balance")
              eq(string.find("THE END", "%f[%a]%a+", 4), 5, "frontier")
              eq(string.match("hello", "()ll()"), 3, "position capture")
              eq(string.gsub("abc", "%w", "%0%0"), "aabbcc", "%0")
              eq(string.gsub("hello world", "%w+", { hello = "HI" }), "HI world", "table replacement")
              eq(string.gsub("abc", "b", function() return nil end), "abc", "function keeps")
              eq(string.gsub("abc", "b", "%%"), "a%c", "escaped percent")
              eq(string.gsub("abc", "(b)", "[%1]", 0), "abc", "max 0")
              eq(string.gsub("aaa", "a", "b", 2), "bba", "max 2")
              eq(string.find("a.b", ".", 1, true), 2, "plain")
              eq(string.find("abc", "b", -1), nil, "negative init")
              eq(string.find("", ""), 1, "empty")
              eq(string.find("abc", "", 10), nil, "init past the end")
              eq(string.match("key = value", "(%w+)%s*=%s*(%w+)"), "key", "classes")
              eq(string.match("[a]", "[]]"), "]", "] first in a set")
              eq(string.match("a-b", "[%-]"), "-", "escaped dash in a set")
              eq(string.match("x5y", "[^%a]"), "5", "negated set")
              eq(string.match("abab", "(ab)%1"), "ab", "back reference")
              eq(string.match("end$", "d%$$"), "d$", "literal dollar")
              eq(string.match("a$b", "a$b"), "a$b", "dollar inside")
              eq(string.gsub("one two", "(%w+) (%w+)", "%2 %1"), "two one", "swap")
              eq(string.gsub("x", "()", "%1"), "1x2", "position in replacement")
              for _, bad in ipairs({ "[a", "%", "(", "%b", "%f", "%1" }) do
                if pcall(string.find, "abc", bad) then error("pattern " .. bad .. " was accepted", 1) end
              end
              local ok, err = pcall(string.gsub, "x", "x", "%2")
              assert(not ok and err:find("invalid capture index %%2"), err)
              ok, err = pcall(string.rep)
              assert(not ok)
              return true, "ok"
            end }
            """#)
        #expect(r.success, "\(r.message ?? "")")
    }

    @Test func tableFunctionsKeepTheirSemantics() async {
        let r = await LuaTestSupport.run(limits: Self.roomy, #"""
            return { execute = function()
              local t = { 1, 2, 3 }
              table.insert(t, 4) table.insert(t, 1, 0)
              assert(table.concat(t, ",") == "0,1,2,3,4")
              assert(table.remove(t, 1) == 0 and table.remove(t) == 4 and #t == 3)
              local big = {} for i = 1, 10000 do big[i] = i end
              table.move(big, 1, 10000, 5001)
              assert(big[15000] == 10000 and big[5001] == 1 and big[5000] == 5000)
              local dst = table.move({ 1, 2, 3 }, 1, 3, 2, {})
              assert(dst[2] == 1 and dst[4] == 3 and dst[1] == nil)
              -- A proxy whose metamethods report honestly takes the Lua path and still works.
              local store = { "a", "b" }
              local proxy = setmetatable({}, { __index = store, __newindex = store, __len = function() return #store end })
              table.insert(proxy, 2, "x")
              assert(table.concat(store, "") == "axb")
              assert(table.remove(proxy) == "b" and #store == 2)
              local n = {} for i = 1, 70000 do n[i] = 70001 - i end
              table.sort(n)
              assert(n[1] == 1 and n[70000] == 70000)
              assert(not pcall(table.insert, t, 10, "x"))
              assert(not pcall(table.insert, t, 1, 2, 3))
              assert(not pcall(table.move, {}, 1, 1e20, 1))
              return true, "ok"
            end }
            """#)
        #expect(r.success, "\(r.message ?? "")")
    }

    @Test func templatesRenderTheMustacheSpec() async {
        let r = await LuaTestSupport.run(limits: Self.roomy, #"""
            return { execute = function()
              local t = require("template")
              local function eq(a, b) if a ~= b then error(string.format("%q ~= %q", a, b), 2) end end
              eq(t.render("{{#items}}\n- {{name}}\n{{/items}}\n", { items = { { name = "a" }, { name = "b" } } }), "- a\n- b\n")
              eq(t.render("{{^none}}empty{{/none}}", {}), "empty")
              eq(t.render("{{#list}}x{{/list}}", { list = {} }), "")
              eq(t.render("{{& raw}} {{{raw}}} {{raw}}", { raw = "<a href='x'>" }), "<a href='x'> <a href='x'> &lt;a href=&#39;x&#39;&gt;")
              eq(t.render("{{=<% %>=}}<% a %> {{a}}", { a = 1 }), "1 {{a}}")
              eq(t.render("{{! comment }}ok"), "ok")
              eq(t.render("{{#a}}{{b}}{{/a}}", { a = { b = "inner" }, b = "outer" }), "inner")
              eq(t.render("{{#a}}{{c}}{{/a}}", { a = { b = 1 }, c = "outer" }), "outer")
              eq(t.render("{{a.b.c}}", { a = { b = { c = 3.5 } } }), "3.5")
              eq(t.render("{{n}} {{f}} {{yes}}", { n = 42, f = false, yes = true }), "42 false true")
              eq(t.render("  {{#a}}\n  x\n  {{/a}}\n", { a = true }), "  x\n")
              local ok, err = pcall(t.render, "{{#a}}{{/b}}", {})
              assert(not ok and err:find("invalid template at line 1"), err)
              ok, err = pcall(t.render, "{{> partial}}", {})
              assert(not ok and err:find("partials"), err)
              ok, err = pcall(t.render, string.rep("{{#a}}", 40) .. string.rep("{{/a}}", 40), {})
              assert(not ok and err:find("nested deeper"), err)
              return true, "ok"
            end }
            """#)
        #expect(r.success, "\(r.message ?? "")")
    }

    @Test func hugeTimeoutsDoNotCrashTheEngine() async {
        // A timeout of 1e300 seconds used to overflow the nanosecond conversion and trap.
        let r = await LuaTestSupport.run("""
            return { execute = function()
              local r = require("exec").run({ "echo", "hi" }, { timeout = 1e300 })
              assert(r.stdout == "hi\\n", r.stdout)
              local ok, err = pcall(require("http").get, "http://127.0.0.1:1/", { timeout = 1e300 })
              assert(not ok, "the request succeeded")
              sleep(1e-3)
              return true, "ok"
            end }
            """, limits: HookLimits(timeoutMillis: 20_000, memoryBytes: 8 << 20, instructions: 1_000_000_000))
        #expect(r.success, "\(r.message ?? "")")
        let long = await LuaTestSupport.run("return { execute = function() sleep(1e300) end }", limits: HookLimits(timeoutMillis: 300, memoryBytes: 8 << 20, instructions: 1_000_000))
        #expect(long.message == "timeout after 0.3s", "\(long.message ?? "")")
    }
}

/// The second line of defence: a thread stuck in a call that escaped its bounds is replaced,
/// its runs answered, and the runtime keeps serving.
@Suite struct WatchdogTests {
    func request(
        _ source: String, timeoutMillis: Int64, dispatcher: (@Sendable (NewEvent) async -> Result<String, SlothError>)? = nil
    ) -> HookRunRequest {
        HookRunRequest(
            hookID: "h", hookName: "stuck_hook", source: source, sourceHash: UUID().uuidString, chunkName: "stuck.lua",
            event: .object(["id": .string("e")]), eventStack: nil, chainDepth: 0,
            limits: HookLimits(timeoutMillis: timeoutMillis, memoryBytes: 8 << 20, instructions: 1_000_000_000), dispatcher: dispatcher)
    }

    @Test func aStuckThreadIsReplacedAndItsRunsAnswered() async throws {
        let reports = Mutex<[LuaRuntime.StuckThread]>([])
        let runtime = LuaRuntime(threads: 1, timeSlice: 0.01, stuckGrace: 0.3, onStuckThread: { r in reports.withLock { $0.append(r) } }, testing: true)
        // A run suspended on the thread first (it says so through event.dispatch), then one
        // that blocks the thread in a host call.
        let (began, beganSignal) = AsyncStream<Void>.makeStream()
        let sleeper = Task {
            let result = await runtime.run(request("return { execute = function() require('event').dispatch('x.began') sleep(30) end }", timeoutMillis: 60_000) { _ in
                beganSignal.yield()
                return .success("id")
            })
            beganSignal.finish()
            return result
        }
        for await _ in began { break }
        let started = monotonicSeconds()
        let stuck = Task { await runtime.run(request("return { execute = function() require('testing').block(30) end }", timeoutMillis: 500)) }
        // While the only regular thread is blocked, an overflow executor serves new runs.
        let canary = await runtime.run(request("return { execute = function() return true, 'alive' end }", timeoutMillis: 5000))
        #expect(canary.success && canary.message == "alive", "\(canary.message ?? "")")
        let s = await stuck.value
        #expect(!s.success && s.killed)
        #expect(s.message == "timeout after 0.5s (stuck in testing.block)", "\(s.message ?? "")")
        // Answered within its timeout plus the grace (and a second for a loaded machine).
        #expect(s.durationMillis < 500 + 300 + 1000, "the stuck run was answered after \(s.durationMillis) ms")
        _ = started
        let z = await sleeper.value
        #expect(!z.success && z.message?.contains("the Lua thread running this hook was replaced after hook stuck_hook got stuck in testing.block") == true, "\(z.message ?? "")")
        let after = await runtime.run(request("return { execute = function() sleep(0.01) return true, 'after' end }", timeoutMillis: 5000))
        #expect(after.success && after.message == "after", "\(after.message ?? "")")
        #expect(runtime.stuckThreads == 1)
        #expect(reports.withLock { $0.first?.call } == "testing.block")
        // Shutdown does not wait for the thread left behind.
        let shutdownStarted = monotonicSeconds()
        runtime.shutdown()
        #expect(monotonicSeconds() - shutdownStarted < 2)
    }

    @Test func shutdownGivesUpOnAThreadStuckWithAFarDeadline() async {
        let runtime = LuaRuntime(threads: 1, timeSlice: 0.01, stuckGrace: 0.3, onStuckThread: nil, testing: true)
        let stuck = Task { await runtime.run(request("return { execute = function() require('testing').block(20) end }", timeoutMillis: 3_600_000)) }
        try? await eventually { runtime.hoggedExecutors == 1 }
        let started = monotonicSeconds()
        runtime.shutdown()
        #expect(monotonicSeconds() - started < 2, "shutdown waited for the stuck thread")
        let r = await stuck.value
        #expect(!r.success && r.message?.contains("stuck in testing.block") == true, "\(r.message ?? "")")
    }
}

/// Polls an observable condition (a state, not a time): 5 ms between looks, 10 s at most.
func eventually(_ condition: () -> Bool) async throws {
    let deadline = monotonicSeconds() + 10
    while !condition() {
        if monotonicSeconds() > deadline { throw SlothError.runtime("condition not reached within 10 s") }
        try await Task.sleep(nanoseconds: 5_000_000)
    }
}
