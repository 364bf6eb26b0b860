import CLua
import CLuaShim
import Foundation
import Synchronization

/// `require("testing")`, only in runtimes made for tests (`LuaRuntime(..., testing: true)`):
/// ways for a test to put a hook exactly where it wants it, without sleeping.
///
/// - `testing.block(seconds)`: busy-waits inside a host call that checks no limit, standing in
///   for a library call that escaped its bounds (the watchdog's business).
/// - `testing.wait(name)`: suspends the hook until the test calls `TestingGates.open(name)`.
/// - `testing.signal(name)`: tells a test waiting in `TestingGates.signaled(name)`.
enum TestingModule {
    static let functions: [(String, sb_host_fn)] = [
        ("testing_block", block), ("testing_wait", wait), ("testing_signal", signal),
    ]

    static let block: sb_host_fn = { L, _ in
        guard let L else { return 0 }
        let until = sb_now() + lua_tonumberx(L, 1, nil)
        while sb_now() < until { usleep(1000) }
        return 0
    }

    static let wait: sb_host_fn = { L, ctx in
        guard let L else { return 0 }
        let name = LuaValues.string(at: 1, on: L) ?? ""
        return HostFunctions.suspend(L, ctx, "testing.wait") {
            await TestingGates.waitOpen(name)
            return .success(.bool(true))
        }
    }

    static let signal: sb_host_fn = { L, _ in
        guard let L else { return 0 }
        TestingGates.signal(LuaValues.string(at: 1, on: L) ?? "")
        return 0
    }
}

/// Named gates and signals shared by tests and the hooks they run.
enum TestingGates {
    private struct Gate {
        var open = false
        var signals = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
        var signalWaiters: [(count: Int, CheckedContinuation<Void, Never>)] = []
    }

    private static let gates = Mutex<[String: Gate]>([:])

    /// Lets every hook waiting on `name` go on (and any that waits on it later).
    static func open(_ name: String) {
        let waiters = gates.withLock { g -> [CheckedContinuation<Void, Never>] in
            var gate = g[name] ?? Gate()
            gate.open = true
            let waiting = gate.waiters
            gate.waiters = []
            g[name] = gate
            return waiting
        }
        for w in waiters { w.resume() }
    }

    static func waitOpen(_ name: String) async {
        await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
            let ready = gates.withLock { g -> Bool in
                if g[name, default: Gate()].open { return true }
                g[name, default: Gate()].waiters.append(cont)
                return false
            }
            if ready { cont.resume() }
        }
    }

    static func signal(_ name: String) {
        let ready = gates.withLock { g -> [CheckedContinuation<Void, Never>] in
            var gate = g[name] ?? Gate()
            gate.signals += 1
            let due = gate.signalWaiters.filter { $0.count <= gate.signals }.map(\.1)
            gate.signalWaiters.removeAll { $0.count <= gate.signals }
            g[name] = gate
            return due
        }
        for w in ready { w.resume() }
    }

    /// Returns once `name` has been signalled `count` times in all.
    static func signaled(_ name: String, count: Int = 1) async {
        await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
            let ready = gates.withLock { g -> Bool in
                if g[name, default: Gate()].signals >= count { return true }
                g[name, default: Gate()].signalWaiters.append((count, cont))
                return false
            }
            if ready { cont.resume() }
        }
    }
}
