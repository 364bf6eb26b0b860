/// Every error the engine reports to a user. Each case carries a message that says what went
/// wrong and, where there is one, what to do about it.
public enum SlothError: Error, Equatable, CustomStringConvertible {
    /// The user gave something the engine will not accept (bad JSON, type name, flag value).
    case invalidInput(String)
    /// A named thing does not exist (hook, event id, file).
    case notFound(String)
    /// A name or id prefix matches more than one thing.
    case ambiguous(String)
    /// A hook is already registered under that name.
    case conflict(String)
    /// A hook script failed validation (syntax error, bad metadata).
    case invalidHook(String)
    /// The database failed or holds something unexpected.
    case storage(String)
    /// Something in the Lua runtime failed outside any hook's fault.
    case runtime(String)

    /// The message: what went wrong and what to do.
    public var description: String {
        switch self {
        case .invalidInput(let m), .notFound(let m), .ambiguous(let m), .conflict(let m),
            .invalidHook(let m), .storage(let m), .runtime(let m):
            return m
        }
    }

    /// A stable name for the kind of error, in JSON error output (`{"error": {"code": ...}}`).
    public var code: String {
        switch self {
        case .invalidInput: return "invalid_input"
        case .notFound: return "not_found"
        case .ambiguous: return "ambiguous"
        case .conflict: return "conflict"
        case .invalidHook: return "invalid_hook"
        case .storage: return "storage"
        case .runtime: return "runtime"
        }
    }

    /// Process exit code for the CLI: distinct per kind, so scripts can tell them apart.
    public var exitCode: Int32 {
        switch self {
        case .invalidInput: return 2
        case .notFound: return 3
        case .ambiguous: return 4
        case .conflict: return 5
        case .invalidHook: return 6
        case .storage: return 7
        case .runtime: return 8
        }
    }
}
