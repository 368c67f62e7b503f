/* qemu-caps-probe.c — running an emulator to learn its caps: children of an sd-event loop, pidfd, deadline. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "qemu/qemu-caps.h"
#include "qemu-caps-internal.h"
#include "spawn-util.h"

#define CAPS_OUTPUT_MAX (1024u * 1024u)

/* ---- probing: the emulator's answers, read by children of an event loop ---- */

typedef enum ProbeStep {
        PROBE_STEP_VERSION,        /* EMU -version */
        PROBE_STEP_MACHINES,       /* EMU -machine help */
        _PROBE_STEP_MAX,
} ProbeStep;

struct QemuCapsProbe {
        sd_event *event;
        QemuCaps *caps;            /* being filled */
        char *cache_dir;           /* NULL: never cache */
        char *cache_path;
        ProbeStep step;
        pid_t pid;                 /* the running child (a process group leader), 0 when none */
        int pidfd;
        int outfd;                 /* read end of the child's stdout, O_NONBLOCK */
        sd_event_source *exit_source;
        sd_event_source *out_source;
        sd_event_source *timer;    /* the deadline of the running child */
        uint64_t timeout_usec;     /* how long each child may run */
        char *buf;
        size_t len;
        int error;                 /* set when the child was killed: what to report once it is reaped */
        QemuCapsProbeFn fn;
        void *userdata;
};

/* Kills the child and everything it started (its own process group). The
 * leader is not reaped yet, so its pid, and so the group id, is still ours. */
static void probe_kill(QemuCapsProbe *p) {
        if (p->pid <= 0)
                return;
        (void) kill(-p->pid, SIGKILL);
        (void) spawn_pidfd_signal(p->pidfd, SIGKILL);
}

/* Forgets the current child; kills it if it still runs (cancel) and leaves
 * its reaping to the loop: a child stuck in the kernel does not hold it up. */
static void probe_child_close(QemuCapsProbe *p) {
        p->exit_source = sd_event_source_disable_unref(p->exit_source);
        p->out_source = sd_event_source_disable_unref(p->out_source);
        if (p->pid > 0)
                (void) kill(-p->pid, SIGKILL);   /* what it started, too */
        spawn_kill_reap(p->event, p->pid, p->pidfd);
        p->pid = 0;
        if (p->outfd >= 0)
                close(p->outfd);
        p->pidfd = p->outfd = -1;
}

QemuCapsProbe *qemu_caps_probe_free(QemuCapsProbe *p) {
        if (!p)
                return NULL;
        probe_child_close(p);
        sd_event_source_disable_unref(p->timer);
        sd_event_unref(p->event);
        qemu_caps_free(p->caps);
        free(p->cache_dir);
        free(p->cache_path);
        free(p->buf);
        free(p);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(QemuCapsProbe *, qemu_caps_probe_free);

/* Ends the probe: the callback gets the caps (or the error) and p is freed. */
static void probe_finish(QemuCapsProbe *p, int r) {
        QemuCapsProbeFn fn = p->fn;
        void *userdata = p->userdata;
        QemuCaps *caps = NULL;

        if (r < 0)
                log_warning_errno(r, "Failed to probe capabilities of %s: %m", qemu_caps_emulator(p->caps));
        else {
                if (p->cache_path) {
                        int k = qemu_caps_cache_save(p->caps, p->cache_dir, p->cache_path);
                        if (k < 0)
                                log_warning_errno(k, "Failed to write qemu caps cache %s, ignoring: %m",
                                                  p->cache_path);
                }
                caps = TAKE_PTR(p->caps);
        }
        qemu_caps_probe_free(p);
        fn(userdata, r, caps);
}

/* Reads what the child wrote so far without blocking. Returns 1 at EOF, 0
 * when more may come, or -errno. */
static int probe_read_output(QemuCapsProbe *p) {
        for (;;) {
                ssize_t n = read(p->outfd, p->buf + p->len, CAPS_OUTPUT_MAX - p->len);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return errno == EAGAIN ? 0 : -errno;
                }
                if (n == 0)
                        return 1;
                p->len += (size_t) n;
                if (p->len >= CAPS_OUTPUT_MAX)
                        return -EFBIG;
        }
}

