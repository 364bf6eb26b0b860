import CExecSupervisor
import CLinux
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Starts commands under their supervisors (see `execsupervisor.h`) and keeps the list of
/// supervisors alive, so that a process that outlived its supervisor can be told from one of
/// ours.
public final class ExecSupervision: Sendable {
    static let shared = ExecSupervision(helper: locateHelper())

    /// Writing to a pipe whose reader is gone (a command that exited without reading its
    /// stdin, a supervisor that already ended) raises SIGPIPE, which kills a process by
    /// default: the engine takes EPIPE as an error instead, as servers do. Commands get the
    /// default disposition back (the supervisor resets every signal before `execve`).
    /// `helper`: the supervisor program's path, or nil to fork the engine for each command.
    init(helper: String?) {
        signal(SIGPIPE, SIG_IGN)
        self.helper = helper
    }

    /// The supervisor program (`sloth-exec-supervisor`), or nil to fork the engine instead.
    let helper: String?

    /// Where the supervisor program is: `SLOTH_RUNNER_EXEC_SUPERVISOR`, else next to the running
    /// executable (where `swift build` and an install put it). Without it every command costs a
    /// fork of the whole engine, several times slower for a large process (`serve` warns).
    static func locateHelper(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let explicit = environment["SLOTH_RUNNER_EXEC_SUPERVISOR"], !explicit.isEmpty {
            return FileManager.default.isExecutableFile(atPath: explicit) ? explicit : nil
        }
        guard let exe = ExecutablePath.real("/proc/self/exe") else { return nil }
        let candidate = URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent(helperName).path
        return FileManager.default.isExecutableFile(atPath: candidate) ? candidate : nil
    }

    /// The supervisor program's file name.
    public static let helperName = "sloth-exec-supervisor"

    /// The supervisor program `exec.run` starts, or nil when commands fork the engine.
    public static var helperPath: String? { shared.helper }

    /// Supervisors started and not yet reaped. Held while starting one, so the orphan sweep
    /// never sees a new supervisor before it is known.
    private let live = Mutex<Set<pid_t>>([])
    private let sweeping = Atomic<Bool>(false)

    /// Makes this process the reaper of orphaned descendants, and kills each one that is not a
    /// supervisor of ours: what is left when a command killed its own supervisor (the one way
    /// out of it). For a process whose only children are `exec.run` commands: `serve`. An
    /// embedding application with children of its own should not call it.
    public static func adoptOrphans() {
        guard shared.sweeping.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
        _ = sloth_become_subreaper()
        let thread = Thread {
            nameCurrentThread("sloth-reaper")
            while true {
                shared.sweepOrphans()
                usleep(250_000)
            }
        }
        thread.name = "sloth-reaper"
        thread.stackSize = 256 << 10
        thread.start()
    }

    /// Kills and reaps every child of this process that is not a live supervisor.
    func sweepOrphans() {
        live.withLock { supervisors in
            var children = [pid_t](repeating: 0, count: 1024)
            let n = sb_list_own_children(&children, Int32(children.count))
            guard n > 0 else { return }
            for pid in children[0..<Int(n)] where !supervisors.contains(pid) {
                Glibc.kill(-pid, SIGKILL)
                Glibc.kill(pid, SIGKILL)
                var status: Int32 = 0
                _ = waitpid(pid, &status, WNOHANG)
            }
        }
    }

