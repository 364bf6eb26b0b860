import Foundation
import Logging
import PostgresNIO
import SlothRunner
import Synchronization

/// Wake-ups across nodes: every writer commit sends one `NOTIFY` on `channel` (a burst of
/// events is one notification per transaction, not one per event), and each engine `LISTEN`s on
/// a connection of its pool. When the connection is lost the listener comes back with backoff
/// and tells of a write at once (one may have been missed meanwhile).
enum PostgresNotifications {
    static let channel = "sloth_runner_writes"

    final class Listener: StoreWriteWatch {
        private let task = Mutex<Task<Void, Never>?>(nil)

        func stop() {
            task.withLock { t in
                t?.cancel()
                t = nil
            }
        }

        fileprivate func attach(_ t: Task<Void, Never>) { task.withLock { $0 = t } }
    }

    static func start(location: PostgresLocation, client: PostgresClient, logger: Logger, onWrite: @escaping @Sendable () -> Void) -> Listener {
        let listener = Listener()
        listener.attach(Task {
            var backoffMillis: UInt64 = 100
            var connectedBefore = false
            while !Task.isCancelled {
                do {
                    try await client.withConnection { connection in
                        try await connection.listen(on: channel) { notifications in
                            if connectedBefore {
                                logger.notice("listening for other nodes' writes again", metadata: ["server": "\(location.serverDescription)"])
                                onWrite()
                            }
                            connectedBefore = true
                            backoffMillis = 100
                            for try await _ in notifications { onWrite() }
                        }
                    }
                } catch {
                    if Task.isCancelled { return }
                    logger.warning(
                        "lost the PostgreSQL notification connection; polling until it is back",
                        metadata: ["server": "\(location.serverDescription)", "retry_ms": "\(backoffMillis)"])
                }
                try? await Task.sleep(nanoseconds: backoffMillis * 1_000_000)
                backoffMillis = min(5000, backoffMillis * 2)
            }
        })
        return listener
    }
}
