#ifndef MESHFARM_CSANDBOX_H
#define MESHFARM_CSANDBOX_H

#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

/// Limits a contained child runs under. Zero means "no limit".
typedef struct meshfarm_child_limits {
    /// RLIMIT_AS: address space, bytes. Allocation beyond it fails.
    uint64_t address_space_bytes;
    /// RLIMIT_CPU: seconds of CPU time; SIGXCPU at the limit, SIGKILL 5 s later.
    uint64_t cpu_seconds;
    /// RLIMIT_FSIZE: largest file the child may write, bytes.
    uint64_t file_size_bytes;
} meshfarm_child_limits;

/// Starts `path` with `argv` and `envp` in a contained child process:
///
/// - `clone(CLONE_VM | CLONE_VFORK)` + `execve` (as `posix_spawn` does, but
///   with the set-up below in between: async-signal-safe calls only), so the
///   limits are in force before the first instruction of the new program;
/// - default signal dispositions and an empty signal mask (a service that
///   ignores SIGTERM or SIGPIPE does not pass that on);
/// - its own process group (a terminal's Ctrl-C reaches the parent, which
///   decides), and SIGKILL when the parent dies (`PR_SET_PDEATHSIG`; if the
///   parent is already gone, the child exits at once);
/// - the rlimits above, no core dumps, and `oom_score_adj` 1000, so the
///   kernel's out-of-memory killer picks the child before its parent;
/// - stdin from /dev/null, stdout and stderr to the given files (created or
///   truncated), every other file descriptor closed.
///
/// Returns 0 and sets `*pid`, or an errno value: from `clone`, from opening
/// the output files, or from the child's `execve` (reported back through a
/// close-on-exec pipe, so "no such executable" is an error here, not a
/// child that exits 127).
int meshfarm_spawn_contained(const char *path, char *const argv[], char *const envp[], const char *stdout_path,
                             const char *stderr_path, const meshfarm_child_limits *limits, pid_t *pid);

/// Waits up to `timeout_ms` for child `pid` to end, without polling (a
/// pidfd, or short sleeps on kernels before 5.3). Returns the pid when it
/// ended (filling `status` and `usage`), 0 when the time ran out, -1 on error.
pid_t meshfarm_wait_timeout(pid_t pid, int64_t timeout_ms, int *status, struct rusage *usage);

/// `wait4` for one child. Returns the pid when it ended (filling `status`
/// and `usage`), 0 when `nohang` and it is still running, -1 on error.
pid_t meshfarm_wait(pid_t pid, int nohang, int *status, struct rusage *usage);

/// Decoded `wait` status: the exit code, or -1 if it ended by a signal.
int meshfarm_exit_code(int status);
/// The signal that ended the process, or 0 if it exited.
int meshfarm_term_signal(int status);

#endif
