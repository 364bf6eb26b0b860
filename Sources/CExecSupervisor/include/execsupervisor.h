#ifndef SLOTH_EXECSUPERVISOR_H
#define SLOTH_EXECSUPERVISOR_H

#include <sys/types.h>

/* Runs a command under a supervisor process of its own, so that nothing the command starts
 * outlives it: not its background jobs, not a double fork, not a `setsid` escape.
 *
 * The supervisor is the small program `sloth-exec-supervisor` (Sources/SlothExecSupervisor),
 * started with posix_spawn, which does not copy the caller's memory; where that program is not
 * installed, a fork of the caller running the same C code (no allocation, only system calls). It makes itself the *child subreaper* of the command's
 * tree (PR_SET_CHILD_SUBREAPER): every process in the tree that loses its parent is
 * re-parented to the supervisor rather than to init, so the supervisor always knows the whole
 * tree. When the command's main process exits, or the caller asks (timeout, the hook was
 * killed), or the caller dies (its end of the control pipe closes), the supervisor kills every
 * process left in the tree, reaps them, reports, and exits. */

typedef struct sb_exec_request {
    const char *path;       /* absolute path of the program */
    char *const *argv;      /* NULL-terminated */
    char *const *envp;      /* NULL-terminated */
    const char *cwd;        /* NULL: the caller's */
    int stdin_fd;           /* -1: /dev/null */
    int stdout_fd;
    int stderr_fd;
} sb_exec_request;

typedef struct sb_exec_handle {
    pid_t supervisor;
    int control_fd; /* write a byte (or close) to have the tree killed */
    int status_fd;  /* the supervisor's records (sb_exec_report: started, then the end), then end of file */
} sb_exec_handle;

#define SB_EXEC_STARTED 0  /* first record: the command runs (command: its pid) */
#define SB_EXEC_EXITED 1   /* code: the exit status */
#define SB_EXEC_SIGNALED 2 /* code: the signal */
#define SB_EXEC_NOT_STARTED 3 /* code: errno of the failed exec (or chdir) */

typedef struct sb_exec_report {
    int kind;
    int code;
    int killed_on_request; /* the caller asked for the kill before the command ended */
    int leftovers_killed;  /* processes of the tree still alive when the command ended */
    pid_t command;         /* the command's pid (also its process group) */
} sb_exec_report;

/* pipe2(fds, O_CLOEXEC), which Swift's Glibc module does not export. */
int sb_pipe_cloexec(int fds[2]);

/* The direct children of every thread of this process (into out, at most max); -1 on error. */
int sb_list_own_children(pid_t *out, int max);

/* Starts the supervisor and, through it, the command. `helper`: the path of the
 * sloth-exec-supervisor program, or NULL to fork the caller instead. Returns 0, or an errno.
 * The caller's stdio descriptors in `request` stay open in the caller (close them after this
 * returns). */
int sb_exec_start(const sb_exec_request *request, const char *helper, sb_exec_handle *handle);

/* The sloth-exec-supervisor program: `--cwd DIR|"" PATH ARGV...`, descriptors 3..7 as above. */
int sb_exec_supervisor_main(int argc, char **argv);

#endif
