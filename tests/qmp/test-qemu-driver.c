/* test-qemu-driver.c — the QEMU runtime driver against real qemu (TCG) on a real sd_event loop.
 *
 * The guest is a 116-byte multiboot kernel (tiny-guest.h) that enables the ACPI
 * power button, waits for it and then powers off (or resets through 0xCF9), so
 * Shutdown, Reboot, on_poweroff and on_reboot are exercised with a guest that
 * really answers ACPI, in well under a second. Every test checks the exact
 * sequence of state reports. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "driver-files.h"
#include "driver-registry.h"
#include "fileio.h"
#include "log.h"
#include "tiny-guest.h"

#define WAIT_USEC (60ull * 1000000ull)

typedef struct TestDomain {
        const char *label;
        GPtrArray *events;   /* "state/reason event/detail", "stopped" */
        DriverRuntime *rt;
        bool stopped;
} TestDomain;

typedef struct Done {
        bool called;
        int r;
        char *message;
} Done;

static sd_event *event;
static const DomainDriverOps *ops = &qemu_driver_ops;
static char *root;
static char *kernel_poweroff, *kernel_reset;
static unsigned failures;
static GPtrArray *messages;

#define check(cond)                                                                             \
        do {                                                                                    \
                if (!(cond)) {                                                                  \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
                        failures++;                                                             \
                        return;                                                                 \
                }                                                                               \
        } while (0)

static void on_state_changed(void *owner, DomainState state, const char *reason, DomainEventType event_type,
                             const char *detail) {
        TestDomain *t = owner;
        char *s = g_strdup_printf("%s/%s %s/%s", domain_state_to_string(state), reason,
                                  domain_event_type_to_string(event_type) ?: "none", detail ?: "none");
        fprintf(stderr, "  [%s] %s\n", t->label, s);
        g_ptr_array_add(t->events, s);
}

static void on_stopped(void *owner) {
        TestDomain *t = owner;

        fprintf(stderr, "  [%s] stopped\n", t->label);
        g_ptr_array_add(t->events, g_strdup("stopped"));
        t->stopped = true;
        t->rt = NULL;
}

static const DomainDriverEvents events = {
        .state_changed = on_state_changed,
        .stopped = on_stopped,
};

static void on_done(void *userdata, int r, const char *message) {
        Done *d = userdata;

        d->called = true;
        d->r = r;
        /* kept until exit: tests reset their Done structs freely */
        d->message = message ? g_strdup(message) : NULL;
        if (d->message)
                g_ptr_array_add(messages, d->message);
}

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

/* Runs the loop until *flag or until n events were recorded (n > 0). */
static bool run_until(bool *flag, TestDomain *t, unsigned n) {
        uint64_t deadline = now_usec() + WAIT_USEC;

        while (now_usec() < deadline) {
                if (flag && *flag)
                        return true;
                if (t && n > 0 && t->events->len >= n)
                        return true;
                if (sd_event_run(event, 100000) < 0)
                        return false;
        }
        return false;
}


static bool events_are(TestDomain *t, const char *const *expected) {
        size_t n = 0;

        while (expected[n])
                n++;
        if (t->events->len != n) {
                fprintf(stderr, "  [%s] expected %zu events, got %u\n", t->label, n, t->events->len);
                return false;
        }
        for (size_t i = 0; i < n; i++)
                if (!g_str_equal(g_ptr_array_index(t->events, i), expected[i])) {
                        fprintf(stderr, "  [%s] event %zu: expected '%s', got '%s'\n", t->label, i, expected[i],
                                (char *) g_ptr_array_index(t->events, i));
                        return false;
                }
        return true;
}
#define EVENTS(t, ...) events_are((t), (const char *const[]) { __VA_ARGS__, NULL })

static void test_domain_init(TestDomain *t, const char *label) {
        *t = (TestDomain) { .label = label, .events = g_ptr_array_new_with_free_func(g_free) };
}

static void test_domain_reset_events(TestDomain *t) {
        g_ptr_array_set_size(t->events, 0);
}

static DomainDef *make_def(DomainDriver *d, const char *name, const char *kernel, const char *on_poweroff,
                           const char *on_reboot, const char *extra) {
        g_autofree char *ename = g_markup_escape_text(name, -1);
        g_autofree char *xml = g_strdup_printf(
                "<domain type='qemu'>\n"
                "  <name>%s</name>\n"
                "  <memory unit='MiB'>64</memory>\n"
                "  <vcpu>1</vcpu>\n"
                "  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>%s</kernel></os>\n"
                "  <features><acpi/></features>\n"
                "  <on_poweroff>%s</on_poweroff><on_reboot>%s</on_reboot><on_crash>destroy</on_crash>\n"
                "  <devices><serial type='pty'/><console type='pty'/>%s</devices>\n"
                "</domain>\n",
                ename, kernel, on_poweroff, on_reboot, extra ? extra : "");
        ConfError err = {};
        DomainDef *def = NULL;

        g_autofree char *probe_error = NULL;

        if (domain_def_parse(xml, strlen(xml), &def, &err) < 0 ||
            d->ops->prepare(d, def, NULL, NULL, &probe_error) < 0 || d->ops->normalize(d, def, &err) < 0) {
                fprintf(stderr, "bad test XML: %s\n%s", probe_error ? probe_error : err.message, xml);
                abort();
        }
        return def;
}

