/// Capabilities a hook declares (`permissions = { exec = {...}, http = {...}, ... }`). A hook that
/// declares permissions may use only what it lists; one that declares none may use everything,
/// unless the engine runs with strict permissions.
public struct HookPermissions: Sendable, Equatable {
    public enum Capability: String, Sendable, CaseIterable {
        case exec, http, file, secrets, env

        /// What an operator reads in a denial.
        var noun: String {
            switch self {
            case .exec: return "run command"
            case .http: return "reach host"
            case .file: return "access path"
            case .secrets: return "read secret"
            case .env: return "read environment variable"
            }
        }
    }

    public var grants: [Capability: [String]]

    public init(grants: [Capability: [String]] = [:]) { self.grants = grants }

    public var json: JSONValue {
        .object(Dictionary(uniqueKeysWithValues: grants.map { ($0.key.rawValue, JSONValue.array($0.value.map(JSONValue.string))) }))
    }

    public static func parse(_ value: JSONValue) throws(SlothError) -> HookPermissions {
        guard case .object(let o) = value else { throw .invalidHook("field 'permissions' must be a table like { http = {\"example.com\"} }") }
        var grants: [Capability: [String]] = [:]
        for (key, list) in o {
            guard let cap = Capability(rawValue: key) else {
                throw .invalidHook("unknown permission '\(key)'; known: \(Capability.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            var items: [String] = []
            switch list {
            case .array(let a):
                for item in a {
                    guard case .string(let s) = item, !s.isEmpty else { throw .invalidHook("permissions.\(key) must list non-empty strings") }
                    items.append(s)
                }
            case .object(let inner) where inner.isEmpty: break  // `{}` is an empty list in Lua
            default: throw .invalidHook("permissions.\(key) must be a list of strings")
            }
            grants[cap] = items
        }
        return HookPermissions(grants: grants)
    }

    /// Whether `target` is granted for `capability`.
    public func allows(_ capability: Capability, _ target: String) -> Bool {
        guard let list = grants[capability] else { return false }
        return list.contains { Self.matches(grant: $0, target: target, capability) }
    }

    static func matches(grant: String, target: String, _ capability: Capability) -> Bool {
        switch capability {
        case .http:
            let host = target.lowercased(), g = grant.lowercased()
            return host == g || host.hasSuffix("." + g)
        case .file:
            let g = grant.hasSuffix("/") ? String(grant.dropLast()) : grant
            return target == g || target.hasPrefix(g + "/")
        case .exec, .secrets, .env:
            return target == grant
        }
    }
}

/// Decides each capability use of one run: the hook's declaration, else the engine's mode.
public struct PermissionPolicy: Sendable, Equatable {
    public var declared: HookPermissions?
    public var strict: Bool
    /// Environment variables any hook may read (`serve --hook-env`); nil: all of them.
    public var environment: Set<String>?

    public init(declared: HookPermissions?, strict: Bool, environment: Set<String>? = nil) {
        self.declared = declared
        self.strict = strict
        self.environment = environment
    }

    public static let open = PermissionPolicy(declared: nil, strict: false)

    /// Nil when allowed, otherwise the message of the denial.
    public func check(_ capability: HookPermissions.Capability, _ target: String) -> String? {
        if capability == .env, let environment, !environment.contains(target) {
            return "permission denied: environment variable '\(target)' is not among those the engine lets hooks read (serve --hook-env)"
        }
        if let declared {
            if declared.allows(capability, target) { return nil }
            return "permission denied: this hook may not \(capability.noun) '\(target)'; add it to permissions.\(capability.rawValue) in the hook"
        }
        if strict {
            return "permission denied: strict permissions are on and this hook declares no permissions.\(capability.rawValue) granting '\(target)'"
        }
        return nil
    }
}
