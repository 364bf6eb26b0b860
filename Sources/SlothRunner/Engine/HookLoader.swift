import Foundation

/// What `hook add` flags say; each set field overrides the script's own metadata.
public struct HookOverrides: Sendable {
    /// Registers the hook under this name instead of its own.
    public var name: String?
    /// The event types or patterns it runs for.
    public var eventTypes: [String]?
    /// Binds it to one stack.
    public var stack: String?
    /// Its description.
    public var description: String?
    /// Registers it enabled or disabled.
    public var enabled: Bool?
    /// Attempts per event before it is dead-lettered.
    public var maxAttempts: Int?
    /// Base delay of its retry backoff.
    public var retryDelaySeconds: Double?
    /// Wall-clock bound of one run.
    public var timeoutSeconds: Double?
    /// Storm-control fields as the hook table would give them (`throttle`, `rate_limit`, ...),
    /// from `hook add --throttle ...`; each replaces the table's own.
    public var controls: [String: JSONValue] = [:]

    /// The name when neither an override nor the script gives one (a dry run of an unnamed
    /// source); nil: such a hook is an error.
    package var fallbackName: String?

    /// Overrides; nil fields keep what the script says.
    public init(
        name: String? = nil, eventTypes: [String]? = nil, stack: String? = nil, description: String? = nil,
        enabled: Bool? = nil, maxAttempts: Int? = nil, retryDelaySeconds: Double? = nil, timeoutSeconds: Double? = nil
    ) {
        self.name = name
        self.eventTypes = eventTypes
        self.stack = stack
        self.description = description
        self.enabled = enabled
        self.maxAttempts = maxAttempts
        self.retryDelaySeconds = retryDelaySeconds
        self.timeoutSeconds = timeoutSeconds
    }
}

/// Turns a hook file into a validated `Hook`: loads it in the sandbox (syntax errors carry line
/// numbers), reads its metadata, checks every field, and applies the flags.
public enum HookLoader {
    static let knownFields: Set<String> = [
        "name", "description", "event_type", "event_types", "stack", "timeout", "max_attempts", "retry_delay", "enabled",
        "memory_limit_mb", "max_instructions", "permissions", "filter", "nodes",
        "throttle", "debounce", "rate_limit", "concurrency", "circuit_breaker", "effects",
    ]

    /// A hook ready to store, with what was noticed on the way.
    public struct Loaded: Sendable {
        /// The validated hook.
        public var hook: Hook
        /// Which form the script is written in.
        public var contract: HookInspection.Contract
        /// Things worth a look that are not errors (an event type no catalog knows, a grant that runs other programs).
        public var warnings: [String]
    }

    /// The largest hook source accepted: a hook is a script, not a data file (a bigger one is
    /// almost certainly the wrong file, and every VM keeps its compiled form).
    package static let maxSourceBytes = 1 << 20

