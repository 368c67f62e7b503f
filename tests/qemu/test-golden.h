/* test-golden.h — compares generated argv text with tests/qemu/data/NAME.args.
 *
 * With VMGMT_REGENERATE_GOLDEN=1 a file that differs is rewritten, and the
 * test fails all the same ("regenerated, not checked"): a stray variable in
 * CI cannot turn a wrong command line into a pass. Rerun without it after
 * reviewing `git diff tests/qemu/data`. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test-helpers.h"

/* Fixed locations used by every golden file; the run test maps them to
 * paths it creates (a temp dir; the boot dir holds the test guest that
 * tools/build-guest builds there). */
#define GOLDEN_RUN_DIR "/run/vmgmt-test"
#define GOLDEN_IMAGE_DIR "/var/lib/vmgmt-test/images"
#define GOLDEN_BOOT_DIR "/var/lib/vmgmt-test/boot"
/* host_device / host_cdrom sources: the run test puts loop devices there */
#define GOLDEN_BLOCK_PREFIX "/dev/vmgmt-test-"

static inline const char *golden_data_dir(void) {
        const char *d = getenv("VMGMT_QEMU_TEST_DATA");
        return d ? d : GOLDEN_DATA_DIR;
}

/* Whether the absolute path `p` (up to its end or the next separator) may
 * appear in a golden file: one of the placeholders above, which the run test
 * replaces with what it creates, or a file of the installed qemu and the
 * kernel's random devices, which every machine that runs qemu has. Never a
 * host path such as /boot/vmlinuz-VER that only the machine that wrote the
 * file has. */
static inline bool golden_path_allowed(const char *p, size_t len) {
        static const char *const prefixes[] = {
                GOLDEN_RUN_DIR "/", GOLDEN_IMAGE_DIR "/", GOLDEN_BOOT_DIR "/", GOLDEN_BLOCK_PREFIX, "/usr/share/qemu/",
                /* what qemu gets instead of host paths: fds passed to it */
                "/dev/fdset/", "/proc/self/fd/",
        };
        static const char *const exact[] = {
                "/usr/bin/qemu-system-x86_64", "/dev/urandom", "/dev/random", "/dev/null",
        };

        for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
                if (len > strlen(prefixes[i]) && strncmp(p, prefixes[i], strlen(prefixes[i])) == 0)
                        return true;
        for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
                if (len == strlen(exact[i]) && strncmp(p, exact[i], len) == 0)
                        return true;
        return false;
}

/* Counts (and reports) the host paths `text` names that golden_path_allowed()
 * refuses. The value of -append is the guest's command line (root=/dev/vda
 * names a guest device) and is not looked at. */
static inline unsigned golden_check_paths(const char *name, const char *text) {
        g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
        unsigned bad = 0;

        for (size_t i = 0; lines[i]; i++) {
                const char *l = lines[i];
                if (i > 0 && strcmp(lines[i - 1], "-append") == 0)
                        continue;
                for (const char *p = l; *p; p++) {
                        size_t len;
                        if (*p != '/' || (p > l && !strchr(" ,='\"", p[-1])))
                                continue;
                        len = strcspn(p, " ,='\"");
                        if (!golden_path_allowed(p, len)) {
                                fprintf(stderr, "%s: names the host path '%.*s', which the golden run does not create "
                                        "(use a path under " GOLDEN_RUN_DIR ", " GOLDEN_IMAGE_DIR " or " GOLDEN_BOOT_DIR ")\n",
                                        name, (int) len, p);
                                bad++;
                        }
                        p += len - 1;
                }
        }
        return bad;
}

/* `text` is one argument per line without the final newline; ext ".args" or
 * ".fds" (the files qemu gets: "FD MODE PATH" lines, text ends with a newline). */
static inline void golden_compare_ext(const char *name, const char *ext, const char *text) {
        g_autofree char *path = g_strdup_printf("%s/%s%s", golden_data_dir(), name, ext);
        g_autofree char *want = strcmp(ext, ".args") == 0 ? g_strdup_printf("%s\n", text) : g_strdup(text);
        g_autofree char *have = NULL;
        const char *regen = getenv("VMGMT_REGENERATE_GOLDEN");

        test_failures += (int) golden_check_paths(name, text);
        if (g_file_get_contents(path, &have, NULL, NULL) && strcmp(have, want) == 0)
                return;
        if (regen && strcmp(regen, "1") == 0) {
                g_autoptr(GError) e = NULL;
                if (!g_file_set_contents(path, want, -1, &e))
                        fprintf(stderr, "%s: %s\n", path, e->message);
                else
                        fprintf(stderr, "%s: regenerated, not checked (review `git diff`, then run again "
                                "without VMGMT_REGENERATE_GOLDEN)\n", path);
                test_failures++;
                return;
        }
        if (!have) {
                fprintf(stderr, "%s: missing (run with VMGMT_REGENERATE_GOLDEN=1 to create it)\n", path);
                test_failures++;
                return;
        }
        {
                g_autofree char *tmp = g_strdup_printf("/tmp/%s%s.actual", name, ext);
                g_autofree char *cmd = g_strdup_printf("diff -u '%s' '%s' >&2", path, tmp);
                g_file_set_contents(tmp, want, -1, NULL);
                fprintf(stderr, "%s: differs from the generated command line:\n", path);
                if (system(cmd) < 0)
                        fprintf(stderr, "(diff failed)\n");
                test_failures++;
        }
}

static inline void golden_compare(const char *name, const char *text) {
        golden_compare_ext(name, ".args", text);
}
