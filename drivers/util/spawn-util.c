/* spawn-util.c — child processes with a clean environment and only the fds they are given, watched through pidfds. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "spawn-util.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#define _noreturn_ __attribute__((noreturn))

#define SPAWN_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

int spawn_pidfd_open(pid_t pid) {
        int fd = (int) syscall(SYS_pidfd_open, pid, 0);
        return fd < 0 ? -errno : fd;
}

int spawn_pidfd_signal(int pidfd, int sig) {
        return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0 ? -errno : 0;
}

char *spawn_find_program(const char *name) {
        static const char *const dirs[] = { "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin" };
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                char *p = NULL;
                if (asprintf(&p, "%s/%s", dirs[i], name) < 0)
                        return NULL;
                if (access(p, X_OK) == 0)
                        return p;
                free(p);
        }
        return NULL;
}

/* The child's fds in order (0, 1, 2, 3, …), each moved to a number ≥ min
 * first when it is below, so that no dup2 onto 0…min-1 in the child clobbers
 * a source still to be placed. Copies made are recorded in `copies` for the
 * caller to close; -1 (stdio not given) becomes nullfd. */
static int spawn_fds_place(const SpawnOptions *o, int nullfd, int min, int *src, int *copies) {
        size_t n = 3 + o->n_fds;

        for (size_t i = 0; i < n; i++) {
                int fd = i == 0 ? o->stdin_fd : i == 1 ? o->stdout_fd : i == 2 ? o->stderr_fd : o->fds[i - 3];
                if (fd < 0)
                        fd = nullfd;
                if (fd < min) {
                        fd = copies[i] = fcntl(fd, F_DUPFD_CLOEXEC, min);
                        if (fd < 0)
                                return -errno;
                }
                src[i] = fd;
        }
        return 0;
}

static int spawn_exec(char *const *argv, const SpawnOptions *o, const int *src, pid_t *ret_pid) {
        static char *default_env[] = { (char *) "LC_ALL=C", (char *) SPAWN_PATH, NULL };
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t none, all;
        size_t n = 3 + o->n_fds;
        int r;

        posix_spawn_file_actions_init(&fa);
        posix_spawnattr_init(&attr);
        sigemptyset(&none);
        sigfillset(&all);
        /* The daemon blocks signals for its event loop and may ignore some; the child must not inherit that. */
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &all);
        if (o->cwd || o->cwd_fd < 0)
                posix_spawn_file_actions_addchdir_np(&fa, o->cwd ?: "/");
        else
                posix_spawn_file_actions_addfchdir_np(&fa, o->cwd_fd);
        /* dup2 clears close-on-exec on the copy; closefrom (close_range) drops everything else. */
        for (size_t i = 0; i < n; i++)
                posix_spawn_file_actions_adddup2(&fa, src[i], (int) i);
        posix_spawn_file_actions_addclosefrom_np(&fa, (int) n);
        r = posix_spawn(ret_pid, argv[0], &fa, &attr, argv, o->envp ?: default_env);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (r != 0)
                return log_debug_errno(r, "Cannot execute %s: %m", argv[0]);
        return 0;
}

int spawn_child(char *const *argv, const SpawnOptions *o, pid_t *ret_pid, int *ret_pidfd) {
        size_t n = 3 + o->n_fds;
        _cleanup_free_ int *src = NULL, *copies = NULL;
        _cleanup_close_ int nullfd = -1;
        pid_t pid;
        int pidfd, r;

        src = calloc(n, sizeof(int));
        copies = malloc(n * sizeof(int));
        if (!src || !copies)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                copies[i] = -1;
        if (o->stdin_fd < 0 || o->stdout_fd < 0 || o->stderr_fd < 0) {
                nullfd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
                if (nullfd < 0)
                        return -errno;
        }
        r = spawn_fds_place(o, nullfd, (int) n, src, copies);
        if (r >= 0)
                r = spawn_exec(argv, o, src, &pid);
        for (size_t i = 0; i < n; i++)
                if (copies[i] >= 0)
                        close(copies[i]);
        if (r < 0)
                return r;

        pidfd = spawn_pidfd_open(pid);
        if (pidfd < 0) {
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);   /* just SIGKILLed: returns at once */
                return pidfd;
        }
        *ret_pid = pid;
        *ret_pidfd = pidfd;
        return 0;
}