    package static func readSource(path: String) throws(SlothError) -> String {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw .notFound("hook file \(path) does not exist")
        }
        guard !isDir.boolValue else { throw .invalidInput("\(path) is a directory; give the path of a .lua file") }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
        guard size <= maxSourceBytes else {
            throw .invalidInput("\(path) is \(size) bytes; a hook source is at most \(maxSourceBytes) bytes (1 MiB)")
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw .invalidInput("cannot read \(path)") }
        return try source(from: data, origin: path)
    }

    /// Hook source bytes as text, checked: UTF-8, within the size limit.
    package static func source(from data: Data, origin: String) throws(SlothError) -> String {
        guard data.count <= maxSourceBytes else {
            throw .invalidInput("\(origin) is \(data.count) bytes; a hook source is at most \(maxSourceBytes) bytes (1 MiB)")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw .invalidInput("\(origin) is not UTF-8 text") }
        return text
    }

    /// Loads the hook file at `path`; see `load(source:filePath:overrides:runtime:existing:)`.
    public static func load(
        path: String, overrides: HookOverrides, runtime: LuaRuntime, existing: Hook? = nil
    ) async throws(SlothError) -> Loaded {
        let source = try readSource(path: path)
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        return try await load(source: source, filePath: absolute, overrides: overrides, runtime: runtime, existing: existing)
    }

    /// Validates a hook's Lua source: runs it once in the sandbox (errors carry line numbers),
    /// reads its metadata, checks every field, applies `overrides`. `existing`: the hook it
    /// replaces (`hook update`), whose id and history it keeps.
    public static func load(
        source: String, filePath: String, overrides: HookOverrides, runtime: LuaRuntime, existing: Hook? = nil
    ) async throws(SlothError) -> Loaded {
        guard source.utf8.count <= maxSourceBytes else {
            throw .invalidInput("the hook source is \(source.utf8.count) bytes; a hook source is at most \(maxSourceBytes) bytes (1 MiB)")
        }
        let chunkName = (filePath as NSString).lastPathComponent
        let inspection = try await runtime.inspect(source: source, chunkName: chunkName)
        let meta = inspection.metadata
        var warnings: [String] = []

        if inspection.contract == .returnedTable {
            for key in meta.keys.sorted() where !knownFields.contains(key) {
                var message = "unknown field '\(key)' in the hook table"
                if let near = knownFields.min(by: { EventCatalog.editDistance($0, key) < EventCatalog.editDistance($1, key) }),
                    EventCatalog.editDistance(near, key) <= 3
                {
                    message += " (did you mean \(near)?)"
                }
                throw .invalidHook(message + "; known fields: " + knownFields.sorted().joined(separator: ", "))
            }
        }

        func string(_ key: String) throws(SlothError) -> String? {
            guard let v = meta[key] else { return nil }
            guard case .string(let s) = v else { throw .invalidHook("field '\(key)' must be a string, got \(v.typeName)") }
            return s
        }
        func seconds(_ key: String) throws(SlothError) -> Double? {
            guard let v = meta[key] else { return nil }
            let value: Double
            switch v {
            case .int(let i): value = Double(i)
            case .double(let d): value = d
            case .string(let s):
                do { value = try DurationText.parseSeconds(s) } catch { throw .invalidHook("field '\(key)': \(error.description)") }
            default: throw .invalidHook("field '\(key)' must be a positive number of seconds or a duration like \"30s\", got \(v.typeName)")
            }
            do { try DurationText.check(value, text: v.stringValue ?? v.serialized(), for: "field '\(key)'", in: HookLimits.durationRange) } catch {
                throw .invalidHook(error.description)
            }
            return value
        }
        func positiveInt(_ key: String, max: Int64) throws(SlothError) -> Int64? {
            guard let v = meta[key] else { return nil }
            guard case .int(let i) = v, i >= 1, i <= max else {
                throw .invalidHook("field '\(key)' must be a whole number from 1 to \(max), got \(v.serialized())")
            }
            return i
        }

        let defaultName = ((filePath as NSString).lastPathComponent as NSString).deletingPathExtension
        let metaName = try string("name")
        let name = overrides.name ?? metaName ?? existing?.name ?? overrides.fallbackName
        guard let name else {
            throw .invalidHook("the hook has no name: set `name` in its table or pass --name (e.g. --name \(defaultName))")
        }
        try Hook.validateName(name)

        var eventTypes: [String]
        if let given = overrides.eventTypes {
            eventTypes = given
        } else if let v = meta["event_type"] ?? meta["event_types"] {
            // `event_types = {...}` is the reference's spelling of a list; both are accepted.
            if meta["event_type"] != nil && meta["event_types"] != nil {
                throw .invalidHook("the hook sets both event_type and event_types; give one (either takes a list)")
            }
            switch v {
            case .string(let s): eventTypes = [s]
            case .array(let items):
                eventTypes = []
                for item in items {
                    guard case .string(let s) = item else { throw .invalidHook("field 'event_type' must list strings, found \(item.typeName)") }
                    eventTypes.append(s)
                }
            default: throw .invalidHook("field 'event_type' must be a string or a list of strings, got \(v.typeName)")
            }
        } else if let existing {
            eventTypes = existing.eventTypes
        } else {
            throw .invalidHook("the hook has no event_type: set `event_type` in its table (e.g. event_type = \"task.failed\") or pass --event-type")
        }
        eventTypes = eventTypes.map { $0.trimmingCharacters(in: .whitespaces) }
        guard !eventTypes.isEmpty else { throw .invalidHook("field 'event_type' lists no event types") }
        for t in eventTypes {
            let pattern: EventPattern
            do { pattern = try EventPattern(t) } catch { throw .invalidHook(error.description) }
            if let w = EventCatalog.warning(for: pattern) { warnings.append(w) }
        }

        let metaStack = try string("stack")
        let stack = overrides.stack ?? metaStack
        if let stack { do { try StackName.validate(stack) } catch { throw .invalidHook(error.description) } }
        let metaDescription = try string("description")
        let description = overrides.description ?? metaDescription

        var enabled = true
        if let v = meta["enabled"] {
            guard case .bool(let b) = v else { throw .invalidHook("field 'enabled' must be true or false, got \(v.typeName)") }
            enabled = b
        }
        if let e = overrides.enabled { enabled = e }

        var limits = HookLimits()
        let metaTimeout = try seconds("timeout")
        if let t = overrides.timeoutSeconds ?? metaTimeout {
            do { try DurationText.check(t, text: "\(t)s", for: "timeout", in: HookLimits.durationRange) } catch { throw .invalidHook(error.description) }
            limits.timeoutMillis = Int64((t * 1000).rounded())
        }
        if let mb = try positiveInt("memory_limit_mb", max: 4096) { limits.memoryBytes = Int(mb) << 20 }
        if let n = try positiveInt("max_instructions", max: 1_000_000_000_000) { limits.instructions = n }

        var maxAttempts = Hook.defaultMaxAttempts
        if let m = try positiveInt("max_attempts", max: 100) { maxAttempts = Int(m) }
        if let m = overrides.maxAttempts {
            guard (1...100).contains(m) else { throw .invalidHook("--max-attempts must be from 1 to 100") }
            maxAttempts = m
        }
        var retryDelay = Hook.defaultRetryDelayMillis
        let metaDelay = try seconds("retry_delay")
        if let d = overrides.retryDelaySeconds ?? metaDelay {
            do { try DurationText.check(d, text: "\(d)s", for: "retry_delay", in: HookLimits.durationRange) } catch { throw .invalidHook(error.description) }
            retryDelay = Int64((d * 1000).rounded())
        }

        var permissions: HookPermissions?
        if let p = meta["permissions"] {
            permissions = try HookPermissions.parse(p)
            warnings += permissions?.execWarnings ?? []
        }
        var filter: DataFilter?
        if let f = meta["filter"] { filter = try DataFilter.parse(f) }
        var nodeTags: [String] = []
        if let n = meta["nodes"] {
            let list: [JSONValue]
            switch n {
            case .string: list = [n]
            case .array(let items): list = items
            case .object(let o) where o.isEmpty: list = []
            default: throw .invalidHook("field 'nodes' must be a list of node tags such as {\"web\"}, got \(n.typeName)")
            }
            for item in list {
                guard let tag = item.stringValue else { throw .invalidHook("field 'nodes' must hold tag names (strings), got \(item.typeName)") }
                try Hook.validateNodeTag(tag, field: "field 'nodes'")
                if !nodeTags.contains(tag) { nodeTags.append(tag) }
            }
        }

        var controlFields = meta.filter { HookControls.fields.contains($0.key) }
        for (k, v) in overrides.controls { controlFields[k] = v }
        let controls = try HookControls.parse(controlFields)

        let now = nowMillis()
        let hook = Hook(
            id: existing?.id ?? UUID().uuidString.lowercased(), name: name, description: description, eventTypes: eventTypes,
            filePath: filePath, stack: stack, enabled: enabled, createdAt: existing?.createdAt ?? now, updatedAt: now,
            lastRun: existing?.lastRun, runCount: existing?.runCount ?? 0, source: source, sourceHash: SourceFingerprint.of(source),
            limits: limits, maxAttempts: maxAttempts, retryDelayMillis: retryDelay, permissions: permissions,
            filter: filter, nodeTags: nodeTags, controls: controls)
        return Loaded(hook: hook, contract: inspection.contract, warnings: warnings)
    }
}
