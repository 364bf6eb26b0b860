import SlothRunner

/// How the database writer's priority took effect, for `serve` and `bench` to say, so a figure
/// or a slow node can be read against it.
enum WriterPriority {
    static func describe(_ nice: Int32) -> String {
        let requested = SQLiteEventStore.requestedWriterNice
        if nice == requested {
            return requested == 0 ? "nice 0 (SLOTH_RUNNER_WRITER_NICE=0)" : "nice \(nice) (raised; SLOTH_RUNNER_WRITER_NICE=0 leaves it at 0)"
        }
        return "nice \(nice) (nice \(requested) was not permitted: it needs root or CAP_SYS_NICE)"
    }
}