static int probe_step_parse(QemuCapsProbe *p) {
        p->buf[p->len] = '\0';
        switch (p->step) {
        case PROBE_STEP_VERSION:
                return qemu_caps_parse_version(p->caps, p->buf);
        case PROBE_STEP_MACHINES:
                return qemu_caps_parse_machine_help(p->caps, p->buf);
        default:
                return -EINVAL;
        }
}

static int probe_step_start(QemuCapsProbe *p);

static int on_probe_output(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        QemuCapsProbe *p = userdata;
        int r = probe_read_output(p);

        if (r < 0) {
                /* too much output: kill it; the exit reports the error */
                p->error = r;
                probe_kill(p);
        }
        if (r != 0)
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        return 0;
}

/* The child is gone: take what it left in the pipe (a grandchild may hold the
 * write end open; what it writes later is not the answer), then go on. */
static int on_probe_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        QemuCapsProbe *p = userdata;
        const char *arg = p->step == PROBE_STEP_VERSION ? "-version" : "-machine help";
        siginfo_t si = {};
        int r;

        if (waitid((idtype_t) P_PIDFD, (id_t) p->pidfd, &si, WEXITED | WNOHANG) < 0) {
                if (errno == EINTR)
                        return 0;
                r = -errno;
        } else if (si.si_pid == 0)
                return 0;
        else
                r = 0;
        p->pid = 0;
        if (r >= 0 && p->error == 0) {
                int k = probe_read_output(p);
                if (k < 0)
                        p->error = k;
        }
        probe_child_close(p);
        if (r < 0)
                return probe_finish(p, r), 0;
        if (p->error < 0) {
                log_debug_errno(p->error, "Probing %s %s failed: %m", qemu_caps_emulator(p->caps), arg);
                return probe_finish(p, p->error), 0;
        }
        if (si.si_code != CLD_EXITED || si.si_status != 0) {
                log_debug("%s %s %s %d", qemu_caps_emulator(p->caps), arg,
                          si.si_code == CLD_EXITED ? "exited with status" : "was killed by signal", si.si_status);
                return probe_finish(p, -EIO), 0;
        }
        r = probe_step_parse(p);
        if (r >= 0 && ++p->step < _PROBE_STEP_MAX)
                r = probe_step_start(p);
        else if (r >= 0)
                return probe_finish(p, 0), 0;
        if (r < 0)
                probe_finish(p, r);
        return 0;
}

static int on_probe_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        QemuCapsProbe *p = userdata;

        log_debug("%s did not answer within %" PRIu64 " ms, killing it.", qemu_caps_emulator(p->caps),
                  p->timeout_usec / 1000u);
        if (p->pid <= 0)
                return probe_finish(p, -ETIMEDOUT), 0;
        /* reported when the exit is seen: nothing is left behind unreaped */
        p->error = -ETIMEDOUT;
        probe_kill(p);
        return 0;
}

/* Runs `emulator ARGS` through spawn_child(): its environment (LC_ALL=C and
 * PATH only), stdin and stderr on /dev/null, stdout on a pipe, no other fds,
 * in a session of its own (so the deadline kills whatever it started). */
static int probe_spawn(QemuCapsProbe *p, char *const *argv) {
        SpawnOptions o = SPAWN_OPTIONS_INIT;
        _cleanup_close_ int wfd = -1;
        int pipefd[2];

        if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0)
                return -errno;
        p->outfd = pipefd[0];
        wfd = pipefd[1];
        /* only our end reads without blocking; qemu writes as to any pipe */
        if (fcntl(wfd, F_SETFL, 0) < 0)
                return -errno;
        o.stdout_fd = wfd;
        return spawn_child(argv, &o, &p->pid, &p->pidfd);
}

