import Testing
@testable import SlothRunner

@Suite struct OutcomeSlotTests {
    func outcome(_ status: EventStatus) -> EventOutcome {
        EventOutcome(eventID: "e", leaseOwner: "n/1", claimAttempt: 1, status: status, error: nil, processedAt: 1, nextRunAt: 0, executions: [], attemptUpdates: [])
    }

    @Test func outcomeBeforeInsertIsCarriedByTheInsert() {
        let slot = OutcomeSlot()
        #expect(slot.offer(outcome(.completed)))
        #expect(slot.takeForInsert()?.status == .completed)
        // A batch re-run after a rollback writes the same outcome again.
        #expect(slot.takeForInsert()?.status == .completed)
        guard case .fused = slot.current else { Issue.record("not fused"); return }
        #expect(!slot.offer(outcome(.failed)), "a second outcome is not swallowed")
    }

    @Test func insertBeforeOutcomeSendsItTheOrdinaryWay() {
        let slot = OutcomeSlot()
        #expect(slot.takeForInsert() == nil)
        #expect(!slot.offer(outcome(.completed)), "the outcome must go to the recorder")
        guard case .inserted = slot.current else { Issue.record("not inserted"); return }
    }

    @Test func fusedEventsAreStoredOnceInTheirFinalState() async throws {
        let h = try EngineHarness()
        _ = try await h.addHook(#"return { name = "quick", event_type = "fast.path", execute = function(e) print("n=" .. e.data.n) return true end }"#)
        try await h.engine.start()
        var ids: [String] = []
        for i in 0..<200 { ids.append(try await h.engine.dispatch(NewEvent(type: "fast.path", data: .object(["n": .int(Int64(i))]))).id) }
        for (i, id) in ids.enumerated() {
            let e = try await h.waitFinal(id)
            #expect(e.status == .completed && e.leaseOwner == nil && e.processedAt != nil)
            let runs = try await h.store.executions(eventID: id)
            #expect(runs.count == 1 && runs[0].success && runs[0].output == "n=\(i)\n")
        }
        #expect(try await h.store.hook(named: "quick")?.runCount == 200)
        _ = await h.engine.drain(grace: 5)
    }
}
