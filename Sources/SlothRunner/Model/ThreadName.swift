import Foundation

/// Names the calling OS thread (up to 15 characters on Linux), so `top -H` and profilers show
/// which of the engine's threads is busy. Foundation's `Thread.name` does not reach the OS here,
/// and `pthread_setname_np` is not exported to Swift, so the name goes through /proc.
func nameCurrentThread(_ name: String) {
    #if os(Linux)
    let path = "/proc/thread-self/comm"
    if let handle = FileHandle(forWritingAtPath: path) {
        handle.write(Data(name.prefix(15).utf8))
        try? handle.close()
    }
    #endif
}
