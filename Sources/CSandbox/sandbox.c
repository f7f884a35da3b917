#define _GNU_SOURCE
#include "csandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/// Closes every descriptor from `low` up, except `keep`. close_range(2)
/// when the kernel has it, a loop otherwise. Async-signal-safe.
static void close_from(int low, int keep) {
    if (keep > low) {
        if (syscall(SYS_close_range, (unsigned)low, (unsigned)(keep - 1), 0) != 0) {
            for (int fd = low; fd < keep; fd++) close(fd);
        }
        low = keep + 1;
    }
    if (syscall(SYS_close_range, (unsigned)low, ~0U, 0) != 0) {
        struct rlimit files;
        int top = (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < 65536) ? (int)files.rlim_cur : 65536;
        for (int fd = low; fd < top; fd++) close(fd);
    }
}

static void set_limit(int resource, uint64_t soft, uint64_t hard) {
    struct rlimit limit = {.rlim_cur = soft, .rlim_max = hard};
    setrlimit(resource, &limit);
}

/// Runs in the child, which shares the parent's memory until it execs:
/// only async-signal-safe system calls, no allocation, nothing written but
/// its own stack.
static void become_contained(const char *path, char *const argv[], char *const envp[], int in, int out, int err,
                             int report, pid_t parent, const meshfarm_child_limits *limits) {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) sigaction(sig, &dfl, NULL);  // EINVAL for SIGKILL/SIGSTOP: fine
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != parent) _exit(125);  // the parent died before the line above

    if (limits->address_space_bytes) set_limit(RLIMIT_AS, limits->address_space_bytes, limits->address_space_bytes);
    if (limits->cpu_seconds) set_limit(RLIMIT_CPU, limits->cpu_seconds, limits->cpu_seconds + 5);
    if (limits->file_size_bytes) set_limit(RLIMIT_FSIZE, limits->file_size_bytes, limits->file_size_bytes);
    set_limit(RLIMIT_CORE, 0, 0);

    int oom = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (oom >= 0) {
        (void)!write(oom, "1000", 4);
        close(oom);
    }

    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) goto fail;
    close_from(3, report);  // `report` is close-on-exec: it closes itself on success
    execve(path, argv, envp);
fail:;
    int code = errno;
    (void)!write(report, &code, sizeof code);
    _exit(127);
}

struct spawn_request {
    const char *path;
    char *const *argv;
    char *const *envp;
    int in, out, err, report;
    pid_t parent;
    const meshfarm_child_limits *limits;
};

static int child_main(void *argument) {
    const struct spawn_request *r = argument;
    become_contained(r->path, r->argv, r->envp, r->in, r->out, r->err, r->report, r->parent, r->limits);
    return 127;
}

int meshfarm_spawn_contained(const char *path, char *const argv[], char *const envp[], const char *stdout_path,
                             const char *stderr_path, const meshfarm_child_limits *limits, pid_t *pid) {
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int out = open(stdout_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int err = open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int report[2] = {-1, -1};
    int result = 0;
    if (in < 0 || out < 0 || err < 0 || pipe2(report, O_CLOEXEC) != 0) {
        result = errno;
        goto done;
    }
    // Like posix_spawn: the child shares the parent's memory (CLONE_VM) on a stack of its own and
    // the parent waits until it has exec'd (CLONE_VFORK). A fork would copy the page tables of a
    // worker holding gigabytes of meshes, and leave every page of it to fault again on the
    // parent's next write. All signals are blocked across the clone, so no handler of the parent
    // runs in the child before it has reset them.
    struct spawn_request request = {path, argv, envp, in, out, err, report[1], getpid(), limits};
    const size_t stack_size = 256 * 1024;
    void *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
        result = errno;
        goto done;
    }
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    pid_t child = clone(child_main, (char *)stack + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, &request);
    int clone_error = errno;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    munmap(stack, stack_size);
    if (child < 0) {
        result = clone_error;
        goto done;
    }

    close(report[1]);
    report[1] = -1;
    int code = 0;
    ssize_t n;
    do {
        n = read(report[0], &code, sizeof code);
    } while (n < 0 && errno == EINTR);
    if (n == sizeof code) {  // execve failed: reap the child, report why
        int status;
        while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
        result = code;
    } else {
        *pid = child;
    }
done:
    if (in >= 0) close(in);
    if (out >= 0) close(out);
    if (err >= 0) close(err);
    if (report[0] >= 0) close(report[0]);
    if (report[1] >= 0) close(report[1]);
    return result;
}

pid_t meshfarm_wait(pid_t pid, int nohang, int *status, struct rusage *usage) {
    pid_t r;
    do {
        r = wait4(pid, status, nohang ? WNOHANG : 0, usage);
    } while (r < 0 && errno == EINTR);
    return r;
}

pid_t meshfarm_wait_timeout(pid_t pid, int64_t timeout_ms, int *status, struct rusage *usage) {
    pid_t done = meshfarm_wait(pid, 1, status, usage);
    if (done != 0) return done;
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0) {
        struct pollfd ready = {.fd = fd, .events = POLLIN};
        int r;
        do {
            r = poll(&ready, 1, timeout_ms > 0x7fffffff ? 0x7fffffff : (int)timeout_ms);
        } while (r < 0 && errno == EINTR);
        close(fd);
        return r > 0 ? meshfarm_wait(pid, 1, status, usage) : (r == 0 ? 0 : -1);
    }
    // No pidfd: check every 2 ms.
    struct timespec step = {.tv_sec = 0, .tv_nsec = 2000000};
    for (int64_t waited = 0; waited < timeout_ms; waited += 2) {
        nanosleep(&step, NULL);
        done = meshfarm_wait(pid, 1, status, usage);
        if (done != 0) return done;
    }
    return 0;
}

int meshfarm_exit_code(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

int meshfarm_term_signal(int status) { return WIFSIGNALED(status) ? WTERMSIG(status) : 0; }
