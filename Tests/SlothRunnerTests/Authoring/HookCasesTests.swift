import Foundation
import Testing
@testable import SlothRunner

/// `hook test --cases`: every mock kind answering, and the differences a failing case reports.
@Suite struct HookCasesTests {
    static let hookSource = """
        local http = require("http")
        local exec = require("exec")
        local state = require("state")
        local secret = require("secret")
        local env = require("env")
        local file = require("file")
        local event = require("event")
        return { name = "everything", event_types = {"custom.*"},
          execute = function(e)
            local token = secret.get("api_token")
            local res = http.get("https://api.example.com/status")
            local posted = http.post("https://api.example.com/alerts", { json = { who = e.data.who } })
            local r = exec.run("uptime")
            local config = file.read("/etc/app.conf")
            file.write("/tmp/out.txt", "x")
            local n = state.incr("seen", 1)
            event.dispatch("custom.followup", { n = n })
            print(os.date("!%Y-%m-%d", os.time()), env.get("REGION"), token, res.json.healthy, posted.status_code, r.stdout, config)
            return true, "done " .. n
          end }
        """

    static func load(_ source: String = hookSource) async throws -> Hook {
        let dir = TempDir()
        return try await HookLoader.load(path: dir.file("h.lua", source), overrides: HookOverrides(), runtime: LuaTestSupport.runtime).hook
    }

    static let mocks = """
            mocks:
              http:
                - { method: GET, url: "https://api.example.com/status", json: { healthy: yes } }
                - { method: POST, url: "https://api.example.com/*", status: 201 }
              exec: [{ command: uptime, stdout: "up 3 days" }]
              state: { seen: 41 }
              secrets: { api_token: s3cr3t }
              env: { REGION: eu-west-1 }
              files: { /etc/app.conf: "mode=fast" }
              clock: "2026-12-01T10:00:00Z"
        """

    @Test func everyMockKindAnswersAndEveryExpectationHolds() async throws {
        let hook = try await Self.load()
        let cases = try HookCases.parse(text: """
            cases:
              - name: all of it
                event: { type: custom.alert, data: { who: ops } }
            \(Self.mocks)
                expect:
                  ok: true
                  message: done 42
                  output: "2026-12-01\\teu-west-1\\t***\\ttrue\\t201\\tup 3 days\\tmode=fast*"
                  effects: ["http POST https://api.example.com/alerts", "exec uptime", "file.write /tmp/out.txt", "state.incr seen", "event.dispatch custom.followup"]
                  dispatched: [{ type: custom.followup, data: { n: 42 } }]
                  state: { seen: 42, never: null }
            """, file: "c.yaml", defaultType: nil)
        let results = await HookCases.run(hook, cases: cases, runtime: LuaTestSupport.runtime, strictPermissions: false)
        #expect(results.count == 1)
        #expect(results[0].passed, "\(results[0].differences) output: \(results[0].outcome.result.output)")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/out.txt") || (try? String(contentsOfFile: "/tmp/out.txt", encoding: .utf8)) != "x")
    }

    @Test func aFailingCaseSaysEveryDifference() async throws {
        let hook = try await Self.load()
        let cases = try HookCases.parse(text: """
            cases:
              - name: wrong on purpose
                event: { type: custom.alert, data: { who: ops } }
            \(Self.mocks)
                expect:
                  ok: false
                  message: "done 41"
                  effects: ["exec uptime"]
                  dispatched: [{ type: custom.other }]
                  state: { seen: 1 }
            """, file: "c.yaml", defaultType: nil)
        let r = await HookCases.run(hook, cases: cases, runtime: LuaTestSupport.runtime, strictPermissions: false)[0]
        #expect(!r.passed)
        #expect(r.differences == [
            "expected failure, got success: done 42",
            "message: expected 'done 41', got 'done 42'",
            "effects[0]: expected 'exec uptime', got 'http POST https://api.example.com/alerts'",
            "effects: expected 1, got 5; not expected: 'exec uptime', 'file.write /tmp/out.txt', 'state.incr seen', 'event.dispatch custom.followup'",
            "dispatched[0]: expected type custom.other, got custom.followup",
            "state.seen: expected 1, got 42",
        ])
    }

    @Test func aCallNoMockAnswersFailsTheRun() async throws {
        let hook = try await Self.load()
        let cases = try HookCases.parse(text: """
            cases:
              - name: no http mock
                event: { type: custom.alert }
                mocks: { secrets: { api_token: t } }
            """, file: "c.yaml", defaultType: nil)
        let r = await HookCases.run(hook, cases: cases, runtime: LuaTestSupport.runtime, strictPermissions: false)[0]
        #expect(!r.passed)
        #expect(r.outcome.result.message?.contains("no mock answers GET https://api.example.com/status (add one under mocks.http)") == true)
    }

    @Test func badCasesFilesAreRefusedWithWhere() {
        func refusal(_ text: String) -> String {
            do {
                _ = try HookCases.parse(text: text, file: "c.yaml", defaultType: "custom.x")
                return "accepted"
            } catch { return error.description }
        }
        #expect(refusal("cases: []").contains("'cases:' must be a non-empty list"))
        #expect(refusal("cases:\n  - name: a\n    expect: { okk: true }").contains("unknown key 'okk'; did you mean 'ok'?"))
        #expect(refusal("cases:\n  - mocks: { htp: [] }").contains("unknown key 'htp'; did you mean 'http'?"))
        #expect(refusal("cases:\n  - mocks: { http: [{ method: GET }] }").contains("mocks.http[0]: url is required"))
        #expect(refusal("cases:\n  - mocks: { clock: tomorrow }").contains("mocks.clock must be an RFC 3339 time"))
        #expect(refusal("cases:\n  - event: { type: Not A Type }").contains("case 'case 1': event:"))
        #expect(refusal("cases: [ {name: a}, {name: a} ]").contains("two cases have this name"))
        #expect(refusal("cases: [ {").contains("c.yaml:"))
    }

    @Test func globsMatchAsDocumented() {
        #expect(GlobPattern("https://hooks.slack.com/*").matches("https://hooks.slack.com/services/T/B"))
        #expect(!GlobPattern("https://hooks.slack.com/*").matches("https://evil.com/https://hooks.slack.com/"))
        #expect(GlobPattern("*restart*nginx").matches("systemctl restart nginx"))
        #expect(!GlobPattern("*restart*nginx").matches("systemctl restart nginx2"))
        #expect(GlobPattern("exact").matches("exact") && !GlobPattern("exact").matches("exactly"))
        #expect(GlobPattern("*").matches(""))
    }

    /// Every template's hook loads, and its own cases pass.
    @Test(arguments: HookTemplate.all.map(\.name))
    func templateCasesPass(template: String) async throws {
        let t = try HookTemplate.named(template)
        let (hookText, casesText) = t.render(hookName: "from_template", eventType: nil)
        let dir = TempDir()
        let hook = try await HookLoader.load(path: dir.file("from_template.lua", hookText), overrides: HookOverrides(), runtime: LuaTestSupport.runtime).hook
        #expect(hook.name == "from_template" && hook.eventTypes == [t.defaultEventType])
        let cases = try HookCases.parse(text: casesText, file: "from_template.cases.yaml", defaultType: nil)
        for r in await HookCases.run(hook, cases: cases, runtime: LuaTestSupport.runtime, strictPermissions: false) {
            #expect(r.passed, "\(template) / \(r.name): \(r.differences) output: \(r.outcome.result.output)")
        }
    }
}
