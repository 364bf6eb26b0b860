// Linux interfaces Glibc's Swift overlay does not export: epoll and eventfd, for the
// plain-HTTP client's event loop; inotify, for the file watcher; thread ids, scheduling and process-tree control, which are
// variadic or behind _GNU_SOURCE in C.
// No _GNU_SOURCE here: it changes the system headers' definitions, which other modules
// import without it.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <netinet/tcp.h>
#include <unistd.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/inotify.h>
#include <poll.h>
#include <fnmatch.h>

#ifndef SCHED_IDLE
#define SCHED_IDLE 5
#endif

/// The calling thread's kernel id (what /proc/PID/task lists).
static inline int sloth_gettid(void) { return (int)syscall(SYS_gettid); }

/// Moves a thread to the idle scheduling class at nice 19: it then runs only on CPU time
/// nothing else wants. For a thread the engine had to leave behind, stuck in a library call.
static inline int sloth_demote_thread(int tid) {
    struct sched_param param = {0};
    int rc = sched_setscheduler(tid, SCHED_IDLE, &param);
    setpriority(PRIO_PROCESS, (id_t)tid, 19);
    return rc;
}

/// Makes this process the reaper of its orphaned descendants (PR_SET_CHILD_SUBREAPER).
static inline int sloth_become_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }

/// glibc's linear-time substring search (Two-Way); string.h declares it only with _GNU_SOURCE.
extern void *memmem(const void *haystack, size_t haystack_length, const void *needle, size_t needle_length);
static inline const void *sloth_memmem(const void *haystack, size_t haystack_length, const void *needle, size_t needle_length) {
    return memmem(haystack, haystack_length, needle, needle_length);
}