static DomainDriver *driver_new(const char *base) {
        g_autofree char *run = g_strdup_printf("%s/run", base), *state = g_strdup_printf("%s/lib", base),
                        *log = g_strdup_printf("%s/log", base), *conf = g_strdup_printf("%s/etc", base);
        VmPaths paths = { .root = (char *) base, .config_dir = conf, .state_dir = state, .run_dir = run, .log_dir = log };
        DomainDriver *d = NULL;

        if (ops->new(event, &paths, &events, &d) < 0)
                abort();
        return d;
}

/* Starts def and waits for done; returns the done result. */
static int start(DomainDriver *d, TestDomain *t, const DomainDef *def, int id, DriverStartFlags flags, Done *done) {
        DriverFileSet *files = NULL;
        int r;

        *done = (Done) {};
        /* the service opens the definition's files; here the test does, as root */
        r = driver_file_set_open_sync(def, &files, &done->message);
        if (r < 0)
                return r;
        r = ops->start(d, t, def, id, flags, &files->view, &t->rt, on_done, done);
        driver_file_set_free(files);
        if (r < 0)
                return r;
        if (!run_until(&done->called, NULL, 0))
                return -ETIMEDOUT;
        if (done->r < 0)
                t->rt = NULL;
        return done->r;
}

static bool wait_done(Done *done) {
        return run_until(&done->called, NULL, 0);
}

/* A round trip through qemu after which every event of what came before has
 * been handled: Suspend and Resume, each done once qemu replied (qemu sends
 * the events of a reset or a resume it carried out before it reads the next
 * command). Adds "paused/user suspended/paused" and "running/unpaused
 * resumed/unpaused" to the domain's reports, after whatever else came. */
static bool qemu_barrier(TestDomain *t) {
        Done done = {};

        if (ops->suspend(t->rt, on_done, &done) < 0 || !wait_done(&done) || done.r < 0)
                return false;
        done = (Done) {};
        if (ops->resume(t->rt, on_done, &done) < 0 || !wait_done(&done) || done.r < 0)
                return false;
        return true;
}

/* Presses the ACPI power button (Shutdown or Reboot) until the guest reacts:
 * the tiny guest needs a moment after start or reset to arm it, longer on a
 * loaded host. Returns true once a state report arrived. */
static bool press_power_button(TestDomain *t, bool reboot) {
        unsigned before = t->events->len;

        for (int i = 0; i < 60; i++) {
                Done done = {};
                uint64_t until;

                if ((reboot ? ops->reboot(t->rt, on_done, &done) : ops->shutdown(t->rt, on_done, &done)) < 0)
                        return false;
                if (!wait_done(&done) || done.r < 0)
                        return false;
                until = now_usec() + 1000000;
                while (now_usec() < until && t->events->len == before)
                        (void) sd_event_run(event, 10000);
                if (t->events->len > before)
                        return true;
        }
        return false;
}

/* ---- tests ---- */