    func start(executable: String, arguments: [String], environment: [String: String], directory: String?, stdin: Data?) throws(ModuleError) -> SupervisedProcess {
        var out: [Int32] = [0, 0], err: [Int32] = [0, 0], input: [Int32] = [-1, -1]
        guard sb_pipe_cloexec(&out) == 0 else { throw ModuleError("cannot create a pipe: \(String(cString: strerror(errno)))") }
        guard sb_pipe_cloexec(&err) == 0 else {
            close(out[0]); close(out[1])
            throw ModuleError("cannot create a pipe: \(String(cString: strerror(errno)))")
        }
        if stdin != nil, sb_pipe_cloexec(&input) != 0 {
            close(out[0]); close(out[1]); close(err[0]); close(err[1])
            throw ModuleError("cannot create a pipe: \(String(cString: strerror(errno)))")
        }
        // C strings the fork copies; freed here once it has.
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        let cwd = directory.flatMap { strdup($0) }
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
            if let cwd { free(cwd) }
        }
        var handle = sb_exec_handle()
        let rc: Int32 = live.withLock { supervisors in
            let rc = executable.withCString { path in
                argv.withUnsafeBufferPointer { a in
                    envp.withUnsafeBufferPointer { e in
                        var request = sb_exec_request(
                            path: path, argv: a.baseAddress, envp: e.baseAddress, cwd: cwd.map { UnsafePointer($0) },
                            stdin_fd: input[0], stdout_fd: out[1], stderr_fd: err[1])
                        guard let helper else { return sb_exec_start(&request, nil, &handle) }
                        return helper.withCString { sb_exec_start(&request, $0, &handle) }
                    }
                }
            }
            if rc == 0 { supervisors.insert(handle.supervisor) }
            return rc
        }
        close(out[1])
        close(err[1])
        if input[0] >= 0 { close(input[0]) }
        guard rc == 0 else {
            close(out[0]); close(err[0])
            if input[1] >= 0 { close(input[1]) }
            throw ModuleError(String(cString: strerror(rc)))
        }
        if let stdin, input[1] >= 0 {
            let writer = FileHandle(fileDescriptor: input[1], closeOnDealloc: true)
            DispatchQueue.global().async {
                try? writer.write(contentsOf: stdin)
                try? writer.close()
            }
        }
        return SupervisedProcess(handle: handle, stdout: out[0], stderr: err[0], supervision: self)
    }

    /// The supervisor has exited: reap it and forget it.
    func reap(_ supervisor: pid_t) {
        var status: Int32 = 0
        while waitpid(supervisor, &status, 0) < 0 && errno == EINTR {}
        _ = live.withLock { $0.remove(supervisor) }
    }
}

/// A command running under its supervisor: its output pipes, its end, and a way to kill it
/// with everything it started.
final class SupervisedProcess: Sendable {
    enum Outcome: Sendable, Equatable {
        case exited(Int32)
        case signaled(Int32)
        case notStarted(String)
    }

    struct Report: Sendable {
        let outcome: Outcome
        let killedOnRequest: Bool
        /// Processes of the tree still alive when the command ended (killed then).
        let leftovers: Int
    }

    private struct State {
        var command: pid_t = 0
        var report: Report?
        var waiters: [CheckedContinuation<Report, Never>] = []
        var killRequested = false
        /// The supervisor is gone (set with the final report).
        var ended = false
    }

    let supervisor: pid_t
    private let controlFD: Int32
    private let status: PipeReader
    private let stdout: PipeReader
    private let stderr: PipeReader
    private let supervision: ExecSupervision
    private let state = Mutex(State())
    /// How long the supervisor has to answer a kill before it is killed itself.
    static let killGrace = 2.0

    init(handle: sb_exec_handle, stdout: Int32, stderr: Int32, supervision: ExecSupervision) {
        supervisor = handle.supervisor
        controlFD = handle.control_fd
        status = PipeReader(handle.status_fd)
        self.stdout = PipeReader(stdout)
        self.stderr = PipeReader(stderr)
        self.supervision = supervision
        watchStatus()
    }

    /// Streams both pipes into the collectors until their end.
    func read(stdout outCollector: ExecModule.Collector, stderr errCollector: ExecModule.Collector) {
        stdout.start(onData: { outCollector.append($0) }, onEnd: { outCollector.done.signal() })
        stderr.start(onData: { errCollector.append($0) }, onEnd: { errCollector.done.signal() })
    }

    private func watchStatus() {
        let recordSize = MemoryLayout<sb_exec_report>.size
        let buffer = Mutex<Data>(Data())
        status.start(onData: { [self] chunk in
            let records = buffer.withLock { data -> [sb_exec_report] in
                data.append(chunk)
                var found: [sb_exec_report] = []
                while data.count >= recordSize {
                    var record = sb_exec_report()
                    withUnsafeMutableBytes(of: &record) { _ = data.prefix(recordSize).copyBytes(to: $0) }
                    found.append(record)
                    data.removeFirst(recordSize)
                }
                return found
            }
            for r in records { received(r) }
        }, onEnd: { [self] in supervisorEnded() })
    }

    private func received(_ record: sb_exec_report) {
        if record.kind == SB_EXEC_STARTED {
            state.withLock { $0.command = record.command }
            return
        }
        let outcome: Outcome
        switch record.kind {
        case SB_EXEC_EXITED: outcome = .exited(record.code)
        case SB_EXEC_SIGNALED: outcome = .signaled(record.code)
        default: outcome = .notStarted(String(cString: strerror(record.code)))
        }
        state.withLock {
            $0.report = Report(outcome: outcome, killedOnRequest: record.killed_on_request != 0, leftovers: Int(record.leftovers_killed))
        }
    }

