import Testing
@testable import SlothRunner

/// Workers are permits: `push` hands an event to its caller while fewer than `workers` are being
/// processed, and a finishing worker takes the next queued event with `next()`.
@Suite struct RunQueueTests {
    func event(_ n: Int) -> Event {
        Engine.pendingEvent(from: NewEvent(type: "queue.test", data: .object(["n": .int(Int64(n))])))
    }

    /// The event a push handed straight to its caller, if any.
    func started(_ push: RunQueue.Push) -> Event? {
        if case .start(let work) = push { return work.event }
        return nil
    }

    func queued(_ push: RunQueue.Push) -> Bool {
        if case .queued = push { return true }
        return false
    }

    @Test func freeWorkersTakeEventsAtOnceTheRestWaitInOrder() {
        let queue = RunQueue(capacity: 10, workers: 2)
        #expect(queue.reserve(5) == 5)
        let events = (0..<5).map(event)
        let first = started(queue.push(events[0]))
        let second = started(queue.push(events[1]))
        #expect(first?.id == events[0].id && second?.id == events[1].id)
        #expect(queued(queue.push(events[2])), "both workers are busy: the event waits")
        #expect(queued(queue.push(events[3])))
        #expect(queue.active == 2)
        // A worker that finishes takes the oldest waiting event and stays busy.
        #expect(queue.next()?.event.id == events[2].id)
        #expect(queue.next()?.event.id == events[3].id)
        #expect(queue.active == 2)
        // Nothing waits: the worker is free again, and the next push goes straight to a caller.
        #expect(queue.next() == nil)
        #expect(queue.active == 1)
        #expect(started(queue.push(events[4]))?.id == events[4].id)
        #expect(queue.active == 2)
    }

    @Test func slotsBoundClaimedEventsUntilReleased() {
        let queue = RunQueue(capacity: 3, workers: 1)
        #expect(queue.reserve(5) == 3, "only the capacity can be reserved")
        #expect(queue.freeSlots == 0)
        queue.release(2)
        #expect(queue.freeSlots == 2)
    }

    @Test func closingHandsBackWaitingEventsAndFreesWorkers() {
        let queue = RunQueue(capacity: 10, workers: 1)
        _ = queue.reserve(3)
        let events = (0..<3).map(event)
        #expect(started(queue.push(events[0])) != nil)
        #expect(queued(queue.push(events[1])))
        #expect(queued(queue.push(events[2])))
        let rest = queue.close()
        #expect(rest.map(\.id) == [events[1].id, events[2].id])
        #expect(queue.next() == nil, "a closed queue hands out nothing")
        #expect(queue.active == 0)
        #expect(queue.reserve(1) == 0, "a closed queue takes nothing")
        // An event claimed while the engine began draining is refused, for its lease to be handed back.
        guard case .closed = queue.push(event(9)) else {
            Issue.record("a closed queue took an event")
            return
        }
    }
}
