import Testing
@testable import SlothRunner

/// The one rule every driver follows to make stored schedules, checks, watches and webhooks
/// match a config file (`DeclaredSync`), and the drivers carrying it out.
@Suite struct DeclaredSyncTests {
    func check(_ name: String, target: String = "http://a/", at: Millis = 1, declaredIn: String? = "sloth.yaml") -> HealthCheck {
        HealthCheck(name: name, kind: .http, target: target, createdAt: at, declaredIn: declaredIn)
    }

    @Test func removesOnlyWhatAFileDeclaredAndWritesOnlyWhatDiffers() {
        let stored = [
            check("same", at: 1), check("edited", at: 1), check("dropped", at: 1),
            check("by-hand", at: 1, declaredIn: nil), check("taken-over", at: 1, declaredIn: nil),
        ]
        let declared = [
            check("same", at: 99),  // differs only in what the store keeps: left alone
            check("edited", target: "http://b/", at: 99),
            check("taken-over", at: 99),
            check("new", at: 99),
        ]
        let plan = DeclaredSync(stored: stored, declared: declared)
        #expect(plan.removed == ["dropped"], "one added by a command is never removed by the file")
        #expect(plan.added == ["new"])
        #expect(plan.changed == ["edited", "taken-over"])
        #expect(plan.writes.map(\.name) == ["edited", "taken-over", "new"])
        #expect(plan.writes.first { $0.name == "edited" }?.createdAt == 1, "a changed one keeps when it was created")
        #expect(plan.writes.first { $0.name == "new" }?.createdAt == 99)
        #expect(plan.changesAnything)
        #expect(!DeclaredSync(stored: [check("same")], declared: [check("same", at: 7)]).changesAnything)
    }

    @Test func aScheduleKeepsItsIdentityAndProgress() {
        let old = Schedule(name: "tick", id: "s-1", cron: "@hourly", zone: "UTC", enabled: false, createdAt: 1, firedThrough: 5_000, declaredIn: "a.yaml")
        let edited = Schedule(name: "tick", id: "s-2", cron: "*/5 * * * *", zone: "UTC", createdAt: 9, declaredIn: "a.yaml")
        let plan = DeclaredSync(stored: [old], declared: [edited])
        #expect(plan.changed == ["tick"] && plan.writes.count == 1)
        let written = plan.writes.first
        #expect(written?.id == "s-1" && written?.firedThrough == 5_000 && written?.enabled == false && written?.cron == "*/5 * * * *")
        let again = Schedule(name: "tick", id: "s-3", cron: "@hourly", zone: "UTC", createdAt: 9, declaredIn: "a.yaml")
        #expect(!DeclaredSync(stored: [old], declared: [again]).changesAnything, "declared again unchanged: nothing written, no slot twice")
    }

    @Test(arguments: StoreDriver.all)
    func driversApplyTheRuleInOneGo(driver: StoreDriver) async throws {
        try await driver.withStore { store in
            try await store.checkAdd(check("by-hand", declaredIn: nil))
            let first = try await store.checkSync(declared: [check("a"), check("b")])
            #expect(first.added == ["a", "b"] && first.changed.isEmpty && first.removed.isEmpty)
            let version = try await store.checksVersion()
            let unchanged = try await store.checkSync(declared: [check("a", at: 50), check("b", at: 50)])
            #expect(unchanged.added.isEmpty && unchanged.changed.isEmpty && unchanged.removed.isEmpty)
            #expect(try await store.checksVersion() == version, "nothing written, so a running source reloads nothing")
            let second = try await store.checkSync(declared: [check("a", target: "http://c/", at: 50)])
            #expect(second.changed == ["a"] && second.removed == ["b"])
            #expect(try await store.checksVersion() != version)
            let names = try await store.checkList().map(\.name).sorted()
            #expect(names == ["a", "by-hand"])
            let a = try #require(try await store.check(named: "a"))
            #expect(a.target == "http://c/" && a.createdAt == 1)

            let tick = Schedule(name: "tick", cron: "@hourly", zone: "UTC", createdAt: 1, firedThrough: 7_000, declaredIn: "a.yaml")
            _ = try await store.scheduleSync(declared: [tick])
            let stored = try #require(try await store.schedule(named: "tick"))
            var edited = tick
            edited.id = Schedule.newID()
            edited.cron = "*/5 * * * *"
            edited.firedThrough = 0
            #expect(try await store.scheduleSync(declared: [edited]).changed == ["tick"])
            let after = try #require(try await store.schedule(named: "tick"))
            #expect(after.id == stored.id && after.firedThrough == stored.firedThrough && after.cron == "*/5 * * * *")
        }
    }
}
