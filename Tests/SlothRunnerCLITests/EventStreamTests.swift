import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SlothRunner
import Testing

/// `GET /api/v1/stream` black-box: a real `serve`, a real streaming HTTP client, the messages
/// parsed as the SSE format defines them.
@Suite(.serialized) struct EventStreamTests {
    /// One SSE message or comment, as a client sees it.
    struct Message {
        var id: String?
        var event: String?
        var data = ""
        var comments: [String] = []
        var json: JSONValue { (try? JSONValue.parse(data)) ?? .null }
        var seq: Int64? { id.flatMap { Int64($0) } }
    }

    /// Reads SSE messages off a streaming response body (fields by the WHATWG rules: `field:
    /// value`, one leading space dropped, a blank line ends a message).
    final class Reader {
        private var iterator: HTTPClientResponse.Body.AsyncIterator
        private var pending: [UInt8] = []
        let status: Int
        let headers: HTTPHeaders

        init(_ response: HTTPClientResponse) {
            status = Int(response.status.code)
            headers = response.headers
            iterator = response.body.makeAsyncIterator()
        }

        func next() async throws -> Message? {
            var message = Message()
            var seen = false
            while true {
                guard let line = try await nextLine() else { return nil }
                if line.isEmpty {
                    if seen { return message }
                    continue
                }
                seen = true
                if line.hasPrefix(":") {
                    message.comments.append(String(line.dropFirst()).trimmingCharacters(in: .whitespaces))
                    continue
                }
                let (field, value) = line.firstIndex(of: ":").map { i -> (String, String) in
                    var v = line[line.index(after: i)...]
                    if v.first == " " { v = v.dropFirst() }
                    return (String(line[..<i]), String(v))
                } ?? (line, "")
                switch field {
                case "id": message.id = value
                case "event": message.event = value
                case "data": message.data += message.data.isEmpty ? value : "\n" + value
                default: break
                }
            }
        }

