import Hummingbird
import NIOCore
import SlothRunner

/// `GET /api/v1/stream`: Server-Sent Events of every event status change, hook run and
/// deletion, from the store's change journal. Each message's `id` is its journal number; a
/// client reconnecting with `Last-Event-ID` (browsers send it by themselves) gets everything
/// after it from the store, so a reconnect loses nothing the journal still holds. Heartbeat
/// comments keep proxies from closing a quiet stream; they carry the number reached, so a
/// filtered stream does not re-read what it skipped after a reconnect.
struct StreamRoutes {
    let engine: Engine
    let feed: ChangeFeed
    let heartbeatMillis: Int64
    /// Journal entries read per look at the store.
    static let page = 500

    static let endpoints: [(HTTPRequest.Method, String)] = [(.get, "stream")]

    func register(on api: RouterGroup<APIRequestContext>) {
        api.get("stream", use: stream)
    }

    @Sendable func stream(_ request: Request, context: APIRequestContext) async throws -> Response {
        let query = try QueryParameters(request, known: StreamFilter.parameters)
        let filter = try StreamFilter(query)
        let resumeText = request.headers[.lastEventID] ?? query.text("last_event_id")
        var resumeAfter: Int64?
        if let resumeText, !resumeText.isEmpty {
            guard let n = Int64(resumeText), n >= 0 else {
                throw APIError.badRequest("invalid_last_event_id", "Last-Event-ID must be a message id this stream sent (a whole number), not '\(resumeText)'")
            }
            resumeAfter = n
        }
        let bounds: (first: Int64?, last: Int64?)
        do { bounds = try await engine.driver.changeBounds() } catch { throw APIError(error as? SlothError ?? .storage("\(error)")) }
        guard let ticks = feed.subscribe() else {
            throw APIError(.serviceUnavailable, "shutting_down", "the server is shutting down; reconnect to another node or after the restart")
        }
        let head = bounds.last ?? 0
        // Where the stream starts, and what to tell the client first if that is not where it
        // asked to resume.
        var cursor = head
        var notice: (name: String, data: JSONValue)?
        if let after = resumeAfter {
            if after > head {
                notice = ("reset", .object([
                    "message": .string("Last-Event-ID \(after) is beyond the journal's end (\(head)): the database was replaced or restored; reload the state and follow from here"),
                    "last_event_id": .int(after), "head": .int(head),
                ]))
            } else if let first = bounds.first, after < first - 1 {
                cursor = first - 1
                notice = ("gap", .object([
                    "message": .string("entries \(after + 1) to \(first - 1) were pruned from the change journal (serve --retain-changes); reload the state, then follow from here"),
                    "missed_from": .int(after + 1), "missed_to": .int(first - 1),
                ]))
            } else {
                cursor = after
            }
        }
        let driver = engine.driver
        let heartbeat = heartbeatMillis
        let startCursor = cursor
        let startNotice = notice
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream; charset=utf-8"
        headers[.cacheControl] = "no-cache"
        // Proxies (nginx) would otherwise hold the messages back until a buffer fills.
        headers[.accelBuffering] = "no"
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            var cursor = startCursor
            var lastWrite = nowMillis()
            // The retry hint browsers use between reconnects, then the opening comment: the
            // client knows at once that the stream is up.
            var opening = "retry: 2000\n: sloth-runner stream from \(cursor)\n\n"
            if let startNotice { opening += SSE.message(id: cursor, event: startNotice.name, data: startNotice.data) }
            try await writer.write(ByteBuffer(string: opening))
            for await end in ticks {
                while end > cursor {
                    let batch = try await driver.changes(after: cursor, limit: Self.page)
                    guard let last = batch.last else { break }
                    var text = ""
                    for change in batch where filter.admits(change) {
                        text += SSE.message(id: change.seq, event: change.kind.rawValue, data: change.json)
                    }
                    cursor = last.seq
                    if !text.isEmpty {
                        try await writer.write(ByteBuffer(string: text))
                        lastWrite = nowMillis()
                    }
                    if batch.count < Self.page { break }
                }
                if nowMillis() - lastWrite >= heartbeat {
                    try await writer.write(ByteBuffer(string: "id: \(cursor)\n: heartbeat\n\n"))
                    lastWrite = nowMillis()
                }
            }
            try await writer.finish(nil)
        })
    }
}

/// The text/event-stream framing (WHATWG HTML, "Server-sent events").
enum SSE {
    /// One message; `data` is one line of JSON (the serializer escapes newlines in strings).
    static func message(id: Int64, event: String, data: JSONValue) -> String {
        "id: \(id)\nevent: \(event)\ndata: \(data.serialized())\n\n"
    }
}
