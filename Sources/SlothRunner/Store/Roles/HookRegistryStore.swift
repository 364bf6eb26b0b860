/// The registered hooks, with their runs' record.
public protocol HookRegistryStore: Sendable {
    /// Stores a new hook; a name already taken is `SlothError.conflict`.
    func addHook(_ hook: Hook) async throws
    /// Replaces the hook of the same name, keeping its history.
    func replaceHook(_ hook: Hook) async throws
    func setHookEnabled(name: String, enabled: Bool) async throws
    /// Removes a hook and its history.
    func removeHook(name: String) async throws
    /// The hook of that name, or nil.
    func hook(named name: String) async throws -> Hook?
    /// Hooks matching the filter, by name.
    func listHooks(_ filter: HookFilter) async throws -> [Hook]
    /// A hook's most recent runs, newest first.
    func hookHistory(hookID: String, limit: Int, failedOnly: Bool) async throws -> [HookExecution]
    /// Success rate and duration percentiles over the hook's last `HookStats.window` runs.
    func hookStats(hookID: String) async throws -> HookStats
}

/// The registry as a running engine reads it: it reloads hooks only when their version moved.
package protocol VersionedHookRegistry: HookRegistryStore {
    /// Changes whenever any hook is added, changed or removed, by any process.
    func hooksVersion() async throws -> Int64
}