static void test_start_suspend_resume_reset_destroy(DomainDriver *d) {
        DomainDef *def = make_def(d, "basic", kernel_poweroff, "destroy", "restart", NULL);
        TestDomain t;
        Done done;
        const char *reason;
        const DomainDef *live;
        g_autofree char *log = NULL, *logpath = NULL;

        fprintf(stderr, "test: start, suspend, resume, reset, destroy\n");
        test_domain_init(&t, "basic");
        check(start(d, &t, def, 1, 0, &done) == 0);
        check(EVENTS(&t, "running/booted started/booted"));
        check(ops->state(t.rt, &reason) == DOMAIN_STATE_RUNNING && g_str_equal(reason, "booted"));
        check(ops->pid(t.rt) > 0);
        check(ops->start_time(t.rt) > 0);
        live = ops->live_def(t.rt);
        check(live->id == 1);
        check(live->n_serials == 1 && live->serials[0].source_path && g_str_has_prefix(live->serials[0].source_path, "/dev/pts/"));
        check(live->n_consoles == 1 && g_strcmp0(live->consoles[0].source_path, live->serials[0].source_path) == 0);

        logpath = g_strdup_printf("%s/log/qemu/basic.log", root);
        check(g_file_get_contents(logpath, &log, NULL, NULL));
        check(strstr(log, "starting up vmgmt") && strstr(log, "LC_ALL=C") && strstr(log, "-nodefaults"));

        /* Suspend: done after the PAUSED report. */
        test_domain_reset_events(&t);
        done = (Done) {};
        check(ops->suspend(t.rt, on_done, &done) == 0);
        check(wait_done(&done) && done.r == 0);
        check(EVENTS(&t, "paused/user suspended/paused"));
        check(ops->state(t.rt, &reason) == DOMAIN_STATE_PAUSED && g_str_equal(reason, "user"));

        /* Suspend again: a no-op, like libvirt. */
        done = (Done) {};
        check(ops->suspend(t.rt, on_done, &done) == 0);
        check(wait_done(&done) && done.r == 0);
        check(t.events->len == 1);

        test_domain_reset_events(&t);
        done = (Done) {};
        check(ops->resume(t.rt, on_done, &done) == 0);
        check(wait_done(&done) && done.r == 0);
        check(EVENTS(&t, "running/unpaused resumed/unpaused"));
        check(ops->resume(t.rt, on_done, &done) == -EALREADY);

        /* Reset: no state change at all (nothing before the barrier's own reports). */
        test_domain_reset_events(&t);
        done = (Done) {};
        check(ops->reset(t.rt, on_done, &done) == 0);
        check(wait_done(&done) && done.r == 0);
        check(t.events->len == 0);
        check(qemu_barrier(&t));
        check(EVENTS(&t, "paused/user suspended/paused", "running/unpaused resumed/unpaused"));
        check(ops->state(t.rt, NULL) == DOMAIN_STATE_RUNNING);
        test_domain_reset_events(&t);

        done = (Done) {};
        check(ops->destroy(t.rt, false, on_done, &done) == 0);
        check(wait_done(&done) && done.r == 0);
        check(EVENTS(&t, "shutoff/destroyed stopped/destroyed", "stopped"));
        g_free(log);
        log = NULL;
        check(g_file_get_contents(logpath, &log, NULL, NULL));
        check(strstr(log, "shutting down, reason=destroyed"));
        domain_def_free(def);
}

static void test_start_paused_graceful_destroy(DomainDriver *d) {
        DomainDef *def = make_def(d, "paused", kernel_poweroff, "destroy", "restart", NULL);
        TestDomain t;
        Done done;
        const char *reason;

        fprintf(stderr, "test: start paused, graceful destroy\n");
        test_domain_init(&t, "paused");
        check(start(d, &t, def, 2, DRIVER_START_PAUSED, &done) == 0);
        check(EVENTS(&t, "running/booted started/booted", "paused/user suspended/paused"));
        check(ops->state(t.rt, &reason) == DOMAIN_STATE_PAUSED && g_str_equal(reason, "user"));

        test_domain_reset_events(&t);
        done = (Done) {};
        check(ops->destroy(t.rt, true, on_done, &done) == 0);
        check(wait_done(&done) && done.r == 0);
        check(EVENTS(&t, "shutoff/destroyed stopped/destroyed", "stopped"));
        domain_def_free(def);
}

static void test_shutdown_destroy(DomainDriver *d) {
        DomainDef *def = make_def(d, "shutdown", kernel_poweroff, "destroy", "restart", NULL);
        TestDomain t;
        Done done;

        fprintf(stderr, "test: ACPI shutdown, on_poweroff=destroy\n");
        test_domain_init(&t, "shutdown");
        check(start(d, &t, def, 3, 0, &done) == 0);
        test_domain_reset_events(&t);
        check(press_power_button(&t, false));
        check(run_until(&t.stopped, NULL, 0));
        check(EVENTS(&t, "shutdown/unknown shutdown/finished", "shutoff/shutdown stopped/shutdown", "stopped"));
        domain_def_free(def);
}

static void test_poweroff_restart_and_reboot(DomainDriver *d) {
        DomainDef *def = make_def(d, "restart", kernel_poweroff, "restart", "restart", NULL);
        TestDomain t;
        Done done;
        const char *reason;

        fprintf(stderr, "test: on_poweroff=restart, Reboot (fake reboot)\n");
        test_domain_init(&t, "restart");
        check(start(d, &t, def, 4, 0, &done) == 0);
        test_domain_reset_events(&t);
        check(press_power_button(&t, false));
        check(run_until(NULL, &t, 2));
        check(EVENTS(&t, "shutdown/unknown shutdown/finished", "running/booted resumed/unpaused"));
        check(ops->state(t.rt, &reason) == DOMAIN_STATE_RUNNING && g_str_equal(reason, "booted"));

        /* Reboot: the guest powers off, qemu is reset and continues: no SHUTDOWN state. */
        test_domain_reset_events(&t);
        check(press_power_button(&t, true));
        check(qemu_barrier(&t));
        check(EVENTS(&t, "running/booted resumed/unpaused", "paused/user suspended/paused",
                     "running/unpaused resumed/unpaused"));

        test_domain_reset_events(&t);
        done = (Done) {};
        check(ops->destroy(t.rt, false, on_done, &done) == 0);
        check(wait_done(&done) && done.r == 0);
        check(EVENTS(&t, "shutoff/destroyed stopped/destroyed", "stopped"));
        domain_def_free(def);
}

