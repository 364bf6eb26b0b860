import CLua
import CLuaShim
import Foundation

/// `secret.get(name)` → the decrypted value, or nil if there is none. A value a run reads is
/// masked as `***` wherever it would be recorded: output, errors, `events show`, history.
enum SecretModule {
    static let get: sb_host_fn = { L, ctx in
        guard let L else { return 0 }
        guard let run = HostFunctions.context(ctx).run else { return HostFunctions.fail(L, "secret.get: cannot be called while the hook file loads") }
        guard let vault = run.request.secrets else { return HostFunctions.fail(L, "secret.get: secrets are not available here") }
        guard let name = LuaValues.string(at: 1, on: L), !name.isEmpty else { return HostFunctions.fail(L, "secret.get: expected a secret name") }
        if let denied = HostFunctions.policy(ctx).check(.secrets, name) { return HostFunctions.fail(L, "secret.get: \(denied)") }
        let recorder = run.revealed
        return HostFunctions.suspend(L, ctx, "secret.get") {
            do {
                guard let value = try await vault.get(name) else { return .success(.null) }
                recorder.add(name: name, value: value)
                return .success(.string(value))
            } catch {
                return .failure(ModuleError("\(error)"))
            }
        }
    }
}
