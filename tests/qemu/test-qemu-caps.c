/* test-qemu-caps.c — probes the installed qemu, checks aliases, default and the on-disk cache. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <stdbool.h>
#include <stdio.h>
#include <systemd/sd-event.h>

#include "fileio.h"
#include "macro.h"
#include "qemu/qemu-caps.h"
#include "test-helpers.h"

static void check_x86_caps(const QemuCaps *caps) {
        CHECK_STREQ(qemu_caps_resolve_machine(caps, "pc"), "pc-i440fx-7.2");
        CHECK_STREQ(qemu_caps_resolve_machine(caps, "q35"), "pc-q35-7.2");
        CHECK_STREQ(qemu_caps_resolve_machine(caps, "pc-q35-7.2"), "pc-q35-7.2");
        CHECK_STREQ(qemu_caps_resolve_machine(caps, "pc-i440fx-6.2"), "pc-i440fx-6.2");
        CHECK_STREQ(qemu_caps_resolve_machine(caps, NULL), "pc-i440fx-7.2");
        CHECK(qemu_caps_resolve_machine(caps, "no-such-machine") == NULL);
        CHECK(qemu_caps_resolve_machine(caps, "") == NULL);
        CHECK_STREQ(qemu_caps_default_machine(caps), "pc-i440fx-7.2");
        CHECK(qemu_caps_version(caps) && strncmp(qemu_caps_version(caps), "7.2.", 4) == 0);
}

/* Bounds a hang of the loops below; nothing is asserted about how long anything takes. */
#define HANG_USEC (60ull * 1000000ull)
/* The probe deadline of the test that hangs on purpose (the others take the
 * default, 0: generous, so a loaded machine does not cut them off). */
#define HANG_PROBE_TIMEOUT_USEC (500u * 1000u)

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ull + (uint64_t) ts.tv_nsec / 1000ull;
}

static bool pid_gone(pid_t pid) {
        char path[64];

        snprintf(path, sizeof(path), "/proc/%d", (int) pid);
        return access(path, F_OK) < 0;   /* not even a zombie: reaped */
}

static pid_t read_pid(const char *path) {
        _cleanup_free_ char *text = NULL;

        return read_full_file(path, 64, &text, NULL) == 0 ? (pid_t) atoi(text) : 0;
}

static void write_script(const char *path, const char *text) {
        FILE *f = fopen(path, "we");
        CHECK(f);
        if (!f)
                return;
        fputs(text, f);
        fclose(f);
        CHECK(chmod(path, 0755) == 0);
}