    /// The status pipe closed: the supervisor is gone. Without a final report it was killed
    /// (by the command itself, say): what it supervised is killed as far as it can be reached.
    private func supervisorEnded() {
        supervision.reap(supervisor)
        let (report, waiters, command) = state.withLock { s -> (Report, [CheckedContinuation<Report, Never>], pid_t) in
            let report = s.report ?? Report(outcome: .signaled(SIGKILL), killedOnRequest: s.killRequested, leftovers: 0)
            s.report = report
            s.ended = true
            defer { s.waiters = [] }
            return (report, s.waiters, s.command)
        }
        if command > 0 { Glibc.kill(-command, SIGKILL) }
        close(controlFD)
        for w in waiters { w.resume(returning: report) }
    }

    /// Returns once the command and everything it started are gone.
    func finished() async -> Report {
        await withCheckedContinuation { (cont: CheckedContinuation<Report, Never>) in
            let done = state.withLock { s -> Report? in
                if s.ended, let r = s.report { return r }
                s.waiters.append(cont)
                return nil
            }
            if let done { cont.resume(returning: done) }
        }
    }

    /// Has the supervisor kill the whole tree; if it does not answer in time (it was stopped
    /// or is stuck), it is killed itself, and the command's group with it.
    func kill() {
        let first = state.withLock { s -> Bool in
            defer { s.killRequested = true }
            return !s.killRequested && s.report == nil
        }
        guard first else { return }
        var byte: UInt8 = 0x6B
        _ = write(controlFD, &byte, 1)
        let supervisor = self.supervisor
        DispatchQueue.global().asyncAfter(deadline: .now() + Self.killGrace) { [self] in
            let (done, command) = state.withLock { ($0.report != nil, $0.command) }
            guard !done else { return }
            Glibc.kill(supervisor, SIGKILL)
            if command > 0 { Glibc.kill(-command, SIGKILL) }
        }
    }
}

/// Reads a pipe to its end on the exec I/O loop (`PipeLoop`): no thread per command, and the
/// end is never missed — the descriptor is read until it says EAGAIN or 0. (FileHandle's
/// readability handler on Linux sometimes reports the end late, which made `exec.run` wait out
/// a fixed delay in one call of six.)
final class PipeReader: Sendable {
    private let fd: Int32

    init(_ fd: Int32) { self.fd = fd }

    func start(onData: @escaping @Sendable (Data) -> Void, onEnd: @escaping @Sendable () -> Void) {
        PipeLoop.shared.watch(fd, onData: onData, onEnd: onEnd)
    }
}

/// One thread in `epoll_wait` over every command pipe being read.
final class PipeLoop: Sendable {
    static let shared = PipeLoop()

    private struct Watch: Sendable {
        let fd: Int32
        let onData: @Sendable (Data) -> Void
        let onEnd: @Sendable () -> Void
    }

    private let epollFD: Int32
    private let wakeFD: Int32
    private let inbox = Mutex<[Watch]>([])

    private init() {
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        wakeFD = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = wakeFD
        _ = epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, &event)
        let thread = Thread { [self] in
            nameCurrentThread("sloth-exec-io")
            run()
        }
        thread.name = "sloth-exec-io"
        thread.stackSize = 512 << 10
        thread.start()
    }

    func watch(_ fd: Int32, onData: @escaping @Sendable (Data) -> Void, onEnd: @escaping @Sendable () -> Void) {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        inbox.withLock { $0.append(Watch(fd: fd, onData: onData, onEnd: onEnd)) }
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    /// The loop thread's own state: never touched elsewhere.
    private func run() -> Never {
        var watching: [Int32: Watch] = [:]
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let ready = epoll_wait(epollFD, &events, Int32(events.count), -1)
            if ready < 0 { continue }  // EINTR
            for i in 0..<Int(ready) {
                let fd = events[i].data.fd
                if fd == wakeFD {
                    var count: UInt64 = 0
                    _ = read(wakeFD, &count, 8)
                    for w in inbox.withLock({ box -> [Watch] in defer { box.removeAll() }; return box }) {
                        watching[w.fd] = w
                        var event = epoll_event()
                        event.events = EPOLLIN.rawValue | EPOLLRDHUP.rawValue
                        event.data.fd = w.fd
                        _ = epoll_ctl(epollFD, EPOLL_CTL_ADD, w.fd, &event)
                    }
                    continue
                }
                guard let w = watching[fd] else { continue }
                var ended = false
                while true {
                    let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                    if n > 0 {
                        w.onData(Data(buffer[0..<n]))
                        continue
                    }
                    if n < 0 && errno == EINTR { continue }
                    if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
                    ended = true  // end of file, or an error: nothing more comes either way
                    break
                }
                if ended {
                    _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, nil)
                    close(fd)
                    watching[fd] = nil
                    w.onEnd()
                }
            }
        }
    }
}
