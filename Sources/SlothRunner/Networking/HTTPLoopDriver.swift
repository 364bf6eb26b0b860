import CLinux
#if canImport(Glibc)
import Glibc
#endif

/// The state of one request on the loop thread.
final class HTTPConnection {
    enum Phase { case connecting, writing, reading }

    let id: UInt64
    let ticket: HTTPEventLoop.Ticket
    var fd: Int32 = -1
    var phase = Phase.connecting
    var nextAddress = 0
    var lastConnectError: Int32 = 0
    let outgoing: [UInt8]
    var written = 0
    var parser: HTTPResponseParser

    init(id: UInt64, ticket: HTTPEventLoop.Ticket) {
        self.id = id
        self.ticket = ticket
        outgoing = ticket.request.serialized()
        parser = HTTPResponseParser(maxBodyBytes: ticket.request.maxBodyBytes, bodyless: ticket.request.method == "HEAD")
    }
}

/// Runs on the `sloth-http` thread and owns every connection: waits in `epoll_wait` until a
/// socket is ready, a command arrives or the nearest deadline passes.
final class HTTPLoopDriver {
    private let loop: HTTPEventLoop
    private var connections: [UInt64: HTTPConnection] = [:]
    private var deadlines = DeadlineHeap()
    private var readBuffer = [UInt8](repeating: 0, count: 64 << 10)

    init(loop: HTTPEventLoop) { self.loop = loop }

    func run() -> Never {
        var events = [epoll_event](repeating: epoll_event(), count: 512)
        while true {
            let ready = epoll_wait(loop.epollFD, &events, Int32(events.count), waitMillis())
            if ready < 0, errno != EINTR { fatalError("epoll_wait failed: errno \(errno)") }
            for i in 0..<max(0, Int(ready)) {
                let key = events[i].data.u64
                if key == 0 {
                    for command in loop.takeCommands() { apply(command) }
                } else if let connection = connections[key] {
                    progress(connection, events[i].events)
                }
            }
            expire()
        }
    }

    // MARK: Commands

    private func apply(_ command: HTTPEventLoop.Command) {
        switch command {
        case .start(let ticket):
            if ticket.cancelled.load(ordering: .sequentiallyConsistent) { return ticket.complete(.failure(.cancelled)) }
            if monotonicNanos() >= ticket.deadline { return ticket.complete(.failure(.timedOut)) }
            let connection = HTTPConnection(id: ticket.id, ticket: ticket)
            connections[connection.id] = connection
            deadlines.push(ticket.deadline, connection.id)
            connectNext(connection)
        case .cancel(let ticket):
            if let connection = connections[ticket.id] {
                finish(connection, .failure(.cancelled))
            }
        }
    }

    // MARK: Connection state machine

    private func connectNext(_ c: HTTPConnection) {
        let addresses = c.ticket.addresses
        while c.nextAddress < addresses.count {
            let address = addresses[c.nextAddress]
            c.nextAddress += 1
            let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else {
                let reason = errno == EMFILE || errno == ENFILE ? "too many open files (raise the open-files limit)" : String(cString: strerror(errno))
                return finish(c, .failure(.io("cannot open a socket: \(reason)")))
            }
            if address.connect(fd) == 0 || errno == EINPROGRESS {
                c.fd = fd
                // On loopback and fast links the handshake is often done by now: try sending
                // at once and skip a round through epoll.
                let n = c.outgoing.withUnsafeBytes { send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
                if n >= 0 {
                    c.written = n
                    c.phase = .writing
                    if c.written == c.outgoing.count {
                        c.phase = .reading
                        watch(c, EPOLLIN.rawValue, add: true)
                    } else {
                        watch(c, EPOLLOUT.rawValue, add: true)
                    }
                    return
                }
                if errno == EAGAIN || errno == ENOTCONN || errno == EINPROGRESS {
                    c.phase = .connecting
                    watch(c, EPOLLOUT.rawValue, add: true)
                    return
                }
            }
            c.lastConnectError = errno
            close(fd)
            c.fd = -1
        }
        finish(c, .failure(connectError(c)))
    }

    private func connectError(_ c: HTTPConnection) -> PlainHTTPError {
        let host = c.ticket.request.host
        switch c.lastConnectError {
        case ECONNREFUSED: return .connectionRefused(host: host)
        case 0: return .cannotResolve(host: host)
        default: return .connectFailed(host: host, reason: String(cString: strerror(c.lastConnectError)))
        }
    }

    private func progress(_ c: HTTPConnection, _ events: UInt32) {
        switch c.phase {
        case .connecting:
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &error, &length)
            if error != 0 {
                c.lastConnectError = error
                close(c.fd)  // also removes it from the epoll set
                c.fd = -1
                return connectNext(c)
            }
            c.phase = .writing
            writeSome(c)
        case .writing:
            writeSome(c)
        case .reading:
            readSome(c)
        }
    }

