/* child-output.c — see child-output.h. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child-output.h"
#include "macro.h"
#include "spawn-util.h"

struct ChildOutput {
        sd_event *event;
        pid_t pid;                      /* a process group leader; 0 once reaped */
        int pidfd, outfd;
        sd_event_source *exit_source, *out_source, *timer;
        char *buf;
        size_t len, max;
        int error;                      /* why it was killed: reported once it is reaped */
        ChildOutputFn fn;
        void *userdata;
};

ChildOutput *child_output_free(ChildOutput *c) {
        if (!c)
                return NULL;
        c->exit_source = sd_event_source_disable_unref(c->exit_source);
        c->out_source = sd_event_source_disable_unref(c->out_source);
        c->timer = sd_event_source_disable_unref(c->timer);
        if (c->pid > 0)
                (void) kill(-c->pid, SIGKILL);   /* what it started, too */
        spawn_kill_reap(c->event, c->pid, c->pidfd);
        if (c->outfd >= 0)
                close(c->outfd);
        sd_event_unref(c->event);
        free(c->buf);
        free(c);
        return NULL;
}

pid_t child_output_pid(const ChildOutput *c) {
        return c->pid;
}

/* The leader is not reaped yet, so its pid, and so its group's id, is still ours. */
static void child_kill(ChildOutput *c, int error) {
        if (c->error == 0)
                c->error = error;
        if (c->pid <= 0)
                return;
        (void) kill(-c->pid, SIGKILL);
        (void) spawn_pidfd_signal(c->pidfd, SIGKILL);
}

/* What the child wrote so far, without blocking: 1 at EOF, 0 when more may come, or -errno. */
static int child_read(ChildOutput *c) {
        for (;;) {
                ssize_t n = read(c->outfd, c->buf + c->len, c->max - c->len + 1);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return errno == EAGAIN ? 0 : -errno;
                }
                if (n == 0)
                        return 1;
                c->len += (size_t) n;
                if (c->len > c->max)
                        return -EFBIG;
        }
}

static int on_output(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ChildOutput *c = userdata;
        int r = child_read(c);

        if (r < 0)
                child_kill(c, r);   /* its exit reports it */
        if (r != 0)
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        return 0;
}

/* The child is gone: what is left in the pipe is its answer (a grandchild may hold the write end
 * open; what it writes later is not). */
static int on_exit_(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ChildOutput *c = userdata;
        siginfo_t si = {};
        ChildResult res = {};

        if (waitid((idtype_t) P_PIDFD, (id_t) c->pidfd, &si, WEXITED | WNOHANG) < 0) {
                if (errno == EINTR)
                        return 0;
                res.error = -errno;
        } else if (si.si_pid == 0)
                return 0;
        c->pid = 0;
        if (res.error == 0 && c->error == 0) {
                int k = child_read(c);
                if (k < 0)
                        c->error = k;
        }
        if (res.error == 0)
                res.error = c->error;
        res.code = si.si_code;
        res.status = si.si_status;
        if (c->len > c->max)
                c->len = c->max;
        c->buf[c->len] = '\0';
        res.output = c->buf;
        res.size = c->len;
        c->fn(c->userdata, &res);
        child_output_free(c);
        return 0;
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        child_kill(userdata, -ETIMEDOUT);
        return 0;
}

static int child_spawn(ChildOutput *c, char *const *argv, const char *input) {
        SpawnOptions o = SPAWN_OPTIONS_INIT;
        _cleanup_close_ int in_r = -1, in_w = -1, out_w = -1;
        int p[2];

        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        c->outfd = p[0];
        out_w = p[1];
        /* only our end reads without blocking; the child writes as to any pipe */
        if (fcntl(c->outfd, F_SETFL, O_NONBLOCK) < 0)
                return -errno;
        o.stdout_fd = out_w;
        if (input) {
                size_t n = strlen(input);

                if (pipe2(p, O_CLOEXEC) < 0)
                        return -errno;
                in_r = p[0];
                in_w = p[1];
                /* the whole of it before the child runs: it fits the pipe */
                if (n > 65536 || write(in_w, input, n) != (ssize_t) n)
                        return -EIO;
                o.stdin_fd = in_r;
        }
        return spawn_child(argv, &o, &c->pid, &c->pidfd);
}

int child_output_run(sd_event *event, char *const *argv, const char *input, size_t max_output,
                     uint64_t timeout_usec, ChildOutputFn fn, void *userdata, ChildOutput **ret) {
        ChildOutput *c = calloc(1, sizeof(ChildOutput));
        int r;

        if (!c)
                return -ENOMEM;
        c->event = sd_event_ref(event);
        c->pidfd = c->outfd = -1;
        c->max = max_output;
        c->fn = fn;
        c->userdata = userdata;
        c->buf = malloc(max_output + 2);
        if (!c->buf) {
                child_output_free(c);
                return -ENOMEM;
        }
        r = child_spawn(c, argv, input);
        if (r >= 0)
                r = sd_event_add_io(event, &c->out_source, c->outfd, EPOLLIN, on_output, c);
        if (r >= 0)
                r = sd_event_add_io(event, &c->exit_source, c->pidfd, EPOLLIN, on_exit_, c);
        if (r >= 0)
                r = sd_event_add_time_relative(event, &c->timer, CLOCK_MONOTONIC, timeout_usec, 0, on_deadline, c);
        if (r < 0) {
                child_output_free(c);
                return r;
        }
        (void) sd_event_source_set_description(c->out_source, "child-output");
        (void) sd_event_source_set_description(c->exit_source, "child-exit");
        *ret = c;
        return 0;
}