static void test_reboot_destroy(DomainDriver *d) {
        DomainDef *def = make_def(d, "noreboot", kernel_reset, "destroy", "destroy", NULL);
        TestDomain t;
        Done done;

        fprintf(stderr, "test: guest reboot with on_reboot=destroy\n");
        test_domain_init(&t, "noreboot");
        check(start(d, &t, def, 5, 0, &done) == 0);
        test_domain_reset_events(&t);
        /* The power button makes this guest reset itself. */
        check(press_power_button(&t, false));
        check(run_until(&t.stopped, NULL, 0));
        check(EVENTS(&t, "shutdown/unknown shutdown/finished", "shutoff/shutdown stopped/shutdown", "stopped"));
        domain_def_free(def);
}

static void test_killed_from_outside(DomainDriver *d) {
        DomainDef *def = make_def(d, "killed", kernel_poweroff, "destroy", "restart", NULL);
        TestDomain t;
        Done done;

        fprintf(stderr, "test: qemu killed from outside with SIGKILL\n");
        test_domain_init(&t, "killed");
        check(start(d, &t, def, 6, 0, &done) == 0);
        test_domain_reset_events(&t);
        check(kill(ops->pid(t.rt), SIGKILL) == 0);
        check(run_until(&t.stopped, NULL, 0));
        check(EVENTS(&t, "shutoff/crashed stopped/failed", "stopped"));
        domain_def_free(def);
}

static void test_start_settings(DomainDriver *d) {
        DomainDef *def = make_def(d, "settings", kernel_poweroff, "destroy", "restart",
                                  "<graphics type='vnc' passwd='secret'/>"
                                  "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>");
        TestDomain t;
        Done done;
        const DomainDef *live;
        struct stat st;
        ConfError err = {};
        g_autofree char *agent = NULL;

        fprintf(stderr, "test: VNC password, balloon and guest agent channel at start\n");
        def->current_memory_kib = 48 * 1024;
        check(d->ops->normalize(d, def, &err) == 0);
        test_domain_init(&t, "settings");
        check(start(d, &t, def, 50, 0, &done) == 0);
        check(EVENTS(&t, "running/booted started/booted"));
        live = ops->live_def(t.rt);
        check(live->n_channels == 1 && live->channels[0].source_path);
        check(stat(live->channels[0].source_path, &st) == 0 && S_ISSOCK(st.st_mode));
        agent = g_strdup(live->channels[0].source_path);
        done = (Done) {};
        check(ops->destroy(t.rt, false, on_done, &done) == 0);
        check(wait_done(&done) && done.r == 0);
        check(stat(agent, &st) < 0);   /* cleaned up with the domain */
        domain_def_free(def);
}

static void test_terminated_from_outside(DomainDriver *d) {
        DomainDef *def = make_def(d, "terminated", kernel_poweroff, "destroy", "restart", NULL);
        TestDomain t;
        Done done;

        fprintf(stderr, "test: qemu terminated from outside with SIGTERM\n");
        test_domain_init(&t, "terminated");
        check(start(d, &t, def, 9, 0, &done) == 0);
        test_domain_reset_events(&t);
        check(kill(ops->pid(t.rt), SIGTERM) == 0);
        check(run_until(&t.stopped, NULL, 0));
        /* qemu reports a host-initiated SHUTDOWN before it exits, as libvirt sees it. */
        check(EVENTS(&t, "shutdown/unknown shutdown/host", "shutoff/shutdown stopped/shutdown", "stopped"));
        domain_def_free(def);
}

static void test_graceful_destroy_refused(DomainDriver *d) {
        DomainDef *def = make_def(d, "stubborn", kernel_poweroff, "destroy", "restart", NULL);
        TestDomain t;
        Done done;
        pid_t pid;

        fprintf(stderr, "test: graceful destroy of a qemu that does not exit (10 s)\n");
        test_domain_init(&t, "stubborn");
        check(start(d, &t, def, 60, 0, &done) == 0);
        test_domain_reset_events(&t);
        pid = ops->pid(t.rt);
        kill(pid, SIGSTOP);   /* SIGTERM stays pending */
        done = (Done) {};
        check(ops->destroy(t.rt, true, on_done, &done) == 0);
        check(wait_done(&done) && done.r == -EBUSY);
        check(t.events->len == 0 && ops->state(t.rt, NULL) == DOMAIN_STATE_RUNNING);
        /* When it finally acts on the SIGTERM, it is a host-initiated shutdown. */
        kill(pid, SIGCONT);
        check(run_until(&t.stopped, NULL, 0));
        check(EVENTS(&t, "shutdown/unknown shutdown/host", "shutoff/shutdown stopped/shutdown", "stopped"));
        domain_def_free(def);
}