/* A stand-in emulator: checks how the probe runs its child and feeds the parser edge cases. */
static void test_fake_emulator(const char *dir) {
        _cleanup_free_ char *emu = NULL, *script = NULL, *slow = NULL, *env = NULL, *leak = NULL, *pidfile = NULL;
        _cleanup_free_ char *slow_script = NULL;
        QemuCaps *caps = NULL;
        pid_t pid;
        int r, fd;

        r = asprintf(&emu, "%s/qemu-system-fake", dir);
        CHECK(r > 0);
        r = asprintf(&env, "%s/env.txt", dir);
        CHECK(r > 0);
        r = asprintf(&leak, "%s/leaked-fd", dir);
        CHECK(r > 0);
        r = asprintf(&script,
                     "#!/bin/sh\n"
                     "case \"$1\" in\n"
                     "-version) echo 'QEMU emulator version 9.1.50 (fake build)' ;;\n"
                     "-machine) env > '%s'; [ -e /proc/$$/fd/42 ] && touch '%s'\n"
                     "  printf 'Supported machines are:\\n'\n"
                     "  printf 'foo                  Foo board (alias of foo-9.1) (default)\\n'\n"
                     "  printf 'foo-9.1              Foo board\\n'\n"
                     "  printf 'bar                  Bar board (deprecated)\\n'\n"
                     "  printf 'evil,name=x          not a name qemu could take\\n'\n"
                     "  printf 'none                 empty machine\\n' ;;\n"
                     "*) exit 1 ;;\n"
                     "esac\n",
                     env, leak);
        CHECK(r > 0);
        write_script(emu, script);

        setenv("VMGMT_TEST_SECRET", "must-not-leak", 1);
        fd = open("/dev/null", O_RDONLY); /* no O_CLOEXEC on purpose */
        CHECK(fd >= 0 && dup2(fd, 42) == 42);
        r = qemu_caps_new(emu, NULL, 0, &caps);
        close(42);
        close(fd);
        unsetenv("VMGMT_TEST_SECRET");
        CHECK(r == 0);
        if (r < 0)
                return;
        CHECK_STREQ(qemu_caps_version(caps), "9.1.50");
        CHECK_STREQ(qemu_caps_default_machine(caps), "foo-9.1");
        CHECK_STREQ(qemu_caps_resolve_machine(caps, "foo"), "foo-9.1");
        CHECK_STREQ(qemu_caps_resolve_machine(caps, NULL), "foo-9.1");
        CHECK_STREQ(qemu_caps_resolve_machine(caps, "bar"), "bar");
        CHECK(!qemu_caps_resolve_machine(caps, "evil,name=x"));
        CHECK(!qemu_caps_resolve_machine(caps, "evil"));
        caps = qemu_caps_free(caps);
        {
                _cleanup_free_ char *text = NULL;
                CHECK(read_full_file(env, 65536, &text, NULL) == 0);
                CHECK(text && !strstr(text, "VMGMT_TEST_SECRET"));
                CHECK(text && strstr(text, "LC_ALL=C"));
        }
        CHECK(access(leak, F_OK) != 0);

        /* a hanging binary is cut off at the probe's deadline: the probe
         * reports a timeout (not the hang's end, which never comes) and the
         * child is killed and reaped by then */
        r = asprintf(&slow, "%s/qemu-system-slow", dir);
        CHECK(r > 0);
        r = asprintf(&pidfile, "%s/slow.pid", dir);
        CHECK(r > 0);
        r = asprintf(&slow_script, "#!/bin/sh\necho $$ > '%s'\nexec sleep 3600\n", pidfile);
        CHECK(r > 0);
        write_script(slow, slow_script);
        CHECK(qemu_caps_new(slow, NULL, HANG_PROBE_TIMEOUT_USEC, &caps) == -ETIMEDOUT);
        CHECK(!caps);
        pid = read_pid(pidfile);
        CHECK(pid > 0 && pid_gone(pid));
}

typedef struct AsyncResult {
        bool done;
        int r;
        QemuCaps *caps;
        const char *go;            /* the stand-in emulator waits for this file */
        unsigned ticks;            /* timer callbacks that ran while the probe was under way */
        bool ticked_before_done;   /* a tick ran before the probe's callback */
} AsyncResult;

static void async_done(void *userdata, int r, QemuCaps *caps) {
        AsyncResult *a = userdata;

        a->done = true;
        a->ticked_before_done = a->ticks > 0;
        a->r = r;
        a->caps = caps;
}

/* Lets the waiting stand-in emulator go on: it can only do so if the loop
 * runs timers while the probe is under way. */
static int on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        AsyncResult *a = userdata;

        a->ticks++;
        if (a->go && a->ticks == 1)
                CHECK(write_file_atomic_nosync(a->go, "go\n", 3, 0644) == 0);
        return sd_event_source_set_time_relative(s, 20 * 1000) < 0 ? -1 : sd_event_source_set_enabled(s, SD_EVENT_ON);
}

/* The probe as a child of a loop: the loop goes on while the emulator thinks;
 * freeing a probe under way kills and reaps its child. */
