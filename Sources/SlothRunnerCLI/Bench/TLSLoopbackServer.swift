import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import SwiftASN1
import X509

/// A loopback HTTPS server for `bench --wait-https` and the https tests: it makes a test CA and
/// a certificate for 127.0.0.1 and localhost signed by it (written to a directory, so a client
/// can trust the CA with `ca_file`), and answers every request after a fixed delay on one NIO
/// event loop. `/redirect/N` answers 302 towards `/redirect/N-1`, down to `/ok`.
final class TLSLoopbackServer {
    let port: Int
    let caFile: String
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel

    init(delay: Double, certificateDirectory: String) throws {
        let credentials = try TestCertificateAuthority.issue(into: certificateDirectory)
        caFile = credentials.caFile
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try NIOSSLCertificate(bytes: Array(credentials.certificatePEM.utf8), format: .pem))],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(credentials.keyPEM.utf8), format: .pem)))
        tls.applicationProtocols = ["http/1.1"]
        let context = try NIOSSLContext(configuration: tls)
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let delayAmount = TimeAmount.nanoseconds(Int64(max(0, delay) * 1e9))
        channel = try ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 65_535)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(DelayedResponder(delay: delayAmount))
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        port = channel.localAddress?.port ?? 0
    }

    func serveForever() throws {
        try channel.closeFuture.wait()
    }
}

/// Answers each request when its delay has passed, on the connection's event loop.
private final class DelayedResponder: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let delay: TimeAmount
    private var path = "/"

    init(delay: TimeAmount) { self.delay = delay }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): path = head.uri
        case .body: break
        case .end:
            let path = self.path
            let loop = context.eventLoop.assumeIsolated()
            loop.scheduleTask(in: delay) { self.respond(context: context, path: path) }
        }
    }

    private func respond(context: ChannelHandlerContext, path: String) {
        var headers = HTTPHeaders()
        var status = HTTPResponseStatus.ok
        var body = #"{"ok":true,"path":"\#(path)"}"#
        if path.hasPrefix("/redirect/"), let n = Int(path.dropFirst("/redirect/".count)) {
            status = .found
            headers.add(name: "Location", value: n > 1 ? "/redirect/\(n - 1)" : "/ok")
            body = ""
        } else {
            headers.add(name: "Content-Type", value: "application/json")
        }
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}

/// A certificate authority made for one test run: its certificate (`ca.pem`), and a server
/// certificate for 127.0.0.1 and localhost it signed (`server.pem`, `server-key.pem`).
enum TestCertificateAuthority {
    struct Issued {
        var caFile: String
        var certificatePEM: String
        var keyPEM: String
    }

    static func issue(into directory: String) throws -> Issued {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let now = Date()
        let caKey = P256.Signing.PrivateKey()
        let caName = try DistinguishedName { CommonName("sloth-runner test CA") }
        let ca = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(caKey.publicKey),
            notValidBefore: now - 3600, notValidAfter: now + 7 * 86_400, issuer: caName, subject: caName,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: .init(caKey))
        let serverKey = P256.Signing.PrivateKey()
        let server = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(serverKey.publicKey),
            notValidBefore: now - 3600, notValidAfter: now + 7 * 86_400, issuer: caName,
            subject: try DistinguishedName { CommonName("127.0.0.1") },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames([.dnsName("localhost"), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))])
            },
            issuerPrivateKey: .init(caKey))
        let caPEM = try ca.serializeAsPEM().pemString
        let serverPEM = try server.serializeAsPEM().pemString
        let caFile = directory + "/ca.pem"
        try caPEM.write(toFile: caFile, atomically: true, encoding: .utf8)
        try serverPEM.write(toFile: directory + "/server.pem", atomically: true, encoding: .utf8)
        try serverKey.pemRepresentation.write(toFile: directory + "/server-key.pem", atomically: true, encoding: .utf8)
        return Issued(caFile: caFile, certificatePEM: serverPEM, keyPEM: serverKey.pemRepresentation)
    }
}
