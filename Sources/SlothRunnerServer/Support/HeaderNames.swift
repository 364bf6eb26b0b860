import HTTPTypes

extension HTTPField.Name {
    /// A client's key for a dispatch it may send again (a retry after a timeout): the same key
    /// returns the first event and stores nothing new.
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
    /// Set to `true` on the answer to a repeated key.
    static let idempotentReplayed = HTTPField.Name("Idempotent-Replayed")!
}

extension HTTPField.Name {
    /// The last message an event stream client saw (browsers send it when they reconnect).
    static let lastEventID = HTTPField.Name("Last-Event-ID")!
    /// `no` keeps proxies such as nginx from buffering an event stream.
    static let accelBuffering = HTTPField.Name("X-Accel-Buffering")!
}

extension HTTPField.Name {
    static let xFrameOptions = HTTPField.Name("X-Frame-Options")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
}
