/// What makes an event a replay (`events replay`): a new event with the data of an earlier
/// one, run by the hooks named here only (resolved when the replay was asked for, so a hook
/// registered later does not join it). The original event and its record stay as they were.
public struct ReplayMark: Sendable, Equatable {
    /// The event replayed.
    public var of: String
    /// The hooks the replay runs, by name.
    public var hooks: [String]
    /// Who asked for it (`cli:USER@HOST`, `token:NAME`, `web:NAME`) and when (Unix milliseconds).
    public var by: String
    public var at: Millis

    package init(of: String, hooks: [String], by: String, at: Millis) {
        self.of = of
        self.hooks = hooks
        self.by = by
        self.at = at
    }

    /// As events carry it in `-o json` and the API: `{"of", "hooks", "by", "at"}`.
    public var json: JSONValue {
        var o: [String: JSONValue] = ["of": .string(of), "hooks": .array(hooks.map(JSONValue.string)), "by": .string(by)]
        JSONValue.stamp(&o, "at", at)
        return .object(o)
    }

    /// The store's column: the same fields, `at` in milliseconds.
    package var stored: String {
        JSONValue.object(["hooks": .array(hooks.map(JSONValue.string)), "by": .string(by), "at": .int(at)]).serialized()
    }

    /// Read back from the store's two columns (`replay_of`, `replay`); nil when not a replay.
    package static func stored(of: String?, _ text: String?) -> ReplayMark? {
        guard let of, let text, let v = try? JSONValue.parse(text) else { return nil }
        return ReplayMark(
            of: of, hooks: v["hooks"]?.arrayValue?.compactMap(\.stringValue) ?? [], by: v["by"]?.stringValue ?? "",
            at: v["at"]?.intValue ?? 0)
    }
}
