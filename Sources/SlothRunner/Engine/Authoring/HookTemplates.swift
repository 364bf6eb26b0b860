/// The hook templates `hook new NAME --template T` writes: a documented hook file and a cases
/// file for it (`hook test FILE --cases FILE.cases.yaml`). They ship in the binary; each one's
/// cases run in CI (`HookTemplateTests`). `__NAME__` and `__EVENT_TYPE__` are filled in.
package struct HookTemplate: Sendable {
    package let name: String
    package let summary: String
    package let defaultEventType: String
    package let hook: String
    package let cases: String

    /// The hook file and the cases file for a hook called `hookName` listening to `eventType`.
    package func render(hookName: String, eventType: String?) -> (hook: String, cases: String) {
        func fill(_ text: String) -> String {
            text.replacingOccurrences(of: "__NAME__", with: hookName).replacingOccurrences(of: "__EVENT_TYPE__", with: eventType ?? defaultEventType)
        }
        return (fill(hook), fill(cases))
    }

    package static func named(_ name: String) throws(SlothError) -> HookTemplate {
        guard let t = all.first(where: { $0.name == name }) else {
            throw .notFound("no template '\(name)'\(NameSuggestion.hint(for: name, among: all.map(\.name))); `sloth-runner hook templates` lists them")
        }
        return t
    }

    package static let all: [HookTemplate] = [slack, webhookForward, execRemediation, cooldown, chain, audit]

    static let slack = HookTemplate(
        name: "slack", summary: "post each event to Slack through a webhook URL kept as a secret; failures are retried",
        defaultEventType: "task.failed",
        hook: """
            -- __NAME__: posts each __EVENT_TYPE__ event to a Slack channel.
            --
            -- The incoming-webhook URL is a secret, never in the file:
            --   sloth-runner secret set slack_webhook_url https://hooks.slack.com/services/T000/B000/XXXX
            -- An answer other than 200 raises an error: the run fails and the engine tries again
            -- (max_attempts, with an exponential backoff from retry_delay), then dead-letters it.
            -- Test it: sloth-runner hook test __NAME__.lua --cases __NAME__.cases.yaml
            local http = require("http")
            local json = require("json")
            local secret = require("secret")

            return {
              name = "__NAME__",
              description = "Post __EVENT_TYPE__ events to Slack",
              event_types = { "__EVENT_TYPE__" },
              max_attempts = 5,
              retry_delay = 2,
              timeout = 30,
              permissions = { http = { "hooks.slack.com" }, secrets = { "slack_webhook_url" } },

              execute = function(event)
                local url = secret.get("slack_webhook_url")
                if not url then
                  return false, "secret slack_webhook_url is not set (sloth-runner secret set slack_webhook_url URL)"
                end
                local text = string.format("*%s*%s\\n```%s```", event.type,
                  event.stack and (" in " .. event.stack) or "", json.encode(event.data))
                local res = http.post(url, { json = { text = text }, timeout = 10 })
                if res.status_code ~= 200 then
                  error("Slack answered " .. res.status_code .. ": " .. res.body)
                end
                return true, "posted to Slack"
              end,
            }

            """,
        cases: """
            # Cases for __NAME__: sloth-runner hook test __NAME__.lua --cases __NAME__.cases.yaml
            cases:
              - name: posts the event to the webhook
                event: { type: __EVENT_TYPE__, data: { task: { task_name: deploy_app } }, stack: production }
                mocks:
                  secrets: { slack_webhook_url: "https://hooks.slack.com/services/T000/B000/XXXX" }
                  http:
                    - { method: POST, url: "https://hooks.slack.com/services/*", status: 200, body: ok }
                expect:
                  ok: true
                  message: posted to Slack
                  effects: ["http POST https://hooks.slack.com/services/T000/B000/XXXX"]

              - name: a Slack error fails the run, so it is retried
                event: { type: __EVENT_TYPE__ }
                mocks:
                  secrets: { slack_webhook_url: "https://hooks.slack.com/services/T000/B000/XXXX" }
                  http: [{ url: "https://hooks.slack.com/*", status: 500, body: internal error }]
                expect: { ok: false, message: "*Slack answered 500: internal error" }

              - name: without the secret nothing is sent
                event: { type: __EVENT_TYPE__ }
                expect: { ok: false, message: "*slack_webhook_url is not set*", effects: [] }

            """)

    static let webhookForward = HookTemplate(
        name: "webhook-forward", summary: "forward each event as JSON to a URL, signed with an HMAC-SHA256 of the body",
        defaultEventType: "deploy.*",
        hook: """
            -- __NAME__: forwards each __EVENT_TYPE__ event as JSON to another service, signed.
            --
            -- The receiver checks X-Sloth-Signature: "sha256=" .. hex(HMAC-SHA256(key, body)).
            --   sloth-runner secret set forward_signing_key "$(openssl rand -hex 32)"
            -- The target comes from the engine's environment: FORWARD_URL (serve --hook-env FORWARD_URL).
            -- A 5xx answer fails the run (retried); a 4xx is the receiver refusing it (not retried:
            -- the same request would be refused again).
            local http = require("http")
            local json = require("json")
            local crypto = require("crypto")
            local secret = require("secret")
            local env = require("env")

            return {
              name = "__NAME__",
              description = "Forward __EVENT_TYPE__ events, signed",
              event_types = { "__EVENT_TYPE__" },
              max_attempts = 5,
              retry_delay = 1,

              execute = function(event)
                local url = env.get("FORWARD_URL")
                if not url then return false, "FORWARD_URL is not set in the engine's environment" end
                local key = secret.get("forward_signing_key")
                if not key then return false, "secret forward_signing_key is not set" end
                local body = json.encode({ id = event.id, type = event.type, stack = event.stack,
                  timestamp = event.timestamp, data = event.data })
                local res = http.post(url, { body = body, timeout = 10, headers = {
                  ["Content-Type"] = "application/json",
                  ["X-Sloth-Event-Id"] = event.id,
                  ["X-Sloth-Signature"] = "sha256=" .. crypto.hmac_sha256(key, body),
                } })
                if res.status_code >= 500 then error("the receiver answered " .. res.status_code) end
                if res.status_code >= 300 then return true, "refused by the receiver (" .. res.status_code .. "), not retried" end
                return true, "forwarded (" .. res.status_code .. ")"
              end,
            }

            """,
        cases: """
            # Cases for __NAME__: sloth-runner hook test __NAME__.lua --cases __NAME__.cases.yaml
            cases:
              - name: forwards the event, signed
                event: { type: deploy.started, data: { deploy: { version: v2.1.0 } } }
                mocks:
                  env: { FORWARD_URL: "https://receiver.example.com/events" }
                  secrets: { forward_signing_key: "0123456789abcdef" }
                  http: [{ method: POST, url: "https://receiver.example.com/*", status: 202 }]
                expect:
                  message: forwarded (202)
                  effects: ["http POST https://receiver.example.com/events"]

              - name: a receiver outage fails the run
                event: { type: deploy.started }
                mocks:
                  env: { FORWARD_URL: "https://receiver.example.com/events" }
                  secrets: { forward_signing_key: "0123456789abcdef" }
                  http: [{ url: "https://receiver.example.com/*", status: 503 }]
                expect: { ok: false, message: "*the receiver answered 503" }

              - name: without a target nothing is sent
                event: { type: deploy.started }
                mocks: { env: {} }
                expect: { ok: false, message: "FORWARD_URL is not set*", effects: [] }

            """)

    static let execRemediation = HookTemplate(
        name: "exec-remediation", summary: "restart the service an event names, verify it came back, dispatch the outcome",
        defaultEventType: "health.degraded",
        hook: """
            -- __NAME__: restarts the service a __EVENT_TYPE__ event names (data.service), checks
            -- that it is active again, and dispatches custom.remediation_succeeded or
            -- custom.remediation_failed for whoever follows up (a pager hook, a dashboard).
            -- Argument lists, not command lines: no shell, so a service name cannot inject one.
            local exec = require("exec")
            local event = require("event")
            local log = require("log")

            return {
              name = "__NAME__",
              description = "Restart and verify the service of __EVENT_TYPE__ events",
              event_types = { "__EVENT_TYPE__" },
              max_attempts = 1,
              timeout = 120,
              permissions = { exec = { "systemctl" } },

              execute = function(e)
                local service = e.data.service
                if type(service) ~= "string" or not service:match("^[%w@._-]+$") or service:sub(1, 1) == "-" then
                  return false, "the event names no valid service (data.service)"
                end
                log.info("restarting " .. service)
                local restart = exec.run({ "systemctl", "restart", service }, { timeout = 60 })
                if restart.exit_code ~= 0 then
                  event.dispatch("custom.remediation_failed", { service = service, step = "restart", error = restart.stderr })
                  return false, "restart of " .. service .. " failed: " .. restart.stderr
                end
                local check = exec.run({ "systemctl", "is-active", service })
                if check.exit_code ~= 0 then
                  event.dispatch("custom.remediation_failed", { service = service, step = "verify", error = check.stdout })
                  return false, service .. " is not active after the restart"
                end
                event.dispatch("custom.remediation_succeeded", { service = service })
                return true, service .. " restarted"
              end,
            }

            """,
        cases: """
            # Cases for __NAME__: sloth-runner hook test __NAME__.lua --cases __NAME__.cases.yaml
            cases:
              - name: restarts, verifies and reports success
                event: { type: __EVENT_TYPE__, data: { service: nginx } }
                mocks:
                  exec:
                    - { command: "systemctl restart nginx", exit_code: 0 }
                    - { command: "systemctl is-active nginx", exit_code: 0, stdout: "active\\n" }
                expect:
                  message: nginx restarted
                  output: "*restarting nginx*"
                  effects: ["exec systemctl restart nginx", "exec systemctl is-active nginx", "event.dispatch custom.remediation_succeeded"]
                  dispatched: [{ type: custom.remediation_succeeded, data: { service: nginx } }]

              - name: a service that stays down is reported
                event: { type: __EVENT_TYPE__, data: { service: nginx } }
                mocks:
                  exec:
                    - { command: "systemctl restart *", exit_code: 0 }
                    - { command: "systemctl is-active *", exit_code: 3, stdout: "failed\\n" }
                expect:
                  ok: false
                  dispatched: [{ type: custom.remediation_failed, data: { step: verify } }]

              - name: a name that could be an option or a second command is refused before anything runs
                event: { type: __EVENT_TYPE__, data: { service: "--now; reboot" } }
                expect: { ok: false, message: "*no valid service*", effects: [] }

              - name: an option alone is refused too
                event: { type: __EVENT_TYPE__, data: { service: "--force" } }
                expect: { ok: false, effects: [] }

            """)

    static let cooldown = HookTemplate(
        name: "cooldown", summary: "act at most once per cooldown window, remembered in shared state (the specification's auto-scaling)",
        defaultEventType: "agent.resource_high",
        hook: """
            -- __NAME__: acts on __EVENT_TYPE__ at most once per cooldown (five minutes), as the
            -- specification's auto-scaling example: the last time it acted is kept in the shared
            -- state, so every node and every restart sees it. compare_and_set makes two events
            -- arriving together act once.
            local exec = require("exec")
            local state = require("state")

            local COOLDOWN = 300

            return {
              name = "__NAME__",
              description = "Scale up on __EVENT_TYPE__, at most every 5 minutes",
              event_types = { "__EVENT_TYPE__" },

              execute = function(event)
                local last = state.get("__NAME__.last_action")
                local now = os.time()
                if last and now - last < COOLDOWN then
                  return true, "cooldown active (" .. (COOLDOWN - (now - last)) .. "s left), skipping"
                end
                if not state.compare_and_set("__NAME__.last_action", last, now) then
                  return true, "another run acted just now, skipping"
                end
                local r = exec.run({ "sloth-runner", "agent", "install", "agent-" .. now })
                if r.exit_code ~= 0 then
                  state.set("__NAME__.last_action", last or 0)   -- let the next event try again
                  return false, "scaling failed: " .. r.stderr
                end
                return true, "scaled up"
              end,
            }

            """,
        cases: """
            # Cases for __NAME__: sloth-runner hook test __NAME__.lua --cases __NAME__.cases.yaml
            cases:
              - name: acts when it has not acted before
                event: { type: __EVENT_TYPE__, data: { agent: { name: a1 }, resource: cpu, current: 97, threshold: 90 } }
                mocks:
                  clock: "2026-12-01T10:00:00Z"
                  exec: [{ command: "sloth-runner agent install *", exit_code: 0 }]
                expect:
                  message: scaled up
                  effects: ["state.compare_and_set __NAME__.last_action", "exec sloth-runner agent install agent-1796119200"]
                  state: { __NAME__.last_action: 1796119200 }

              - name: skips inside the cooldown
                event: { type: __EVENT_TYPE__ }
                mocks:
                  clock: "2026-12-01T10:02:00Z"
                  state: { __NAME__.last_action: 1796119200 }
                expect: { message: "cooldown active (180s left), skipping", effects: [] }

              - name: acts again once the cooldown is over
                event: { type: __EVENT_TYPE__ }
                mocks:
                  clock: "2026-12-01T10:05:00Z"
                  state: { __NAME__.last_action: 1796119200 }
                  exec: [{ command: "sloth-runner agent install *" }]
                expect: { message: scaled up, state: { __NAME__.last_action: 1796119500 } }

            """)

    static let chain = HookTemplate(
        name: "chain", summary: "dispatch follow-up events, each at most once however often the run is retried",
        defaultEventType: "deploy.completed",
        hook: """
            -- __NAME__: turns each __EVENT_TYPE__ event into follow-up events: a smoke test and,
            -- for production, a notification. Each dispatch is stored once per position in the
            -- run, so a retried or re-claimed run does not send it twice; chains are bounded
            -- (serve --max-chain-depth) so a loop of hooks stops.
            local event = require("event")

            return {
              name = "__NAME__",
              description = "Follow-up events for __EVENT_TYPE__",
              event_types = { "__EVENT_TYPE__" },

              execute = function(e)
                local deploy = e.data.deploy or {}
                local smoke = event.dispatch("custom.smoke_test_requested", { version = deploy.version, parent = e.id })
                local sent = 1
                if e.stack == "production" then
                  event.dispatch("custom.release_announced", { version = deploy.version })
                  sent = sent + 1
                end
                return true, "dispatched " .. sent .. " follow-up event(s), first " .. smoke
              end,
            }

            """,
        cases: """
            # Cases for __NAME__: sloth-runner hook test __NAME__.lua --cases __NAME__.cases.yaml
            cases:
              - name: production gets a smoke test and an announcement
                event: { type: deploy.completed, stack: production, data: { deploy: { version: v3 } } }
                expect:
                  message: "dispatched 2 follow-up event(s)*"
                  dispatched:
                    - { type: custom.smoke_test_requested, data: { version: v3 } }
                    - { type: custom.release_announced, data: { version: v3 } }

              - name: staging gets the smoke test only
                event: { type: deploy.completed, stack: staging, data: { deploy: { version: v3 } } }
                expect:
                  effects: ["event.dispatch custom.smoke_test_requested"]
                  dispatched: [custom.smoke_test_requested]

            """)

    static let audit = HookTemplate(
        name: "audit", summary: "append one JSON line per event to an audit log file",
        defaultEventType: "*",
        hook: """
            -- __NAME__: appends one JSON line per __EVENT_TYPE__ event to an audit log, for
            -- `jq` or a log shipper. The directory must exist (and be granted in permissions.file).
            local file = require("file")
            local json = require("json")

            local LOG = "/var/log/sloth-runner/audit.jsonl"

            return {
              name = "__NAME__",
              description = "Audit log of __EVENT_TYPE__ events",
              event_types = { "__EVENT_TYPE__" },
              permissions = { file = { "/var/log/sloth-runner" } },

              execute = function(event)
                local line = json.encode({ at = os.date("!%Y-%m-%dT%H:%M:%SZ"), id = event.id, type = event.type,
                  stack = event.stack, attempt = event.attempt, data = event.data })
                file.append(LOG, line .. "\\n")
                return true, "logged"
              end,
            }

            """,
        cases: """
            # Cases for __NAME__: sloth-runner hook test __NAME__.lua --cases __NAME__.cases.yaml
            cases:
              - name: appends one line to the log
                event: { type: task.failed, data: { task: { task_name: backup } } }
                mocks: { clock: "2026-12-01T10:00:00Z" }
                expect:
                  message: logged
                  effects: ["file.append /var/log/sloth-runner/audit.jsonl"]

            """)
}
