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

    /// Opens `path` without blocking on a FIFO or a device, and only if it is a regular file:
    /// a hook's `file.read("/dev/zero")` would otherwise read forever, and opening a FIFO with
    /// no writer blocks the Lua thread.
    static func openRegular(_ path: String, flags: Int32, mode: mode_t = 0o644, raw: String, fn: String) -> Result<(fd: Int32, size: Int64), ModuleError> {
        let fd = open(path, flags | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, mode)
        guard fd >= 0 else {
            if errno == ENOENT { return .failure(ModuleError("\(fn): \(raw): no such file")) }
            return .failure(ModuleError("\(fn): \(raw): \(errnoText())"))
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let why = errnoText()
            close(fd)
            return .failure(ModuleError("\(fn): \(raw): \(why)"))
        }
        let type = st.st_mode & S_IFMT
        guard type == S_IFREG else {
            close(fd)
            return .failure(ModuleError("\(fn): \(raw) is \(type == S_IFDIR ? "a directory" : "not a regular file (a device, FIFO or socket)")"))
        }
        // Back to blocking for the read or write itself (a regular file never waits long).
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return .success((fd, Int64(st.st_size)))
    }

    static let hostRead: sb_host_fn = { L, ctx in
        guard let L else { return 0 }
        guard let (raw, real) = path(L, ctx, "file.read") else { return SB_HOST_ERROR }
        if let sandbox = HostFunctions.sandbox(ctx) {
            switch sandbox.fileRead(path: raw) {
            case .perform: break
            case .contents(let text):
                LuaValues.pushString(text, on: L)
                return 1
            case .missing: return HostFunctions.fail(L, "file.read: \(raw): no such file (not in mocks.files)")
            }
        }
        let fd: Int32
        switch openRegular(real, flags: O_RDONLY, raw: raw, fn: "file.read") {
        case .success(let f):
            fd = f.fd
            guard f.size <= maxReadBytes else {
                close(fd)
                return HostFunctions.fail(L, "file.read: \(raw) is \(f.size) bytes; the limit is \(maxReadBytes)")
            }
        case .failure(let e): return HostFunctions.fail(L, e.message)
        }
        defer { close(fd) }
        // Read at most one byte past the limit: the size fstat gave may be stale.
        var data = [UInt8](repeating: 0, count: 64 << 10)
        var content: [UInt8] = []
        while true {
            let n = data.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return HostFunctions.fail(L, "file.read: \(raw): \(errnoText())")
            }
            if n == 0 { break }
            content.append(contentsOf: data[0..<n])
            guard content.count <= maxReadBytes else {
                return HostFunctions.fail(L, "file.read: \(raw) grew while it was read; the limit is \(maxReadBytes) bytes")
            }
        }
        LuaValues.pushBytes(content, on: L)
        return 1
    }

    static func writeFile(_ L: OpaquePointer, _ ctx: UnsafeMutableRawPointer?, append: Bool) -> Int32 {
        let fn = append ? "file.append" : "file.write"
        guard let (raw, real) = path(L, ctx, fn) else { return SB_HOST_ERROR }
        guard let bytes = LuaValues.bytes(at: 2, on: L) ?? (lua_type(L, 2) == LUA_TNUMBER ? Array(LuaValues.errorText(at: 2, on: L).utf8) : nil) else {
            return HostFunctions.fail(L, "\(fn): expected the content as a string")
        }
        guard bytes.count <= maxWriteBytes else { return HostFunctions.fail(L, "\(fn): content is \(bytes.count) bytes; the limit is \(maxWriteBytes)") }
        if let sandbox = HostFunctions.sandbox(ctx) {
            sandbox.fileChange(append ? "append" : "write", path: raw, bytes: bytes)
            lua_pushboolean(L, 1)
            return 1
        }
        let fd: Int32
        switch openRegular(real, flags: O_WRONLY | O_CREAT | (append ? O_APPEND : 0), raw: raw, fn: fn) {
        case .success(let f): fd = f.fd
        case .failure(let e): return HostFunctions.fail(L, e.message)
        }
        defer { close(fd) }
        // Truncate only once the target is known to be a regular file.
        if !append, ftruncate(fd, 0) != 0 { return HostFunctions.fail(L, "\(fn): \(raw): \(errnoText())") }
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
        guard let (raw, real) = path(L, ctx, "file.exists") else { return SB_HOST_ERROR }
        if let answer = HostFunctions.sandbox(ctx)?.fileExists(path: raw) {
            lua_pushboolean(L, answer ? 1 : 0)
            return 1
        }
        lua_pushboolean(L, FileManager.default.fileExists(atPath: real) ? 1 : 0)
        return 1
    }

    static let maxListEntries = 10_000

    static let hostList: sb_host_fn = { L, ctx in
        guard let L else { return 0 }
        guard let (raw, real) = path(L, ctx, "file.list") else { return SB_HOST_ERROR }
        if let names = HostFunctions.sandbox(ctx)?.fileList(path: raw) {
            LuaValues.push(.array(names.map(JSONValue.string)), on: L)
            return 1
        }
        // Read entry by entry and stop past the limit: a directory of millions of names is not
        // read whole first.
        guard let dir = opendir(real) else { return HostFunctions.fail(L, "file.list: \(raw) is not a readable directory") }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { buf in
                String(decoding: buf.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            names.append(name)
            guard names.count <= maxListEntries else { return HostFunctions.fail(L, "file.list: \(raw) has more than \(maxListEntries) entries") }
        }
        LuaValues.push(.array(names.sorted().map(JSONValue.string)), on: L)
        return 1
    }

    static let hostStat: sb_host_fn = { L, ctx in
        guard let L else { return 0 }
        guard let (raw, real) = path(L, ctx, "file.stat") else { return SB_HOST_ERROR }
        if let sandbox = HostFunctions.sandbox(ctx) {
            switch sandbox.fileRead(path: raw) {
            case .perform: break
            case .contents(let text):
                LuaValues.push(.object(["size": .int(Int64(text.utf8.count)), "mode": .string("644"), "modified": .int(0), "is_dir": .bool(false), "is_file": .bool(true)]), on: L)
                return 1
            case .missing: return HostFunctions.fail(L, "file.stat: \(raw): no such file (not in mocks.files)")
            }
        }
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
        if let sandbox = HostFunctions.sandbox(ctx) {
            sandbox.fileChange("remove", path: raw, bytes: nil)
            lua_pushboolean(L, 1)
            return 1
        }
        guard Glibc.remove(real) == 0 else { return HostFunctions.fail(L, "file.remove: \(raw): \(errnoText())") }
        lua_pushboolean(L, 1)
        return 1
    }

    static let hostMkdir: sb_host_fn = { L, ctx in
        guard let L else { return 0 }
        guard let (raw, real) = path(L, ctx, "file.mkdir") else { return SB_HOST_ERROR }
        if let sandbox = HostFunctions.sandbox(ctx) {
            sandbox.fileChange("mkdir", path: raw, bytes: nil)
            lua_pushboolean(L, 1)
            return 1
        }
        do {
            try FileManager.default.createDirectory(atPath: real, withIntermediateDirectories: true)
        } catch {
            return HostFunctions.fail(L, "file.mkdir: \(raw): cannot create the directory")
        }
        lua_pushboolean(L, 1)
        return 1
    }
}
