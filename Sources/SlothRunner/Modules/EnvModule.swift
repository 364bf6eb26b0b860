import CLua
import CLuaShim
import Foundation

/// `env.get(name [, default])`: the engine's environment, as the specification's "hooks run
/// with sloth-runner permissions"; a hook that declares `permissions.env` reads only those.
enum EnvModule {
    static let get: sb_host_fn = { L, ctx in
        guard let L else { return 0 }
        guard let name = LuaValues.string(at: 1, on: L), !name.isEmpty else {
            return HostFunctions.fail(L, "env.get: expected a variable name")
        }
        if let denied = HostFunctions.policy(ctx).check(.env, name) { return HostFunctions.fail(L, "env.get: \(denied)") }
        let environment = HostFunctions.sandbox(ctx)?.environment ?? ProcessInfo.processInfo.environment
        if let value = environment[name] {
            LuaValues.pushString(value, on: L)
        } else if lua_type(L, 2) != LUA_TNONE {
            lua_pushvalue(L, 2)
        } else {
            lua_pushnil(L)
        }
        return 1
    }
}
