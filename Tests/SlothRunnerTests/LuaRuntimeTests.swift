import Foundation
import Synchronization
import Testing
@testable import SlothRunner

/// Shared helpers for running a hook source once.
enum LuaTestSupport {
    static let runtime = LuaRuntime(threads: 2)

    static func request(_ source: String, permissions: PermissionPolicy = .open) -> HookRunRequest {
        var r = HookRunRequest(
            hookID: "h", hookName: "test", source: source, sourceHash: String(source.hashValue), chunkName: "test.lua",
            event: .object(["id": .string("e1")]), eventStack: nil, chainDepth: 0,
            limits: HookLimits(timeoutMillis: 30_000, memoryBytes: 16 << 20, instructions: 50_000_000), dispatcher: nil)
        r.permissions = permissions
        return r
    }

    static func concurrently(_ n: Int, _ body: @escaping @Sendable (Int) async -> HookRunResult) async -> [HookRunResult] {
        await withTaskGroup(of: HookRunResult.self) { group in
            for i in 0..<n { group.addTask { await body(i) } }
            var all: [HookRunResult] = []
            for await r in group { all.append(r) }
            return all
        }
    }

    /// Whether every run was in flight at one moment: the latest start precedes the earliest end.
    static func allOverlap(_ results: [HookRunResult]) -> Bool {
        let latestStart = results.map(\.startedAt).max() ?? 0
        let earliestEnd = results.map { $0.startedAt + Double($0.durationMillis) / 1000 }.min() ?? 0
        return latestStart < earliestEnd
    }

    static func run(limits: HookLimits, _ source: String) async -> HookRunResult {
        await run(source, limits: limits)
    }

    static func run(
        _ source: String, event: JSONValue = .object(["id": .string("e1"), "type": .string("custom.test"), "data": .object([:])]),
        limits: HookLimits = HookLimits(timeoutMillis: 5_000, memoryBytes: 16 << 20, instructions: 50_000_000),
        dispatcher: (@Sendable (NewEvent) async -> Result<String, SlothError>)? = nil, chainDepth: Int = 0,
        permissions: PermissionPolicy = .open, on runtime: LuaRuntime = LuaTestSupport.runtime
    ) async -> HookRunResult {
        var request = HookRunRequest(
            hookID: "h1", hookName: "test", source: source, sourceHash: String(source.hashValue) + UUID().uuidString,
            chunkName: "test.lua", event: .value(event), eventStack: nil, chainDepth: chainDepth, limits: limits,
            maxOutputBytes: 4096, dispatcher: dispatcher)
        request.permissions = permissions
        return await runtime.run(request)
    }
}

@Suite struct LuaRuntimeTests {
    @Test func specContractReturnsOkAndMessage() async {
        let r = await LuaTestSupport.run("""
            local hook = { name = "x", event_type = "custom.test" }
            function hook.execute(event) return true, "saw " .. event.type end
            return hook
            """)
        #expect(r.success)
        #expect(r.message == "saw custom.test")
    }

    @Test func globalContractReadsGlobalEvent() async {
        let r = await LuaTestSupport.run("function on_event() print('id', event.id) return true end")
        #expect(r.success)
        #expect(r.output == "id\te1\n")
    }

    @Test func failureByReturnAndByError() async {
        let a = await LuaTestSupport.run("return { execute = function() return false, 'nope' end }")
        #expect(!a.success && a.message == "nope")
        let b = await LuaTestSupport.run("return { execute = function() error('boom') end }")
        #expect(!b.success)
        #expect(b.message == "test.lua:1: boom")
    }

    @Test func integersStayIntegers() async {
        let event = JSONValue.object(["id": .string("e"), "type": .string("t"), "data": .object(["n": .int(1 << 60), "f": .double(1.5)])])
        let r = await LuaTestSupport.run("""
            return { execute = function(e) return true, math.type(e.data.n) .. ' ' .. tostring(e.data.n) .. ' ' .. math.type(e.data.f) end }
            """, event: event)
        #expect(r.message == "integer 1152921504606846976 float")
    }

