import Logging
import ServiceLifecycle
import SlothRunner

/// Runs the daemon's event sources as one service of `serve`'s group, listed after the engine:
/// it starts them once the engine runs, and on shutdown stops them — letting the engine-events
/// source commit `system.shutdown` — before the engine drains. A source that throws is marked
/// failing, reported as `system.error`, and started again after a backoff (1 s doubling to a
/// minute); the others and the engine go on.
public final class SourcesService: Service, Sendable, CustomStringConvertible {
    public let engine: Engine
    public let plugins: [any EventSourcePlugin]
    public let clock: any SourceClock
    public let book: SourceStatusBook
    let logger: Logger
    /// How often what the sources report is written to the store when it changed.
    let publishMillis: Int64
    /// Whether a failing source is reported as `system.error` (the engine's own events are on).
    let reportsErrors: Bool

    public var description: String { "sloth-runner event sources" }

    public init(engine: Engine, plugins: [any EventSourcePlugin], clock: any SourceClock = SystemSourceClock(), book: SourceStatusBook = SourceStatusBook(), logger: Logger, publishMillis: Int64 = 1000, reportsErrors: Bool = true) {
        self.reportsErrors = reportsErrors
        self.engine = engine
        self.plugins = plugins
        self.clock = clock
        self.book = book
        self.logger = logger
        self.publishMillis = publishMillis
    }

    public func run() async throws {
        let now = clock.now()
        for p in plugins { book.register(p.name, kind: p.kind, at: now) }
        try? await engine.driver.sourceStatusReplace(book.snapshot)
        // The engine starts in its own service of the same group, concurrently; sources emit
        // through it, so they wait for it (checking every 5 ms; cancelled with the group).
        while !engine.isRunning {
            do { try await Task.sleep(nanoseconds: 5_000_000) } catch { return }
        }
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                for plugin in self.plugins {
                    group.addTask { plugin.runsOnOneNode ? await self.superviseOnOneNode(plugin) : await self.supervise(plugin) }
                }
                group.addTask { await self.publishLoop() }
            }
        }
        for p in plugins { book.set(p.name, state: .stopped, error: book.status(p.name)?.error, at: clock.now()) }
        // A fresh task: this one may be cancelled, and the last word should still be written.
        await Task { try? await engine.driver.sourceStatusReplace(book.snapshot) }.value
    }

    private func supervise(_ plugin: any EventSourcePlugin) async {
        let context = SourceContext(engine: engine, clock: clock, logger: logger, name: plugin.name, book: book)
        var backoff: Int64 = 1000
        while !Task.isCancelled {
            let began = clock.monotonicNow()
            do {
                context.running()
                try await plugin.run(context)
                return
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                let why = (error as? SlothError)?.description ?? "\(error)"
                context.failing(why)
                logger.error("source \(plugin.name) failed: \(why); starting it again in \(DurationText.format(millis: backoff))",
                             metadata: ["source": "\(plugin.name)"])
                await reportError(component: "source:" + plugin.name, error: why)
            }
            // A source that ran a while before failing starts over with a short backoff.
            if clock.monotonicNow() - began > 60_000 { backoff = 1000 }
            do { try await clock.sleep(forMillis: backoff) } catch { return }
            backoff = min(backoff * 2, 60_000)
        }
    }

    /// Runs a source only while this node holds its lease (`source:NAME`), renewed every third
    /// of a lease; standing by otherwise, and trying again as often. Losing the lease (the
    /// store unreachable, or another node took it after this one stalled) stops the source.
    private func superviseOnOneNode(_ plugin: any EventSourcePlugin) async {
        let duty = "source:" + plugin.name
        let tick = UInt64(max(100, engine.configuration.leaseMillis / 3)) * 1_000_000
        while !Task.isCancelled {
            if await engine.holdSingleton(duty) {
                logger.info("running source \(plugin.name) on this node (one node runs it at a time)", metadata: ["source": "\(plugin.name)"])
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await self.supervise(plugin) }
                    group.addTask {
                        while !Task.isCancelled {
                            do { try await Task.sleep(nanoseconds: tick) } catch { return }
                            if !(await self.engine.holdSingleton(duty)) { return }
                        }
                    }
                    _ = await group.next()
                    group.cancelAll()
                }
                if Task.isCancelled { return }
                logger.notice("source \(plugin.name) lost its lease; standing by", metadata: ["source": "\(plugin.name)"])
            }
            book.set(plugin.name, state: .standby, error: nil, at: clock.now())
            do { try await Task.sleep(nanoseconds: tick) } catch { return }
        }
    }

    /// `system.error` {component, error, severity} for a failing component. A hook on it that
    /// fails does not loop: hook failures are not reported here, and what a hook dispatches
    /// is bounded by the chain limit.
    public func reportError(component: String, error: String, severity: String = "error") async {
        guard reportsErrors else { return }
        do {
            _ = try await engine.dispatch(NewEvent(type: "system.error", data: .object([
                "component": .string(component), "error": .string(error), "severity": .string(severity), "source": .string("engine"),
            ])))
        } catch {
            logger.warning("system.error for \(component) was not stored: \(error.description)")
        }
    }

    private func publishLoop() async {
        while !Task.isCancelled {
            if let changed = book.takeChanged() {
                do { try await engine.driver.sourceStatusReplace(changed) } catch {
                    logger.debug("the sources' status was not written: \(error)")
                }
            }
            do { try await clock.sleep(forMillis: publishMillis) } catch { return }
        }
    }
}
