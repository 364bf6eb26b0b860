import Foundation
import Testing
import SlothRunner

/// Kill the daemon at random moments under load and restart it: every accepted event must end
/// completed, and no hook may have two successful executions for one event.
@Suite(.serialized) struct CrashSafetyTests {
    static let hook = """
        return { name = "worker", event_type = "load.tick", max_attempts = 10, retry_delay = "10ms", execute = function(e)
            sleep(0.002 * (e.data.n % 5))
            local s = 0
            for i = 1, 20000 do s = s + i end
            return true, "tick " .. e.data.n
        end }
        """
    static let second = """
        return { name = "auditor", event_type = "load.*", max_attempts = 10, retry_delay = "10ms", execute = function(e)
            return true
        end }
        """

    @Test func sigkillAtRandomMomentsLosesNothingAndDuplicatesNothing() async throws {
        let cli = CLI()
        #expect(try await cli.run("hook", "add", cli.file("worker.lua", Self.hook)).status == 0)
        #expect(try await cli.run("hook", "add", cli.file("auditor.lua", Self.second)).status == 0)
        let store = try cli.openStore()
        defer { store.closeNow() }
        var accepted: [String] = []
        var rng = SystemRandomNumberGenerator()
        let rounds = 4
        for round in 0..<rounds {
            let daemon = try await cli.startServe(["--lease", "2s", "--poll", "5ms", "--workers", "32"])
            let killAfter = Int.random(in: 10...120, using: &rng)
            var n = 0
            // Dispatch from this process while the daemon works; kill it mid-stream.
            while n < 150 {
                let batch = (0..<5).map { i in Engine.pendingEvent(from: NewEvent(type: "load.tick", data: .object(["n": .int(Int64(round * 1000 + n + i))]))) }
                try await store.insertEvents(batch)
                accepted.append(contentsOf: batch.map(\.id))
                n += 5
                if n == killAfter - killAfter % 5 {
                    // Let some of it be claimed and partly processed first.
                    try await eventually(timeout: 10, "nothing was processed before the kill") {
                        try await store.countEvents(status: .completed) + (try await store.countEvents(status: .processing)) > 0
                    }
                    daemon.kill(SIGKILL)
                    _ = try await daemon.waitExit()
                }
            }
            if daemon.process.isRunning {
                daemon.kill(SIGKILL)
                _ = try await daemon.waitExit()
            }
        }
        // A final, undisturbed run finishes everything: the restarted node reclaims its own
        // leases at once instead of waiting for them to expire.
        let final = try await cli.startServe(["--lease", "60s", "--poll", "5ms"])
        try await eventually(timeout: 120, "not every accepted event completed:\n\(final.log)") {
            try await store.countEvents(status: .completed) == accepted.count
        }
        final.kill(SIGTERM)
        #expect(try await final.waitExit() == 0)

        #expect(try await store.countEvents(status: nil) == accepted.count)
        let reclaimed = try await store.listEvents(EventFilter(limit: 10_000)).filter { $0.attempts > 1 }.count
        print("crash test: \(accepted.count) events, \(reclaimed) claimed more than once")
        for id in accepted {
            let runs = try await store.executions(eventID: id)
            let successes = Dictionary(grouping: runs.filter(\.success), by: \.hookName).mapValues(\.count)
            #expect(successes == ["worker": 1, "auditor": 1], "event \(id): \(successes)")
        }
    }

    @Test func sigtermUnderLoadDrainsAndLosesNothing() async throws {
        let cli = CLI()
        #expect(try await cli.run("hook", "add", cli.file("slow.lua", """
            return { name = "slow", event_type = "drain.test", execute = function(e) sleep(0.2) return true end }
            """)).status == 0)
        let store = try cli.openStore()
        defer { store.closeNow() }
        let daemon = try await cli.startServe(["--workers", "8", "--queue-size", "16", "--grace", "20s", "--poll", "5ms"])
        let events = (0..<200).map { i in Engine.pendingEvent(from: NewEvent(type: "drain.test", data: .object(["i": .int(Int64(i))]))) }
        try await store.insertEvents(events)
        try await eventually(timeout: 20, "no event was processed") { try await store.countEvents(status: .completed) >= 4 }
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit() == 0, "serve exits cleanly after draining:\n\(daemon.log)")
        #expect(daemon.log.contains("received SIGTERM"))
        // Every event is either done or back in the pending pool; none is stuck in processing.
        let completed = try await store.countEvents(status: .completed)
        let pending = try await store.countEvents(status: .pending)
        #expect(try await store.countEvents(status: .processing) == 0)
        #expect(completed + pending == events.count)
        #expect(completed < events.count, "the drain happened under load")
        // Hooks that were running when SIGTERM came finished instead of being cut off.
        for e in events {
            let runs = try await store.executions(eventID: e.id)
            #expect(runs.allSatisfy { $0.success })
        }
        // A new daemon takes the rest.
        let next = try await cli.startServe(["--poll", "5ms"])
        try await eventually(timeout: 60, "the rest was not processed") { try await store.countEvents(status: .completed) == events.count }
        next.kill(SIGINT)
        #expect(try await next.waitExit() == 0)
        for e in events { #expect(try await store.executions(eventID: e.id).filter(\.success).count == 1) }
    }

    @Test func secondDaemonOnTheSameDatabaseIsRefused() async throws {
        let cli = CLI()
        let first = try await cli.startServe()
        let r = try await cli.run("serve")
        #expect(r.status == 5 && r.stderr.contains("already serving"), "\(r)")
        first.kill(SIGTERM)
        #expect(try await first.waitExit() == 0)
    }
}
