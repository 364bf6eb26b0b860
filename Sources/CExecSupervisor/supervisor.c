#define _GNU_SOURCE
#include "execsupervisor.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <spawn.h>

extern char **environ;

/* Everything below the fork runs in a copy of a multi-threaded process: only async-signal-safe
 * calls, no allocation, no locks, buffers on the stack. */

/* Descriptor numbers inside the supervisor. */
enum { FD_CONTROL = 3, FD_STATUS = 4, FD_IN = 5, FD_OUT = 6, FD_ERR = 7, FD_FIRST_FREE = 8 };

static void close_from(int first) {
    if (syscall(SYS_close_range, (unsigned)first, ~0U, 0) == 0) return;
    for (int fd = first; fd < 65536; fd++) close(fd); /* kernels before 5.9 */
}

static void reset_signals(void) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        sigaction(sig, &dfl, NULL); /* fails harmlessly for the real-time signals glibc keeps */
    }
}

static void write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        p += n;
        len -= (size_t)n;
    }
}

/* The direct children of this process, from /proc/self/task/<tid>/children. */
static int list_children(pid_t *out, int max) {
    char path[64] = "/proc/self/task/";
    char digits[16];
    int n = 0;
    pid_t self = getpid();
    int len = 0;
    do { digits[len++] = (char)('0' + self % 10); self /= 10; } while (self > 0);
    size_t at = strlen(path);
    while (len > 0) path[at++] = digits[--len];
    memcpy(path + at, "/children", 10);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    char buf[4096];
    ssize_t got;
    pid_t value = 0;
    int digitsSeen = 0;
    while ((got = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < got; i++) {
            if (buf[i] >= '0' && buf[i] <= '9') {
                value = value * 10 + (buf[i] - '0');
                digitsSeen = 1;
            } else if (digitsSeen) {
                if (n < max) out[n++] = value;
                value = 0;
                digitsSeen = 0;
            }
        }
    }
    if (digitsSeen && n < max) out[n++] = value;
    close(fd);
    return n;
}

static void pause_briefly(void) {
    struct timespec ts = {0, 1000000}; /* 1 ms */
    nanosleep(&ts, NULL);
}

/* Kills what is left of the tree and reaps it; records the command's status if it is reaped
 * here. Returns how many processes other than the command were found alive. */
static int kill_tree(pid_t command, int *command_status, int *command_reaped) {
    pid_t seen[256];
    int leftovers = 0;
    pid_t children[512];
    for (int round = 0; round < 100000; round++) {
        kill(-command, SIGKILL); /* the command's process group (ESRCH once empty) */
        int n = list_children(children, 512);
        if (n < 0) n = 0;
        for (int i = 0; i < n; i++) {
            pid_t c = children[i];
            if (c == command) {
                kill(c, SIGKILL);
                continue;
            }
            int known = 0;
            for (int j = 0; j < leftovers && j < 256; j++) known |= seen[j] == c;
            if (!known) {
                if (leftovers < 256) seen[leftovers] = c;
                leftovers++;
            }
            kill(-c, SIGKILL); /* a child that made its own group or session */
            kill(c, SIGKILL);
        }
        int status;
        pid_t reaped;
        while ((reaped = waitpid(-1, &status, WNOHANG)) > 0) {
            if (reaped == command) {
                *command_status = status;
                *command_reaped = 1;
            }
        }
        if (reaped < 0 && errno == ECHILD) return leftovers; /* the tree is gone */
        pause_briefly(); /* killed processes are still dying; their children come to us next */
    }
    return leftovers;
}

