import Crypto
import Foundation

/// AES-256-GCM (swift-crypto). Each value gets a fresh 96-bit nonce; the secret's name is
/// authenticated with it, so a ciphertext cannot be moved to another name. The stored form
/// (nonce, then ciphertext with the 16-byte tag appended) is the one the earlier OpenSSL code
/// wrote: secrets sealed by earlier releases open unchanged.
package struct SecretCipher: Sendable {
    package static let keyBytes = 32
    static let nonceBytes = 12
    static let tagBytes = 16

    /// Kept as bytes: swift-crypto's `SymmetricKey` is not `Sendable`, and a cipher is shared
    /// by every hook run.
    private let keyBytes: [UInt8]
    var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    package init(key: [UInt8]) throws(SlothError) {
        guard key.count == Self.keyBytes else { throw .invalidInput("a secret key is \(Self.keyBytes) bytes; this one is \(key.count)") }
        self.keyBytes = key
    }

    package struct Sealed: Sendable, Equatable {
        package var nonce: [UInt8]
        package var ciphertext: [UInt8]  // with the tag appended

        package init(nonce: [UInt8], ciphertext: [UInt8]) {
            self.nonce = nonce
            self.ciphertext = ciphertext
        }
    }

    package func seal(_ plaintext: [UInt8], name: String) throws(SlothError) -> Sealed {
        do {
            let box = try AES.GCM.seal(plaintext, using: key, nonce: AES.GCM.Nonce(), authenticating: Array(name.utf8))
            return Sealed(nonce: Array(box.nonce), ciphertext: Array(box.ciphertext) + Array(box.tag))
        } catch {
            throw .runtime("encryption failed: \(error)")
        }
    }

    package func open(_ sealed: Sealed, name: String) throws(SlothError) -> [UInt8] {
        guard sealed.nonce.count == Self.nonceBytes, sealed.ciphertext.count >= Self.tagBytes else { throw .storage("secret \(name) is damaged") }
        let box: AES.GCM.SealedBox
        do {
            box = try AES.GCM.SealedBox(
                nonce: AES.GCM.Nonce(data: sealed.nonce), ciphertext: sealed.ciphertext.dropLast(Self.tagBytes), tag: sealed.ciphertext.suffix(Self.tagBytes))
        } catch {
            throw .storage("secret \(name) is damaged")
        }
        do {
            return Array(try AES.GCM.open(box, using: key, authenticating: Array(name.utf8)))
        } catch {
            throw .storage("secret \(name) cannot be decrypted with this key (wrong SLOTH_RUNNER_SECRET_KEY or key file?)")
        }
    }
}

extension SecretCipher {
    /// A value that tells keys apart without revealing them: the first 16 hex digits of
    /// HMAC-SHA256(key, a fixed text). Stored with the secrets, it says whether the key in use
    /// is the one that sealed them.
    package var checkValue: String {
        String(Hex.encode(HMAC<SHA256>.authenticationCode(for: Array("sloth-runner secret key check v1".utf8), using: key)).prefix(16))
    }
}

/// Where the secret key comes from: `SLOTH_RUNNER_SECRET_KEY` (base64 or hex of 32 bytes), or a
/// key file beside the database, created with mode 0600 only when nothing was sealed before.
package enum SecretKeyring {
    package struct Key: Sendable {
        package let cipher: SecretCipher
        /// Where it came from, for messages: "SLOTH_RUNNER_SECRET_KEY" or the file's path.
        package let origin: String
        /// Whether the key file was created just now.
        package let created: Bool
    }

    package static func keyFilePath(databasePath: String) -> String {
        let dir = (databasePath as NSString).deletingLastPathComponent
        return (dir.isEmpty ? "." : dir) + "/secret.key"
    }

    /// The key to use. A missing key file is created only when `mayCreate` (no secret is sealed
    /// yet); otherwise it is an error that says how to recover, never a silent new key.
    package static func load(
        databasePath: String, mayCreate: Bool, sealedSecrets: Int, keyCheck: String?,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(SlothError) -> Key {
        if let text = environment["SLOTH_RUNNER_SECRET_KEY"], !text.isEmpty {
            return Key(cipher: try SecretCipher(key: try decode(text, origin: "SLOTH_RUNNER_SECRET_KEY")), origin: "SLOTH_RUNNER_SECRET_KEY", created: false)
        }
        let path = keyFilePath(databasePath: databasePath)
        if let data = FileManager.default.contents(atPath: path) {
            return Key(cipher: try SecretCipher(key: try decode(String(decoding: data, as: UTF8.self), origin: path)), origin: path, created: false)
        }
        guard mayCreate else {
            throw .storage(
                "the secret key file \(path) is missing, but this database holds \(sealedSecrets) secret\(sealedSecrets == 1 ? "" : "s") sealed with another key (key check \(keyCheck ?? "unknown")). "
                    + "Restore \(path) from a backup, or set SLOTH_RUNNER_SECRET_KEY to the key that sealed them. "
                    + "If that key is lost, `sloth-runner secret reset --yes` deletes the secrets that can no longer be opened, and `secret set` starts a new key.")
        }
        let key = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        let text = Data(key).base64EncodedString() + "\n"
        // Created with 0600 from the start, never readable by others even briefly.
        let fd = Foundation.open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else {
            if let data = FileManager.default.contents(atPath: path) {  // another process won the race
                return Key(cipher: try SecretCipher(key: try decode(String(decoding: data, as: UTF8.self), origin: path)), origin: path, created: false)
            }
            throw .storage("cannot create the secret key file \(path): \(String(cString: strerror(errno)))")
        }
        let written = text.withCString { write(fd, $0, strlen($0)) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == text.utf8.count, synced else {
            unlink(path)
            throw .storage("cannot write the secret key file \(path)")
        }
        return Key(cipher: try SecretCipher(key: key), origin: path, created: true)
    }

    static func decode(_ text: String, origin: String) throws(SlothError) -> [UInt8] {
        let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if t.count == 64, t.allSatisfy(\.isHexDigit) {
            var bytes: [UInt8] = []
            var i = t.startIndex
            while i < t.endIndex {
                let j = t.index(i, offsetBy: 2)
                bytes.append(UInt8(t[i..<j], radix: 16)!)
                i = j
            }
            return bytes
        }
        guard let d = Data(base64Encoded: t), d.count == SecretCipher.keyBytes else {
            throw .invalidInput("\(origin) must hold a 32-byte key as base64 or 64 hex digits")
        }
        return Array(d)
    }
}
