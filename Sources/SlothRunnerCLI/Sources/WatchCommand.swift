import ArgumentParser
import Foundation
import SlothRunner

struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Manage file watches: changes under paths become file.* events (inotify).",
        discussion: """
            Events: file.created, file.modified, file.deleted {path, size, mode, modification_time,
            watcher} and file.renamed {old_path, new_path}, directories too. A burst of writes to
            one file within --settle is one file.modified; create-then-write is one file.created;
            a rename inside the tree is one file.renamed. New subdirectories are watched as they
            appear (--recursive). Changes made while serve was stopped are reported at its next
            start, with `offline: true`. .git/ and editor swap files are always left out. Watches
            can also be declared in the config file's `watches:` section.

            Examples:
              sloth-runner watch add configs /etc/myapp --recursive --include '*.conf'
              sloth-runner watch add uploads /srv/uploads --settle 500ms --exclude 'tmp/*'
              sloth-runner watch list
              sloth-runner watch remove uploads
            """,
        subcommands: [WatchAdd.self, WatchList.self, WatchRemove.self]
    )
}

struct WatchAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Add a file watch (serve starts it within a second).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Its name (lowercase letters, digits, '.', '_', '-').") var name: String
    @Argument(help: "The directories or files to watch (they must exist).") var paths: [String]
    @Flag(help: "Watch inside subdirectories too, as they appear.") var recursive = false
    @Option(help: "Only paths (relative to their root) or file names matching this glob (repeatable).") var include: [String] = []
    @Option(help: "Leave out paths or names matching this glob (repeatable).") var exclude: [String] = []
    @Option(help: "Changes to one path within this long are one event.") var settle: String = "100ms"
    @Option(help: "The stack of its events.") var stack: String?

    func run() async throws {
        try await global.withStore { store in
            let watch = try FileWatch(
                name: name, paths: paths, recursive: recursive, include: include, exclude: exclude,
                settleMillis: DurationText.millis(settle, for: "--settle", in: 0...60), stack: stack, createdAt: nowMillis()
            ).validated { $0 == "paths" ? "PATH" : "--" + $0 }
            if let stack { try StackCheck.validate(stack) }
            try await store.watchAdd(watch)
            if global.json { printJSON(watch.json) } else {
                print("Watch '\(name)' added (\(watch.paths.joined(separator: ", "))\(recursive ? ", recursive" : "")); serve starts it.")
            }
        }
    }
}

struct WatchList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List file watches.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await global.withStore { store in
            let all = try await store.watchList()
            if global.json { printJSON(.array(all.map(\.json))); return }
            if all.isEmpty { print("No watches. Add one with `sloth-runner watch add NAME PATH --recursive`."); return }
            var t = Table(["Name", "Paths", "Recursive", "Include", "Exclude", "Settle", "Declared in"])
            for w in all {
                t.add([w.name, w.paths.joined(separator: ", "), w.recursive ? "yes" : "no", w.include.joined(separator: ", "),
                       w.exclude.joined(separator: ", "), DurationText.format(millis: w.settleMillis), w.declaredIn ?? "watch add"])
            }
            print(t.render(headers: !global.noHeaders))
        }
    }
}

struct WatchRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove a file watch and its snapshot.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Its name.") var name: String

    func run() async throws {
        try await global.withStore { store in
            guard let watch = try await store.watch(named: name) else { throw SlothError.notFound("no watch named '\(name)' (see `sloth-runner watch list`)") }
            _ = try await store.watchRemove(name: name)
            if let declaredIn = watch.declaredIn { warn("'\(name)' is declared in \(declaredIn); serve declares it again at its next start unless it is removed there") }
            if global.json { printJSON(.object(["name": .string(name), "removed": .bool(true)])) } else { print("Watch '\(name)' removed.") }
        }
    }
}