    @Test func freshEnvironmentPerRun() async {
        let src = "return { execute = function() local seen = leaked; leaked = true; return true, tostring(seen) end }"
        let a = await LuaTestSupport.run(src)
        let b = await LuaTestSupport.run(src)
        #expect(a.message == "nil")
        #expect(b.message == "nil")
    }

    /// Coroutines of finished runs are reused: runs that fail, error, or run out of memory in
    /// between must not leave anything behind for the next run on the same coroutine.
    /// Lua's small blocks come from a per-state pool (luashim.c). Tables and strings grow
    /// through every size class and across to malloc and back; blocks freed by one run are
    /// handed out to the next. Anything mixed up between blocks shows as wrong contents.
    @Test func smallBlockPoolKeepsContentsAcrossGrowthAndReuse() async {
        let src = """
            return { execute = function(e)
              local n, sum, parts = e.data.n, 0, {}
              for size = 1, 300 do                  -- strings of every length around the 256-byte edge
                parts[size] = string.rep(string.char(65 + size % 26), size + n)
              end
              local grown = {}
              for i = 1, 200 do grown[i] = i * n end  -- array part reallocated from tiny to > 256 bytes
              for i = 200, 1, -1 do grown[i] = nil end
              collectgarbage()                       -- shrinks it again and frees the strings' blocks
              for i = 1, 40 do grown["k" .. i] = { i, tostring(i), { n = i } } end
              for size = 1, 300 do sum = sum + #parts[size] + parts[size]:byte(size + n) end
              for i = 1, 40 do sum = sum + grown["k" .. i][3].n + #grown["k" .. i][2] end
              return true, tostring(sum)
            end }
            """
        for n in 0..<12 {
            let event = JSONValue.object(["id": .string("e\(n)"), "type": .string("custom.test"), "data": .object(["n": .int(Int64(n))])])
            let r = await LuaTestSupport.run(src, event: event)
            // Lengths 1...300 plus n each, the last byte of each, then the nested fields.
            var expected = 0
            for size in 1...300 { expected += size + n + 65 + size % 26 }
            for i in 1...40 { expected += i + String(i).count }
            #expect(r.success && r.message == String(expected), "run \(n): \(r.message ?? "-")")
        }
    }

    @Test func reusedCoroutinesStartClean() async {
        let src = """
            return { execute = function(e)
              local seen = leaked
              leaked = e.data.n
              if e.data.n % 3 == 1 then error("failed " .. e.data.n) end
              if e.data.n % 3 == 2 then local t = {} for i = 1, 1e9 do t[i] = string.rep("x", 64) .. i end end
              return true, tostring(seen) .. ":" .. e.data.n .. ":" .. e.id
            end }
            """
        for n in 0..<30 {
            let event = JSONValue.object(["id": .string("e\(n)"), "type": .string("custom.test"), "data": .object(["n": .int(Int64(n))])])
            // Generous time: under a loaded suite the memory bomb must end on memory, not the clock.
            let r = await LuaTestSupport.run(src, event: event, limits: HookLimits(timeoutMillis: 120_000, memoryBytes: 8 << 20, instructions: 2_000_000_000))
            switch n % 3 {
            case 0:
                #expect(r.success && r.message == "nil:\(n):e\(n)", "run \(n): \(r.message ?? "-")")
            case 1:
                #expect(!r.success && r.message?.hasSuffix("failed \(n)") == true, "run \(n): \(r.message ?? "-")")
            default:
                #expect(!r.success && r.message?.contains("memory limit") == true, "run \(n): \(r.message ?? "-")")
            }
        }
    }

