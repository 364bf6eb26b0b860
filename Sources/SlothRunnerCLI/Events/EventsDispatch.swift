import ArgumentParser
import Foundation
import SlothRunner
import SlothRunnerPostgres

struct EventsDispatch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dispatch",
        abstract: "Dispatch an event; it is stored durably before this returns.",
        discussion: """
            Without a running `sloth-runner serve`, --wait runs the engine in this process until the
            event is done. With one, the daemon picks the event up and --wait follows it.

            Examples:
              sloth-runner events dispatch task.failed --data '{"task":{"task_name":"deploy_app","error":"refused"}}'
              sloth-runner events dispatch custom.backup_done --data-file payload.json --stack production --wait
              sloth-runner events dispatch custom.load_test --data '{"n":1}' --count 10000
              sloth-runner events dispatch deploy.started --data '{"deploy":{"version":"v2"}}' --idempotency-key deploy-v2

            With --idempotency-key, the same key within --idempotency-window (24h) stores one
            event: a repeat prints the first event and stores nothing (a different event under a
            used key is refused). Keys are shared with the API's Idempotency-Key header and with
            hooks' event.dispatch(type, data, {idempotency_key = K}).
            """
    )

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Event type, e.g. task.failed or custom.my_event.") var type: String
    @Option(help: "Event data as a JSON object.") var data: String?
    @Option(help: "File holding the event data as a JSON object ('-' for stdin).") var dataFile: String?
    @Option(help: "Stack the event belongs to.") var stack: String?
    @Flag(help: "Wait until the event is processed and show the outcome.") var wait = false
    @Option(help: "How long --wait waits, e.g. 60s.") var timeout = "120s"
    @Option(help: "Largest event data accepted, in bytes.") var maxDataBytes = NewEvent.defaultMaxDataBytes
    @Option(help: "Dispatch this many copies (each an event of its own), committed 500 at a time; not with --wait.") var count = 1
    @Option(help: "Store the event once per key: a repeat within the window returns the first event.") var idempotencyKey: String?
    @Option(help: "How long an idempotency key holds, e.g. 24h, 7d.") var idempotencyWindow = "24h"

    func run() async throws {
        try await runReporting {
            guard (1...(64 << 20)).contains(maxDataBytes) else {
                throw SlothError.invalidInput("--max-data-bytes must be from 1 to \(64 << 20), not \(maxDataBytes)")
            }
            let new = NewEvent(type: type, data: try readEventData(inline: data, file: dataFile, maxBytes: maxDataBytes), stack: stack)
            _ = try new.validated(maxDataBytes: maxDataBytes)
            let waitSeconds = try DurationText.seconds(timeout, for: "--timeout")
            guard (1...10_000_000).contains(count) else { throw SlothError.invalidInput("--count must be from 1 to 10000000, not \(count)") }
            guard count == 1 || !wait else { throw SlothError.invalidInput("--wait follows one event; leave it out with --count") }
            if let idempotencyKey {
                try IdempotencyKey.validate(idempotencyKey, field: "--idempotency-key")
                guard count == 1 else { throw SlothError.invalidInput("--idempotency-key stores one event; leave out --count") }
            }
            let keyWindow = try DurationText.millis(idempotencyWindow, for: "--idempotency-window", in: 1...(30 * 86_400))
            let store = try await global.openStore()
            defer { store.closeNow() }
            if count > 1 {
                var stored = 0
                while stored < count {
                    let chunk = (0..<min(500, count - stored)).map { _ in Engine.pendingEvent(from: new) }
                    try await store.insertEvents(chunk)
                    stored += chunk.count
                }
                if global.json { printJSON(.object(["dispatched": .int(Int64(stored)), "type": .string(new.type)])) } else { print("\(stored) events dispatched (\(new.type)).") }
                return
            }
            // With a key, the event is stored (or found) here first; --wait then follows it.
            var keyed: Event?
            var repeated = false
            if let key = idempotencyKey {
                let now = nowMillis()
                let (stored, inserted) = try await store.insertKeyedEvent(
                    Engine.pendingEvent(from: new, now: now), originKey: IdempotencyKey.origin(key), expiredBefore: now - keyWindow)
                if !inserted, let reused = IdempotencyKey.reuse(of: key, first: stored, for: new) { throw SlothError.conflict(reused) }
                repeated = !inserted
                keyed = stored
            }
            guard wait else {
                let event = keyed ?? Engine.pendingEvent(from: new)
                if keyed == nil { try await store.insertEvents([event]) }
                if global.json {
                    printJSON(event.json)
                } else if repeated {
                    print("Event \(event.id) was dispatched at \(Format.timestamp(event.createdAt)) with idempotency key '\(idempotencyKey ?? "")'; nothing new was stored.")
                } else {
                    print("Event \(event.id) dispatched (\(event.type)).")
                }
                return
            }
            // Ctrl-C stops the waiting (the event stays stored); a second one stops at once.
            let interrupts = Inbox<Int32>()
            let signals = SignalWaiter([SIGINT, SIGTERM]) { interrupts.push($0) }
            defer { withExtendedLifetime(signals) {} }
            let lock = try DaemonLock(databasePath: global.databasePath)
            let id: String
            // On PostgreSQL the nodes serving the database process it; none runs here.
            let postgres = store is PostgresEventStore
            if !postgres, try lock.tryAcquire() {
                defer { lock.release() }
                id = try await dispatchInProcess(new, existing: keyed, store: store, waitSeconds: waitSeconds, interrupts: interrupts)
            } else {
                let event = keyed ?? Engine.pendingEvent(from: new)
                if keyed == nil { try await store.insertEvents([event]) }
                id = event.id
                if !global.json {
                    print(postgres ? "Event \(id) dispatched; the serve nodes process it." : "Event \(id) dispatched; the daemon (pid \(lock.holderPID ?? "?")) is processing it.")
                }
                if case .interrupted(let sig) = await waitOrInterrupt(id, store: store, seconds: waitSeconds, interrupts: interrupts) {
                    warn("interrupted: event \(id) stays stored and the daemon processes it; follow it with `sloth-runner events show \(id.prefix(13))`")
                    throw ExitCode(SignalWaiter.exitStatus(sig))
                }
            }
            try await report(id, store: store)
        }
    }

    enum Waited: Sendable {
        case done
        case interrupted(Int32)
    }

    /// Follows the event until it is final, time runs out, or a signal comes.
    private func waitOrInterrupt(_ id: String, store: any EventStoreDriver, seconds: Double, interrupts: Inbox<Int32>) async -> Waited {
        let outcome = Inbox<Waited>()
        let follow = Task {
            _ = try? await waitForFinal(id, store: store, seconds: seconds)
            outcome.push(.done)
        }
        let listen = Task { outcome.push(.interrupted(await interrupts.next())) }
        let result = await outcome.next()
        follow.cancel()
        listen.cancel()
        return result
    }

    /// Runs an engine here until the event is done: `existing` (stored already, under an
    /// idempotency key) or `new`, dispatched through it.
    private func dispatchInProcess(_ new: NewEvent, existing: Event?, store: any EventStoreDriver, waitSeconds: Double, interrupts: Inbox<Int32>) async throws -> String {
        let runtime = LuaRuntime()
        defer { runtime.shutdown() }
        var config = EngineConfiguration()
        config.maxDataBytes = maxDataBytes
        config.secrets = SecretVault(driver: store, databasePath: global.databasePath)
        let engine = Engine(driver: store, runtime: runtime, configuration: config)
        try await engine.start()
        let event: Event
        if let existing { event = existing } else { event = try await engine.dispatch(new) }
        if case .interrupted(let sig) = await waitOrInterrupt(event.id, store: store, seconds: waitSeconds, interrupts: interrupts) {
            warn("interrupted: stopping the engine (\(SignalWaiter.name(sig)) again stops it at once); event \(event.id.prefix(13)) stays stored for `sloth-runner serve`")
            let impatience = Task {
                _ = await interrupts.next()
                engine.stopWaiting()
            }
            _ = await engine.drain(grace: 10)
            impatience.cancel()
            throw ExitCode(SignalWaiter.exitStatus(sig))
        }
        _ = await engine.drain(grace: 30)
        return event.id
    }

    private func report(_ id: String, store: any EventStoreDriver) async throws {
        let e = try await EventView.print(id, store: store, json: global.json)
        switch e.status {
        case .completed: return
        case .failed: throw ExitCode(1)
        case .pending, .processing:
            FileHandle.standardError.write(Data("error: event \(id) is still \(e.status.rawValue) after \(timeout); follow it with `sloth-runner events show \(id.prefix(13))`\n".utf8))
            throw ExitCode(9)
        }
    }
}

/// Follows an event in the store until it is completed or failed, or time runs out.
func waitForFinal(_ id: String, store: any EventStore, seconds: Double) async throws -> Event {
    let deadline = Date().addingTimeInterval(seconds)
    while true {
        let e = try await store.resolveEvent(id)
        if e.status == .completed || e.status == .failed || Date() >= deadline { return e }
        try await Task.sleep(nanoseconds: 10_000_000)
    }
}
