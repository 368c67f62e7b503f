/* storage-child.c — helper programs (qemu-img, mount, umount) as child processes watched through pidfds. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "storage-internal.h"

#define OUTPUT_MAX (4u * 1024u * 1024u)

struct StorageChild {
        pid_t pid;
        int pidfd;
        int outfd;                    /* memfd (collected) or pipe read end (streamed) */
        int errfd;                    /* memfd */
        sd_event_source *exit_source;
        sd_event_source *out_source;
        StorageChildOutputFn output_fn;
        StorageChildDoneFn done;
        void *userdata;
        char *name;
};

static int pidfd_open_(pid_t pid) {
        int fd = (int) syscall(SYS_pidfd_open, pid, 0);
        return fd < 0 ? -errno : fd;
}

static int pidfd_signal(int pidfd, int sig) {
        return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0 ? -errno : 0;
}

char *storage_find_program(const char *name) {
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

StorageChild *storage_child_free(StorageChild *c) {
        if (!c)
                return NULL;
        sd_event_source_disable_unref(c->exit_source);
        sd_event_source_disable_unref(c->out_source);
        if (c->pidfd >= 0) {
                if (c->pid > 0) {
                        siginfo_t si = {};
                        (void) pidfd_signal(c->pidfd, SIGKILL);
                        (void) waitid((idtype_t) P_PIDFD, (id_t) c->pidfd, &si, WEXITED);
                }
                close(c->pidfd);
        }
        if (c->outfd >= 0)
                close(c->outfd);
        if (c->errfd >= 0)
                close(c->errfd);
        free(c->name);
        free(c);
        return NULL;
}

void storage_child_terminate(StorageChild *c) {
        if (c && c->pid > 0)
                (void) pidfd_signal(c->pidfd, SIGTERM);
}

static char *read_memfd(int fd) {
        off_t size = lseek(fd, 0, SEEK_END);
        size_t n = size > 0 ? (size_t) size : 0;
        if (n > OUTPUT_MAX)
                n = OUTPUT_MAX;
        char *buf = calloc(1, n + 1);
        if (!buf)
                return NULL;
        ssize_t k = pread(fd, buf, n, 0);
        buf[k > 0 ? k : 0] = 0;
        return g_strstrip(buf);
}

static void drain_output(StorageChild *c) {
        char buf[4096];
        ssize_t n;

        if (!c->output_fn)
                return;
        while ((n = read(c->outfd, buf, sizeof buf)) > 0)
                c->output_fn(c->userdata, buf, (size_t) n);
}

static int on_output(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        StorageChild *c = userdata;
        (void) s, (void) fd;
        drain_output(c);
        if (revents & (EPOLLHUP | EPOLLERR))
                sd_event_source_set_enabled(c->out_source, SD_EVENT_OFF);
        return 0;
}

static int on_exit_(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        StorageChild *c = userdata;
        siginfo_t si = {};
        int status;
        (void) s, (void) fd, (void) revents;

        if (waitid((idtype_t) P_PIDFD, (id_t) c->pidfd, &si, WEXITED | WNOHANG) < 0)
                status = 255;
        else if (si.si_pid == 0)
                return 0;
        else
                status = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
        c->pid = 0;
        sd_event_source_set_enabled(c->exit_source, SD_EVENT_OFF);
        drain_output(c);

        _cleanup_free_ char *out = c->output_fn ? NULL : read_memfd(c->outfd);
        _cleanup_free_ char *err = read_memfd(c->errfd);
        log_debug("%s exited with status %d%s%s", c->name, status, err && *err ? ": " : "", strempty(err));
        StorageChildDoneFn done = TAKE_PTR(c->done);
        if (done)
                done(c->userdata, status, out, err ?: "");   /* may free c */
        return 0;
}

/* An O_CLOEXEC fd ≥ 4, so the dup2s onto 0–3 in the child never clobber one another. */
static int fd_high(int fd) {
        if (fd < 0 || fd >= 4)
                return fd;
        int n = fcntl(fd, F_DUPFD_CLOEXEC, 4);
        int saved = errno;
        close(fd);
        errno = saved;
        return n;
}

int storage_child_spawn(StorageDriver *d, char *const *argv, int cwd_fd, int fd3, StorageChildOutputFn output_fn,
                        StorageChildDoneFn done, void *userdata, StorageChild **ret) {
        _cleanup_close_ int infd = -1, outfd = -1, out_w = -1, errfd = -1, pidfd = -1, fd3_copy = -1;
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t none, all;
        StorageChild *c;
        pid_t pid;
        int r;

        char *envp[] = {
                (char *) "LC_ALL=C",
                (char *) "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                NULL,
        };

        infd = fd_high(open("/dev/null", O_RDONLY | O_CLOEXEC | O_NOCTTY));
        errfd = fd_high(memfd_create("vmgmt-stderr", MFD_CLOEXEC));
        if (output_fn) {
                int p[2];
                if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
                        return -errno;
                outfd = fd_high(p[0]);
                out_w = fd_high(p[1]);
        } else
                outfd = fd_high(memfd_create("vmgmt-stdout", MFD_CLOEXEC));
        if (fd3 >= 0)
                fd3_copy = fd_high(fcntl(fd3, F_DUPFD_CLOEXEC, 4));
        if (infd < 0 || errfd < 0 || outfd < 0 || (output_fn && out_w < 0) || (fd3 >= 0 && fd3_copy < 0))
                return -errno;

        posix_spawn_file_actions_init(&fa);
        posix_spawnattr_init(&attr);
        sigemptyset(&none);
        sigfillset(&all);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &all);
        if (cwd_fd >= 0)
                posix_spawn_file_actions_addfchdir_np(&fa, cwd_fd);
        else
                posix_spawn_file_actions_addchdir_np(&fa, "/");
        posix_spawn_file_actions_adddup2(&fa, infd, 0);
        posix_spawn_file_actions_adddup2(&fa, output_fn ? out_w : outfd, 1);
        posix_spawn_file_actions_adddup2(&fa, errfd, 2);
        if (fd3_copy >= 0)
                posix_spawn_file_actions_adddup2(&fa, fd3_copy, 3);
        posix_spawn_file_actions_addclosefrom_np(&fa, fd3_copy >= 0 ? 4 : 3);
        r = posix_spawn(&pid, argv[0], &fa, &attr, argv, envp);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (r != 0)
                return log_debug_errno(r, "Cannot execute %s: %m", argv[0]);

        pidfd = pidfd_open_(pid);
        if (pidfd < 0) {
                kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                return pidfd;
        }
        c = calloc(1, sizeof(*c));
        if (!c) {
                (void) pidfd_signal(pidfd, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                return -ENOMEM;
        }
        c->pid = pid;
        c->pidfd = TAKE_FD(pidfd);
        c->outfd = TAKE_FD(outfd);
        c->errfd = TAKE_FD(errfd);
        c->output_fn = output_fn;
        c->done = done;
        c->userdata = userdata;
        c->name = strdup(argv[0]);
        r = sd_event_add_io(d->event, &c->exit_source, c->pidfd, EPOLLIN, on_exit_, c);
        if (r >= 0 && output_fn)
                r = sd_event_add_io(d->event, &c->out_source, c->outfd, EPOLLIN, on_output, c);
        if (r < 0) {
                c->done = NULL;
                storage_child_free(c);
                return r;
        }
        (void) sd_event_source_set_description(c->exit_source, "storage-child");
        log_debug("Started %s (pid %d).", argv[0], (int) pid);
        *ret = c;
        return 0;
}