static void test_async_probe(const char *dir) {
        _cleanup_free_ char *slow = NULL, *hang = NULL, *script = NULL, *pidfile = NULL, *go = NULL;
        sd_event *event = NULL;
        sd_event_source *tick = NULL;
        QemuCapsProbe *probe = NULL;
        QemuCaps *caps = NULL;
        AsyncResult a = {};
        uint64_t end;
        pid_t pid;
        int r;

        /* The stand-in emulator waits until the loop's timer has run: a
         * probe that blocked the loop would never finish (its deadline would
         * cut it off), one that does not finishes after a tick. */
        CHECK(sd_event_new(&event) >= 0);
        CHECK(asprintf(&slow, "%s/qemu-system-slowish", dir) > 0);
        CHECK(asprintf(&go, "%s/go", dir) > 0);
        CHECK(asprintf(&script, "#!/bin/sh\nwhile [ ! -e '%s' ]; do sleep 0.01; done\n"
                                "exec /usr/bin/qemu-system-x86_64 \"$@\"\n", go) > 0);
        write_script(slow, script);
        a.go = go;
        r = qemu_caps_load_or_probe(event, slow, NULL, 0, async_done, &a, &caps, &probe);
        CHECK(r == 0 && probe && !caps);
        CHECK(sd_event_add_time_relative(event, &tick, CLOCK_MONOTONIC, 20 * 1000, 1, on_tick, &a) >= 0);
        end = now_usec() + HANG_USEC;
        while (!a.done && now_usec() < end && sd_event_run(event, 1000 * 1000) >= 0)
                ;
        CHECK(a.done && a.r == 0 && a.caps);
        CHECK(a.ticked_before_done);
        if (a.caps)
                check_x86_caps(a.caps);
        a.caps = qemu_caps_free(a.caps);

        /* cancelled while the emulator hangs */
        CHECK(asprintf(&hang, "%s/qemu-system-hangs", dir) > 0);
        CHECK(asprintf(&pidfile, "%s/hang.pid", dir) > 0);
        free(script);
        CHECK(asprintf(&script, "#!/bin/sh\necho $$ > %s\nexec sleep 60\n", pidfile) > 0);
        write_script(hang, script);
        a = (AsyncResult) {};
        probe = NULL;
        r = qemu_caps_load_or_probe(event, hang, NULL, 0, async_done, &a, &caps, &probe);
        CHECK(r == 0 && probe);
        end = now_usec() + HANG_USEC;
        while ((pid = read_pid(pidfile)) == 0 && now_usec() < end && sd_event_run(event, 10 * 1000) >= 0)
                ;
        CHECK(pid > 0 && !pid_gone(pid));
        probe = qemu_caps_probe_free(probe);
        CHECK(!a.done);          /* no callback for a cancelled probe */
        /* killed, and reaped by the loop (which does not wait for it) */
        end = now_usec() + HANG_USEC;
        while (pid > 0 && !pid_gone(pid) && now_usec() < end)
                CHECK(sd_event_run(event, 100 * 1000) >= 0);
        CHECK(pid > 0 && pid_gone(pid));
        CHECK(!a.done);

        sd_event_source_disable_unref(tick);
        sd_event_unref(event);
}

