/* qemu-caps-probe.c — running an emulator to learn its caps: child_output_run() children of an sd-event loop. */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child-output.h"
#include "log.h"
#include "macro.h"
#include "qemu/qemu-caps.h"
#include "qemu-caps-internal.h"

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
        ChildOutput *child;        /* the step's run */
        uint64_t timeout_usec;     /* how long each child may run */
        QemuCapsProbeFn fn;
        void *userdata;
};

QemuCapsProbe *qemu_caps_probe_free(QemuCapsProbe *p) {
        if (!p)
                return NULL;
        child_output_free(p->child);
        sd_event_unref(p->event);
        qemu_caps_free(p->caps);
        free(p->cache_dir);
        free(p->cache_path);
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

static int probe_step_parse(QemuCapsProbe *p, char *output) {
        switch (p->step) {
        case PROBE_STEP_VERSION:
                return qemu_caps_parse_version(p->caps, output);
        case PROBE_STEP_MACHINES:
                return qemu_caps_parse_machine_help(p->caps, output);
        default:
                return -EINVAL;
        }
}

static int probe_step_start(QemuCapsProbe *p);

static void on_step_done(void *userdata, const ChildResult *res) {
        QemuCapsProbe *p = userdata;
        const char *arg = p->step == PROBE_STEP_VERSION ? "-version" : "-machine help";
        int r;

        p->child = NULL;   /* freed once this returns */
        if (res->error < 0) {
                if (res->error == -ETIMEDOUT)
                        log_debug("%s did not answer within %" PRIu64 " ms, killing it.", qemu_caps_emulator(p->caps),
                                  p->timeout_usec / 1000u);
                else
                        log_debug_errno(res->error, "Probing %s %s failed: %m", qemu_caps_emulator(p->caps), arg);
                probe_finish(p, res->error);
                return;
        }
        if (res->code != CLD_EXITED || res->status != 0) {
                log_debug("%s %s %s %d", qemu_caps_emulator(p->caps), arg,
                          res->code == CLD_EXITED ? "exited with status" : "was killed by signal", res->status);
                probe_finish(p, -EIO);
                return;
        }
        r = probe_step_parse(p, res->output);
        if (r >= 0 && ++p->step < _PROBE_STEP_MAX)
                r = probe_step_start(p);
        else if (r >= 0) {
                probe_finish(p, 0);
                return;
        }
        if (r < 0)
                probe_finish(p, r);
}

/* Runs `emulator ARGS` (child_output_run(): LC_ALL=C and PATH only, stdin and stderr on /dev/null,
 * in a session of its own, so that the deadline kills whatever it started); each run has the whole
 * deadline: a slow disk or a loaded host delays both alike. */
static int probe_step_start(QemuCapsProbe *p) {
        char *emulator = (char *) qemu_caps_emulator(p->caps);
        char *const version_argv[] = { emulator, (char *) "-version", NULL };
        char *const machines_argv[] = { emulator, (char *) "-machine", (char *) "help", NULL };
        int r;

        r = child_output_run(p->event, p->step == PROBE_STEP_VERSION ? version_argv : machines_argv, NULL,
                             CAPS_OUTPUT_MAX, p->timeout_usec, on_step_done, p, &p->child);
        if (r < 0)
                return log_debug_errno(r, "Cannot execute %s: %m", qemu_caps_emulator(p->caps));
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
        p->event = sd_event_ref(event);
        p->fn = fn;
        p->userdata = userdata;
        r = probe_step_start(p);
        if (r < 0)
                return log_warning_errno(r, "Failed to probe capabilities of %s: %m", emulator);
        log_debug("Probing capabilities of %s (pid %d).", emulator, (int) child_output_pid(p->child));
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