static int probe_step_start(QemuCapsProbe *p) {
        char *emulator = (char *) qemu_caps_emulator(p->caps);
        char *const version_argv[] = { emulator, (char *) "-version", NULL };
        char *const machines_argv[] = { emulator, (char *) "-machine", (char *) "help", NULL };
        int r;

        p->len = 0;
        /* each run has the whole deadline: a slow disk or a loaded host delays both alike */
        if (!p->timer) {
                r = sd_event_add_time_relative(p->event, &p->timer, CLOCK_MONOTONIC,
                                               p->timeout_usec, 0, on_probe_deadline, p);
                if (r < 0)
                        return r;
                (void) sd_event_source_set_description(p->timer, "qemu-caps-deadline");
        } else {
                r = sd_event_source_set_time_relative(p->timer, p->timeout_usec);
                if (r >= 0)
                        r = sd_event_source_set_enabled(p->timer, SD_EVENT_ONESHOT);
                if (r < 0)
                        return r;
        }
        r = probe_spawn(p, p->step == PROBE_STEP_VERSION ? version_argv : machines_argv);
        if (r < 0)
                return log_debug_errno(r, "Cannot execute %s: %m", qemu_caps_emulator(p->caps));
        r = sd_event_add_io(p->event, &p->out_source, p->outfd, EPOLLIN, on_probe_output, p);
        if (r >= 0)
                r = sd_event_add_io(p->event, &p->exit_source, p->pidfd, EPOLLIN, on_probe_exit, p);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(p->out_source, "qemu-caps-output");
        (void) sd_event_source_set_description(p->exit_source, "qemu-caps-exit");
        return 0;
}

int qemu_caps_load_or_probe(sd_event *event, const char *emulator, const char *cache_dir, uint64_t timeout_usec,
                            QemuCapsProbeFn fn, void *userdata, QemuCaps **ret_caps, QemuCapsProbe **ret_probe) {
        _cleanup_(qemu_caps_probe_freep) QemuCapsProbe *p = NULL;
        struct stat st;
        int r;

        r = qemu_caps_check_emulator(emulator, &st);
        if (r < 0)
                return r;
        p = calloc(1, sizeof(QemuCapsProbe));
        if (!p)
                return -ENOMEM;
        p->pidfd = p->outfd = -1;
        p->timeout_usec = timeout_usec > 0 ? timeout_usec : QEMU_CAPS_PROBE_TIMEOUT_USEC_DEFAULT;
        p->caps = qemu_caps_alloc(emulator, &st);
        if (!p->caps)
                return -ENOMEM;
        if (cache_dir) {
                p->cache_path = qemu_caps_cache_path(p->caps, cache_dir);
                p->cache_dir = strdup(cache_dir);
                if (!p->cache_path || !p->cache_dir)
                        return -ENOMEM;
                r = qemu_caps_cache_load(p->caps, p->cache_path);
                if (r >= 0) {
                        *ret_caps = TAKE_PTR(p->caps);
                        return 1;
                }
                if (r != -ENOENT)
                        log_debug_errno(r, "Ignoring qemu caps cache %s: %m", p->cache_path);
                /* start over: a half-read cache may have left entries behind */
                qemu_caps_free(p->caps);
                p->caps = qemu_caps_alloc(emulator, &st);
                if (!p->caps)
                        return -ENOMEM;
        }
        p->buf = malloc(CAPS_OUTPUT_MAX + 1);
        if (!p->buf)
                return -ENOMEM;
        p->event = sd_event_ref(event);
        p->fn = fn;
        p->userdata = userdata;
        r = probe_step_start(p);
        if (r < 0)
                return log_warning_errno(r, "Failed to probe capabilities of %s: %m", emulator);
        log_debug("Probing capabilities of %s (pid %d).", emulator, (int) p->pid);
        *ret_probe = TAKE_PTR(p);
        return 0;
}

typedef struct SyncProbe {
        bool done;
        int r;
        QemuCaps *caps;
} SyncProbe;

static void sync_probe_done(void *userdata, int r, QemuCaps *caps) {
        SyncProbe *s = userdata;

        s->done = true;
        s->r = r;
        s->caps = caps;
}

int qemu_caps_new(const char *emulator, const char *cache_dir, uint64_t timeout_usec, QemuCaps **ret) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        QemuCapsProbe *probe = NULL;
        SyncProbe s = {};
        int r;

        /* the same probe, in a loop of its own that nothing else waits on */
        r = sd_event_new(&event);
        if (r < 0)
                return r;
        r = qemu_caps_load_or_probe(event, emulator, cache_dir, timeout_usec, sync_probe_done, &s, ret, &probe);
        if (r != 0)
                return r < 0 ? r : 0;
        while (!s.done) {
                r = sd_event_run(event, UINT64_MAX);
                if (r < 0) {
                        if (!s.done)
                                qemu_caps_probe_free(probe);
                        return r;
                }
        }
        if (s.r < 0)
                return s.r;
        *ret = s.caps;
        return 0;
}
