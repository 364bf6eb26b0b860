import SlothRunner

/// The config file's `watches:` section: `NAME: {paths: [DIR, …], recursive: true, include: ["*.conf"], settle: 100ms}`.
public enum WatchDeclaration {
    static let fields = ["paths", "recursive", "include", "exclude", "settle", "stack"]

    package static func parse(_ section: SourceConfigNode, now: Millis) throws(SlothError) -> [FileWatch] {
        var out: [FileWatch] = []
        for (name, node) in try section.entries(what: "watch") {
            let m = try node.members(fields, what: "the watch's fields (paths, recursive, include, exclude, settle, stack)")
            guard let paths = m["paths"] else { throw node.error("needs paths") }
            func field(_ f: String) -> String { "\(section.file):\(m[f]?.line ?? node.line): \(node.field).\(f)" }
            var watch = FileWatch(name: name, paths: try paths.texts(), createdAt: now, declaredIn: section.file)
            if let n = m["recursive"] { watch.recursive = try n.bool() }
            if let n = m["include"] { watch.include = try n.texts() }
            if let n = m["exclude"] { watch.exclude = try n.texts() }
            if let n = m["settle"] { watch.settleMillis = try n.millis(in: 0...60) }
            if let n = m["stack"] { watch.stack = try n.text() }
            out.append(try watch.validated(field: field))
        }
        return out
    }
}
