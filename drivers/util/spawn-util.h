/* spawn-util.h — helper programs and qemu as child processes: clean environment, chosen fds only, a pidfd to watch.
 * (Not spawn.h: that name is libc's posix_spawn header.) */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>
#include <sys/types.h>

/* What the child gets besides argv. Fds are the caller's and stay open in
 * the caller; the child sees them at the numbers given. */
typedef struct SpawnOptions {
        char *const *envp;      /* the whole environment; NULL: LC_ALL=C and PATH (the sbin and bin dirs) */
        const char *cwd;        /* working directory; NULL: cwd_fd, else "/" */
        int cwd_fd;             /* working directory as an open fd, or -1 */
        int stdin_fd;           /* fd 0; -1: /dev/null */
        int stdout_fd;          /* fd 1; -1: /dev/null */
        int stderr_fd;          /* fd 2; -1: /dev/null */
        const int *fds;         /* passed on as fds 3, 4, … in this order */
        size_t n_fds;
} SpawnOptions;

#define SPAWN_OPTIONS_INIT { .cwd_fd = -1, .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1 }

/* Runs argv[0] (an absolute path) with argv as a child in a session of its
 * own, with default signal dispositions, an empty signal mask, the options'
 * environment, working directory and fds 0–2 and 3…, and no other fd.
 * Returns 0 with *ret_pid and *ret_pidfd (O_CLOEXEC, the caller's to watch
 * and reap the child with), or a negative errno: the child's exec failure
 * (-ENOENT, -EACCES, …, reported by posix_spawn before it returns) or a
 * failure to set up; then no child is left behind. */
int spawn_child(char *const *argv, const SpawnOptions *o, pid_t *ret_pid, int *ret_pidfd);

/* ---- confined children ---- */

/* One thing in a confined child's new root (paths absolute, as the child sees them). */
typedef enum SpawnMountKind {
        SPAWN_MOUNT_BIND,       /* source (file or directory, and what is mounted below it) at target */
        SPAWN_MOUNT_TMPFS,      /* an empty tmpfs at target (mode 0755, root's), read-only once the root is built */
        SPAWN_MOUNT_DEVICE,     /* a device node at target, of the type and numbers of the node at source */
        SPAWN_MOUNT_SYMLINK,    /* a symbolic link at target whose content is source */
        SPAWN_MOUNT_PROC,       /* a procfs at target showing only the child's own processes (hidepid=invisible) */
} SpawnMountKind;

typedef struct SpawnMount {
        SpawnMountKind kind;
        const char *source;
        const char *target;
        bool writable;          /* BIND: writable (and noexec); else read-only */
        bool devices;           /* BIND, TMPFS: device nodes in it may be opened (no nodev) */
        bool owned;             /* DEVICE: mode 0600 owned by the child's uid/gid; else 0666, root's */
} SpawnMount;

/* What spawn_child_confined() makes of the child before it runs argv. */
typedef struct SpawnConfinement {
        uid_t uid;                      /* non-zero */
        gid_t gid;                      /* non-zero */
        char *const *cgroups;           /* cgroup directories it joins (each one's cgroup.procs), NULL-terminated; NULL: none */
        const SpawnMount *mounts;       /* its new root: an empty read-only tmpfs with these, made in this order */
        size_t n_mounts;
} SpawnConfinement;

/* Like spawn_child(), but the child (forked, so only async-signal-safe calls
 * run in it before exec) first joins c->cgroups, gets a mount namespace of its
 * own (propagation private) whose root is a tmpfs holding only c->mounts
 * (pivot_root; o->cwd is a path in that root, o->cwd_fd is not used), then
 * drops every privilege: no supplementary groups, uid/gid c->uid/c->gid
 * (real, effective and saved), empty capability bounding, ambient,
 * inheritable, permitted and effective sets, PR_SET_NO_NEW_PRIVS. Any step
 * that fails in the child fails the call: a negative errno and *ret_error
 * (malloc'd) saying which step, about which path; no child is left then.
 * Needs root (CAP_SYS_ADMIN, CAP_SETUID, …). */
int spawn_child_confined(char *const *argv, const SpawnOptions *o, const SpawnConfinement *c, pid_t *ret_pid,
                         int *ret_pidfd, char **ret_error);

/* pidfd_open(2) and pidfd_send_signal(2): an fd or 0, else a negative errno. */
int spawn_pidfd_open(pid_t pid);
int spawn_pidfd_signal(int pidfd, int sig);

/* The first executable `name` in /usr/local/sbin, /usr/local/bin, /usr/sbin,
 * /usr/bin, /sbin, /bin (the daemon's own PATH is not trusted), malloc'd;
 * NULL when there is none (or out of memory). */
char *spawn_find_program(const char *name);

/* How long spawn_reap() waits for a killed child when its loop goes away. */
#define SPAWN_REAP_TEARDOWN_USEC (1000u * 1000u)

/* Takes pidfd, of a child that was sent SIGKILL (or is otherwise ending), and
 * reaps the child from `event` when it exits: a child stuck in an
 * uninterruptible sleep holds up nothing. Should the loop be freed first
 * (daemon teardown, or a private loop that stops running), the child is waited
 * for at most SPAWN_REAP_TEARDOWN_USEC then, and left to init after that. With
 * no event (or no memory for the source) that bounded wait happens at once.
 * The pidfd is closed in every case. */
void spawn_reap(sd_event *event, int pidfd);

/* Forgets a child: when it still runs (pid > 0) it is sent SIGKILL and
 * reaped by spawn_reap() from event; pidfd (may be -1) is closed either way. */
void spawn_kill_reap(sd_event *event, pid_t pid, int pidfd);
