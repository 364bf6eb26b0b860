import Foundation
import Testing
import SlothRunner

/// The specification's CLI walkthrough, run against the real binary.
@Suite struct SpecWalkthroughTests {
    static let notify = """
        local hook = {
            name = "notify_on_failure",
            description = "Send notification when tasks fail",
            event_type = "task.failed",
        }
        function hook.execute(event)
            local task = event.data.task
            local json = require("json")
            print(json.encode({ text = string.format("Task %s failed on %s: %s", task.task_name, task.agent_name, task.error) }))
            return true, "Notification sent successfully"
        end
        return hook
        """

    static let rollback = """
        local hook = { name = "rollback_deploy", event_type = "task.failed", max_attempts = 1 }
        function hook.execute(event)
            error("Failed to connect to deployment server: connection refused")
        end
        return hook
        """

    @Test func walkthrough() async throws {
        let cli = CLI()
        let notify = cli.file("notify.lua", Self.notify)
        let rollback = cli.file("rollback.lua", Self.rollback)

        var r = try await cli.run("hook", "add", notify)
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("Hook 'notify_on_failure' registered"))
        #expect(try await cli.run("hook", "add", rollback).status == 0)

        r = try await cli.run("hook", "list")
        #expect(r.status == 0 && r.stdout.contains("notify_on_failure") && r.stdout.contains("rollback_deploy"))

        r = try await cli.run("hook", "get", "notify_on_failure")
        #expect(r.stdout.contains("Send notification when tasks fail"))
        #expect(r.stdout.contains("sha256:"))
        #expect(r.stdout.contains("no runs yet"))

        r = try await cli.run("events", "dispatch", "task.failed", "--wait", "--data", #"{"task":{"task_name":"deploy_app","agent_name":"web-server-01","error":"Connection refused"}}"#)
        #expect(r.status == 1, "a failed hook makes --wait exit 1: \(r)")
        #expect(r.stdout.contains("Status: failed"))
        // Piped: plain words (emoji only on a terminal, see CLIContractTests).
        #expect(r.stdout.contains("│ success"))
        #expect(r.stdout.contains("│ failed"))
        #expect(r.stdout.contains("Hook: rollback_deploy"))
        #expect(r.stdout.contains("Failed to connect to deployment server: connection refused"))
        let id = try #require(r.stdout.split(separator: "\n").first?.replacingOccurrences(of: "Event: ", with: ""))

        r = try await cli.run("events", "show", String(id.prefix(13)))
        #expect(r.status == 0)
        #expect(r.stdout.contains("Event: \(id)"))
        #expect(r.stdout.contains("Hook Executions"))

        r = try await cli.run("events", "get", id)
        let json = try #require(r.json)
        #expect(json["type"] == .string("task.failed"))
        #expect(json["data"]?["task"]?["task_name"] == .string("deploy_app"))

        r = try await cli.run("hook", "history", "notify_on_failure", "--limit", "20")
        #expect(r.stdout.contains(id) && r.stdout.contains("success"))
        r = try await cli.run("hook", "history", "notify_on_failure", "-o", "json")
        let history = try #require(r.json)
        guard case .array(let runs) = history else { Issue.record("history is not a list"); return }
        #expect(runs.count == 1)
        #expect(runs[0]["output"]?.stringValue?.contains("Task deploy_app failed on web-server-01") == true)

        r = try await cli.run("hook", "get", "notify_on_failure", "-o", "json")
        #expect(r.json?["run_count"] == .int(1))
        #expect(r.json?["success_rate"] == .double(1))

        // A disabled hook does not run.
        #expect(try await cli.run("hook", "disable", "rollback_deploy").status == 0)
        r = try await cli.run("events", "dispatch", "task.failed", "--wait", "--data", #"{"task":{"task_name":"b","agent_name":"a","error":"e"}}"#)
        #expect(r.status == 0, "\(r)")
        #expect(!r.stdout.contains("rollback_deploy"))
        #expect(try await cli.run("hook", "list", "--disabled").stdout.contains("rollback_deploy"))
        #expect(try await cli.run("hook", "enable", "rollback_deploy").status == 0)

        r = try await cli.run("hook", "remove", "rollback_deploy")
        #expect(r.status == 0)
        r = try await cli.run("hook", "get", "rollback_deploy")
        #expect(r.status == 3 && r.stderr.contains("no hook named 'rollback_deploy'"))

        r = try await cli.run("events", "list", "--type", "task.failed", "--status", "completed", "-o", "json")
        guard case .array(let completed)? = r.json else { Issue.record("events list is not JSON: \(r)"); return }
        #expect(completed.count == 1)

        // Nothing is old enough yet; everything is with a zero age.
        #expect(try await cli.run("events", "cleanup", "--older-than", "720h").stdout.contains("Deleted 0 events"))
        r = try await cli.run("events", "cleanup", "--older-than", "0s")
        #expect(r.stdout.contains("Deleted 2 events"), "\(r)")
        #expect(try await cli.run("events", "list").stdout.contains("No events match"))
    }

    @Test func editingTheFileChangesNothingUntilUpdate() async throws {
        let cli = CLI()
        let path = cli.file("h.lua", #"return { name = "versioned", event_type = "custom.v", execute = function() return true, "v1" end }"#)
        #expect(try await cli.run("hook", "add", path).status == 0)
        _ = cli.file("h.lua", #"return { name = "versioned", event_type = "custom.v", execute = function() return true, "v2" end }"#)
        var r = try await cli.run("events", "dispatch", "custom.v", "--wait", "-o", "json")
        #expect(r.status == 0)
        #expect(r.json?["executions"].flatMap { if case .array(let a) = $0 { return a.first?["hook_name"] } ; return nil } == .string("versioned"))
        r = try await cli.run("hook", "test", "versioned", "--type", "custom.v")
        #expect(r.stdout.contains("v1"), "\(r)")
        #expect(try await cli.run("hook", "update", "versioned").stdout.contains("updated: source"))
        r = try await cli.run("hook", "test", "versioned", "--type", "custom.v")
        #expect(r.stdout.contains("v2"))
        try FileManager.default.removeItem(atPath: path)
        r = try await cli.run("hook", "test", "versioned", "--type", "custom.v")
        #expect(r.status == 0 && r.stdout.contains("v2"), "the stored source runs after the file is gone")
    }

    @Test func hookTestRunsWithoutStoringAnything() async throws {
        let cli = CLI()
        let path = cli.file("t.lua", """
            return { name = "tester", event_type = "custom.t", execute = function(e)
                require("event").dispatch("custom.child", { n = 1 })
                print("hello " .. e.data.who)
                if e.data.fail then return false, "asked to fail" end
                return true, "fine"
            end }
            """)
        var r = try await cli.run("hook", "test", path, "--type", "custom.t", "--data", #"{"who":"ops"}"#)
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("hello ops") && r.stdout.contains("Dispatch: custom.child") && r.stdout.contains("instructions"))
        r = try await cli.run("hook", "test", path, "--type", "custom.t", "--data", #"{"who":"ops","fail":true}"#)
        #expect(r.status == 1 && r.stdout.contains("asked to fail"))
        let eventFile = cli.file("e.json", #"{"type":"custom.t","data":{"who":"file"}}"#)
        r = try await cli.run("hook", "test", path, "--event", eventFile)
        #expect(r.stdout.contains("hello file"))
        #expect(try await cli.run("hook", "list").stdout.contains("No hooks registered"))
        #expect(try await cli.run("events", "list").stdout.contains("No events match"))
    }
}