    /// Two runs share a VM; the garbage one leaves before it sleeps is collected during the
    /// other's turn. That memory must not stay charged to the first run, or a hook using a
    /// fraction of its limit is killed after a few rounds.
    @Test func garbageCollectedDuringAnotherRunIsNotChargedTwice() async {
        let runtime = LuaRuntime(threads: 1)
        defer { runtime.shutdown() }
        func request(_ name: String, _ source: String) -> HookRunRequest {
            HookRunRequest(
                hookID: name, hookName: name, source: source, sourceHash: name, chunkName: "\(name).lua",
                event: .object(["id": .string(name)]), eventStack: nil, chainDepth: 0,
                limits: HookLimits(timeoutMillis: 60_000, memoryBytes: 8 << 20, instructions: 10_000_000_000), dispatcher: nil)
        }
        let churner = """
            return { execute = function()
              for round = 1, 12 do
                local t = {}
                for j = 1, 2000 do t[j] = string.rep("a", 1000) .. j end
                t = nil
                sleep(0.01)
              end
              return true, "done"
            end }
            """
        let collector = "return { execute = function() for i = 1, 100 do collectgarbage('collect') sleep(0.002) end return true end }"
        async let churned = runtime.run(request("churner", churner))
        async let collected = runtime.run(request("collector", collector))
        let (a, b) = await (churned, collected)
        #expect(b.success)
        #expect(a.success && a.message == "done", "the churner was stopped: \(a.message ?? "-")")
        #expect(a.usage.peakMemoryBytes < 8 << 20)
    }

    /// Runs `source` (limit `memory`) while another run of the same Lua state holds `strings`
    /// strings of ~100 bytes: the holder finishes a collection cycle and then waits in
    /// `event.dispatch` until the run is over, so the shared collector's next cycle waits for the
    /// heap to double, and garbage the run makes stays until something forces a collection.
    static func runBesideHolder(_ source: String, memory: Int, holding strings: Int) async -> (run: HookRunResult, holder: HookRunResult) {
        let runtime = LuaRuntime(threads: 1)
        defer { runtime.shutdown() }
        let (holding, holdingSink) = AsyncStream<Void>.makeStream()
        let (release, releaseSink) = AsyncStream<Void>.makeStream()
        let dispatcher: @Sendable (NewEvent) async -> Result<String, SlothError> = { _ in
            holdingSink.yield()
            for await _ in release { break }
            return .success("held")
        }
        func request(_ name: String, _ source: String, memory: Int) -> HookRunRequest {
            HookRunRequest(
                hookID: name, hookName: name, source: source, sourceHash: name, chunkName: "\(name).lua",
                event: .object(["id": .string(name)]), eventStack: nil, chainDepth: 0,
                limits: HookLimits(timeoutMillis: 120_000, memoryBytes: memory, instructions: 10_000_000_000), dispatcher: dispatcher)
        }
        let holder = """
            return { execute = function()
              local big = {} for i = 1, \(strings) do big[i] = string.rep('a', 100) .. i end
              collectgarbage('collect')
              require('event').dispatch('custom.holding', {})
              return true, tostring(#big)
            end }
            """
        async let held = runtime.run(request("holder", holder, memory: 48 << 20))
        for await _ in holding { break }
        let result = await runtime.run(request("run", source, memory: memory))
        releaseSink.yield()
        return (result, await held)
    }

    /// Another run holds several MiB; this one, with a small limit, makes lots of short-lived
    /// garbage. Reaching its limit on garbage alone, it must get a collection, not a kill.
    @Test func garbageAloneDoesNotTripTheMemoryLimit() async {
        // Tables, not library buffers: Lua retries its own allocations after an emergency
        // collection, while buffers of string.rep and friends call the allocator directly.
        let churner = "return { execute = function() for i = 1, 20000 do local t = {} for j = 1, 100 do t[j] = j end end return true, 'ok' end }"
        let (churned, held) = await Self.runBesideHolder(churner, memory: 4 << 20, holding: 60000)
        #expect(held.success && held.message == "60000", "holder: \(held.message ?? "-")")
        #expect(churned.success && churned.message == "ok", "churner: \(churned.message ?? "-")")
    }

    /// As above, but the garbage was counted in an earlier turn of the run (before it slept),
    /// and what it asks for next is one block larger than what is left of its budget, though
    /// well within the budget. A collection makes room, so it must get one — the "more than the
    /// whole budget at once" kill is for blocks larger than the budget itself.
    @Test func garbageFromAnEarlierTurnDoesNotTripALargeAllocation() async {
        // 0.4 MB kept, ~3.3 MB of garbage, a sleep (the turn ends and the garbage is counted),
        // then one 800 KB string (a concatenation: one block, which Lua retries after a
        // collection): more than the ~0.5 MB left of 4 MiB, far less than 4 MiB.
        let grower = """
            return { execute = function()
              local half = string.rep('x', 400000)
              for i = 1, 3000 do local t = {} for j = 1, 60 do t[j] = j end end
              sleep(0.001)
              local whole = half .. half
              local n = 0 for i = 1, 10000 do n = n + 1 end  -- a kill would land here
              return true, tostring(#whole)
            end }
            """
        let (grown, held) = await Self.runBesideHolder(grower, memory: 4 << 20, holding: 70000)
        #expect(held.success && held.message == "70000", "holder: \(held.message ?? "-")")
        #expect(grown.success && grown.message == "800000", "grower: \(grown.message ?? "-")")
    }

