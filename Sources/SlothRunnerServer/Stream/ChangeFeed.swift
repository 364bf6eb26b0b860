import Synchronization
import SlothRunner

/// Tells every open stream where the change journal ends, one look at the store per tick for
/// all of them (not one per client). Each stream then reads what it has not sent from the
/// store itself: replay after a reconnect and live delivery are the same read, so a message
/// cannot fall between the two. The journal is filled by the store (every writing process,
/// the CLI included), so looking at it — rather than listening inside this process — is what
/// sees every change. The feed looks only while someone listens.
final class ChangeFeed: Sendable {
    private struct State {
        var subscribers: [Int: AsyncStream<Int64>.Continuation] = [:]
        var nextID = 0
        var polling = false
        var closed = false
    }
    private let state = Mutex(State())
    private let driver: any ChangeJournalStore
    /// How often the journal's end is looked at while a stream is open.
    let tickMillis: Int64

    init(driver: any ChangeJournalStore, tickMillis: Int64) {
        self.driver = driver
        self.tickMillis = tickMillis
    }

    /// The journal's end at every tick (only the newest is kept for a slow stream); nil once
    /// the feed is closed (the server is shutting down).
    func subscribe() -> AsyncStream<Int64>? {
        let (stream, continuation) = AsyncStream<Int64>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let admitted: (id: Int, startPoller: Bool)? = state.withLock { s in
            guard !s.closed else { return nil }
            let id = s.nextID
            s.nextID += 1
            s.subscribers[id] = continuation
            defer { s.polling = true }
            return (id, !s.polling)
        }
        guard let (id, startPoller) = admitted else {
            continuation.finish()
            return nil
        }
        continuation.onTermination = { [weak self] _ in
            self?.state.withLock { _ = $0.subscribers.removeValue(forKey: id) }
        }
        if startPoller { Task { await self.poll() } }
        return stream
    }

    /// Ends every stream (each finishes its response) and refuses new ones: graceful shutdown
    /// waits for requests in flight, and a stream would otherwise never end.
    func close() {
        let open = state.withLock { s in
            s.closed = true
            defer { s.subscribers = [:] }
            return Array(s.subscribers.values)
        }
        for continuation in open { continuation.finish() }
    }

    var openStreams: Int { state.withLock { $0.subscribers.count } }

    private func poll() async {
        while true {
            let head = (try? await driver.changeBounds().last) ?? 0
            let listeners: [AsyncStream<Int64>.Continuation]? = state.withLock { s in
                guard !s.subscribers.isEmpty, !s.closed else {
                    s.polling = false
                    return nil
                }
                return Array(s.subscribers.values)
            }
            guard let listeners else { return }
            for listener in listeners { listener.yield(head) }
            try? await Task.sleep(nanoseconds: UInt64(tickMillis) * 1_000_000)
        }
    }
}
