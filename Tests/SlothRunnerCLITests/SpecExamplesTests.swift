import Foundation
import SlothRunner
import SlothTestSupport
import Testing

/// The specification's three examples, adapted only in their URLs (a loopback server) and
/// commands (harmless ones), run end to end through `serve`.
@Suite struct SpecExamplesTests {
    static let slack = """
        local hook = {
            name = "slack_notify_failures",
            event_type = "task.failed",
            stack = "production"
        }

        function hook.execute(event)
            local http = require("http")
            local json = require("json")
            local secret = require("secret")

            local task = event.data.task
            local webhook_url = secret.get("slack_webhook_url")

            local message = json.encode({
                text = string.format("🚨 Task Failed: %s on %s",
                    task.task_name, task.agent_name),
                attachments = {{
                    color = "danger",
                    fields = {
                        {title = "Error", value = task.error, short = false},
                        {title = "Duration", value = task.duration, short = true},
                        {title = "Exit Code", value = tostring(task.exit_code), short = true}
                    }
                }}
            })

            local response = http.post(webhook_url, {
                headers = {["Content-Type"] = "application/json"},
                body = message
            })

            if response.status_code ~= 200 then
                error("Failed to send notification")
            end

            return true, "Notification sent"
        end

        return hook
        """

    static let autoScale = """
        local hook = {
            name = "auto_scale_agents",
            event_type = "system.cpu_high"
        }

        function hook.execute(event)
            local exec = require("exec")
            local state = require("state")

            local resource = event.data.resource
            local current_usage = resource.current

            -- Check if we already scaled recently
            local last_scale = state.get("last_scale_time") or 0
            local now = os.time()

            if now - last_scale < 300 then  -- 5 minute cooldown
                return true, "Cooldown active, skipping scale"
            end

            -- Scale up: add new agent
            exec.run("echo sloth-runner agent install new-agent-" .. now)

            -- Update state
            state.set("last_scale_time", now)

            return true, "Scaled up infrastructure"
        end

        return hook
        """

    static func pipeline(health: String) -> String {
        """
        local hook = {
            name = "deployment_pipeline",
            event_type = "deploy.started",
            max_attempts = 1
        }

        function hook.execute(event)
            local exec = require("exec")
            local http = require("http")
            local event_mod = require("event")

            local deploy = event.data.deploy

            -- Run tests
            local result = exec.run(deploy.test_command or "true")
            if result.exit_code ~= 0 then
                event_mod.dispatch("deploy.failed", {
                    deploy_id = deploy.deploy_id,
                    reason = "Tests failed"
                })
                error("Tests failed")
            end

            -- Build artifacts
            exec.run("true")

            -- Deploy to staging first
            exec.run("true")

            -- Run smoke tests
            local health = http.get("\(health)")
            if health.status_code ~= 200 then
                exec.run("true")
                event_mod.dispatch("deploy.failed", {
                    deploy_id = deploy.deploy_id,
                    reason = "Health check failed"
                })
                error("Staging health check failed")
            end

            -- Dispatch event for production deployment
            event_mod.dispatch("deploy.staging_success", {
                deploy_id = deploy.deploy_id,
                version = deploy.version
            })

            return true, "Staging deployment completed"
        end

        return hook
        """
    }

    func execution(_ r: CLI.Result) -> JSONValue? {
        guard case .array(let runs)? = r.json?["executions"] else { return nil }
        return runs.last
    }

