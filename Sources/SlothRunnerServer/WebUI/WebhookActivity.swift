import Synchronization
import SlothRunner

/// The last deliveries and rejections of each webhook, for the UI's webhooks page: kept in
/// memory by this server (the 20 newest of each, per webhook), so a restart starts them afresh;
/// the events themselves are in the store, and rejections are counted in `/metrics`.
final class WebhookActivity: Sendable {
    struct Entry: Sendable {
        let at: Millis
        /// The stored event, for a delivery.
        let eventID: String?
        let deliveryID: String?
        /// Why it was refused, for a rejection.
        let reason: String?
        let message: String?
    }
    static let kept = 20
    private let entries = Mutex<[String: (deliveries: [Entry], rejections: [Entry])]>([:])

    func delivered(_ webhook: String, eventID: String, deliveryID: String?, now: Millis = nowMillis()) {
        entries.withLock { all in
            var e = all[webhook] ?? ([], [])
            e.deliveries.insert(Entry(at: now, eventID: eventID, deliveryID: deliveryID, reason: nil, message: nil), at: 0)
            if e.deliveries.count > Self.kept { e.deliveries.removeLast() }
            all[webhook] = e
        }
    }

    func rejected(_ webhook: String, reason: String, message: String, now: Millis = nowMillis()) {
        entries.withLock { all in
            var e = all[webhook] ?? ([], [])
            e.rejections.insert(Entry(at: now, eventID: nil, deliveryID: nil, reason: reason, message: message), at: 0)
            if e.rejections.count > Self.kept { e.rejections.removeLast() }
            all[webhook] = e
        }
    }

    func recent(_ webhook: String) -> (deliveries: [Entry], rejections: [Entry]) {
        entries.withLock { $0[webhook] ?? ([], []) }
    }
}