/* Waits for the child of pidfd to exit, at most SPAWN_REAP_TEARDOWN_USEC
 * (at once when it already has), reaps it if it did, closes pidfd. */
static void reap_bounded(int pidfd) {
        siginfo_t si = {};
        struct pollfd pfd = { .fd = pidfd, .events = POLLIN };

        while (poll(&pfd, 1, (int) (SPAWN_REAP_TEARDOWN_USEC / 1000u)) < 0 && errno == EINTR)
                ;
        if (waitid((idtype_t) P_PIDFD, (id_t) pidfd, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
                log_debug("Child of pidfd %d did not exit in time; leaving it.", pidfd);
        close(pidfd);
}

static void on_reap_destroy(void *userdata) {
        reap_bounded((int) (intptr_t) userdata);
}

static int on_reap_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        /* it exited: take the loop's reference and drop it; the destroy callback's wait returns at once */
        sd_event_source_ref(s);
        (void) sd_event_source_set_floating(s, 0);
        sd_event_source_unref(s);
        return 0;
}

void spawn_reap(sd_event *event, int pidfd) {
        sd_event_source *s = NULL;

        if (pidfd < 0)
                return;
        if (!event || sd_event_add_io(event, &s, pidfd, EPOLLIN, on_reap_exit, (void *) (intptr_t) pidfd) < 0) {
                reap_bounded(pidfd);
                return;
        }
        (void) sd_event_source_set_description(s, "child-reaper");
        (void) sd_event_source_set_destroy_callback(s, on_reap_destroy);
        /* the loop owns it now: freed by on_reap_exit, or with the loop */
        (void) sd_event_source_set_floating(s, 1);
        sd_event_source_unref(s);
}

void spawn_kill_reap(sd_event *event, pid_t pid, int pidfd) {
        if (pidfd < 0)
                return;
        if (pid <= 0) {
                close(pidfd);
                return;
        }
        (void) spawn_pidfd_signal(pidfd, SIGKILL);
        spawn_reap(event, pidfd);
}

/* ---- confined children ----
 *
 * Forked rather than posix_spawn'd: the child does work of its own before
 * exec. Everything it needs (paths, fds, device numbers) is prepared by the
 * parent, so that the child makes system calls only: the daemon may have
 * threads (log rotation, screenshot copies), and after fork only
 * async-signal-safe calls are allowed. */


/* The existing directory the new root is built on (in the child's own mount
 * namespace only; every source is reached through an fd opened before). */
#define SPAWN_STAGE "/tmp"

typedef enum SpawnStep {
        STEP_CGROUP,
        STEP_UNSHARE,
        STEP_PRIVATE,
        STEP_ROOT,
        STEP_MOUNT,
        STEP_READ_ONLY,
        STEP_PIVOT,
        STEP_CHDIR,
        STEP_FDS,
        STEP_CAPS,
        STEP_CREDS,
        STEP_NO_NEW_PRIVS,
        STEP_EXEC,
} SpawnStep;

typedef struct SpawnChildError {
        int step;
        int index;      /* which cgroup or mount */
        int error;      /* errno */
} SpawnChildError;

typedef struct PreparedMount {
        const SpawnMount *m;
        char *target;           /* SPAWN_STAGE + m->target */
        char source_fd_path[32]; /* /proc/self/fd/N of source_fd */
        int source_fd;          /* BIND: O_PATH, opened by the child in its namespace */
        bool is_dir;            /* BIND: the source is a directory */
        mode_t mode;            /* DEVICE: S_IFCHR or S_IFBLK */
        dev_t rdev;
} PreparedMount;

typedef struct ChildPlan {
        char *const *argv;
        char *const *envp;
        const char *cwd;
        const SpawnConfinement *c;
        const int *cgroup_fds;
        size_t n_cgroups;
        PreparedMount *mounts;
        const int *src;          /* what becomes fds 0, 1, … */
        size_t n_fds;            /* 3 + the caller's */
        int error_fd;            /* ≥ n_fds, close-on-exec */
        int last_cap;
} ChildPlan;

_noreturn_ static void child_fail(const ChildPlan *p, SpawnStep step, int index) {
        SpawnChildError e = { step, index, errno };
        ssize_t n;

        do
                n = write(p->error_fd, &e, sizeof(e));
        while (n < 0 && errno == EINTR);
        _exit(127);
}

/* mkdir -p of path's parents (and of path itself when self), without malloc. */
static int child_mkdir_parents(const char *path, bool self) {
        char buf[PATH_MAX];
        size_t len = strlen(path);

        if (len >= sizeof(buf))
                return -ENAMETOOLONG;
        memcpy(buf, path, len + 1);
        for (size_t i = 1; i <= len; i++) {
                if (buf[i] != '/' && buf[i] != 0)
                        continue;
                if (buf[i] == 0 && !self)
                        break;
                buf[i] = 0;
                if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                        return -errno;
                if (i < len)
                        buf[i] = '/';
        }
        return 0;
}

static int child_make_mount(const ChildPlan *p, const PreparedMount *pm) {
        const SpawnMount *m = pm->m;
        unsigned long flags;
        int fd;

        if (child_mkdir_parents(pm->target, m->kind == SPAWN_MOUNT_TMPFS || m->kind == SPAWN_MOUNT_PROC ||
                                                    (m->kind == SPAWN_MOUNT_BIND && pm->is_dir)) < 0)
                return -1;
        switch (m->kind) {
        case SPAWN_MOUNT_BIND:
                if (!pm->is_dir) {
                        fd = open(pm->target, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
                        if (fd < 0 && errno != EISDIR)
                                return -1;
                        if (fd >= 0)
                                close(fd);
                }
                if (mount(pm->source_fd_path, pm->target, NULL, MS_BIND | MS_REC, NULL) < 0)
                        return -1;
                flags = MS_BIND | MS_REMOUNT | MS_NOSUID | (m->devices ? 0 : MS_NODEV) |
                        (m->writable ? MS_NOEXEC : MS_RDONLY);
                return mount(NULL, pm->target, NULL, flags, NULL);
        case SPAWN_MOUNT_TMPFS:
                return mount("tmpfs", pm->target, "tmpfs", MS_NOSUID | MS_NOEXEC | (m->devices ? 0 : MS_NODEV),
                             "mode=0755,size=1m");
        case SPAWN_MOUNT_DEVICE:
                if (mknod(pm->target, pm->mode | (m->owned ? 0600 : 0666), pm->rdev) < 0)
                        return -1;
                /* mknod honours the umask: the mode is set again */
                if (chmod(pm->target, m->owned ? 0600 : 0666) < 0)
                        return -1;
                return m->owned ? chown(pm->target, p->c->uid, p->c->gid) : 0;
        case SPAWN_MOUNT_SYMLINK:
                return symlink(m->source, pm->target);
        case SPAWN_MOUNT_PROC:
                return mount("proc", pm->target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible");
        }
        errno = EINVAL;
        return -1;
}

/* "/proc/self/fd/N" without snprintf (not async-signal-safe). */
static void fd_path_format(char buf[static 32], int fd) {
        static const char prefix[] = "/proc/self/fd/";
        char digits[16];
        size_t n = 0, len = sizeof(prefix) - 1;

        do
                digits[n++] = (char) ('0' + fd % 10);
        while ((fd /= 10) > 0 && n < sizeof(digits));
        memcpy(buf, prefix, len);
        while (n > 0)
                buf[len++] = digits[--n];
        buf[len] = 0;
}

/* The new root on SPAWN_STAGE, then pivot_root into it. */
static void child_build_root(const ChildPlan *p) {
        const SpawnConfinement *c = p->c;

        if (unshare(CLONE_NEWNS) < 0)
                child_fail(p, STEP_UNSHARE, 0);
        /* nothing mounted here reaches the host, nothing the host mounts later reaches in */
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                child_fail(p, STEP_PRIVATE, 0);
        /* the sources, before the new root covers SPAWN_STAGE (they may be below it) */
        for (size_t i = 0; i < c->n_mounts; i++) {
                PreparedMount *pm = &p->mounts[i];
                if (c->mounts[i].kind != SPAWN_MOUNT_BIND)
                        continue;
                pm->source_fd = open(c->mounts[i].source, O_PATH | O_CLOEXEC);
                if (pm->source_fd < 0)
                        child_fail(p, STEP_MOUNT, (int) i);
                fd_path_format(pm->source_fd_path, pm->source_fd);
        }
        if (mount("tmpfs", SPAWN_STAGE, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m") < 0)
                child_fail(p, STEP_ROOT, 0);
        for (size_t i = 0; i < c->n_mounts; i++)
                if (child_make_mount(p, &p->mounts[i]) < 0)
                        child_fail(p, STEP_MOUNT, (int) i);
        for (size_t i = 0; i < c->n_mounts; i++)
                if (c->mounts[i].kind == SPAWN_MOUNT_TMPFS &&
                    mount(NULL, p->mounts[i].target, NULL,
                          MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC | (c->mounts[i].devices ? 0 : MS_NODEV),
                          NULL) < 0)
                        child_fail(p, STEP_READ_ONLY, (int) i);
        if (mount(NULL, SPAWN_STAGE, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
                child_fail(p, STEP_READ_ONLY, -1);
        /* pivot_root(".", "."): the old root ends up on top of the new one and is detached at once */
        if (chdir(SPAWN_STAGE) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 ||
            chdir("/") < 0)
                child_fail(p, STEP_PIVOT, 0);
}

static void child_drop_privileges(const ChildPlan *p) {
        struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct data[2] = {};

        /* the bounding set needs CAP_SETPCAP: before the uid changes */
        for (int cap = 0; cap <= p->last_cap; cap++)
                if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
                        child_fail(p, STEP_CAPS, cap);
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
                child_fail(p, STEP_CAPS, -1);
        if (setgroups(0, NULL) < 0 || setresgid(p->c->gid, p->c->gid, p->c->gid) < 0 ||
            setresuid(p->c->uid, p->c->uid, p->c->uid) < 0)
                child_fail(p, STEP_CREDS, 0);
        /* leaving uid 0 cleared permitted and effective; inheritable is cleared here */
        if (syscall(SYS_capset, &hdr, data) < 0)
                child_fail(p, STEP_CAPS, -2);
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                child_fail(p, STEP_NO_NEW_PRIVS, 0);
}

_noreturn_ static void child_run(const ChildPlan *p) {
        static const char zero[] = "0";
        struct sigaction sa = { .sa_handler = SIG_DFL };
        sigset_t none;

        for (int sig = 1; sig < _NSIG; sig++)
                (void) sigaction(sig, &sa, NULL);
        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        (void) setsid();

        /* "0": the writer itself */
        for (size_t i = 0; i < p->n_cgroups; i++)
                if (write(p->cgroup_fds[i], zero, 1) != 1)
                        child_fail(p, STEP_CGROUP, (int) i);
        child_build_root(p);
        if (chdir(p->cwd ?: "/") < 0)
                child_fail(p, STEP_CHDIR, 0);
        /* the sources are all ≥ n_fds (spawn_fds_place): no dup2 clobbers one still to be placed */
        for (size_t i = 0; i < p->n_fds; i++)
                if (dup2(p->src[i], (int) i) < 0)
                        child_fail(p, STEP_FDS, (int) i);
        if (syscall(SYS_close_range, (unsigned) p->n_fds, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
                child_fail(p, STEP_FDS, -1);
        child_drop_privileges(p);
        execve(p->argv[0], p->argv, p->envp);
        child_fail(p, STEP_EXEC, 0);
}

static char *spawn_error_message(const ChildPlan *p, const SpawnChildError *e) {
        const SpawnConfinement *c = p->c;
        const char *what = strerror(e->error);
        char *s = NULL;
        int r = -1;

        switch ((SpawnStep) e->step) {
        case STEP_CGROUP:
                r = asprintf(&s, "cannot join cgroup %s: %s", c->cgroups[e->index], what);
                break;
        case STEP_UNSHARE:
        case STEP_PRIVATE:
                r = asprintf(&s, "cannot make a mount namespace of its own: %s", what);
                break;
        case STEP_ROOT:
                r = asprintf(&s, "cannot mount a tmpfs for its root on %s: %s", SPAWN_STAGE, what);
                break;
        case STEP_MOUNT: {
                const SpawnMount *m = &c->mounts[e->index];
                r = asprintf(&s, "cannot put %s%s%s into its root: %s", m->target, m->source ? " from " : "",
                             strempty(m->source), what);
                break;
        }
        case STEP_READ_ONLY:
                r = asprintf(&s, "cannot make %s read-only in its root: %s",
                             e->index >= 0 ? c->mounts[e->index].target : "/", what);
                break;
        case STEP_PIVOT:
                r = asprintf(&s, "cannot change into its new root: %s", what);
                break;
        case STEP_CHDIR:
                r = asprintf(&s, "cannot change to %s in its root: %s", strna(p->cwd), what);
                break;
        case STEP_FDS:
                r = asprintf(&s, "cannot pass on its file descriptors: %s", what);
                break;
        case STEP_CAPS:
                r = asprintf(&s, "cannot drop its capabilities: %s", what);
                break;
        case STEP_CREDS:
                r = asprintf(&s, "cannot become uid %u gid %u: %s", (unsigned) c->uid, (unsigned) c->gid, what);
                break;
        case STEP_NO_NEW_PRIVS:
                r = asprintf(&s, "cannot set no_new_privs: %s", what);
                break;
        case STEP_EXEC:
                r = asprintf(&s, "cannot execute %s: %s", p->argv[0], what);
                break;
        }
        return r < 0 ? NULL : s;
}

static int read_last_cap(void) {
        char buf[16] = {};
        int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
        int v = 63;   /* PR_CAPBSET_DROP of one the kernel lacks is EINVAL, ignored */

        if (fd >= 0) {
                if (read(fd, buf, sizeof(buf) - 1) > 0)
                        v = atoi(buf);
                close(fd);
        }
        return v > 0 && v < 64 ? v : 63;
}

/* What the child will need: source types, device numbers, target paths. */
static int prepare_mounts(const SpawnConfinement *c, PreparedMount *pm, char **ret_error) {
        for (size_t i = 0; i < c->n_mounts; i++) {
                const SpawnMount *m = &c->mounts[i];
                struct stat st;

                pm[i].m = m;
                pm[i].source_fd = -1;
                if (!m->target || m->target[0] != '/' || (m->kind != SPAWN_MOUNT_TMPFS && m->kind != SPAWN_MOUNT_PROC &&
                                                          !m->source))
                        return -EINVAL;
                if (asprintf(&pm[i].target, "%s%s", SPAWN_STAGE, m->target) < 0) {
                        pm[i].target = NULL;
                        return -ENOMEM;
                }
                if (m->kind == SPAWN_MOUNT_BIND) {
                        /* opened again by the child: a mount of another namespace cannot be bound */
                        if (stat(m->source, &st) < 0) {
                                int r = -errno;
                                if (asprintf(ret_error, "cannot find %s for its root: %s", m->source, strerror(-r)) < 0)
                                        *ret_error = NULL;
                                return r;
                        }
                        pm[i].is_dir = S_ISDIR(st.st_mode);
                } else if (m->kind == SPAWN_MOUNT_DEVICE) {
                        int r = stat(m->source, &st) < 0 ? -errno
                                : !(S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) ? -ENODEV : 0;
                        if (r < 0) {
                                if (asprintf(ret_error, "cannot find the device %s for its root: %s", m->source,
                                             strerror(-r)) < 0)
                                        *ret_error = NULL;
                                return r;
                        }
                        pm[i].mode = st.st_mode & S_IFMT;
                        pm[i].rdev = st.st_rdev;
                }
        }
        return 0;
}

static void prepared_mounts_free(PreparedMount *pm, size_t n) {
        for (size_t i = 0; pm && i < n; i++) {
                free(pm[i].target);
                if (pm[i].source_fd >= 0)
                        close(pm[i].source_fd);
        }
        free(pm);
}

/* Forks the child of plan and waits until it ran exec (or failed before). */
static int confined_fork(ChildPlan *p, pid_t *ret_pid, char **ret_error) {
        SpawnChildError e = {};
        int pipefd[2], hi[2] = { -1, -1 };
        ssize_t n;
        pid_t pid;
        int r = 0;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        /* the child's end above every fd it places */
        hi[1] = fcntl(pipefd[1], F_DUPFD_CLOEXEC, (int) p->n_fds);
        close(pipefd[1]);
        if (hi[1] < 0) {
                close(pipefd[0]);
                return -errno;
        }
        p->error_fd = hi[1];
        pid = fork();
        if (pid < 0) {
                r = -errno;
                close(pipefd[0]);
                close(hi[1]);
                return r;
        }
        if (pid == 0)
                child_run(p);
        close(hi[1]);
        /* EOF: exec closed the child's end; else what failed */
        do
                n = read(pipefd[0], &e, sizeof(e));
        while (n < 0 && errno == EINTR);
        close(pipefd[0]);
        if (n == 0) {
                *ret_pid = pid;
                return 0;
        }
        (void) waitpid(pid, NULL, 0);   /* it _exit()s right after telling */
        if (n != (ssize_t) sizeof(e)) {
                if (asprintf(ret_error, "the confined child failed before exec") < 0)
                        *ret_error = NULL;
                return -EIO;
        }
        *ret_error = spawn_error_message(p, &e);
        return e.error > 0 ? -e.error : -EIO;
}

int spawn_child_confined(char *const *argv, const SpawnOptions *o, const SpawnConfinement *c, pid_t *ret_pid,
                         int *ret_pidfd, char **ret_error) {
        static char *default_env[] = { (char *) "LC_ALL=C", (char *) SPAWN_PATH, NULL };
        size_t n = 3 + o->n_fds, n_cgroups = 0;
        _cleanup_free_ int *src = NULL, *copies = NULL, *cgroup_fds = NULL;
        _cleanup_close_ int nullfd = -1;
        PreparedMount *pm = NULL;
        ChildPlan plan;
        pid_t pid = 0;
        int pidfd, r;

        *ret_error = NULL;
        if (c->uid == 0 || c->gid == 0 || !argv[0] || argv[0][0] != '/')
                return -EINVAL;
        while (c->cgroups && c->cgroups[n_cgroups])
                n_cgroups++;
        src = calloc(n, sizeof(int));
        copies = malloc(n * sizeof(int));
        cgroup_fds = malloc((n_cgroups + 1) * sizeof(int));
        pm = calloc(c->n_mounts + 1, sizeof(PreparedMount));
        if (!src || !copies || !cgroup_fds || !pm) {
                free(pm);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++)
                copies[i] = -1;
        for (size_t i = 0; i < n_cgroups; i++)
                cgroup_fds[i] = -1;

        r = prepare_mounts(c, pm, ret_error);
        for (size_t i = 0; r >= 0 && i < n_cgroups; i++) {
                _cleanup_free_ char *procs = NULL;
                if (asprintf(&procs, "%s/cgroup.procs", c->cgroups[i]) < 0) {
                        r = -ENOMEM;
                        break;
                }
                cgroup_fds[i] = open(procs, O_WRONLY | O_CLOEXEC | O_NOCTTY);
                if (cgroup_fds[i] < 0) {
                        r = -errno;
                        if (asprintf(ret_error, "cannot join cgroup %s: %s", c->cgroups[i], strerror(-r)) < 0)
                                *ret_error = NULL;
                }
        }
        if (r >= 0 && (o->stdin_fd < 0 || o->stdout_fd < 0 || o->stderr_fd < 0)) {
                nullfd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
                if (nullfd < 0)
                        r = -errno;
        }
        if (r >= 0)
                r = spawn_fds_place(o, nullfd, (int) n, src, copies);
        if (r >= 0) {
                plan = (ChildPlan) {
                        .argv = argv,
                        .envp = o->envp ?: default_env,
                        .cwd = o->cwd,
                        .c = c,
                        .cgroup_fds = cgroup_fds,
                        .n_cgroups = n_cgroups,
                        .mounts = pm,
                        .src = src,
                        .n_fds = n,
                        .last_cap = read_last_cap(),
                };
                r = confined_fork(&plan, &pid, ret_error);
        }
        for (size_t i = 0; i < n; i++)
                if (copies[i] >= 0)
                        close(copies[i]);
        for (size_t i = 0; i < n_cgroups; i++)
                if (cgroup_fds[i] >= 0)
                        close(cgroup_fds[i]);
        prepared_mounts_free(pm, c->n_mounts);
        if (r < 0) {
                if (!*ret_error && asprintf(ret_error, "cannot start %s confined: %s", argv[0], strerror(-r)) < 0)
                        *ret_error = NULL;
                return r;
        }

        pidfd = spawn_pidfd_open(pid);
        if (pidfd < 0) {
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                return pidfd;
        }
        *ret_pid = pid;
        *ret_pidfd = pidfd;
        return 0;
}
