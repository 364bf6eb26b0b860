import Dispatch
import Foundation
import Synchronization

/// Values arriving from callbacks (signals, engine failures), awaited one at a time in order.
final class Inbox<Value: Sendable>: Sendable {
    private let state = Mutex<(queued: [Value], waiter: CheckedContinuation<Value, Never>?)>(([], nil))

    func push(_ value: Value) {
        let waiter = state.withLock { s -> CheckedContinuation<Value, Never>? in
            if let w = s.waiter {
                s.waiter = nil
                return w
            }
            s.queued.append(value)
            return nil
        }
        waiter?.resume(returning: value)
    }

    /// The next value (for one waiting task at a time).
    func next() async -> Value {
        await withCheckedContinuation { (cont: CheckedContinuation<Value, Never>) in
            let ready = state.withLock { s -> Value? in
                if !s.queued.isEmpty { return s.queued.removeFirst() }
                s.waiter = cont
                return nil
            }
            if let ready { cont.resume(returning: ready) }
        }
    }
}

/// Turns SIGINT/SIGTERM into calls instead of killing the process, every time they come (the
/// second Ctrl-C must reach the program too).
final class SignalWaiter {
    private let sources: [any DispatchSourceSignal]

    init(_ signals: [Int32], onSignal: @escaping @Sendable (Int32) -> Void) {
        sources = signals.map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { onSignal(sig) }
            source.resume()
            return source
        }
    }

    /// The signal's name for messages.
    static func name(_ sig: Int32) -> String { sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "signal \(sig)" }

    /// The exit status of a program stopped by `sig` (128 + its number, as shells report it).
    static func exitStatus(_ sig: Int32) -> Int32 { 128 + sig }
}
