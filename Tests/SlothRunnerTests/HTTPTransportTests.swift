import Foundation
import Testing
@testable import SlothRunner
import SlothTestSupport

/// The loopback HTTPS server of `sloth-runner slow-http-server --tls-dir` (a test CA made for
/// this run), started once for these tests.
final class LoopbackTLSServer: Sendable {
    static let shared = try! LoopbackTLSServer()
    let base: String
    let caFile: String
    private let process: Process
    private let dir: String
    private let stdinPipe = Pipe()

    init() throws {
        dir = NSTemporaryDirectory() + "sloth-tls-" + UUID().uuidString
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let binary = ProcessInfo.processInfo.environment["SLOTH_RUNNER_BIN"] ?? root.appendingPathComponent(".build/debug/sloth-runner").path
        process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["slow-http-server", "--delay", "0", "--tls-dir", dir, "--exit-when-stdin-closes"]
        let pipe = Pipe()
        process.standardOutput = pipe
        // Held open for the life of the test process: the server exits when it closes.
        process.standardInput = stdinPipe
        try process.run()
        var line = [UInt8]()
        while let b = pipe.fileHandleForReading.readData(ofLength: 1).first, b != 10 { line.append(b) }
        let url = String(decoding: line, as: UTF8.self)
        guard url.hasPrefix("https://") else { throw SlothError.runtime("the TLS test server did not start: '\(url)'") }
        base = String(url.dropLast("/slow".count))
        caFile = dir + "/ca.pem"
    }

    deinit {
        process.terminate()
        try? FileManager.default.removeItem(atPath: dir)
    }
}

@Suite struct HTTPTransportTests {
    /// Its own Lua threads: the shared test runtime's are kept busy by the CPU-bound hostile
    /// cases of other suites, and a resumed request would wait behind them.
    static let runtime = LuaRuntime(threads: 2)
    static let plain = try! TestHTTPServer()

    func run(_ body: String, permissions: PermissionPolicy = .open) async -> HookRunResult {
        let tls = LoopbackTLSServer.shared
        return await LuaTestSupport.run(
            "local http, json = require('http'), require('json') local base, tls, ca = '\(Self.plain.base)', '\(tls.base)', '\(tls.caFile)' return { execute = function() \(body) end }",
            limits: HookLimits(timeoutMillis: 20_000, memoryBytes: 64 << 20, instructions: 50_000_000), permissions: permissions, on: Self.runtime)
    }

    @Test func httpsWithATestCAInsecureAndRedirects() async {
        var r = await run("local res = http.get(tls .. '/hello', { ca_file = ca }) return true, res.status_code .. ' ' .. tostring(res.json.ok) .. ' ' .. res.json.path")
        #expect(r.message == "200 true /hello", "\(r.message ?? "")")
        // Without the CA the server is not trusted (the system store does not know it).
        r = await run("http.get(tls .. '/hello')")
        #expect(!r.success && r.message?.contains("TLS handshake with 127.0.0.1 failed") == true && r.message?.contains("ca_file") == true, "\(r.message ?? "")")
        r = await run("return true, http.get(tls .. '/hello', { insecure = true }).status_code")
        #expect(r.message == "200", "\(r.message ?? "")")
        r = await run("local res = http.get(tls .. '/redirect/3', { ca_file = ca }) return true, res.status_code .. ' ' .. res.url")
        #expect(r.message == "200 \(LoopbackTLSServer.shared.base)/ok", "\(r.message ?? "")")
        r = await run("local res = http.get(tls .. '/redirect/3', { ca_file = ca, redirects = 0 }) return true, res.status_code .. ' ' .. res.headers.location")
        #expect(r.message == "302 /redirect/2", "\(r.message ?? "")")
        r = await run("http.get(tls .. '/redirect/3', { ca_file = ca, redirects = 2 })")
        #expect(!r.success && r.message?.contains("too many redirects (more than 2)") == true, "\(r.message ?? "")")
        r = await run("http.get(tls .. '/x', { ca_file = '/no/such/ca.pem' })")
        #expect(!r.success && r.message?.contains("ca_file /no/such/ca.pem does not exist") == true, "\(r.message ?? "")")
        let onlyHTTP = PermissionPolicy(declared: HookPermissions(grants: [.http: ["127.0.0.1"], .file: ["/tmp/elsewhere"]]), strict: false)
        r = await run("http.get(tls .. '/x', { ca_file = ca })", permissions: onlyHTTP)
        #expect(!r.success && r.message?.contains("ca_file: permission denied") == true, "\(r.message ?? "")")
    }