static void test_destroy_during_start(DomainDriver *d) {
        DomainDef *def = make_def(d, "cancelled", kernel_poweroff, "destroy", "restart", NULL);
        TestDomain t;
        Done start_done = {}, destroy_done = {};

        fprintf(stderr, "test: destroy during start-up\n");
        test_domain_init(&t, "cancelled");
        DriverFileSet *files = NULL;
        check(driver_file_set_open_sync(def, &files, NULL) == 0);
        check(ops->start(d, &t, def, 10, 0, files ? &files->view : NULL, &t.rt, on_done, &start_done) == 0);
        driver_file_set_free(files);
        check(ops->suspend(t.rt, on_done, &destroy_done) == -EBUSY);
        check(ops->destroy(t.rt, false, on_done, &destroy_done) == 0);
        check(run_until(&start_done.called, NULL, 0) && start_done.r == -ECANCELED);
        check(destroy_done.called && destroy_done.r == 0);
        check(t.events->len == 0 && !t.stopped);
        domain_def_free(def);
}

/* The same definition started and destroyed again and again (how long that
 * takes is measured by benchmarks/run, not here). */
static void test_start_destroy_repeated(DomainDriver *d) {
        DomainDef *def = make_def(d, "repeated", kernel_poweroff, "destroy", "restart", NULL);
        TestDomain t;
        Done done;

        fprintf(stderr, "test: start and destroy, five times; suspend and resume, three times\n");
        for (int i = 0; i < 5; i++) {
                test_domain_init(&t, "repeated");
                check(start(d, &t, def, 30 + i, 0, &done) == 0);
                check(EVENTS(&t, "running/booted started/booted"));
                test_domain_reset_events(&t);
                done = (Done) {};
                check(ops->destroy(t.rt, false, on_done, &done) == 0);
                check(wait_done(&done) && done.r == 0);
                check(EVENTS(&t, "shutoff/destroyed stopped/destroyed", "stopped"));
        }

        test_domain_init(&t, "repeated");
        check(start(d, &t, def, 40, 0, &done) == 0);
        for (int i = 0; i < 3; i++) {
                test_domain_reset_events(&t);
                check(qemu_barrier(&t));
                check(EVENTS(&t, "paused/user suspended/paused", "running/unpaused resumed/unpaused"));
        }
        done = (Done) {};
        check(ops->destroy(t.rt, false, on_done, &done) == 0);
        check(wait_done(&done) && done.r == 0);
        domain_def_free(def);
}

static void test_start_failures(DomainDriver *d) {
        DomainDef *def = make_def(d, "nokernel", "/nonexistent/kernel", "destroy", "restart", NULL);
        DomainDef *def2 = make_def(d, "passthrough", kernel_poweroff, "destroy", "restart",
                                   NULL);
        TestDomain t;
        Done done;
        int r;

        fprintf(stderr, "test: start failures\n");
        test_domain_init(&t, "nokernel");
        r = start(d, &t, def, 7, 0, &done);
        check(r < 0);
        /* opening the kernel fails before the driver is asked (the service's part) */
        check(r == -ENOENT && done.message && strstr(done.message, "cannot open /nonexistent/kernel"));
        fprintf(stderr, "  start failed as expected: %s\n", done.message);
        free(done.message);   /* driver_file_set_open_sync()'s */
        check(t.events->len == 0 && !t.stopped);

        free(def2->cpu_mode);
        def2->cpu_mode = strdup("host-passthrough");
        test_domain_init(&t, "passthrough");
        r = start(d, &t, def2, 8, 0, &done);
        check(r == -EOPNOTSUPP);   /* NotSupported on the bus */
        fprintf(stderr, "  start refused as expected: %s\n", done.message);
        check(t.events->len == 0 && !t.stopped);
        domain_def_free(def);
        domain_def_free(def2);
}

typedef struct Recovered {
        TestDomain *by_name[6];
        const char *names[7];
        DomainState state[6];
        char reason[6][32];
        bool alive[6];
        bool seen[6];
        DomainDriver *driver;
} Recovered;

