import Foundation
import Testing
import SlothRunner
import SlothTestSupport

/// Hooks written the way the Go reference's examples are: the global form with the globals it
/// injects (`log`, `http.post`, `contains`, `file_ops`), `event.agent`/`event.task`, seconds in
/// `event.timestamp`, and `event_types` lists in the returned-table form.
@Suite struct ReferenceHooksTests {
    static let server = try! TestHTTPServer()

    @Test func globalFormHookRunsAsTheReferenceWritesIt() async throws {
        let cli = CLI()
        let inventory = cli.home + "/etc/inventory.ini"
        let hook = cli.file("agent_inventory.lua", """
            -- Keeps an inventory file of connected agents, as the reference's examples do.
            hook = { name = "agent_inventory", event_types = { "agent.registered", "agent.connected" } }
            function on_event()
              local agent = event.agent
              log.info("agent " .. agent.name .. " registered at " .. os.date("%Y-%m-%d", event.timestamp))
              if not contains({"web-01", "web-02"}, agent.name) then log.warn("unknown agent " .. agent.name) end
              local ok, res = file_ops.lineinfile({ path = "\(inventory)", line = agent.name .. " ansible_host=" .. agent.address })
              if not ok then log.error(res) return false end
              local again_ok, again = file_ops.lineinfile({ path = "\(inventory)", line = agent.name .. " ansible_host=" .. agent.address })
              local sent = http.post("\(Self.server.base)/echo", "registered " .. agent.name)
              print("changed " .. tostring(res.changed) .. " then " .. tostring(again.changed) .. "; posted " .. tostring(sent ~= nil and sent ~= false))
              print("year " .. os.date("%Y", event.timestamp))
              return true
            end
            """)
        let added = try await cli.run("hook", "add", hook)
        #expect(added.status == 0, "\(added)")
        let r = try await cli.run("events", "dispatch", "agent.registered", "--data", #"{"agent":{"name":"web-03","address":"10.0.0.3"}}"#, "--wait", "-o", "json")
        #expect(r.status == 0, "\(r)")
        let output = try #require(r.json?["executions"]?.arrayValue?.first?["output"]?.stringValue, "\(r)")
        let year = Calendar(identifier: .gregorian).component(.year, from: Date())
        #expect(output.contains("[INFO] agent web-03 registered at \(year)-"), "\(output)")
        #expect(output.contains("[WARN] unknown agent web-03"))
        #expect(output.contains("changed true then false; posted true"), "\(output)")
        #expect(output.contains("year \(year)"))
        #expect(try String(contentsOfFile: inventory, encoding: .utf8) == "web-03 ansible_host=10.0.0.3")
    }

    @Test func globalsAndListsInTheReturnedTableForm() async throws {
        let cli = CLI()
        let path = cli.home + "/hosts"
        _ = cli.file("hosts", "127.0.0.1 localhost\n# BEGIN MANAGED BLOCK\nold\n# END MANAGED BLOCK\n")
        let hook = cli.file("t.lua", """
            return {
              name = "blocks", event_types = { "custom.a", "custom.b" },
              execute = function(event)
                local ok, r1 = file_ops.blockinfile({ path = "\(path)", block = "10.0.0.1 db\\n10.0.0.2 cache" })
                local _, r2 = file_ops.blockinfile({ path = "\(path)", block = "10.0.0.1 db\\n10.0.0.2 cache" })
                local _, r3 = file_ops.replace({ path = "\(path)", pattern = "cache", replacement = "redis" })
                local st = file_ops.stat({ path = "\(path)" })
                local missing = file_ops.stat({ path = "\(path).nope" })
                local nok, err = file_ops.lineinfile({ line = "x" })
                return true, table.concat({ tostring(r1.changed), tostring(r2.changed), tostring(r3.changed), tostring(st.exists),
                  tostring(#st.checksum), tostring(missing.exists), tostring(nok), err, tostring(contains({1, 2}, 2)),
                  tostring(math.type(event.timestamp)) }, " ")
              end,
            }
            """)
        #expect(try await cli.run("hook", "add", hook).status == 0)
        let types = try await cli.run("hook", "get", "blocks", "-o", "json")
        #expect(types.json?["event_types"] == .array([.string("custom.a"), .string("custom.b")]), "\(types)")
        let r = try await cli.run("events", "dispatch", "custom.b", "--wait")
        #expect(r.stdout.contains("true false true true 64 false nil path parameter is required true integer"), "\(r)")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "127.0.0.1 localhost\n# BEGIN MANAGED BLOCK\n10.0.0.1 db\n10.0.0.2 redis\n# END MANAGED BLOCK\n")
        let both = cli.file("both.lua", #"return { name = "both", event_type = "a.b", event_types = {"c.d"}, execute = function() end }"#)
        let refused = try await cli.run("hook", "add", both)
        #expect(refused.status == 6 && refused.stderr.contains("both event_type and event_types"), "\(refused)")
    }

    /// Under declared permissions `file_ops` is `file`: a path not granted is refused.
    @Test func fileOpsCountsAsFileUnderPermissions() async throws {
        let cli = CLI()
        let allowed = cli.home + "/allowed"
        try FileManager.default.createDirectory(atPath: allowed, withIntermediateDirectories: true)
        let hook = cli.file("p.lua", """
            return {
              name = "scoped", event_type = "custom.p", permissions = { file = { "\(allowed)" } },
              execute = function()
                local ok1 = file_ops.lineinfile({ path = "\(allowed)/x.conf", line = "a=1" })
                local ok2, err = file_ops.lineinfile({ path = "\(cli.home)/outside.conf", line = "a=1" })
                return true, tostring(ok1) .. " " .. tostring(ok2) .. " " .. tostring(err)
              end,
            }
            """)
        #expect(try await cli.run("hook", "add", hook).status == 0)
        let r = try await cli.run("events", "dispatch", "custom.p", "--wait")
        #expect(r.stdout.contains("true nil ") && r.stdout.contains("permission denied"), "\(r)")
        #expect(!FileManager.default.fileExists(atPath: cli.home + "/outside.conf"))
    }
}
