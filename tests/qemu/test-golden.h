/* test-golden.h — compares generated argv text with tests/qemu/data/NAME.args (VMGMT_REGENERATE_GOLDEN=1 rewrites). */
#pragma once

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test-helpers.h"

/* Fixed locations used by every golden file; the run test maps them to a temp dir. */
#define GOLDEN_RUN_DIR "/run/vmgmt-test"
#define GOLDEN_IMAGE_DIR "/var/lib/vmgmt-test/images"

static inline const char *golden_data_dir(void) {
        const char *d = getenv("VMGMT_QEMU_TEST_DATA");
        return d ? d : GOLDEN_DATA_DIR;
}

/* `text` is one argument per line without the final newline. */
static inline void golden_compare(const char *name, const char *text) {
        g_autofree char *path = g_strdup_printf("%s/%s.args", golden_data_dir(), name);
        g_autofree char *want = g_strdup_printf("%s\n", text);
        g_autofree char *have = NULL;
        const char *regen = getenv("VMGMT_REGENERATE_GOLDEN");

        if (regen && strcmp(regen, "1") == 0) {
                g_autoptr(GError) e = NULL;
                if (!g_file_set_contents(path, want, -1, &e)) {
                        fprintf(stderr, "%s: %s\n", path, e->message);
                        test_failures++;
                }
                return;
        }
        if (!g_file_get_contents(path, &have, NULL, NULL)) {
                fprintf(stderr, "%s: missing (run with VMGMT_REGENERATE_GOLDEN=1 to create it)\n", path);
                test_failures++;
                return;
        }
        if (strcmp(have, want) != 0) {
                g_autofree char *tmp = g_strdup_printf("/tmp/%s.args.actual", name);
                g_autofree char *cmd = g_strdup_printf("diff -u '%s' '%s' >&2", path, tmp);
                g_file_set_contents(tmp, want, -1, NULL);
                fprintf(stderr, "%s: differs from the generated command line:\n", path);
                if (system(cmd) < 0)
                        fprintf(stderr, "(diff failed)\n");
                test_failures++;
        }
}
