import Foundation

/// Where a server listens: `127.0.0.1:7077`, `[::1]:7077`, `localhost:0` (port 0: any free
/// port, which the log then names), or `off`.
struct ListenAddress: Equatable, CustomStringConvertible {
    var host: String
    var port: Int

    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// nil for `off`.
    static func parse(_ text: String) -> Result<ListenAddress?, SettingProblem> {
        let t = text.trimmingCharacters(in: .whitespaces)
        if ["off", "none", "false", "no"].contains(t.lowercased()) { return .success(nil) }
        let usage = "must be HOST:PORT (127.0.0.1:7077, [::1]:7077) or off, not '\(text)'"
        var host: Substring, portText: Substring
        if t.hasPrefix("[") {
            guard let close = t.firstIndex(of: "]"), t[t.index(after: close)...].hasPrefix(":") else { return .failure(SettingProblem(usage)) }
            host = t[t.index(after: t.startIndex)..<close]
            portText = t[t.index(close, offsetBy: 2)...]
        } else {
            guard let colon = t.lastIndex(of: ":"), !t[..<colon].contains(":") else { return .failure(SettingProblem(usage)) }
            host = t[..<colon]
            portText = t[t.index(after: colon)...]
        }
        guard !host.isEmpty, !host.contains(where: { $0 == " " || $0 == "/" }) else { return .failure(SettingProblem(usage)) }
        guard let port = Int(portText), (0...65_535).contains(port) else {
            return .failure(SettingProblem("has port '\(portText)': a port is 0 to 65535 (0: any free port)"))
        }
        return .success(ListenAddress(host: String(host), port: port))
    }
}
