import Foundation
import Testing
@testable import SlothRunner
import SlothTestSupport

@Suite struct HTTPModuleTests {
    /// Its own Lua threads: the shared test runtime's are kept busy by the CPU-bound hostile
    /// cases of other suites, and a resumed request would wait behind them.
    static let runtime = LuaRuntime(threads: 2)
    static let server = try! TestHTTPServer()

    func run(_ body: String, permissions: PermissionPolicy = .open, timeoutMillis: Int64 = 10_000) async -> HookRunResult {
        await LuaTestSupport.run(
            "local http, json = require('http'), require('json') local base = '\(Self.server.base)' return { execute = function() \(body) end }",
            limits: HookLimits(timeoutMillis: timeoutMillis, memoryBytes: 64 << 20, instructions: 50_000_000), permissions: permissions, on: Self.runtime)
    }

    @Test func getPostAndJSON() async {
        var r = await run("local res = http.get(base .. '/ok') return true, res.status_code .. ' ' .. tostring(json.decode(res.body).ok) .. ' ' .. res.headers['content-type']")
        #expect(r.message == "200 true application/json", "\(r.message ?? "")")
        r = await run("local res = http.post(base .. '/echo', { json = { a = 1 }, headers = { ['X-Token'] = 't1' } }) local e = json.decode(res.body) return true, e.method .. e.body .. e.content_type .. e.token")
        #expect(r.message == #"POST{"a":1}application/jsont1"#, "\(r.message ?? "")")
        r = await run("local res = http.request{ method = 'PUT', url = base .. '/echo', body = 'raw' } return true, json.decode(res.body).method .. json.decode(res.body).body")
        #expect(r.message == "PUTraw")
        r = await run("local res = http.delete(base .. '/echo') return true, json.decode(res.body).method")
        #expect(r.message == "DELETE")
    }

    @Test func statusCodesAreResultsNotErrors() async {
        // What is checked is the answer, not the time: a generous limit. Under a full suite
        // with other builds and a browser running beside it, this run once took past 10 s
        // (two loopback GETs; not seen otherwise in 20+ suite runs) — noted, not explained.
        let r = await run("return true, http.get(base .. '/status/404').status_code .. ' ' .. http.get(base .. '/status/500').status_code", timeoutMillis: 60_000)
        #expect(r.message == "404 500")
    }

    @Test func failuresAreClearLuaErrors() async {
        var r = await run("http.get('http://127.0.0.1:1/x')")
        #expect(!r.success && r.message?.contains("connection refused") == true, "\(r.message ?? "")")
        r = await run("http.get(base .. '/slow/3000', { timeout = 0.3 })")
        #expect(!r.success && r.message?.contains("timed out after") == true, "\(r.message ?? "")")
        r = await run("http.get('ftp://example.com/x')")
        #expect(!r.success && r.message?.contains("http:// or https://") == true)
        r = await run("http.get(base .. '/redirect/9')")
        #expect(!r.success && r.message?.contains("too many redirects") == true, "\(r.message ?? "")")
        r = await run("http.get(base .. '/big/\(HTTPModule.maxResponseBytes + 10)')")
        #expect(!r.success && r.message?.contains("the limit is") == true, "\(r.message ?? "")")
    }

    /// A generous hook timeout: in the full suite this test starts while other suites' runaway
    /// hooks saturate both cores, and its hops then took up to 13 s (alone: 50 ms).
    @Test func redirectsAreFollowedWithinTheBound() async throws {
        let own = try TestHTTPServer()
        let started = monotonicSeconds()
        let r = await run("local res = http.get('\(own.base)/redirect/3') return true, res.status_code .. ' ' .. res.url", timeoutMillis: 40_000)
        #expect(r.message == "200 \(own.base)/ok", "\(r.message ?? "") after \(monotonicSeconds() - started) s")
    }

    @Test func hostPermissions() async {
        let allowed = PermissionPolicy(declared: HookPermissions(grants: [.http: ["127.0.0.1"]]), strict: false)
        var r = await run("return true, http.get(base .. '/ok').status_code", permissions: allowed)
        #expect(r.message == "200")
        let other = PermissionPolicy(declared: HookPermissions(grants: [.http: ["hooks.slack.com"]]), strict: false)
        r = await run("http.get(base .. '/ok')", permissions: other)
        #expect(!r.success && r.message?.contains("may not reach host '127.0.0.1'") == true, "\(r.message ?? "")")
    }

    /// On one executor thread, 100 hooks each waiting 2 s on the server are in flight at once.
    @Test func waitingHoldsNoThread() async {
        let runtime = LuaRuntime(threads: 1)
        defer { runtime.shutdown() }
        let source = "local http = require('http') return { execute = function() return http.get('\(Self.server.base)/slow/2000').status_code == 200 end }"
        let results = await LuaTestSupport.concurrently(100) { _ in await runtime.run(LuaTestSupport.request(source)) }
        #expect(results.allSatisfy { $0.success }, "\(results.compactMap(\.message).prefix(3))")
        #expect(LuaTestSupport.allOverlap(results))
    }
}
