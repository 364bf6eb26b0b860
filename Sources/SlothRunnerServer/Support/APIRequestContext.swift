import Hummingbird
import NIOCore

/// Each request's context: Hummingbird's core context, the client's address, and the API
/// token the token middleware accepted — a client's rate budget follows its token, or its
/// address without one.
struct APIRequestContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?
    /// The name of the token the request came with, once checked.
    var tokenName: String?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}