static void supervise(const sb_exec_request *request) {
    /* The descriptors this process keeps, moved to fixed numbers; everything else closed (the
     * caller's database, sockets and other commands' pipes are not ours to hold). */
    setpgid(0, 0);
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    reset_signals();
    /* Terminal signals meant for the engine's group must not end the supervisor early. */
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);

    int exec_pipe[2];
    if (pipe2(exec_pipe, O_CLOEXEC) != 0) _exit(120);
    pid_t command = fork();
    if (command < 0) {
        sb_exec_report r = {SB_EXEC_NOT_STARTED, errno, 0, 0, 0};
        write_all(FD_STATUS, &r, sizeof r);
        _exit(0);
    }
    if (command > 0) {
        /* First record: who the command is (the caller's last resort if this process dies). */
        sb_exec_report started = {SB_EXEC_STARTED, 0, 0, 0, command};
        write_all(FD_STATUS, &started, sizeof started);
    }
    if (command == 0) {
        setpgid(0, 0);
        signal(SIGINT, SIG_DFL);
        signal(SIGQUIT, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
        int err = 0;
        if (dup2(FD_IN, 0) < 0 || dup2(FD_OUT, 1) < 0 || dup2(FD_ERR, 2) < 0) err = errno;
        if (!err && request->cwd != NULL && chdir(request->cwd) != 0) err = errno;
        if (!err) {
            close(FD_CONTROL);
            close(FD_STATUS);
            close(FD_IN);
            close(FD_OUT);
            close(FD_ERR);
            execve(request->path, request->argv, request->envp);
            err = errno;
        }
        write_all(exec_pipe[1], &err, sizeof err);
        _exit(127);
    }
    close(exec_pipe[1]);
    close(FD_IN);
    close(FD_OUT);
    close(FD_ERR);
    setpgid(command, command); /* also from here, so it holds whichever runs first */

    sb_exec_report report = {0, 0, 0, 0, command};
    int exec_errno = 0;
    ssize_t got;
    do { got = read(exec_pipe[0], &exec_errno, sizeof exec_errno); } while (got < 0 && errno == EINTR);
    close(exec_pipe[0]);

    int status = 0, reaped = 0;
    if (got == (ssize_t)sizeof exec_errno) {
        report.kind = SB_EXEC_NOT_STARTED;
        report.code = exec_errno;
        waitpid(command, &status, 0);
        write_all(FD_STATUS, &report, sizeof report);
        _exit(0);
    }

    int pidfd = (int)syscall(SYS_pidfd_open, command, 0);
    for (;;) {
        struct pollfd fds[2] = {{FD_CONTROL, POLLIN, 0}, {pidfd, POLLIN, 0}};
        int ready = poll(fds, pidfd >= 0 ? 2 : 1, pidfd >= 0 ? -1 : 20);
        if (ready < 0 && errno != EINTR) break;
        if (fds[0].revents) { /* a kill request, or the caller is gone */
            report.killed_on_request = 1;
            kill(-command, SIGKILL);
            kill(command, SIGKILL);
            break;
        }
        if (pidfd < 0 || fds[1].revents) {
            pid_t done = waitpid(command, &status, WNOHANG);
            if (done == command) {
                reaped = 1;
                break;
            }
        }
    }
    report.leftovers_killed = kill_tree(command, &status, &reaped);
    if (!reaped) waitpid(command, &status, 0);
    if (WIFSIGNALED(status)) {
        report.kind = SB_EXEC_SIGNALED;
        report.code = WTERMSIG(status);
    } else {
        report.kind = SB_EXEC_EXITED;
        report.code = WEXITSTATUS(status);
    }
    write_all(FD_STATUS, &report, sizeof report);
    _exit(0);
}

/* Puts each descriptor at its fixed number without clobbering one not yet moved. */
static int place(int fds[5]) {
    int moved[5];
    for (int i = 0; i < 5; i++) {
        moved[i] = fcntl(fds[i], F_DUPFD, 100);
        if (moved[i] < 0) return -1;
    }
    for (int i = 0; i < 5; i++) {
        if (dup2(moved[i], FD_CONTROL + i) < 0) return -1;
    }
    return 0;
}

/* Spawns the supervisor as its own small program (`helper`), with posix_spawn: glibc starts it
 * with clone(CLONE_VM | CLONE_VFORK), so the caller's page tables are never copied. Forking a
 * large, many-threaded engine instead costs a copy of its page tables and a copy-on-write fault
 * for every page it touches before the exec: measured, most of an `exec.run`. The descriptors
 * reach the helper at 3..7 (the helper closes every other one itself). */
