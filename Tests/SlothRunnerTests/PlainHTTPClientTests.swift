import Foundation
import Testing
@testable import SlothRunner
import SlothTestSupport

@Suite struct HTTPResponseParserTests {
    func parse(_ text: String, max: Int = 1 << 20, bodyless: Bool = false, byteByByte: Bool = false) throws -> PlainHTTPResponse? {
        var parser = HTTPResponseParser(maxBodyBytes: max, bodyless: bodyless)
        let bytes = Array(text.utf8)
        let pieces: [[UInt8]] = byteByByte ? bytes.map { [$0] } : [bytes]
        for piece in pieces {
            let done = try piece.withUnsafeBytes { try parser.feed($0) }
            if let done { return done }
        }
        return try parser.finish()
    }

    @Test func contentLengthFramingEvenByteByByte() throws {
        let text = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nx-a: 2\r\n\r\nhelloEXTRA"
        for slow in [false, true] {
            let r = try #require(try parse(text, byteByByte: slow))
            #expect(r.status == 200 && String(decoding: r.body, as: UTF8.self) == "hello" && r.headers["x-a"] == "1, 2")
        }
    }

    @Test func chunkedWithExtensionsAndTrailers() throws {
        let text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nT: 1\r\n\r\n"
        for slow in [false, true] {
            let r = try #require(try parse(text, byteByByte: slow))
            #expect(String(decoding: r.body, as: UTF8.self) == "Wikipedia in\r\n\r\nchunks.")
        }
    }

    @Test func closeDelimitedInterimAndBodylessResponses() throws {
        #expect(try parse("HTTP/1.1 200 OK\r\n\r\nto the end").map { String(decoding: $0.body, as: UTF8.self) } == "to the end")
        #expect(try parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")?.status == 204)
        #expect(try parse("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", bodyless: true)?.body == [])
    }

    @Test func limitsAndDefects() {
        #expect(throws: HTTPParseError.bodyTooLarge(limit: 10)) { try parse("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", max: 10) }
        #expect(throws: HTTPParseError.bodyTooLarge(limit: 10)) { try parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\nabcdef\r\n0\r\n\r\n", max: 10) }
        #expect(throws: HTTPParseError.bodyTooLarge(limit: 10)) { try parse("HTTP/1.1 200 OK\r\n\r\n0123456789AB", max: 10) }
        #expect(throws: HTTPParseError.truncated) { try parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc") }
        #expect(throws: HTTPParseError.truncated) { try parse("HTTP/1.1 200 OK\r\nContent-") }
        #expect(throws: HTTPParseError.self) { try parse("SMTP ready\r\n\r\n") }
        #expect(throws: HTTPParseError.self) { try parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n") }
        #expect(throws: HTTPParseError.self) { try parse("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n") }
    }

    @Test func requestSerialisation() {
        let r = PlainHTTPRequest(method: "POST", host: "::1", port: 8080, target: "/a?b=c", headers: [(name: "X-K", value: "v"), (name: "Connection", value: "keep-alive")], body: Array("hi".utf8))
        let text = String(decoding: r.serialized(), as: UTF8.self)
        #expect(text == "POST /a?b=c HTTP/1.1\r\nHost: [::1]:8080\r\nX-K: v\r\nContent-Length: 2\r\nUser-Agent: sloth-runner\r\nAccept: */*\r\nConnection: close\r\n\r\nhi")
    }
}

@Suite struct PlainHTTPClientTests {
    static let server = try! TestHTTPServer()

    func get(_ target: String, host: String = "127.0.0.1", port: UInt16? = nil, timeout: Double = 10, method: String = "GET") async -> Result<PlainHTTPResponse, PlainHTTPError> {
        await PlainHTTPClient.shared.execute(PlainHTTPRequest(method: method, host: host, port: port ?? Self.server.port, target: target, timeout: timeout))
    }

    @Test func framingsOverTheWire() async throws {
        let chunked = try await get("/chunked/1000").get()
        #expect(chunked.body == Array(repeating: UInt8(ascii: "y"), count: 1000) && chunked.headers["x-multi"] == "a, b")
        #expect(try await get("/unframed").get().body == Array("unframed-body".utf8))
        let interim = try await get("/continue").get()
        #expect(interim.status == 201 && interim.body == Array("done".utf8))
        let big = try await get("/big/3000000").get()
        #expect(big.body.count == 3_000_000)
        let echoed = try await get("/echo?a=b%20c&d=%2F").get()
        #expect(String(decoding: echoed.body, as: UTF8.self).contains("\"path\":\"/echo?a=b%20c&d=%2F\""))
        #expect(try await get("/ok", method: "HEAD").get().body.isEmpty)
    }

    @Test func brokenResponsesAreErrors() async {
        guard case .failure(.badResponse(.malformed)) = await get("/garbage") else { Issue.record("garbage accepted"); return }
        guard case .failure(.badResponse(.truncated)) = await get("/cut") else { Issue.record("short body accepted"); return }
    }

    @Test func connectFailuresTimeoutsAndNames() async throws {
        guard case .failure(.connectionRefused(host: "127.0.0.1")) = await get("/ok", port: 1) else { Issue.record("port 1 answered"); return }
        guard case .failure(.timedOut) = await get("/slow/3000", timeout: 0.2) else { Issue.record("no timeout"); return }
        // `localhost` may resolve to ::1 first; the client falls through to 127.0.0.1.
        #expect(try await get("/ok", host: "localhost").get().status == 200)
    }

    @Test func cancellingTheTaskClosesTheRequest() async {
        let task = Task { await get("/slow/5000") }
        task.cancel()
        guard case .failure(.cancelled) = await task.value else { Issue.record("not cancelled"); return }
    }

    @Test func manyRequestsInFlightAtOnce() async {
        let results = await withTaskGroup(of: Int.self) { group in
            for i in 0..<300 { group.addTask { (try? await get(i.isMultiple(of: 2) ? "/ok" : "/chunked/100").get().status) ?? 0 } }
            return await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(results.count == 300 && results.allSatisfy { $0 == 200 })
    }
}