        private func nextLine() async throws -> String? {
            while true {
                if let nl = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: pending[..<nl], as: UTF8.self)
                    pending.removeSubrange(...nl)
                    return line
                }
                guard let chunk = try await iterator.next() else { return nil }
                pending += Array(buffer: chunk)
            }
        }

        /// Messages (not comments) until `done` says enough, skipping heartbeats.
        func collect(until done: ([Message]) -> Bool) async throws -> [Message] {
            var out: [Message] = []
            while !done(out) {
                guard let m = try await next() else { break }
                if m.event != nil { out.append(m) }
            }
            return out
        }
    }

    static func open(_ base: String, _ query: String = "", lastEventID: String? = nil) async throws -> Reader {
        var request = HTTPClientRequest(url: base + "/api/v1/stream" + query)
        if let lastEventID { request.headers.add(name: "Last-Event-ID", value: lastEventID) }
        return Reader(try await HTTPAPITests.client.execute(request, timeout: .seconds(60)))
    }

    func dispatch(_ base: String, _ type: String, _ n: Int, stack: String? = nil) async throws -> String {
        let stackField = stack.map { #", "stack": "\#($0)""# } ?? ""
        let a = try await HTTPAPITests.call(base, .POST, "/api/v1/events", body: #"{"type": "\#(type)", "data": {"n": \#(n)}\#(stackField)}"#)
        return try #require(a.json["id"]?.stringValue, "\(a)")
    }

    /// Whether `messages` hold, for every id, its final status and its hook run.
    static func finished(_ ids: [String], in messages: [Message], status: String = "completed") -> Bool {
        ids.allSatisfy { id in
            messages.contains { $0.event == "status" && $0.json["event_id"] == .string(id) && $0.json["status"] == .string(status) }
                && messages.contains { $0.event == "execution" && $0.json["event_id"] == .string(id) }
        }
    }

    @Test func aReconnectWithLastEventIDMissesNothing() async throws {
        let cli = CLI()
        let hook = cli.file("ok.lua", "return { name = 'ok', event_type = 'custom.*', execute = function(e) return true end }")
        #expect(try await cli.run("hook", "add", hook).status == 0)
        let daemon = try await cli.startServe(["--http-stream-heartbeat", "0.2s"])
        let base = try #require(daemon.apiURL, "\(daemon.log)")

        // First connection: it opens with a comment, then follows five events live.
        var reader = try await Self.open(base)
        #expect(reader.status == 200 && reader.headers["content-type"].first?.hasPrefix("text/event-stream") == true)
        let opening = try #require(try await reader.next())
        #expect(opening.comments.contains { $0.hasPrefix("sloth-runner stream from") }, "\(opening)")
        var firstIDs: [String] = []
        for n in 0..<5 { firstIDs.append(try await dispatch(base, "custom.a", n)) }
        let first = try await reader.collect { Self.finished(firstIDs, in: $0) }
        #expect(Self.finished(firstIDs, in: first), "\(first.map(\.data))")
        let execution = try #require(first.first { $0.event == "execution" })
        #expect(execution.json["execution"]?["hook_name"] == .string("ok") && execution.json["type"] == .string("custom.a"), "\(execution.data)")
        let lastSeen = try #require(first.last?.seq)

        // While no one listens: five more events, from the API and from another process (the
        // CLI writes the store directly; the journal sees every writer).
        var missedIDs: [String] = []
        for n in 0..<4 { missedIDs.append(try await dispatch(base, "custom.b", n)) }
        let fromCLI = try await cli.run("events", "dispatch", "custom.b", "--data", #"{"n": 99}"#, "-o", "json")
        #expect(fromCLI.status == 0, "\(fromCLI.stderr)")
        missedIDs.append(try #require(JSONValue.parse(fromCLI.stdout)["id"]?.stringValue))

        // The reconnect resumes right after the last message seen: every journal entry since,
        // in order, none twice, none skipped (an unfiltered stream sends every number).
        reader = try await Self.open(base, lastEventID: String(lastSeen))
        let resumed = try await reader.collect { Self.finished(missedIDs, in: $0) }
        #expect(Self.finished(missedIDs, in: resumed), "\(resumed.map(\.data))")
        let seqs = resumed.compactMap(\.seq)
        #expect(seqs.first == lastSeen + 1, "resumed at \(seqs.first ?? -1) after \(lastSeen)")
        #expect(seqs == Array(seqs.first!...seqs.last!), "numbers skipped or repeated: \(seqs)")
        #expect(!resumed.contains { m in firstIDs.contains { m.json["event_id"] == .string($0) } }, "an event seen before the reconnect came again")
        // The CLI's event went through pending (stored by the CLI) before the daemon ran it.
        #expect(resumed.contains { $0.json["event_id"] == .string(missedIDs[4]) && $0.json["status"] == .string("pending") })

        // A quiet stream sends heartbeats carrying the number reached.
        let heartbeat = try #require(try await reader.next())
        #expect(heartbeat.comments == ["heartbeat"] && heartbeat.seq == seqs.last, "\(heartbeat)")
        daemon.kill(SIGTERM)
        // Shutdown ends open streams (the server would otherwise wait for them forever); a
        // heartbeat may still come first.
        while let late = try await reader.next() { #expect(late.comments == ["heartbeat"], "\(late)") }
        #expect(try await daemon.waitExit() == 0, "\(daemon.log)")
    }

    @Test func filtersAndResumptionProblems() async throws {
        let cli = CLI()
        let ok = cli.file("ok.lua", "return { name = 'ok', event_type = 'custom.good', execute = function(e) return true end }")
        let bad = cli.file("bad.lua", "return { name = 'bad', event_type = 'custom.bad', max_attempts = 1, execute = function(e) error('no') end }")
        #expect(try await cli.run("hook", "add", ok).status == 0)
        #expect(try await cli.run("hook", "add", bad).status == 0)
        let daemon = try await cli.startServe()
        let base = try #require(daemon.apiURL, "\(daemon.log)")

        let failures = try await Self.open(base, "?status=failed")
        let prod = try await Self.open(base, "?type=custom.*&stack=prod&kind=status")
        let deletions = try await Self.open(base, "?kind=deleted")
        for reader in [failures, prod, deletions] { _ = try await reader.next() }  // opened
        let good = try await dispatch(base, "custom.good", 1, stack: "prod")
        let badID = try await dispatch(base, "custom.bad", 2)
        _ = try await dispatch(base, "custom.good", 3, stack: "dev")

        let failed = try #require(try await failures.collect { !$0.isEmpty }.first)
        #expect(failed.event == "status" && failed.json["event_id"] == .string(badID) && failed.json["status"] == .string("failed"), "\(failed.data)")
        #expect(failed.json["event"]?["error"]?.stringValue?.contains("no") == true, "\(failed.data)")
        let prodMessages = try await prod.collect { $0.contains { $0.json["status"] == .string("completed") } }
        #expect(prodMessages.allSatisfy { $0.event == "status" && $0.json["event_id"] == .string(good) }, "\(prodMessages.map(\.data))")

        #expect(try await HTTPAPITests.call(base, .DELETE, "/api/v1/events/\(good)").status == 204)
        let deleted = try #require(try await deletions.collect { !$0.isEmpty }.first)
        #expect(deleted.event == "deleted" && deleted.json["event_id"] == .string(good) && deleted.json["type"] == .string("custom.good")
                && deleted.json["stack"] == .string("prod"), "\(deleted.data)")

        // A number beyond the journal's end (another database): told, then followed from here.
        let ahead = try await Self.open(base, lastEventID: "999999")
        let reset = try #require(try await ahead.collect { !$0.isEmpty }.first)
        #expect(reset.event == "reset" && reset.json["last_event_id"] == .int(999_999), "\(reset.data)")
        // Bad input is refused before the stream starts.
        for (query, id, code) in [("", "abc", "invalid_last_event_id"), ("?status=done", nil, "invalid_parameter"),
                                  ("?kind=everything", nil, "invalid_parameter"), ("?type=Bad..Type", nil, "invalid_parameter"),
                                  ("?stauts=failed", nil, "invalid_parameter")] {
            var headers: [(String, String)] = []
            if let id { headers.append(("Last-Event-ID", id)) }
            let a = try await HTTPAPITests.call(base, .GET, "/api/v1/stream" + query, headers: headers)
            #expect(a.status == 400 && a.errorCode == code, "\(query) \(id ?? ""): \(a)")
        }
        daemon.kill(SIGTERM)
        #expect(try await daemon.waitExit() == 0, "\(daemon.log)")
    }
}