static void on_recover(void *userdata, DomainDef *live_def, DriverRuntime *rt, DomainState state, const char *reason,
                       int id, uint64_t start_time_usec) {
        Recovered *rec = userdata;

        fprintf(stderr, "  recovered %s (id %d): %s/%s %s\n", live_def->name, id, domain_state_to_string(state), reason,
                rt ? "alive" : "dead");
        for (size_t i = 0; i < 6 && rec->names[i]; i++)
                if (g_str_equal(rec->names[i], live_def->name)) {
                        rec->seen[i] = true;
                        rec->state[i] = state;
                        snprintf(rec->reason[i], sizeof(rec->reason[i]), "%s", reason);
                        rec->alive[i] = rt != NULL;
                        if (rt) {
                                rec->by_name[i]->rt = rt;
                                ops->attach_owner(rt, rec->by_name[i]);
                        }
                }
        domain_def_free(live_def);
}

/* Talks to a domain's QMP socket directly (the daemon being down), blocking: test only.
 * Returns whether the last reply mentioned `expect` (NULL: don't care). */
static bool qmp_poke(const char *socket_path, const char *command, const char *expect) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char buf[4096];
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        g_autofree char *msg = g_strdup_printf("{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"%s\"}\n", command);
        bool found = false;

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", socket_path);
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                perror("connect");
                abort();
        }
        if (write(fd, msg, strlen(msg)) != (ssize_t) strlen(msg))
                abort();
        /* greeting + two replies */
        for (int lines = 0; lines < 3;) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n <= 0)
                        break;
                for (ssize_t i = 0; i < n; i++)
                        if (buf[i] == '\n' && memchr(buf, '{', (size_t) n))
                                lines++;
                if (expect && memmem(buf, (size_t) n, expect, strlen(expect)))
                        found = true;
        }
        close(fd);
        return found;
}

