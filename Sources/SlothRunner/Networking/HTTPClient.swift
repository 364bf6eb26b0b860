import Foundation
import Synchronization
import CLinux
#if canImport(Glibc)
import Glibc
#endif

/// What went wrong with a plain-HTTP request, carrying what the hook author needs to know.
enum PlainHTTPError: Error, Sendable, Equatable {
    case cannotResolve(host: String)
    case connectionRefused(host: String)
    case connectFailed(host: String, reason: String)
    case timedOut
    case cancelled
    case io(String)
    case badResponse(HTTPParseError)
}

/// One HTTP/1.1 request: `target` is the origin-form path with its query (`/a/b?c=d`).
struct PlainHTTPRequest: Sendable {
    var method: String
    var host: String
    var port: UInt16
    var target: String
    var headers: [(name: String, value: String)]
    var body: [UInt8]
    var timeout: Double
    var maxBodyBytes: Int

    package init(method: String, host: String, port: UInt16, target: String, headers: [(name: String, value: String)] = [],
                body: [UInt8] = [], timeout: Double = 30, maxBodyBytes: Int = 10 << 20) {
        self.method = method
        self.host = host
        self.port = port
        self.target = target.isEmpty ? "/" : target
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.maxBodyBytes = maxBodyBytes
    }

    /// The request on the wire. `Connection: close` always: the connection is ours alone and
    /// the end of the exchange is also the end of the socket.
    func serialized() -> [UInt8] {
        let given = Set(headers.map { $0.name.lowercased() })
        var head = "\(method) \(target) HTTP/1.1\r\n"
        if !given.contains("host") {
            let name = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
            head += port == 80 ? "Host: \(name)\r\n" : "Host: \(name):\(port)\r\n"
        }
        for (name, value) in headers where name.lowercased() != "connection" { head += "\(name): \(value)\r\n" }
        if !given.contains("content-length"), !body.isEmpty || ["POST", "PUT", "PATCH"].contains(method) {
            head += "Content-Length: \(body.count)\r\n"
        }
        if !given.contains("user-agent") { head += "User-Agent: sloth-runner\r\n" }
        if !given.contains("accept") { head += "Accept: */*\r\n" }
        head += "Connection: close\r\n\r\n"
        return Array(head.utf8) + body
    }
}

/// A plain-HTTP/1.1 client driven by one epoll thread (`sloth-http`): every request is a small
/// state machine (connect, write, read), so ten thousand requests in flight cost ten thousand
/// sockets and a few KiB each — not threads. Timeouts cover the whole exchange; a cancelled
/// task closes its socket at once. TLS is not spoken here (the `http` module sends https://
/// through URLSession).
final class PlainHTTPClient: Sendable {
    static let shared = PlainHTTPClient()

    private let loop = HTTPEventLoop()

    package init() {}

    func execute(_ request: PlainHTTPRequest) async -> Result<PlainHTTPResponse, PlainHTTPError> {
        let deadline = monotonicNanos() + UInt64(max(0, request.timeout) * 1e9)
        let addresses = await SocketAddress.resolve(request.host, port: request.port)

        guard !addresses.isEmpty else { return .failure(.cannotResolve(host: request.host)) }
        let ticket = HTTPEventLoop.Ticket(id: loop.newID(), request: request, addresses: addresses, deadline: deadline)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                ticket.attach(continuation)
                loop.submit(.start(ticket))
            }
        } onCancel: {
            ticket.cancelled.store(true, ordering: .sequentiallyConsistent)
            loop.submit(.cancel(ticket))
        }
    }
}

/// The epoll thread behind `PlainHTTPClient`. Other threads talk to it only through `submit`
/// (a locked inbox and an eventfd); every connection lives on the loop thread alone.
final class HTTPEventLoop: Sendable {
    typealias Outcome = Result<PlainHTTPResponse, PlainHTTPError>

    /// A request on its way through the loop.
    final class Ticket: Sendable {
        let id: UInt64
        let request: PlainHTTPRequest
        let addresses: [SocketAddress]
        let deadline: UInt64
        let cancelled = Atomic<Bool>(false)
        private let continuation = Mutex<CheckedContinuation<Outcome, Never>?>(nil)

        init(id: UInt64, request: PlainHTTPRequest, addresses: [SocketAddress], deadline: UInt64) {
            self.id = id
            self.request = request
            self.addresses = addresses
            self.deadline = deadline
        }

        func attach(_ c: CheckedContinuation<Outcome, Never>) { continuation.withLock { $0 = c } }

        /// Resumes the waiting task exactly once.
        func complete(_ outcome: Outcome) {
            continuation.withLock { c in
                c?.resume(returning: outcome)
                c = nil
            }
        }
    }

    enum Command: Sendable {
        case start(Ticket)
        case cancel(Ticket)
    }

    let epollFD: Int32
    let wakeFD: Int32
    private let inbox = Mutex<[Command]>([])
    private let ids = Atomic<UInt64>(1)  // 0 is the wake-up eventfd's epoll key

    init() {
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
        precondition(epollFD >= 0 && wakeFD >= 0, "epoll/eventfd unavailable (errno \(errno))")
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = 0
        epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, &event)
        let thread = Thread { [self] in
            nameCurrentThread("sloth-http")
            HTTPLoopDriver(loop: self).run()
        }
        thread.start()
    }

    func newID() -> UInt64 { ids.wrappingAdd(1, ordering: .relaxed).oldValue }

    func submit(_ command: Command) {
        let wasEmpty = inbox.withLock { queue in
            queue.append(command)
            return queue.count == 1
        }
        if wasEmpty {
            var one: UInt64 = 1
            _ = write(wakeFD, &one, 8)
        }
    }

    func takeCommands() -> [Command] {
        var drained: UInt64 = 0
        _ = read(wakeFD, &drained, 8)
        return inbox.withLock { queue in
            defer { queue.removeAll(keepingCapacity: true) }
            return queue
        }
    }
}
