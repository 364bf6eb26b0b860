import Synchronization

/// The bounded in-memory queue between claims and workers, and the worker pool itself.
///
/// A slot is reserved before an event is claimed or inserted as claimed, and released only once
/// the event's outcome is recorded, so claimed-but-unrecorded events never exceed the capacity
/// and nothing claimed is dropped.
///
/// Workers are permits, not tasks: `push` hands an event straight to the caller when fewer than
/// `workers` events are being processed, and a worker that finishes takes the next queued event
/// with `next()`. An event thus goes from dispatch to the Lua thread without waking a task, and
/// its outcome is planned where the hook finished (one scheduling hop per event instead of three).
/// A mutex rather than an actor: every operation is a few instructions.
final class RunQueue: Sendable {
    /// An event for a worker, with the slot its outcome goes to if its insert may not have run.
    /// A class: it is handed from queue to worker to Lua thread, and an event has many fields.
    final class Work: Sendable {
        let event: Event
        let slot: OutcomeSlot?
        init(event: Event, slot: OutcomeSlot?) {
            self.event = event
            self.slot = slot
        }
    }

    let capacity: Int
    let workers: Int
    private struct State {
        var reserved = 0
        var items: [Work] = []
        var head = 0
        /// Events being processed (permits taken).
        var active = 0
        var closed = false
    }
    private let state = Mutex(State())

    init(capacity: Int, workers: Int) {
        self.capacity = capacity
        self.workers = max(1, workers)
    }

    var freeSlots: Int { state.withLock { max(0, capacity - $0.reserved) } }

    /// Events a worker is processing now.
    var active: Int { state.withLock { $0.active } }
    /// Events queued and not yet taken by a worker.
    var waiting: Int { state.withLock { $0.items.count - $0.head } }

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

    enum Push {
        /// A worker was free: the caller processes the event at once, holding that worker until
        /// it calls `next()`.
        case start(Work)
        /// Every worker is busy: a finishing one will take it.
        case queued
        /// The queue is closed (the engine drains): the caller hands the event back.
        case closed
    }

    /// Queues a claimed event (whose slot is reserved).
    func push(_ event: consuming Event, slot: OutcomeSlot? = nil) -> Push {
        // Built before taking the lock, which every dispatch and worker contends for.
        let work = Work(event: event, slot: slot)
        return state.withLock { s -> Push in
            if s.closed { return .closed }
            if s.active < workers && s.head == s.items.count {
                s.active += 1
                return .start(work)
            }
            s.items.append(work)
            return .queued
        }
    }

    /// A worker finished its event: the next queued one for it, or nil (the worker is free).
    func next() -> Work? {
        state.withLock { s -> Work? in
            guard !s.closed, s.head < s.items.count else {
                s.active -= 1
                return nil
            }
            let e = s.items[s.head]
            s.head += 1
            if s.head > 1024 && s.head * 2 > s.items.count {
                s.items.removeFirst(s.head)
                s.head = 0
            }
            return e
        }
    }

    /// Stops handing out events; returns the ones still queued, whose leases the caller releases.
    func close() -> [Event] {
        state.withLock { s -> [Event] in
            s.closed = true
            let rest = s.items[s.head...].map(\.event)
            s.items.removeAll()
            s.head = 0
            return rest
        }
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
