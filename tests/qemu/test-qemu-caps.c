/* test-qemu-caps.c — probes the installed qemu, checks aliases, default and the on-disk cache. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

static double elapsed_ms(const struct timespec *a) {
        struct timespec b;
        clock_gettime(CLOCK_MONOTONIC, &b);
        return (double) (b.tv_sec - a->tv_sec) * 1e3 + (double) (b.tv_nsec - a->tv_nsec) / 1e6;
}

int main(void) {
        _cleanup_free_ char *emu = NULL, *dir = NULL, *cache = NULL;
        char tmpl[] = "/tmp/test-qemu-caps-XXXXXX";
        QemuCaps *caps = NULL;
        struct timespec t0;
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

        CHECK(qemu_caps_new("/nonexistent/qemu", NULL, &caps) == -ENOENT);
        CHECK(qemu_caps_new("relative/qemu", NULL, &caps) == -EINVAL);
        CHECK(qemu_caps_new("/etc/passwd", NULL, &caps) < 0);
        CHECK(qemu_caps_new("/bin/false", NULL, &caps) < 0);

        if (!emu)
                return TEST_EXIT();

        /* uncached probe */
        r = qemu_caps_new(emu, NULL, &caps);
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
        CHECK(qemu_caps_new(emu, cache, &caps) == 0);
        CHECK(!qemu_caps_from_cache(caps));
        caps = qemu_caps_free(caps);

        clock_gettime(CLOCK_MONOTONIC, &t0);
        CHECK(qemu_caps_new(emu, cache, &caps) == 0);
        fprintf(stderr, "cached load: %.3f ms\n", elapsed_ms(&t0));
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
        CHECK(qemu_caps_new(emu, cache, &caps) == 0);
        CHECK(caps && !qemu_caps_from_cache(caps));
        if (caps)
                check_x86_caps(caps);
        caps = qemu_caps_free(caps);
        CHECK(qemu_caps_new(emu, cache, &caps) == 0);
        CHECK(caps && qemu_caps_from_cache(caps));
        caps = qemu_caps_free(caps);

        /* a copy of the binary with another mtime is a different key */
        {
                _cleanup_free_ char *copy = NULL, *cmd = NULL;
                r = asprintf(&copy, "%s/qemu-system-x86_64", dir);
                CHECK(r > 0);
                r = asprintf(&cmd, "cp %s %s", emu, copy);
                CHECK(r > 0 && system(cmd) == 0);
                CHECK(qemu_caps_new(copy, cache, &caps) == 0);
                CHECK(caps && !qemu_caps_from_cache(caps));
                caps = qemu_caps_free(caps);
                CHECK(stat(copy, &st) == 0);
                /* touching the binary invalidates its entry */
                free(cmd);
                r = asprintf(&cmd, "touch -d '2001-01-01' %s", copy);
                CHECK(r > 0 && system(cmd) == 0);
                CHECK(qemu_caps_new(copy, cache, &caps) == 0);
                CHECK(caps && !qemu_caps_from_cache(caps));
                if (caps)
                        check_x86_caps(caps);
                caps = qemu_caps_free(caps);
        }

        {
                _cleanup_free_ char *cmd = NULL;
                r = asprintf(&cmd, "rm -rf %s", dir);
                if (r > 0 && system(cmd) != 0)
                        fprintf(stderr, "could not remove %s\n", dir);
        }
        return TEST_EXIT();
}
