import Foundation

/// Capabilities a hook declares (`permissions = { exec = {...}, http = {...}, ... }`). A hook that
/// declares permissions may use only what it lists; one that declares none may use everything,
/// unless the engine runs with strict permissions.
public struct HookPermissions: Sendable, Equatable {
    /// What a hook may be granted: each capability's grants are a list (programs, hosts, paths,
    /// secret names, variable names).
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

    /// The grants the hook declared, by capability.
    public var grants: [Capability: [String]]

    package init(grants: [Capability: [String]] = [:]) { self.grants = grants }

    /// The grants as a JSON object of lists, as `hook get -o json` prints them.
    public var json: JSONValue {
        .object(Dictionary(uniqueKeysWithValues: grants.map { ($0.key.rawValue, JSONValue.array($0.value.map(JSONValue.string))) }))
    }

    package static func parse(_ value: JSONValue) throws(SlothError) -> HookPermissions {
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

    /// Programs that run other programs: granting one grants everything (`env sh -c ...`,
    /// `xargs`, `find -exec`, an interpreter's `-c`, `sudo`).
    static let commandRunners: Set<String> = [
        "sh", "bash", "dash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "ash", "busybox", "env", "xargs", "nohup", "setsid",
        "sudo", "su", "doas", "runuser", "pkexec", "timeout", "nice", "ionice", "chrt", "taskset", "stdbuf", "unbuffer",
        "script", "flock", "time", "watch", "strace", "ltrace", "gdb", "chroot", "nsenter", "unshare", "systemd-run",
        "find", "parallel", "make", "perl", "python", "python3", "ruby", "node", "nodejs", "lua", "lua5.4", "luajit", "php",
        "awk", "gawk", "mawk", "nawk", "sed", "vi", "vim", "ed", "emacs", "less", "more", "man", "git", "ssh", "tar", "rsync",
        "docker", "podman", "kubectl", "crontab", "at", "expect", "tclsh", "osascript", "bwrap", "firejail", "valgrind",
    ]

    /// Warnings for `hook add`: entries of `permissions.exec` that can run any program.
    public var execWarnings: [String] {
        guard let list = grants[.exec] else { return [] }
        return list.compactMap { grant in
            let names = [(grant as NSString).lastPathComponent] + (ExecutablePath.realProgram(grant).map { [($0 as NSString).lastPathComponent] } ?? [])
            guard let runner = names.first(where: { name in
                Self.commandRunners.contains(name) || ["python", "perl", "ruby", "lua", "php", "node"].contains { name.hasPrefix($0) && name.dropFirst($0.count).allSatisfy { $0.isNumber || $0 == "." } }
            }) else { return nil }
            return "permissions.exec lists '\(grant)', which runs other programs (\(runner) can start any command): a hook allowed to run it can run anything"
        }
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
package struct PermissionPolicy: Sendable, Equatable {
    package var declared: HookPermissions?
    package var strict: Bool
    /// Environment variables any hook may read (`serve --hook-env`); nil: all of them.
    package var environment: Set<String>?

    package init(declared: HookPermissions?, strict: Bool, environment: Set<String>? = nil) {
        self.declared = declared
        self.strict = strict
        self.environment = environment
    }

    package static let open = PermissionPolicy(declared: nil, strict: false)

    /// Whether uses of `capability` are limited to what is granted: the hook declared
    /// permissions, or the engine runs with strict permissions.
    package func restricts(_ capability: HookPermissions.Capability) -> Bool {
        if capability == .env && environment != nil { return true }
        return declared != nil || strict
    }

    /// Nil when the hook may run `executable` (an absolute path; `viaShell` for a command line,
    /// which runs the shell), otherwise the message of the denial. Under a restriction, a
    /// command line is allowed only when the shell itself is granted (a shell string can run
    /// anything: `echo hi; rm -rf ~`), and a program only when it is the very file a grant
    /// names, both resolved on PATH and through symbolic links (a `./echo` of the hook's own
    /// making is not `/usr/bin/echo`).
    package func checkExec(executable: String, viaShell: Bool, display: String) -> String? {
        guard restricts(.exec) else { return nil }
        let grants = declared?.grants[.exec] ?? []
        let target = ExecutablePath.real(executable) ?? executable
        // A grant that resolves to no program here matches only a command named the same that
        // does not resolve either — which only a sandboxed run (recorded, never run) lets through.
        let granted = grants.contains { grant in (ExecutablePath.realProgram(grant) ?? grant) == target }
        if granted { return nil }
        let how = declared == nil
            ? "strict permissions are on and this hook declares no permissions.exec"
            : "this hook's permissions.exec does not list it"
        if viaShell {
            return "permission denied: '\(display)' is a command line, which runs \(ExecutablePath.shell) (\(how)); pass an argv list such as {\"echo\", \"hi\"}, which runs no shell, or grant \"sh\" in permissions.exec (which allows any command)"
        }
        let name = (display.split(separator: " ").first.map(String.init)) ?? display
        return "permission denied: this hook may not run command '\(name)' (\(target)): \(how); add it to permissions.exec in the hook"
    }

    /// Nil when allowed, otherwise the message of the denial.
    package func check(_ capability: HookPermissions.Capability, _ target: String) -> String? {
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
