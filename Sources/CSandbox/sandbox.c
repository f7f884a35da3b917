#define _GNU_SOURCE
#include "csandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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

/// Runs in the forked child: only async-signal-safe calls until execve.
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
    pid_t parent = getpid();
    pid_t child = fork();
    if (child < 0) {
        result = errno;
        goto done;
    }
    if (child == 0) become_contained(path, argv, envp, in, out, err, report[1], parent, limits);

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

int meshfarm_exit_code(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

int meshfarm_term_signal(int status) { return WIFSIGNALED(status) ? WTERMSIG(status) : 0; }