    private func writeSome(_ c: HTTPConnection) {
        while c.written < c.outgoing.count {
            let n = c.outgoing.withUnsafeBytes { bytes in
                send(c.fd, bytes.baseAddress! + c.written, bytes.count - c.written, Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                c.written += n
            } else if n < 0, errno == EAGAIN || errno == EINTR {
                return  // EPOLLOUT is still armed
            } else {
                return finish(c, .failure(.io("sending the request failed: \(String(cString: strerror(errno)))")))
            }
        }
        c.phase = .reading
        watch(c, EPOLLIN.rawValue, add: false)
    }

    private func readSome(_ c: HTTPConnection) {
        for _ in 0..<16 {  // bounded, so one fast peer cannot starve the others
            let n = readBuffer.withUnsafeMutableBytes { read(c.fd, $0.baseAddress!, $0.count) }
            if n > 0 {
                do {
                    if let response = try readBuffer.withUnsafeBytes({ try c.parser.feed(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }) {
                        return finish(c, .success(response))
                    }
                } catch let error as HTTPParseError {
                    return finish(c, .failure(.badResponse(error)))
                } catch {
                    return finish(c, .failure(.io("\(error)")))
                }
            } else if n == 0 {
                do {
                    return finish(c, .success(try c.parser.finish()))
                } catch {
                    return finish(c, .failure(.badResponse(error)))
                }
            } else if errno == EAGAIN || errno == EINTR {
                return
            } else {
                return finish(c, .failure(.io("reading the response failed: \(String(cString: strerror(errno)))")))
            }
        }
    }

    private func watch(_ c: HTTPConnection, _ events: UInt32, add: Bool) {
        var event = epoll_event()
        event.events = events
        event.data.u64 = c.id
        epoll_ctl(loop.epollFD, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c.fd, &event)
    }

    private func finish(_ c: HTTPConnection, _ outcome: HTTPEventLoop.Outcome) {
        connections[c.id] = nil
        if c.fd >= 0 {
            close(c.fd)
            c.fd = -1
        }
        c.ticket.complete(outcome)
    }

    // MARK: Deadlines

    private func waitMillis() -> Int32 {
        guard let first = deadlines.first else { return -1 }
        let now = monotonicNanos()
        if first <= now { return 0 }
        return Int32(min(60_000, (first - now + 999_999) / 1_000_000))
    }

    private func expire() {
        let now = monotonicNanos()
        while let first = deadlines.first, first <= now {
            let id = deadlines.pop()
            if let c = connections[id] { finish(c, .failure(.timedOut)) }
        }
        // Entries of finished requests stay until they expire; rebuild when they dominate.
        if deadlines.count > 4096, deadlines.count > 4 * connections.count {
            deadlines = DeadlineHeap()
            for c in connections.values { deadlines.push(c.ticket.deadline, c.id) }
        }
    }
}

/// A binary min-heap of (deadline, connection id).
struct DeadlineHeap {
    private var items: [(deadline: UInt64, id: UInt64)] = []

    var count: Int { items.count }
    var first: UInt64? { items.first?.deadline }

    mutating func push(_ deadline: UInt64, _ id: UInt64) {
        items.append((deadline, id))
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[parent].deadline > items[i].deadline else { break }
            items.swapAt(parent, i)
            i = parent
        }
    }

    /// Removes the earliest entry and returns its id; the heap must not be empty.
    mutating func pop() -> UInt64 {
        let top = items[0].id
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var smallest = i
                if l < items.count, items[l].deadline < items[smallest].deadline { smallest = l }
                if r < items.count, items[r].deadline < items[smallest].deadline { smallest = r }
                if smallest == i { break }
                items.swapAt(i, smallest)
                i = smallest
            }
        }
        return top
    }
}