    @Test func examplesRunThroughServe() async throws {
        let server = try TestHTTPServer()
        let cli = CLI()
        #expect(try await cli.run("secret", "set", "slack_webhook_url", "--value", "\(server.base)/ok").status == 0)
        for (name, source) in [("slack.lua", Self.slack), ("scale.lua", Self.autoScale), ("pipeline.lua", Self.pipeline(health: "\(server.base)/ok"))] {
            let r = try await cli.run("hook", "add", cli.file(name, source))
            #expect(r.status == 0, "\(r)")
        }
        let daemon = try await cli.startServe()

        let task = #"{"task":{"task_name":"deploy_app","agent_name":"web-server-01","error":"Connection refused","duration":"2m30s","exit_code":1}}"#
        var r = try await cli.run("events", "dispatch", "task.failed", "--stack", "production", "--data", task, "--wait", "-o", "json")
        #expect(r.status == 0 && execution(r)?["error"] == .null, "\(r)")
        // Not for other stacks.
        r = try await cli.run("events", "dispatch", "task.failed", "--stack", "staging", "--data", task, "--wait", "-o", "json")
        #expect(execution(r) == nil)

        let cpu = #"{"resource":{"current":97,"threshold":90}}"#
        r = try await cli.run("events", "dispatch", "system.cpu_high", "--data", cpu, "--wait")
        #expect(r.status == 0 && r.stdout.contains("auto_scale_agents: Scaled up infrastructure"), "\(r)")
        let history = try await cli.run("hook", "history", "auto_scale_agents", "-o", "json")
        r = try await cli.run("events", "dispatch", "system.cpu_high", "--data", cpu, "--wait")
        #expect(r.status == 0)
        #expect(try await cli.run("state", "get", "last_scale_time").status == 0, "the cooldown is in the state")
        _ = history

        let deploy = #"{"deploy":{"deploy_id":"d-1","version":"v2.0.0"}}"#
        r = try await cli.run("events", "dispatch", "deploy.started", "--data", deploy, "--wait")
        #expect(r.status == 0, "\(r)")
        let broken = #"{"deploy":{"deploy_id":"d-2","version":"v2.0.1","test_command":"false"}}"#
        r = try await cli.run("events", "dispatch", "deploy.started", "--data", broken, "--wait")
        #expect(r.status == 1 && r.stdout.contains("Tests failed"), "\(r)")

        // Slack answering 500: the failure is recorded.
        #expect(try await cli.run("secret", "set", "slack_webhook_url", "--value", "\(server.base)/status/500").status == 0)
        r = try await cli.run("events", "dispatch", "task.failed", "--stack", "production", "--data", task, "--wait")
        #expect(r.status == 1 && r.stdout.contains("Failed to send notification"), "\(r)")

        let store = try cli.openStore()
        defer { store.closeNow() }
        try await eventually(timeout: 20, "chained deploy events did not finish") {
            let staged = try await store.listEvents(EventFilter(type: "deploy.staging_success"))
            let failed = try await store.listEvents(EventFilter(type: "deploy.failed"))
            return staged.count == 1 && failed.count == 1 && (staged + failed).allSatisfy { $0.status == .completed }
        }
        let scale = try await store.hookHistory(hookID: try #require(try await store.hook(named: "auto_scale_agents")).id, limit: 5, failedOnly: false)
        #expect(scale.count == 2 && scale.allSatisfy(\.success))
        #expect(Set(scale.compactMap(\.message)) == ["Scaled up infrastructure", "Cooldown active, skipping scale"])
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit() == 0)
    }
}

@Suite struct StrictPermissionsTests {
    @Test func strictServeDeniesUndeclaredCapabilities() async throws {
        let cli = CLI()
        #expect(try await cli.run("hook", "add", cli.file("undeclared.lua", """
            return { name = "undeclared", event_type = "custom.p", max_attempts = 1, execute = function() return true, require("env").get("PATH") end }
            """)).status == 0)
        #expect(try await cli.run("hook", "add", cli.file("declared.lua", """
            return { name = "declared", event_type = "custom.p", permissions = { env = { "PATH" } }, execute = function() return true, "has " .. tostring(require("env").get("PATH") ~= nil) end }
            """)).status == 0)
        #expect(try await cli.run("hook", "get", "declared").stdout.contains("Permissions:  env: PATH"))
        let daemon = try await cli.startServe(["--strict-permissions"])
        let r = try await cli.run("events", "dispatch", "custom.p", "--wait")
        #expect(r.status == 1, "\(r)")
        #expect(r.stdout.contains("strict permissions are on") && r.stdout.contains("declared: has true"), "\(r.stdout)")
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit() == 0)
    }
}