    @Test func everyRedirectHopIsPermissionChecked() async {
        let only = PermissionPolicy(declared: HookPermissions(grants: [.http: ["127.0.0.1"]]), strict: false)
        let elsewhere = "http://localhost:\(Self.plain.port)/ok"
        let r = await run("http.get(base .. '/goto?to=\(elsewhere)')", permissions: only)
        #expect(!r.success && r.message?.contains("redirect to \(elsewhere)") == true && r.message?.contains("may not reach host 'localhost'") == true, "\(r.message ?? "")")
        let open = await run("return true, http.get(base .. '/goto?to=\(elsewhere)').url")
        #expect(open.message == elsewhere, "\(open.message ?? "")")
    }

    @Test func queryTablesAreEncoded() async {
        let r = await run("return true, http.get(base .. '/query', { query = { a = '1 2', b = { 'x', 'y' }, plus = '+', n = 3 } }).json.query")
        #expect(r.message == "a=1%202&b=x&b=y&n=3&plus=%2B", "\(r.message ?? "")")
        let kept = await run("return true, http.get(base .. '/query?z=0', { query = { a = 1 } }).json.query")
        #expect(kept.message == "z=0&a=1", "\(kept.message ?? "")")
    }

    @Test func unknownOptionsAreErrorsWithASuggestion() async {
        var r = await run("http.get(base .. '/ok', { timout = 5 })")
        #expect(!r.success && r.message?.contains("unknown option 'timout'; did you mean 'timeout'?") == true, "\(r.message ?? "")")
        r = await run("http.request{ url = base .. '/ok', header = { a = 'b' } }")
        #expect(r.message?.contains("unknown option 'header'; did you mean 'headers'?") == true, "\(r.message ?? "")")
        r = await run("require('exec').run({'true'}, { tiemout = 1 })")
        #expect(!r.success && r.message?.contains("exec.run: unknown option 'tiemout'; did you mean 'timeout'?") == true, "\(r.message ?? "")")
        r = await run("http.get(base .. '/ok', { redirects = 99 })")
        #expect(r.message?.contains("redirects must be a whole number from 0 to 20") == true, "\(r.message ?? "")")
    }

    /// `http_proxy` for http://, `https_proxy` for https:// (tunnelled with CONNECT), and
    /// `no_proxy` past both.
    @Test func proxiesFromTheEnvironment() async throws {
        let proxy = try TestProxyServer()
        let tls = LoopbackTLSServer.shared
        let proxyURL = "http://127.0.0.1:\(proxy.port)"
        let transport = HTTPTransport(proxies: ProxySettings(environment: ["http_proxy": proxyURL, "HTTPS_PROXY": proxyURL, "no_proxy": "example.internal"]))
        func get(_ url: String, ca: String? = nil) async -> Result<JSONValue, ModuleError> {
            var request = HTTPModule.Request(method: "GET", url: URL(string: url)!, headers: [], body: nil, timeout: 10)
            request.caFile = ca
            return await HTTPModule.perform(request, policy: .open, transport: transport)
        }
        // Nothing below throws, so the clients are always shut down (a client dropped without it traps).
        let plainResult = try? await get(Self.plain.base + "/ok").get()
        #expect(plainResult?["status_code"] == .int(200))
        #expect(proxy.tunnelTargets == ["127.0.0.1:\(Self.plain.port)"])
        let secure = try? await get(tls.base + "/ok", ca: tls.caFile).get()
        #expect(secure?["status_code"] == .int(200))
        #expect(proxy.tunnelTargets.last == "127.0.0.1:\(tls.base.split(separator: ":").last!)")
        let bypass = HTTPTransport(proxies: ProxySettings(environment: ["http_proxy": proxyURL, "no_proxy": "localhost,127.0.0.1"]))
        let before = proxy.tunnelCount
        var direct = HTTPModule.Request(method: "GET", url: URL(string: Self.plain.base + "/ok")!, headers: [], body: nil, timeout: 10)
        direct.redirects = 0
        #expect((try? await HTTPModule.perform(direct, policy: .open, transport: bypass).get())?["status_code"] == .int(200))
        #expect(proxy.tunnelCount == before, "no_proxy was not honoured")
        await transport.shutdown()
        await bypass.shutdown()
    }

    @Test func proxyRulesFollowTheEnvironmentConvention() {
        let p = ProxySettings(environment: ["HTTP_PROXY": "user:pw@proxy.corp:3128", "no_proxy": ".corp.example, localhost:8080"])
        #expect(p.http == ProxySettings.Proxy("http://user:pw@proxy.corp:3128"))
        #expect(p.http?.port == 3128 && p.http?.username == "user" && p.https == nil)
        #expect(!p.applies(to: "api.corp.example") && !p.applies(to: "corp.example") && !p.applies(to: "localhost"))
        #expect(p.applies(to: "hooks.slack.com"))
        #expect(!ProxySettings(environment: ["http_proxy": "http://p:1", "no_proxy": "*"]).applies(to: "any.host"))
        #expect(!ProxySettings(environment: [:]).applies(to: "any.host"))
    }
}