static void test_recover(void) {
        g_autofree char *base = g_strdup_printf("%s/recover", root);
        DomainDriver *d = driver_new(base);
        DomainDef *a = make_def(d, "rec-running", kernel_poweroff, "destroy", "restart", NULL);
        DomainDef *b = make_def(d, "rec-paused", kernel_poweroff, "destroy", "restart", NULL);
        DomainDef *c = make_def(d, "rec-dead", kernel_poweroff, "destroy", "restart", NULL);
        DomainDef *e = make_def(d, "rec-poked", kernel_poweroff, "destroy", "restart", NULL);
        DomainDef *f = make_def(d, "rec-off", kernel_poweroff, "destroy", "restart", NULL);
        DomainDef *g = make_def(d, "rec-dying", kernel_poweroff, "destroy", "restart", NULL);
        TestDomain ta, tb, tc, te, tf, tg;
        Done dying_done = {};
        pid_t pid_g;
        Recovered rec = {};
        Done done;
        pid_t pid_a, pid_c;
        char uuid[37];
        g_autofree char *qmp_e = NULL, *qmp_f = NULL;

        fprintf(stderr, "test: driver teardown and recover\n");
        test_domain_init(&ta, "rec-running");
        test_domain_init(&tb, "rec-paused");
        test_domain_init(&tc, "rec-dead");
        test_domain_init(&te, "rec-poked");
        test_domain_init(&tf, "rec-off");
        test_domain_init(&tg, "rec-dying");
        check(start(d, &tg, g, 16, 0, &done) == 0);
        check(start(d, &tf, f, 15, 0, &done) == 0);
        check(start(d, &ta, a, 11, 0, &done) == 0);
        check(start(d, &tb, b, 12, DRIVER_START_PAUSED, &done) == 0);
        check(start(d, &tc, c, 13, 0, &done) == 0);
        check(start(d, &te, e, 14, 0, &done) == 0);
        /* Being destroyed when the daemon dies: a stopped qemu does not act on
         * SIGTERM yet. Last, right before the teardown: the SIGKILL that follows
         * SIGTERM after QEMU_KILL_TIMEOUT must not come while other domains
         * still start (a loaded machine starts them slowly). */
        pid_g = ops->pid(tg.rt);
        kill(pid_g, SIGSTOP);
        check(ops->destroy(tg.rt, false, on_done, &dying_done) == 0);
        pid_a = ops->pid(ta.rt);
        pid_c = ops->pid(tc.rt);

        /* The daemon goes away; domains keep running. */
        ops->free(d);
        check(kill(pid_a, 0) == 0);
        /* While it is away: one qemu dies, one is paused by someone else. */
        kill(pid_c, SIGKILL);
        waitpid(pid_c, NULL, 0);
        conf_uuid_format(e->uuid, uuid);
        qmp_e = g_strdup_printf("%s/run/qemu/%s/monitor.sock", base, uuid);
        /* (asked until qemu says so: on a loaded machine one poke may not have
         * been carried out when the monitor connection closed) */
        for (uint64_t end = now_usec() + WAIT_USEC; now_usec() < end && !qmp_poke(qmp_e, "query-status", "\"paused\"");) {
                qmp_poke(qmp_e, "stop", NULL);
                usleep(100000);
        }
        check(qmp_poke(qmp_e, "query-status", "\"paused\""));
        /* …and one guest powers off (its SHUTDOWN event is lost). */
        conf_uuid_format(f->uuid, uuid);
        qmp_f = g_strdup_printf("%s/run/qemu/%s/monitor.sock", base, uuid);
        for (uint64_t end = now_usec() + WAIT_USEC; now_usec() < end && !qmp_poke(qmp_f, "query-status", "\"shutdown\"");) {
                qmp_poke(qmp_f, "system_powerdown", NULL);
                usleep(200000);
        }
        check(qmp_poke(qmp_f, "query-status", "\"shutdown\""));

        d = driver_new(base);
        rec = (Recovered) {
                .names = { "rec-running", "rec-paused", "rec-dead", "rec-poked", "rec-off", "rec-dying" },
                .by_name = { &ta, &tb, &tc, &te, &tf, &tg },
        };
        for (TestDomain *t = &ta; t; t = t == &ta ? &tb : t == &tb ? &tc : t == &tc ? &te : t == &te ? &tf : t == &tf ? &tg : NULL)
                test_domain_reset_events(t);
        check(ops->recover(d, on_recover, &rec) == 0);
        check(rec.seen[0] && rec.alive[0] && rec.state[0] == DOMAIN_STATE_RUNNING && g_str_equal(rec.reason[0], "booted"));
        check(rec.seen[1] && rec.alive[1] && rec.state[1] == DOMAIN_STATE_PAUSED && g_str_equal(rec.reason[1], "user"));
        check(rec.seen[2] && !rec.alive[2] && rec.state[2] == DOMAIN_STATE_SHUTOFF);
        check(rec.seen[3] && rec.alive[3] && rec.state[3] == DOMAIN_STATE_RUNNING);
        check(rec.seen[4] && rec.alive[4] && rec.state[4] == DOMAIN_STATE_RUNNING);
        /* The powered-off one is found shut down and stopped per on_poweroff. */
        check(run_until(&tf.stopped, NULL, 0));
        check(EVENTS(&tf, "shutdown/unknown shutdown/finished", "shutoff/shutdown stopped/shutdown", "stopped"));
        /* The interrupted destroy is finished (SIGKILL after the timeout) and reported as one. */
        check(rec.seen[5] && rec.alive[5]);
        check(!dying_done.called);
        check(run_until(&tg.stopped, NULL, 0));
        check(EVENTS(&tg, "shutoff/destroyed stopped/destroyed", "stopped"));
        /* The re-sync finds the poked one paused. */
        check(run_until(NULL, &te, 1));
        check(EVENTS(&te, "paused/unknown suspended/paused"));
        check(ops->live_def(ta.rt)->id == 11);
        check(ops->pid(ta.rt) == pid_a);

        /* Controllable as before. */
        done = (Done) {};
        check(ops->suspend(ta.rt, on_done, &done) == 0);
        check(wait_done(&done) && done.r == 0);
        check(EVENTS(&ta, "paused/user suspended/paused"));
        done = (Done) {};
        check(ops->resume(tb.rt, on_done, &done) == 0);
        check(wait_done(&done) && done.r == 0);
        check(EVENTS(&tb, "running/unpaused resumed/unpaused"));

        /* Killed from outside after recovery (not our child any more in real life). */
        test_domain_reset_events(&tb);
        kill(ops->pid(tb.rt), SIGKILL);
        check(run_until(&tb.stopped, NULL, 0));
        check(EVENTS(&tb, "shutoff/crashed stopped/failed", "stopped"));

        test_domain_reset_events(&ta);
        done = (Done) {};
        check(ops->destroy(ta.rt, false, on_done, &done) == 0);
        check(wait_done(&done) && done.r == 0);
        check(EVENTS(&ta, "shutoff/destroyed stopped/destroyed", "stopped"));
        test_domain_reset_events(&te);
        done = (Done) {};
        check(ops->destroy(te.rt, false, on_done, &done) == 0);
        check(wait_done(&done) && done.r == 0);
        check(EVENTS(&te, "shutoff/destroyed stopped/destroyed", "stopped"));

        /* Nothing left behind. */
        ops->free(d);
        d = driver_new(base);
        rec = (Recovered) {};
        check(ops->recover(d, on_recover, &rec) == 0);
        ops->free(d);
        domain_def_free(a);
        domain_def_free(b);
        domain_def_free(c);
        domain_def_free(e);
        domain_def_free(f);
        domain_def_free(g);
}

