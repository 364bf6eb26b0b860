import Synchronization

/// The bounded in-memory queue between claims and workers. A slot is reserved before an event
/// is claimed or inserted as claimed, and released only once the event's outcome is recorded,
/// so claimed-but-unrecorded events never exceed the capacity and nothing claimed is dropped.
///
/// A mutex rather than an actor: every operation but waiting for an event is a few
/// instructions, and an actor hop per operation cost more than the work.
final class RunQueue: Sendable {
    /// An event for a worker, with the slot its outcome goes to if its insert may not have run.
    struct Work: Sendable {
        var event: Event
        var slot: OutcomeSlot?
    }

    let capacity: Int
    private struct State {
        var reserved = 0
        var items: [Work] = []
        var head = 0
        var waiters: [CheckedContinuation<Work?, Never>] = []
        var closed = false
    }
    private let state = Mutex(State())

    init(capacity: Int) { self.capacity = capacity }

    var freeSlots: Int { state.withLock { max(0, capacity - $0.reserved) } }

    /// Reserves up to `count` slots; returns how many were reserved.
    func reserve(_ count: Int) -> Int {
        state.withLock { s in
            let n = min(count, capacity - s.reserved)
            guard n > 0, !s.closed else { return 0 }
            s.reserved += n
            return n
        }
    }

    /// Gives back reserved slots: unused reservations, recorded events, handed-back leases.
    func release(_ count: Int = 1) { state.withLock { $0.reserved -= count } }

    /// Hands a claimed event (whose slot is reserved) to a worker.
    func push(_ event: Event, slot: OutcomeSlot? = nil) {
        let work = Work(event: event, slot: slot)
        let waiter = state.withLock { s -> CheckedContinuation<Work?, Never>? in
            if !s.waiters.isEmpty { return s.waiters.removeFirst() }
            s.items.append(work)
            return nil
        }
        waiter?.resume(returning: work)
    }

    /// The next event for a worker; nil once the queue is closed and empty.
    func next() async -> Work? {
        enum Take { case event(Work), closed, wait }
        let take = state.withLock { s -> Take in
            if s.head < s.items.count {
                let e = s.items[s.head]
                s.head += 1
                if s.head > 1024 && s.head * 2 > s.items.count {
                    s.items.removeFirst(s.head)
                    s.head = 0
                }
                return .event(e)
            }
            return s.closed ? .closed : .wait
        }
        switch take {
        case .event(let e): return e
        case .closed: return nil
        case .wait:
            return await withCheckedContinuation { cont in
                let resumeNow = state.withLock { s -> Work?? in
                    if s.head < s.items.count {
                        let e = s.items[s.head]
                        s.head += 1
                        return .some(e)
                    }
                    if s.closed { return .some(nil) }
                    s.waiters.append(cont)
                    return .none
                }
                if let value = resumeNow { cont.resume(returning: value) }
            }
        }
    }

    /// Stops handing out events; returns the ones still queued, whose leases the caller releases.
    func close() -> [Event] {
        let (rest, waiters) = state.withLock { s -> ([Event], [CheckedContinuation<Work?, Never>]) in
            s.closed = true
            let rest = s.items[s.head...].map(\.event)
            s.items.removeAll()
            s.head = 0
            let w = s.waiters
            s.waiters.removeAll()
            return (rest, w)
        }
        for w in waiters { w.resume(returning: nil) }
        return rest
    }
}

/// Wakes a sleeping loop early; a signal sent while nobody waits is remembered once.
final class Wakeup: Sendable {
    private struct State {
        var waiter: (id: Int, cont: CheckedContinuation<Void, Never>)?
        var flagged = false
        var nextID = 0
    }
    private let state = Mutex(State())

    func signal() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if let w = s.waiter {
                s.waiter = nil
                return w.cont
            }
            s.flagged = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns at the next signal, or after `millis` at the latest.
    func wait(millis: Int64) async {
        await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
            let id = state.withLock { s -> Int? in
                if s.flagged {
                    s.flagged = false
                    return nil
                }
                s.nextID += 1
                s.waiter = (s.nextID, cont)
                return s.nextID
            }
            guard let id else {
                cont.resume()
                return
            }
            Task {
                try? await Task.sleep(nanoseconds: UInt64(max(1, millis)) * 1_000_000)
                self.expire(id)
            }
        }
    }

    private func expire(_ id: Int) {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard let w = s.waiter, w.id == id else { return nil }
            s.waiter = nil
            return w.cont
        }
        waiter?.resume()
    }
}