    @Test func libraryTablesAreReadOnly() async {
        for attempt in ["string.upper = nil", "rawset(string, 'upper', nil)", "table.insert(math, 1)", "os.time = nil"] {
            let r = await LuaTestSupport.run("return { execute = function() \(attempt) end }")
            #expect(!r.success, "\(attempt) was allowed")
            #expect(r.message?.contains("read-only") == true, "\(attempt): \(r.message ?? "")")
        }
        let c = await LuaTestSupport.run("return { execute = function() local n = 0 for k in pairs(string) do n = n + 1 end return true, string.upper('x') .. n end }")
        #expect(c.success && c.message?.hasPrefix("X") == true && c.message != "X0")
    }

    /// On one executor thread, 50 hooks sleeping 2 s are all in flight at once: the last starts
    /// before the first ends. If a sleep held the thread they would run one after another.
    @Test func sleepSuspendsWithoutBlocking() async {
        let runtime = LuaRuntime(threads: 1)
        defer { runtime.shutdown() }
        let results = await LuaTestSupport.concurrently(50) { _ in
            await runtime.run(LuaTestSupport.request("return { execute = function() sleep(2) return true end }"))
        }
        #expect(results.allSatisfy { $0.success })
        #expect(LuaTestSupport.allOverlap(results))
    }

    @Test func jsonRoundTrip() async {
        let r = await LuaTestSupport.run("""
            local json = require("json")
            return { execute = function()
              local t = json.decode('{"a":[1,2,{"b":null}],"big":9007199254740993}')
              return true, json.encode({ a = t.a, big = t.big, s = "q\\"" })
            end }
            """)
        #expect(r.success)
        #expect(r.message == #"{"a":[1,2,{}],"big":9007199254740993,"s":"q\""}"#)
    }
}

@Suite struct PreemptionTests {
    /// One executor thread, several CPU-bound hooks started first: a short hook started after
    /// them still finishes first, because the count hook yields busy hooks after their slice.
    @Test func cpuBoundHooksDoNotStarveOthers() async {
        let runtime = LuaRuntime(threads: 1, timeSlice: 0.005)
        defer { runtime.shutdown() }
        let order = OrderLog()
        func request(_ name: String, _ source: String) -> HookRunRequest {
            HookRunRequest(
                hookID: name, hookName: name, source: source, sourceHash: name, chunkName: "\(name).lua",
                event: .object(["id": .string("e")]), eventStack: nil, chainDepth: 0,
                limits: HookLimits(timeoutMillis: 120_000, memoryBytes: 16 << 20, instructions: 10_000_000_000), dispatcher: nil)
        }
        let busy = "return { execute = function() local s = 0 for i = 1, 1e8 do s = s + i end return true end }"
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<3 {
                group.addTask {
                    let r = await runtime.run(request("busy\(i)", busy))
                    order.add("busy", ok: r.success)
                }
            }
            group.addTask {
                // Queued behind the busy hooks on the single executor thread.
                try? await Task.sleep(nanoseconds: 50_000_000)
                let r = await runtime.run(request("short", "return { execute = function() return true end }"))
                order.add("short", ok: r.success)
            }
        }
        #expect(order.names.first == "short", "finishing order: \(order.names)")
        #expect(order.allOK)
    }
}

final class OrderLog: Sendable {
    private let state = Mutex<(names: [String], ok: Bool)>(([], true))
    func add(_ name: String, ok: Bool) { state.withLock { $0.names.append(name); $0.ok = $0.ok && ok } }
    var names: [String] { state.withLock { $0.names } }
    var allOK: Bool { state.withLock { $0.ok } }
}