static void test_long_paths(void) {
        g_autofree char *base = NULL;
        GString *name = g_string_new(NULL);
        DomainDriver *d;
        DomainDef *def;
        TestDomain t;
        Done done;

        fprintf(stderr, "test: 255-byte UTF-8 name under a root longer than sun_path\n");
        base = g_strdup_printf("%s/%s", root,
                               "a-directory-name-that-is-quite-long-on-purpose/another-directory-name-that-is-long-too/"
                               "and-one-more-to-pass-108-bytes");
        while (name->len + 2 <= 255)
                g_string_append(name, "é");
        d = driver_new(base);
        def = make_def(d, name->str, kernel_poweroff, "destroy", "restart", NULL);
        test_domain_init(&t, "long");
        check(start(d, &t, def, 21, 0, &done) == 0);
        check(EVENTS(&t, "running/booted started/booted"));
        test_domain_reset_events(&t);
        done = (Done) {};
        check(ops->suspend(t.rt, on_done, &done) == 0);
        check(wait_done(&done) && done.r == 0);
        check(EVENTS(&t, "paused/user suspended/paused"));
        done = (Done) {};
        check(ops->destroy(t.rt, false, on_done, &done) == 0);
        check(wait_done(&done) && done.r == 0);
        ops->free(d);
        domain_def_free(def);
        g_string_free(name, TRUE);
}

static char *write_kernel(unsigned char mode) {
        char *path = g_strdup_printf("%s/tiny-guest-%u.bin", root, mode);
        unsigned char image[sizeof(tiny_guest)];

        memcpy(image, tiny_guest, sizeof(image));
        image[TINY_GUEST_MODE_OFFSET] = mode;
        if (!g_file_set_contents(path, (const char *) image, sizeof(image), NULL))
                abort();
        return path;
}

/* Kills every qemu still running from under path: a failed check can leave
 * the domains of a test running (the recover test hands them from one driver
 * to the next), and a test must leave no process behind. */
static void kill_leftover_qemus(const char *path) {
        g_autoptr(GDir) proc = g_dir_open("/proc", 0, NULL);
        const char *name;

        while (proc && (name = g_dir_read_name(proc))) {
                g_autofree char *file = g_strdup_printf("/proc/%s/cmdline", name);
                g_autofree char *cmdline = NULL;
                gsize len = 0;
                char *end;
                long pid = strtol(name, &end, 10);

                if (*end || pid <= 1 || pid == getpid() || !g_file_get_contents(file, &cmdline, &len, NULL))
                        continue;
                for (gsize i = 0; i + 1 < len; i++)
                        if (cmdline[i] == '\0')
                                cmdline[i] = ' ';
                if (strstr(cmdline, "qemu-system") && strstr(cmdline, path)) {
                        fprintf(stderr, "killing qemu %ld left by a failed test\n", pid);
                        (void) kill((pid_t) pid, SIGKILL);
                }
        }
}

static void rm_rf(const char *path) {
        g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", path);
        if (system(cmd) != 0)
                fprintf(stderr, "cleanup of %s failed\n", path);
}

int main(int argc, char **argv) {
        g_autofree char *tmpl = g_strdup_printf("%s/vmgmt-test-qemu-driver-XXXXXX", getenv("TMPDIR") ?: "/tmp");
        DomainDriver *d;
        sigset_t mask;

        if (access("/usr/bin/qemu-system-x86_64", X_OK) < 0 && !getenv("VMGMT_QEMU_TEST_FORCE")) {
                fprintf(stderr, "SKIP: qemu-system-x86_64 is not installed (package qemu-system-x86) (missing: /usr/bin/qemu-system-x86_64)\n");
                return 77;
        }
        if (getenv("VMGMT_TEST_DEBUG"))
                log_set_max_level(LOG_LEVEL_DEBUG);
        /* Like vmgmtd: signals blocked in the daemon must not leak into qemu. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGCHLD);
        sigprocmask(SIG_BLOCK, &mask, NULL);

        messages = g_ptr_array_new_with_free_func(g_free);
        root = mkdtemp(tmpl);
        if (!root || sd_event_new(&event) < 0)
                return 1;
        kernel_poweroff = write_kernel(TINY_GUEST_MODE_POWEROFF);
        kernel_reset = write_kernel(TINY_GUEST_MODE_RESET);

        d = driver_new(root);
        test_start_suspend_resume_reset_destroy(d);
        test_start_paused_graceful_destroy(d);
        test_shutdown_destroy(d);
        test_poweroff_restart_and_reboot(d);
        test_reboot_destroy(d);
        test_killed_from_outside(d);
        test_terminated_from_outside(d);
        test_start_settings(d);
        test_destroy_during_start(d);
        test_graceful_destroy_refused(d);
        test_start_failures(d);
        test_start_destroy_repeated(d);
        ops->free(d);
        test_recover();
        test_long_paths();

        kill_leftover_qemus(root);
        sd_event_unref(event);
        g_ptr_array_unref(messages);
        if (!getenv("VMGMT_TEST_KEEP"))
                rm_rf(root);
        fprintf(stderr, "%s (%u failures)\n", failures ? "FAIL" : "OK", failures);
        return failures ? 1 : 0;
}
