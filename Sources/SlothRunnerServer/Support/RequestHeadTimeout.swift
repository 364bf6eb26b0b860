import Logging
import NIOCore
import NIOHTTPTypes

/// Cuts off a client that starts a request and does not finish sending its head (request line
/// and headers) within `timeout` — a slowloris holds a connection by dribbling header bytes, and
/// the idle timeout, which guards the wait *between* requests, is long by design (60 s). The
/// clock starts at the first byte of a request, so an idle keep-alive connection is the idle
/// timeout's business, and stops when the head is complete (a large body is the body limit's).
///
/// It sits after the HTTP decoder, where it sees request heads, and puts a small watcher in
/// front of the decoder, where the first raw byte of each request arrives. The clock is read,
/// not armed, per request: one repeating check per connection, every quarter of the timeout,
/// cuts a slow client off between 1 and 1.25 timeouts. (A timer armed and cancelled per request
/// cost 8 % of the server's throughput on small requests.)
final class RequestHeadTimeout: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let timeout: TimeAmount
    let logger: Logger
    /// Request heads read and responses finished: equal when no request is under way.
    private var heads = 0
    private var ends = 0
    /// When the request being received sent its first byte; nil between requests.
    private var headStartedAt: NIODeadline?
    private var check: Scheduled<Void>?
    private var watcher: FirstByteWatcher?

    init(timeout: TimeAmount, logger: Logger) {
        self.timeout = timeout
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let watcher = FirstByteWatcher(owner: self)
        self.watcher = watcher
        do {
            try context.pipeline.syncOperations.addHandler(watcher, position: .first)
        } catch {
            logger.warning("could not install the request head timeout on a connection", metadata: ["error": "\(error)"])
        }
        arm(context)
    }

    /// The check, re-armed after each look while the connection lives.
    private func arm(_ context: ChannelHandlerContext) {
        let every = TimeAmount.nanoseconds(max(timeout.nanoseconds / 4, 10_000_000))
        check = context.eventLoop.assumeIsolated().scheduleTask(in: every) { [self] in
            if let started = self.headStartedAt, NIODeadline.now() - started >= self.timeout {
                self.check = nil
                self.logger.debug("closing a connection whose request head did not arrive within the header timeout", metadata: [
                    "remote": "\(context.channel.remoteAddress.map { "\($0)" } ?? "?")",
                ])
                context.close(promise: nil)
                return
            }
            if self.check != nil { self.arm(context) }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
        if let watcher { context.pipeline.syncOperations.removeHandler(watcher, promise: nil) }
        watcher = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
        context.fireChannelInactive()
    }

    /// The first byte of a request (or of the TLS handshake before it) arrived.
    fileprivate func bytesArrived() {
        if heads == ends, headStartedAt == nil { headStartedAt = .now() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) {
            heads += 1
            headStartedAt = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { ends += 1 }
        context.write(data, promise: promise)
    }
}

/// Tells its `RequestHeadTimeout` when raw bytes arrive, in front of the HTTP decoder.
private final class FirstByteWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    private let owner: RequestHeadTimeout  // the owner lets go of this watcher when it is removed

    init(owner: RequestHeadTimeout) { self.owner = owner }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        owner.bytesArrived()
        context.fireChannelRead(data)
    }
}