static int spawn_helper(const char *helper, const sb_exec_request *request, int fds[5], pid_t *pid) {
    /* Out of the way first, so no dup2 below overwrites a source not yet moved. */
    int high[5];
    int n = 0, rc = 0;
    for (; n < 5; n++) {
        high[n] = fcntl(fds[n], F_DUPFD_CLOEXEC, 100);
        if (high[n] < 0) { rc = errno; break; }
    }
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attrs;
    int actions_ready = 0, attrs_ready = 0;
    if (rc == 0 && (rc = posix_spawn_file_actions_init(&actions)) == 0) actions_ready = 1;
    if (rc == 0 && (rc = posix_spawnattr_init(&attrs)) == 0) attrs_ready = 1;
    for (int i = 0; rc == 0 && i < 5; i++) rc = posix_spawn_file_actions_adddup2(&actions, high[i], FD_CONTROL + i);
    /* Not the engine's stdio: whoever reads the engine's output must not wait on us. */
    if (rc == 0) rc = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (rc == 0) rc = posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    if (rc == 0) rc = posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    if (rc == 0) rc = posix_spawnattr_setsigmask(&attrs, &none);
    if (rc == 0) rc = posix_spawnattr_setsigdefault(&attrs, &all);
    if (rc == 0) rc = posix_spawnattr_setflags(&attrs, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (rc == 0) {
        /* helper --cwd DIR|"" PATH ARGV...; the command's environment is the helper's. */
        int argc = 0;
        while (request->argv[argc] != NULL) argc++;
        char **args = calloc((size_t)argc + 5, sizeof(char *));
        if (args == NULL) rc = ENOMEM;
        else {
            args[0] = (char *)helper;
            args[1] = (char *)"--cwd";
            args[2] = (char *)(request->cwd != NULL ? request->cwd : "");
            args[3] = (char *)request->path;
            for (int i = 0; i < argc; i++) args[4 + i] = request->argv[i];
            args[4 + argc] = NULL;
            rc = posix_spawn(pid, helper, &actions, &attrs, args, request->envp);
            free(args);
        }
    }
    if (actions_ready) posix_spawn_file_actions_destroy(&actions);
    if (attrs_ready) posix_spawnattr_destroy(&attrs);
    for (int i = 0; i < n; i++) close(high[i]);
    return rc;
}

int sb_exec_start(const sb_exec_request *request, const char *helper, sb_exec_handle *handle) {
    int control[2], status[2];
    if (pipe2(control, O_CLOEXEC) != 0) return errno;
    if (pipe2(status, O_CLOEXEC) != 0) {
        int e = errno;
        close(control[0]);
        close(control[1]);
        return e;
    }
    int devnull = -1;
    int in = request->stdin_fd;
    if (in < 0) {
        devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
        in = devnull;
    }
    int fds[5] = {control[0], status[1], in, request->stdout_fd, request->stderr_fd};
    pid_t pid = -1;
    int e = 0;
    if (helper != NULL) {
        e = spawn_helper(helper, request, fds, &pid);
        if (e != 0) pid = -1;
    } else {
        /* No helper program installed: the supervisor is a fork of the caller (correct, slower). */
        pid = fork();
        if (pid == 0) {
            if (place(fds) != 0) _exit(121);
            close_from(FD_FIRST_FREE);
            int null = open("/dev/null", O_RDWR);
            if (null >= 0) {
                dup2(null, 0);
                dup2(null, 1);
                dup2(null, 2);
                if (null > 2) close(null);
            }
            supervise(request);
            _exit(0);
        }
        e = errno;
    }
    close(control[0]);
    close(status[1]);
    if (devnull >= 0) close(devnull);
    if (pid < 0) {
        close(control[1]);
        close(status[0]);
        return e;
    }
    handle->supervisor = pid;
    handle->control_fd = control[1];
    handle->status_fd = status[0];
    return 0;
}

int sb_exec_supervisor_main(int argc, char **argv) {
    /* Only this program's own descriptors 0..7 are meant for it. */
    close_from(FD_FIRST_FREE);
    if (argc < 5 || strcmp(argv[1], "--cwd") != 0) {
        static const char usage[] = "sloth-exec-supervisor is started by sloth-runner's exec module, not by hand\n";
        write_all(2, usage, sizeof usage - 1);
        return 2;
    }
    if (fcntl(FD_STATUS, F_GETFD) < 0 || fcntl(FD_CONTROL, F_GETFD) < 0) {
        static const char missing[] = "sloth-exec-supervisor: descriptors 3..7 are not set up (started by hand?)\n";
        write_all(2, missing, sizeof missing - 1);
        return 2;
    }
    sb_exec_request request;
    memset(&request, 0, sizeof request);
    request.cwd = argv[2][0] != '\0' ? argv[2] : NULL;
    request.path = argv[3];
    request.argv = argv + 4;
    request.envp = environ;
    request.stdin_fd = FD_IN;
    request.stdout_fd = FD_OUT;
    request.stderr_fd = FD_ERR;
    supervise(&request);
    return 0;
}

int sb_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

/* Runs in the engine (not after a fork), so stdio is fine here. */
int sb_list_own_children(pid_t *out, int max) {
    DIR *tasks = opendir("/proc/self/task");
    if (tasks == NULL) return -1;
    int n = 0;
    struct dirent *entry;
    char path[300];
    while ((entry = readdir(tasks)) != NULL && n < max) {
        if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/children", entry->d_name);
        FILE *f = fopen(path, "re");
        if (f == NULL) continue;
        long pid;
        while (n < max && fscanf(f, "%ld", &pid) == 1) out[n++] = (pid_t)pid;
        fclose(f);
    }
    closedir(tasks);
    return n;
}
