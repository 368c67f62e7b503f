/* storage-child.c — helper programs (qemu-img, mount, umount) as child processes watched through pidfds. */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "spawn-util.h"
#include "storage-internal.h"

#define OUTPUT_MAX (4u * 1024u * 1024u)

struct StorageChild {
        pid_t pid;
        int pidfd;
        int outfd;                    /* memfd (collected) or pipe read end (streamed) */
        int errfd;                    /* memfd */
        sd_event_source *exit_source;
        sd_event_source *out_source;
        sd_event_source *timer;       /* storage_child_set_timeout() */
        uint64_t timeout_limit_usec;  /* storage_child_set_timeout()'s */
        uint64_t timeout_usec;        /* > 0 once the timer killed the child */
        StorageChildOutputFn output_fn;
        StorageChildDoneFn done;
        void *userdata;
        char *name;
};

char *storage_find_program(const char *name) {
        return spawn_find_program(name);
}

StorageChild *storage_child_free(StorageChild *c) {
        if (!c)
                return NULL;
        /* a child still running is killed and reaped by the loop (it may be stuck in the kernel) */
        spawn_kill_reap(c->exit_source ? sd_event_source_get_event(c->exit_source) : NULL, c->pid, c->pidfd);
        sd_event_source_disable_unref(c->exit_source);
        sd_event_source_disable_unref(c->out_source);
        sd_event_source_disable_unref(c->timer);
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
                (void) spawn_pidfd_signal(c->pidfd, SIGTERM);
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
        if (c->timeout_usec > 0) {
                char *t = g_strdup_printf("did not finish within %" PRIu64 " s and was killed%s%s",
                                          c->timeout_usec / 1000000u, err && *err ? ": " : "", strempty(err));
                free(err);
                err = t;
        }
        c->timer = sd_event_source_disable_unref(c->timer);
        log_debug("%s exited with status %d%s%s", c->name, status, err && *err ? ": " : "", strempty(err));
        StorageChildDoneFn done = TAKE_PTR(c->done);
        if (done)
                done(c->userdata, status, out, err ?: "");   /* may free c */
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        StorageChild *c = userdata;
        (void) s, (void) usec;

        if (c->pid > 0) {
                log_warning("%s (pid %d) did not finish within %" PRIu64 " s: killing it.", c->name, (int) c->pid,
                            c->timeout_limit_usec / 1000000u);
                c->timeout_usec = c->timeout_limit_usec;
                (void) spawn_pidfd_signal(c->pidfd, SIGKILL);   /* the exit handler reports it */
        }
        return 0;
}

int storage_child_set_timeout(StorageChild *c, uint64_t usec) {
        if (usec == 0)
                return 0;
        c->timeout_limit_usec = usec;
        return sd_event_add_time_relative(sd_event_source_get_event(c->exit_source), &c->timer, CLOCK_MONOTONIC, usec,
                                          0, on_timeout, c);
}

int storage_child_spawn(StorageDriver *d, char *const *argv, int cwd_fd, int fd3, StorageChildOutputFn output_fn,
                        StorageChildDoneFn done, void *userdata, StorageChild **ret) {
        _cleanup_close_ int outfd = -1, out_w = -1, errfd = -1, pidfd = -1;
        SpawnOptions o = SPAWN_OPTIONS_INIT;
        StorageChild *c;
        pid_t pid;
        int r;

        errfd = memfd_create("vmgmt-stderr", MFD_CLOEXEC);
        if (output_fn) {
                int p[2];
                if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
                        return -errno;
                outfd = p[0];
                out_w = p[1];
        } else
                outfd = memfd_create("vmgmt-stdout", MFD_CLOEXEC);
        if (errfd < 0 || outfd < 0)
                return -errno;

        o.cwd_fd = cwd_fd;   /* else "/" */
        o.stdout_fd = output_fn ? out_w : outfd;
        o.stderr_fd = errfd;
        o.fds = &fd3;
        o.n_fds = fd3 >= 0;
        r = spawn_child(argv, &o, &pid, &pidfd);
        if (r < 0)
                return r;

        c = calloc(1, sizeof(*c));
        if (!c) {
                (void) spawn_pidfd_signal(pidfd, SIGKILL);
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