int main(void) {
        _cleanup_free_ char *emu = NULL, *dir = NULL, *cache = NULL;
        char tmpl[] = "/tmp/test-qemu-caps-XXXXXX";
        QemuCaps *caps = NULL;
        struct stat st;
        int r;

        emu = qemu_caps_find_emulator("x86_64");
        CHECK_STREQ(emu, "/usr/bin/qemu-system-x86_64");
        CHECK(!qemu_caps_find_emulator("../../bin/sh"));
        CHECK(!qemu_caps_find_emulator("x86_64/../../sh"));
        CHECK(!qemu_caps_find_emulator(""));
        CHECK(!qemu_caps_find_emulator("no_such_arch"));
        free(qemu_caps_find_emulator(NULL)); /* host arch: must not crash */

        CHECK(qemu_caps_machine_is_q35("pc-q35-7.2"));
        CHECK(qemu_caps_machine_is_q35("q35"));
        CHECK(!qemu_caps_machine_is_q35("pc-i440fx-7.2"));
        CHECK(!qemu_caps_machine_is_q35(NULL));

        CHECK(qemu_caps_new("/nonexistent/qemu", NULL, 0, &caps) == -ENOENT);
        CHECK(qemu_caps_new("relative/qemu", NULL, 0, &caps) == -EINVAL);
        CHECK(qemu_caps_new("/etc/passwd", NULL, 0, &caps) < 0);
        CHECK(qemu_caps_new("/bin/false", NULL, 0, &caps) < 0);

        if (!emu)
                return TEST_EXIT();

        /* uncached probe */
        r = qemu_caps_new(emu, NULL, 0, &caps);
        CHECK(r == 0);
        if (r < 0)
                return TEST_EXIT();
        CHECK(!qemu_caps_from_cache(caps));
        CHECK_STREQ(qemu_caps_emulator(caps), emu);
        check_x86_caps(caps);
        caps = qemu_caps_free(caps);

        /* first cached call probes and writes, the second only reads */
        dir = strdup(mkdtemp(tmpl));
        CHECK(dir);
        r = asprintf(&cache, "%s/sub/dir", dir);
        CHECK(r > 0);
        CHECK(qemu_caps_new(emu, cache, 0, &caps) == 0);
        CHECK(!qemu_caps_from_cache(caps));
        caps = qemu_caps_free(caps);

        CHECK(qemu_caps_new(emu, cache, 0, &caps) == 0);
        CHECK(caps && qemu_caps_from_cache(caps));
        if (caps)
                check_x86_caps(caps);
        caps = qemu_caps_free(caps);

        /* a corrupt cache is ignored and rewritten */
        {
                _cleanup_free_ char *cmd = NULL;
                r = asprintf(&cmd, "for f in %s/*.caps; do echo 'garbage' > \"$f\"; done", cache);
                CHECK(r > 0 && system(cmd) == 0);
        }
        CHECK(qemu_caps_new(emu, cache, 0, &caps) == 0);
        CHECK(caps && !qemu_caps_from_cache(caps));
        if (caps)
                check_x86_caps(caps);
        caps = qemu_caps_free(caps);
        CHECK(qemu_caps_new(emu, cache, 0, &caps) == 0);
        CHECK(caps && qemu_caps_from_cache(caps));
        caps = qemu_caps_free(caps);

        /* a copy of the binary with another mtime is a different key */
        {
                _cleanup_free_ char *copy = NULL, *cmd = NULL;
                r = asprintf(&copy, "%s/qemu-system-x86_64", dir);
                CHECK(r > 0);
                r = asprintf(&cmd, "cp %s %s", emu, copy);
                CHECK(r > 0 && system(cmd) == 0);
                CHECK(qemu_caps_new(copy, cache, 0, &caps) == 0);
                CHECK(caps && !qemu_caps_from_cache(caps));
                caps = qemu_caps_free(caps);
                CHECK(stat(copy, &st) == 0);
                /* touching the binary invalidates its entry */
                free(cmd);
                r = asprintf(&cmd, "touch -d '2001-01-01' %s", copy);
                CHECK(r > 0 && system(cmd) == 0);
                CHECK(qemu_caps_new(copy, cache, 0, &caps) == 0);
                CHECK(caps && !qemu_caps_from_cache(caps));
                if (caps)
                        check_x86_caps(caps);
                caps = qemu_caps_free(caps);
        }

        test_fake_emulator(dir);
        test_async_probe(dir);

        {
                _cleanup_free_ char *cmd = NULL;
                r = asprintf(&cmd, "rm -rf %s", dir);
                if (r > 0 && system(cmd) != 0)
                        fprintf(stderr, "could not remove %s\n", dir);
        }
        return TEST_EXIT();
}
