/// The bounded in-memory queue between claims and workers. A slot is reserved before an event
/// is claimed or inserted as claimed, and released only once the event's outcome is recorded,
/// so claimed-but-unrecorded events never exceed the capacity and nothing claimed is dropped.
actor RunQueue {
    let capacity: Int
    private var reserved = 0
    private var items: [Event] = []
    private var head = 0
    private var waiters: [CheckedContinuation<Event?, Never>] = []
    private var closed = false

    init(capacity: Int) { self.capacity = capacity }

    var freeSlots: Int { max(0, capacity - reserved) }

    /// Reserves up to `count` slots; returns how many were reserved.
    func reserve(_ count: Int) -> Int {
        let n = min(count, capacity - reserved)
        guard n > 0, !closed else { return 0 }
        reserved += n
        return n
    }

    func unreserve(_ count: Int) { reserved -= count }

    /// Releases the slot of an event whose outcome is recorded (or whose lease was handed back).
    func release(_ count: Int = 1) { reserved -= count }

    /// Hands a claimed event (whose slot is reserved) to a worker.
    func push(_ event: Event) {
        if !waiters.isEmpty {
            waiters.removeFirst().resume(returning: event)
            return
        }
        items.append(event)
    }

    /// The next event for a worker; nil once the queue is closed and empty.
    func next() async -> Event? {
        if head < items.count {
            let e = items[head]
            head += 1
            if head > 1024 && head * 2 > items.count {
                items.removeFirst(head)
                head = 0
            }
            return e
        }
        if closed { return nil }
        return await withCheckedContinuation { waiters.append($0) }
    }

    /// Stops handing out events; returns the ones still queued, whose leases the caller releases.
    func close() -> [Event] {
        closed = true
        let rest = Array(items[head...])
        items.removeAll()
        head = 0
        reserved -= rest.count
        for w in waiters { w.resume(returning: nil) }
        waiters.removeAll()
        return rest
    }
}

/// Wakes a sleeping loop early; a signal sent while nobody waits is remembered once.
actor Wakeup {
    private var waiter: (id: Int, cont: CheckedContinuation<Void, Never>)?
    private var flagged = false
    private var nextID = 0

    func signal() {
        if let w = waiter {
            waiter = nil
            w.cont.resume()
        } else {
            flagged = true
        }
    }

    func wait(millis: Int64) async {
        if flagged {
            flagged = false
            return
        }
        nextID += 1
        let id = nextID
        await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
            waiter = (id, cont)
            Task {
                try? await Task.sleep(nanoseconds: UInt64(max(1, millis)) * 1_000_000)
                await self.expire(id)
            }
        }
    }

    private func expire(_ id: Int) {
        if let w = waiter, w.id == id {
            waiter = nil
            w.cont.resume()
        }
    }
}
