import HTTPTypes
import Hummingbird
import Synchronization
import SlothRunner

/// Browser sessions of the web UI: a token typed once at `/login` becomes a random session id in
/// an `HttpOnly`, `SameSite=Strict` cookie, so the token itself never sits in the page or in
/// script reach. Each session has a CSRF token that every state-changing request must carry
/// (`X-CSRF-Token`), and lasts 12 hours; it ends at once when its API token is revoked.
/// Sessions live in memory: a restart of `serve` asks for the token again.
final class WebSessions: Sendable {
    struct Session: Sendable {
        let id: String
        let tokenName: String
        let tokenHash: String
        let role: APIToken.Role
        let csrf: String
        let expires: Millis
    }

    static let cookieName = "sloth_session"
    static let csrfHeader = HTTPField.Name("X-CSRF-Token")!
    static let lifetimeMillis: Millis = 12 * 3_600_000
    /// Sessions kept at most (the oldest go first): logins cannot grow memory without end.
    static let capacity = 10_000

    private let sessions = Mutex<[String: Session]>([:])

    func create(token: APIToken, hash: String, now: Millis = nowMillis()) -> Session {
        let session = Session(id: Self.random(), tokenName: token.name, tokenHash: hash, role: token.role, csrf: Self.random(), expires: now + Self.lifetimeMillis)
        sessions.withLock { all in
            if all.count >= Self.capacity {
                all = all.filter { $0.value.expires > now }
                if all.count >= Self.capacity, let oldest = all.min(by: { $0.value.expires < $1.value.expires })?.key { all.removeValue(forKey: oldest) }
            }
            all[session.id] = session
        }
        return session
    }

    /// The request's live session: its cookie names one that has not expired and whose token is
    /// still live.
    func session(of request: Request, liveTokens: [String: APIToken], now: Millis = nowMillis()) -> Session? {
        guard let id = Self.cookie(Self.cookieName, in: request) else { return nil }
        return sessions.withLock { all in
            guard let s = all[id] else { return nil }
            guard s.expires > now, liveTokens[s.tokenHash] != nil else {
                all.removeValue(forKey: id)
                return nil
            }
            return s
        }
    }

    func end(_ id: String) {
        _ = sessions.withLock { $0.removeValue(forKey: id) }
    }

    static func cookie(_ name: String, in request: Request) -> String? {
        guard let header = request.headers[.cookie] else { return nil }
        for part in header.split(separator: ";") {
            let pair = part.split(separator: "=", maxSplits: 1)
            if pair.count == 2, pair[0].trimmingSpaces == name { return String(pair[1]).trimmingSpaces }
        }
        return nil
    }

    /// 32 random bytes from the system's CSPRNG, hex.
    static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in
            let b = UInt8.random(in: 0...255, using: &generator)
            return String(b, radix: 16).count == 1 ? "0" + String(b, radix: 16) : String(b, radix: 16)
        }.joined()
    }

    /// The `Set-Cookie` value for a session (nil: the one that ends it).
    static func setCookie(_ session: Session?, secure: Bool) -> String {
        let flags = "; Path=/; HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
        guard let session else { return "\(cookieName)=; Max-Age=0" + flags }
        return "\(cookieName)=\(session.id); Max-Age=\(lifetimeMillis / 1000)" + flags
    }
}

extension Substring {
    var trimmingSpaces: String { String(self).trimmingSpaces }
}
