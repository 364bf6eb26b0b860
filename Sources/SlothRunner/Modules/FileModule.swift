import CLua
import CLuaShim
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `file`: read, write, append, exists, list, stat, remove, mkdir. Sizes are bounded; a hook
/// that declares `permissions.file` reaches only paths under the directories it lists, checked
/// after symbolic links are resolved.
enum FileModule {
    static let maxReadBytes = 16 << 20
    static let maxWriteBytes = 16 << 20

    /// The absolute, symlink-free form of `path` (for a path that does not exist yet, of its
    /// nearest existing ancestor plus the rest).
    static func canonical(_ path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        var existing = (absolute as NSString).standardizingPath
        var rest: [String] = []
        while !existing.isEmpty && existing != "/" && !FileManager.default.fileExists(atPath: existing) {
            rest.insert((existing as NSString).lastPathComponent, at: 0)
            existing = (existing as NSString).deletingLastPathComponent
        }
        var resolved = existing
        if let real = realpath(existing, nil) {
            resolved = String(cString: real)
            free(real)
        }
        return rest.reduce(resolved) { ($0 as NSString).appendingPathComponent($1) }
    }

    /// The checked path argument, or nil after pushing an error.
    static func path(_ L: OpaquePointer, _ ctx: UnsafeMutableRawPointer?, _ fn: String) -> (String, String)? {
        guard let raw = LuaValues.string(at: 1, on: L), !raw.isEmpty else {
            LuaValues.pushString("\(fn): expected a path", on: L)
            return nil
        }
        let real = canonical(raw)
        if let denied = HostFunctions.policy(ctx).check(.file, real) {
            LuaValues.pushString("\(fn): \(denied)", on: L)
            return nil
        }
        return (raw, real)
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }

    struct Info {
        var size: Int64
        var mode: Int
        var modified: Int64
        var isDirectory: Bool
        var isFile: Bool
    }

    static func info(_ path: String) -> Info? {
        guard let a = try? FileManager.default.attributesOfItem(atPath: path) else { return nil }
        let type = a[.type] as? FileAttributeType
        return Info(
            size: (a[.size] as? NSNumber)?.int64Value ?? 0, mode: (a[.posixPermissions] as? NSNumber)?.intValue ?? 0,
            modified: Int64(((a[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0).rounded(.down)),
            isDirectory: type == .typeDirectory, isFile: type == .typeRegular)
    }

    static let hostRead: sb_host_fn = { L, ctx in
        guard let L else { return 0 }
        guard let (raw, real) = path(L, ctx, "file.read") else { return SB_HOST_ERROR }
        guard let st = info(real) else { return HostFunctions.fail(L, "file.read: \(raw): no such file") }
        guard !st.isDirectory else { return HostFunctions.fail(L, "file.read: \(raw) is a directory") }
        guard st.size <= maxReadBytes else {
            return HostFunctions.fail(L, "file.read: \(raw) is \(st.size) bytes; the limit is \(maxReadBytes)")
        }
        guard let data = FileManager.default.contents(atPath: real) else { return HostFunctions.fail(L, "file.read: \(raw): cannot read") }
        LuaValues.pushBytes(data, on: L)
        return 1
    }

    static func writeFile(_ L: OpaquePointer, _ ctx: UnsafeMutableRawPointer?, append: Bool) -> Int32 {
        let fn = append ? "file.append" : "file.write"
        guard let (raw, real) = path(L, ctx, fn) else { return SB_HOST_ERROR }
        guard let bytes = LuaValues.bytes(at: 2, on: L) ?? (lua_type(L, 2) == LUA_TNUMBER ? Array(LuaValues.errorText(at: 2, on: L).utf8) : nil) else {
            return HostFunctions.fail(L, "\(fn): expected the content as a string")
        }
        guard bytes.count <= maxWriteBytes else { return HostFunctions.fail(L, "\(fn): content is \(bytes.count) bytes; the limit is \(maxWriteBytes)") }
        let fd = open(real, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0o644)
        guard fd >= 0 else { return HostFunctions.fail(L, "\(fn): \(raw): \(errnoText())") }
        defer { close(fd) }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, bytes.count - written) }
            guard n > 0 else { return HostFunctions.fail(L, "\(fn): \(raw): \(errnoText())") }
            written += n
        }
        lua_pushboolean(L, 1)
        return 1
    }

    static let hostWrite: sb_host_fn = { L, ctx in
        guard let L else { return 0 }
        return writeFile(L, ctx, append: false)
    }

    static let hostAppend: sb_host_fn = { L, ctx in
        guard let L else { return 0 }
        return writeFile(L, ctx, append: true)
    }

    static let hostExists: sb_host_fn = { L, ctx in
        guard let L else { return 0 }
        guard let (_, real) = path(L, ctx, "file.exists") else { return SB_HOST_ERROR }
        lua_pushboolean(L, FileManager.default.fileExists(atPath: real) ? 1 : 0)
        return 1
    }

    static let maxListEntries = 10_000

    static let hostList: sb_host_fn = { L, ctx in
        guard let L else { return 0 }
        guard let (raw, real) = path(L, ctx, "file.list") else { return SB_HOST_ERROR }
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: real) else {
            return HostFunctions.fail(L, "file.list: \(raw) is not a readable directory")
        }
        guard names.count <= maxListEntries else { return HostFunctions.fail(L, "file.list: \(raw) has more than \(maxListEntries) entries") }
        LuaValues.push(.array(names.sorted().map(JSONValue.string)), on: L)
        return 1
    }

    static let hostStat: sb_host_fn = { L, ctx in
        guard let L else { return 0 }
        guard let (raw, real) = path(L, ctx, "file.stat") else { return SB_HOST_ERROR }
        guard let st = info(real) else { return HostFunctions.fail(L, "file.stat: \(raw): no such file or directory") }
        LuaValues.push(.object([
            "size": .int(st.size), "mode": .string(String(st.mode, radix: 8)), "modified": .int(st.modified),
            "is_dir": .bool(st.isDirectory), "is_file": .bool(st.isFile),
        ]), on: L)
        return 1
    }

    static let hostRemove: sb_host_fn = { L, ctx in
        guard let L else { return 0 }
        guard let (raw, real) = path(L, ctx, "file.remove") else { return SB_HOST_ERROR }
        guard Glibc.remove(real) == 0 else { return HostFunctions.fail(L, "file.remove: \(raw): \(errnoText())") }
        lua_pushboolean(L, 1)
        return 1
    }

    static let hostMkdir: sb_host_fn = { L, ctx in
        guard let L else { return 0 }
        guard let (raw, real) = path(L, ctx, "file.mkdir") else { return SB_HOST_ERROR }
        do {
            try FileManager.default.createDirectory(atPath: real, withIntermediateDirectories: true)
        } catch {
            return HostFunctions.fail(L, "file.mkdir: \(raw): cannot create the directory")
        }
        lua_pushboolean(L, 1)
        return 1
    }
}
