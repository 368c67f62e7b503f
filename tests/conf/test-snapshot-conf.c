/* test-snapshot-conf.c — <domainsnapshot> XML: golden files (data/snapshot/X.in.xml formats as X.out.xml,
 * which formats as itself) and every error path naming what is wrong. */
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/snapshot-conf.h"
#include "macro.h"

static char *format_file(const char *path) {
        _cleanup_free_ char *xml = NULL;
        ConfError err = {};
        SnapshotDef *def = NULL;
        gsize len;
        char *out;

        g_assert_true(g_file_get_contents(path, &xml, &len, NULL));
        if (snapshot_def_parse(xml, len, &def, &err) < 0)
                g_error("%s: %s", path, err.message);
        out = snapshot_def_format(def);
        snapshot_def_free(def);
        return out;
}

static void test_golden(gconstpointer data) {
        const char *dir = g_getenv("VMGMT_CONF_DATA");
        _cleanup_free_ char *in = g_strdup_printf("%s/snapshot/%s.in.xml", dir, (const char *) data);
        _cleanup_free_ char *outp = g_strdup_printf("%s/snapshot/%s.out.xml", dir, (const char *) data);
        _cleanup_free_ char *expect = NULL, *got = NULL, *again = NULL;

        g_assert_true(g_file_get_contents(outp, &expect, NULL, NULL));
        got = format_file(in);
        g_assert_cmpstr(got, ==, expect);
        /* the canonical form is a fixed point */
        again = format_file(outp);
        g_assert_cmpstr(again, ==, expect);
}

static void test_fields(void) {
        static const char xml[] = "<domainsnapshot><name>s1</name><memory snapshot='external' file='/m'/>"
                                  "<disks><disk name='vda' snapshot='external'><source file='/o'/></disk>"
                                  "<disk name='vdb' snapshot='internal'/></disks></domainsnapshot>";
        SnapshotDef *def = NULL;
        ConfError err = {};

        g_assert_cmpint(snapshot_def_parse(xml, strlen(xml), &def, &err), ==, 0);
        g_assert_cmpstr(def->name, ==, "s1");
        g_assert_cmpint(def->memory, ==, SNAPSHOT_LOCATION_EXTERNAL);
        g_assert_cmpstr(def->memory_file, ==, "/m");
        g_assert_cmpuint(def->n_disks, ==, 2);
        g_assert_cmpstr(snapshot_def_find_disk(def, "vda", NULL)->source_file, ==, "/o");
        g_assert_cmpint(snapshot_def_find_disk(def, "nope", "vdb")->snapshot, ==, SNAPSHOT_LOCATION_INTERNAL);
        g_assert_null(snapshot_def_find_disk(def, "vdc", "/x"));
        snapshot_def_free(def);
}

typedef struct ErrorCase {
        const char *xml;
        const char *expect;
} ErrorCase;

static const ErrorCase cases[] = {
        { "", "empty XML document" },
        { "<domainsnapshot><name>x</name>", "malformed XML" },
        { "<domain/>", "root element must be <domainsnapshot>, not <domain>" },
        { "<domainsnapshot><nmae>x</nmae></domainsnapshot>", "unknown element <nmae> in <domainsnapshot>; did you mean <name>?" },
        { "<domainsnapshot><name>a/b</name></domainsnapshot>", "invalid snapshot name 'a/b'" },
        { "<domainsnapshot><name></name></domainsnapshot>", "<name> must not be empty" },
        { "<domainsnapshot><name>x</name><name>y</name></domainsnapshot>", "duplicate element <name>" },
        { "<domainsnapshot><state>sleeping</state></domainsnapshot>", "unknown snapshot state 'sleeping'" },
        { "<domainsnapshot><creationTime>yesterday</creationTime></domainsnapshot>", "<creationTime> must be Unix seconds, not 'yesterday'" },
        { "<domainsnapshot><memory snapshot='sometimes'/></domainsnapshot>", "invalid value 'sometimes' for attribute 'snapshot' of <memory>" },
        { "<domainsnapshot><memory snapshot='internal' file='/m'/></domainsnapshot>", "<memory file='/m'> needs snapshot='external', not 'internal'" },
        { "<domainsnapshot><memory file='m'/></domainsnapshot>", "must be an absolute path" },
        { "<domainsnapshot><disks><disk snapshot='internal'/></disks></domainsnapshot>", "<disk> in <disks> needs a name" },
        { "<domainsnapshot><disks><disk name='vda'/><disk name='vda'/></disks></domainsnapshot>", "disk 'vda' is named twice in <disks>" },
        { "<domainsnapshot><disks><disk name='vda' snapshot='internal'><source file='/o'/></disk></disks></domainsnapshot>",
          "disk 'vda': <source>/<driver> need snapshot='external', not 'internal'" },
        { "<domainsnapshot><disks><disk name='vda'><source file='o'/></disk></disks></domainsnapshot>",
          "disk 'vda': <source file='o'> must be an absolute path" },
        { "<domainsnapshot><disks><disk name='vda'><driver type='raw'/></disk></disks></domainsnapshot>",
          "disk 'vda': an overlay must be qcow2, not 'raw'" },
        { "<domainsnapshot><disks><disk name='vda' type='block'/></disks></domainsnapshot>",
          "only type='file' overlays are supported, not 'block'" },
        { "<domainsnapshot><disks><disk name='vda' colour='red'/></disks></domainsnapshot>", "unknown attribute 'colour' of <disk>" },
        { "<domainsnapshot><parent/></domainsnapshot>", "<parent> needs a <name>" },
        { "<domainsnapshot><domain type='kvm'><name>x</name></domain></domainsnapshot>", "embedded <domain>: " },
        { "<domainsnapshot><name>p</name><parent><name>p</name></parent></domainsnapshot>", "cannot be its own parent" },
};

static void test_errors(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                SnapshotDef *def = NULL;
                ConfError err = {};
                int r = snapshot_def_parse(cases[i].xml, strlen(cases[i].xml), &def, &err);

                if (r != -EINVAL || !err.message || !strstr(err.message, cases[i].expect))
                        g_error("case %zu (%s): r=%d message '%s', expected '%s'", i, cases[i].xml, r,
                                err.message ?: "(none)", cases[i].expect);
                g_assert_null(def);
                conf_error_clear(&err);
        }
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_data_func("/snapshot-conf/golden/full", "full", test_golden);
        g_test_add_data_func("/snapshot-conf/golden/minimal", "minimal", test_golden);
        g_test_add_data_func("/snapshot-conf/golden/external", "external", test_golden);
        g_test_add_func("/snapshot-conf/fields", test_fields);
        g_test_add_func("/snapshot-conf/errors", test_errors);
        return g_test_run();
}
