import HTTPTypes

extension HTTPField.Name {
    /// A client's key for a dispatch it may send again (a retry after a timeout): the same key
    /// returns the first event and stores nothing new.
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
    /// Set to `true` on the answer to a repeated key.
    static let idempotentReplayed = HTTPField.Name("Idempotent-Replayed")!
}
