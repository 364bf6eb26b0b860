import Logging
import ServiceLifecycle
import Synchronization

/// The engine as a swift-service-lifecycle `Service`: `run()` starts it, waits for the group's
/// graceful shutdown (SIGTERM, SIGINT) or for a fatal error, then drains it. Other services (the
/// HTTP server, event sources) join the same `ServiceGroup` and shut down in reverse order.
///
/// ```swift
/// let service = EngineService(engine: engine, graceSeconds: 30)
/// let group = ServiceGroup(configuration: .init(services: [service], gracefulShutdownSignals: [.sigterm], logger: logger))
/// try await group.run()
/// ```
public final class EngineService: Service, Sendable, CustomStringConvertible {
    /// The engine this service runs.
    public let engine: Engine
    /// How long hooks still running may finish once shutdown begins.
    public let graceSeconds: Double
    private let stop = Mutex<(reason: Stop?, waiter: CheckedContinuation<Stop, Never>?)>((nil, nil))
    private let report = Mutex<Engine.DrainReport?>(nil)

    enum Stop: Sendable {
        case shutdown
        case fatal(SlothError)
    }

    /// How the service group names it in its log.
    public var description: String { "sloth-runner engine" }

    /// A service that drains `engine` for up to `graceSeconds` on shutdown.
    public init(engine: Engine, graceSeconds: Double) {
        self.engine = engine
        self.graceSeconds = graceSeconds
    }

    /// Runs the engine until graceful shutdown; throws a fatal error the engine reported (its
    /// database went away), after draining.
    public func run() async throws {
        try await engine.start()
        let reason = await withGracefulShutdownHandler {
            await nextStop()
        } onGracefulShutdown: {
            self.signal(.shutdown)
        }
        var fatal: SlothError?
        if case .fatal(let error) = reason {
            fatal = error
            engine.configuration.logger.critical("\(error.description); stopping", metadata: ["error": "\(error)"])
        }
        // A fatal error leaves little worth waiting for: hooks get at most five seconds.
        let drained = await engine.drain(grace: fatal == nil ? graceSeconds : min(graceSeconds, 5))
        report.withLock { $0 = drained }
        if let fatal { throw fatal }
    }

    /// Stops the engine from outside (the engine's `onFatal` calls this).
    public func fail(_ error: SlothError) { signal(.fatal(error)) }

    /// How the drain ended, once `run()` has returned.
    public var drainReport: Engine.DrainReport? { report.withLock { $0 } }

    private func signal(_ reason: Stop) {
        let (waiter, first) = stop.withLock { s -> (CheckedContinuation<Stop, Never>?, Stop) in
            if s.reason == nil { s.reason = reason }
            defer { s.waiter = nil }
            return (s.waiter, s.reason ?? reason)
        }
        waiter?.resume(returning: first)
    }

    private func nextStop() async -> Stop {
        await withCheckedContinuation { (cont: CheckedContinuation<Stop, Never>) in
            let ready = stop.withLock { s -> Stop? in
                if let r = s.reason { return r }
                s.waiter = cont
                return nil
            }
            if let ready { cont.resume(returning: ready) }
        }
    }
}
