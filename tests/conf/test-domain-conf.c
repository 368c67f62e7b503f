/* test-domain-conf.c — unit tests of the domain XML module: units, names, parsing, errors, normalization, canonical form. */
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/domain-conf.h"
#include "config.h"
#include "macro.h"

static const char *data_dir;

/* ---- a hypervisor as the qemu driver would describe it (qemu 7.2) ---- */

static const char *test_emulator_for_arch(void *userdata, const char *arch) {
        if (streq(arch, "x86_64"))
                return "/usr/bin/qemu-system-x86_64";
        if (streq(arch, "i686"))
                return "/usr/bin/qemu-system-i386";
        return NULL;
}

static const char *test_resolve_machine(void *userdata, const char *emulator, const char *machine) {
        static const char *const known[] = { "pc-i440fx-7.2", "pc-q35-7.2", "pc-i440fx-6.2", "pc-q35-6.2", NULL };
        if (!machine || streq(machine, "pc"))
                return "pc-i440fx-7.2";
        if (streq(machine, "q35"))
                return "pc-q35-7.2";
        for (size_t i = 0; known[i]; i++)
                if (streq(machine, known[i]))
                        return known[i];
        return NULL;
}

static const DomainNormalizeCtx test_ctx = {
        .emulator_for_arch = test_emulator_for_arch,
        .resolve_machine = test_resolve_machine,
};

DEFINE_TRIVIAL_CLEANUP_FUNC(DomainDef *, domain_def_free);

static char *read_data(const char *name) {
        _cleanup_free_ char *path = g_build_filename(data_dir, name, NULL);
        char *text = NULL;
        GError *e = NULL;
        if (!g_file_get_contents(path, &text, NULL, &e))
                g_error("%s: %s", path, e->message);
        return text;
}

/* parse (+ normalize) + format; fails the test on error */
static char *canonical(const char *xml, bool normalize, DomainFormatFlags flags) {
        _cleanup_(domain_def_freep) DomainDef *def = NULL;
        ConfError err = {};
        int r;

        r = domain_def_parse(xml, strlen(xml), &def, &err);
        if (r < 0)
                g_error("parse failed: %s", err.message);
        if (normalize) {
                r = domain_def_normalize(def, &test_ctx, &err);
                if (r < 0)
                        g_error("normalize failed: %s", err.message);
        }
        return domain_def_format(def, flags);
}

/* Returns the error message of a parse (+normalize) that must fail. */
static char *parse_error(const char *xml, int expect_r) {
        _cleanup_(domain_def_freep) DomainDef *def = NULL;
        ConfError err = {};
        int r;

        r = domain_def_parse(xml, strlen(xml), &def, &err);
        if (r >= 0)
                r = domain_def_normalize(def, &test_ctx, &err);
        if (r >= 0)
                g_error("expected failure, got success for:\n%s", xml);
        g_assert_cmpint(r, ==, expect_r);
        g_assert_nonnull(err.message);
        return err.message;
}

/* ---- units ---- */

static void test_units(void) {
        const struct { const char *v, *unit; uint64_t kib; int r; } t[] = {
                { "1", "GB", 976563, 0 },
                { "1", "G", 1048576, 0 },
                { "1", "GiB", 1048576, 0 },
                { "1", "KB", 1, 0 },              /* 1000 bytes → rounded up */
                { "1000", "KB", 977, 0 },
                { "1024", "b", 1, 0 },
                { "1025", "bytes", 2, 0 },
                { "1", "b", 1, 0 },
                { "0", "b", 0, 0 },
                { "2", "k", 2, 0 },
                { "2", "KiB", 2, 0 },
                { "2048", NULL, 2048, 0 },         /* KiB by default */
                { "1", "MB", 977, 0 },             /* 10^6 / 1024 = 976.56 */
                { "1", "M", 1024, 0 },
                { "1", "MiB", 1024, 0 },
                { "1", "TB", 976562500, 0 },
                { "1", "T", 1073741824, 0 },
                { "1", "TiB", 1073741824, 0 },
                { "3", "mb", 2930, 0 },            /* libvirt is case-insensitive */
                { "1", "xB", 0, -EINVAL },
                { "1", "GiBB", 0, -EINVAL },
                { "-1", "KiB", 0, -EINVAL },
                { "1.5", "GiB", 0, -EINVAL },
                { " 1", "KiB", 0, -EINVAL },
                { "", "KiB", 0, -EINVAL },
                { "18446744073709551615", "KiB", 0, -ERANGE },
                { "99999999999999999999999", "KiB", 0, -ERANGE },
                { "20000000", "TiB", 0, -ERANGE },
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                uint64_t kib = 0;
                int r = conf_parse_memory_kib(t[i].v, t[i].unit, &kib);
                if (r != t[i].r || (r == 0 && kib != t[i].kib))
                        g_error("%s %s: r=%d kib=%llu, expected r=%d kib=%llu", t[i].v, strna(t[i].unit), r,
                                (unsigned long long) kib, t[i].r, (unsigned long long) t[i].kib);
        }
}

static void test_units_in_xml(void) {
        const struct { const char *mem; const char *expect; } t[] = {
                { "<memory unit='GB'>1</memory>", "<memory unit='KiB'>976563</memory>" },
                { "<memory unit='bytes'>1048576</memory>", "<memory unit='KiB'>1024</memory>" },
                { "<memory unit='MiB'>512</memory><currentMemory unit='MB'>500</currentMemory>",
                  "<currentMemory unit='KiB'>488282</currentMemory>" },
                { "<maxMemory slots='16' unit='GiB'>4</maxMemory><memory unit='GiB'>1</memory>",
                  "<maxMemory slots='16' unit='KiB'>4194304</maxMemory>" },
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                _cleanup_free_ char *xml = g_strdup_printf("<domain type='qemu'><name>u</name>%s<os><type>hvm</type></os></domain>", t[i].mem);
                _cleanup_free_ char *out = canonical(xml, false, 0);
                if (!strstr(out, t[i].expect))
                        g_error("expected %s in:\n%s", t[i].expect, out);
        }
}

/* ---- names, UUIDs, MACs ---- */

static void test_names(void) {
        const char *good[] = { "demo", "a", "vm-1_2.3", "ünïcödé", "虚拟机", "with space", "...", ".hidden", "a..b" };
        const char *bad[] = { "", "/", "a/b", ".", "..", "tab\there", "nl\nx", "del\x7f", "c1\xc2\x85", "\xff\xfe", "bad\xc3" };
        const char *reason;
        char long_name[300];

        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                if (conf_name_validate(good[i], &reason) < 0)
                        g_error("'%s' rejected: %s", good[i], reason);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                g_assert_cmpint(conf_name_validate(bad[i], &reason), ==, -EINVAL);
        memset(long_name, 'x', 255);
        long_name[255] = 0;
        g_assert_cmpint(conf_name_validate(long_name, &reason), ==, 0);
        long_name[255] = 'x';
        long_name[256] = 0;
        g_assert_cmpint(conf_name_validate(long_name, &reason), ==, -EINVAL);
        g_assert_nonnull(strstr(reason, "255"));

        /* through the parser */
        _cleanup_free_ char *m = parse_error("<domain type='qemu'><name>a/b</name><memory>1024</memory><os><type>hvm</type></os></domain>", -EINVAL);
        g_assert_nonnull(strstr(m, "'/'"));
        free(m);
        m = parse_error("<domain type='qemu'><name>..</name><memory>1024</memory><os><type>hvm</type></os></domain>", -EINVAL);
        g_assert_nonnull(strstr(m, "'..'"));
        free(m);
        m = parse_error("<domain type='qemu'><name></name><memory>1024</memory><os><type>hvm</type></os></domain>", -EINVAL);
        g_assert_nonnull(strstr(m, "empty"));
        free(m);
        m = NULL;
        _cleanup_free_ char *out = canonical("<domain type='qemu'><name>ünï 虚拟机</name><memory>1024</memory><os><type>hvm</type></os></domain>", true, 0);
        g_assert_nonnull(strstr(out, "<name>ünï 虚拟机</name>"));
}

/* libvirt's domain type names all parse and come back as written; which of
 * them runs is the driver registry's business, not the parser's. */
static void test_virt_types(void) {
        const char *types[] = { "qemu", "kvm", "lxc", "xen", "hvf", "vmware", "hyperv", "vbox",
                                "bhyve", "openvz", "test", "uml", "phyp", "vz", "kqemu" };

        for (size_t i = 0; i < ELEMENTSOF(types); i++) {
                _cleanup_free_ char *xml = g_strdup_printf("<domain type='%s'><name>t</name><memory>1024</memory>"
                                                           "<os><type>hvm</type></os></domain>", types[i]);
                _cleanup_free_ char *out = canonical(xml, false, 0);
                _cleanup_free_ char *want = g_strdup_printf("<domain type='%s'>", types[i]);

                g_assert_nonnull(strstr(out, want));
                g_assert_cmpstr(domain_virt_type_to_string(i), ==, types[i]);
        }
        g_assert_null(domain_virt_type_to_string(ELEMENTSOF(types)));
        _cleanup_free_ char *m = parse_error("<domain type='frob'><name>t</name><memory>1024</memory>"
                                             "<os><type>hvm</type></os></domain>", -EINVAL);
        g_assert_nonnull(strstr(m, "'frob'"));
}

static void test_uuid_mac(void) {
        unsigned char u[16], v[16];
        char s[37], mac[18];

        g_assert_cmpint(conf_uuid_parse("0d8f0a9e-3c1f-4f55-9a0b-7f2a0b1c2d3e", u), ==, 0);
        conf_uuid_format(u, s);
        g_assert_cmpstr(s, ==, "0d8f0a9e-3c1f-4f55-9a0b-7f2a0b1c2d3e");
        g_assert_cmpint(conf_uuid_parse("0D8F0A9E3C1F4F559A0B7F2A0B1C2D3E", v), ==, 0);
        g_assert_cmpmem(u, 16, v, 16);
        g_assert_cmpint(conf_uuid_parse("0d8f0a9e-3c1f-4f55-9a0b-7f2a0b1c2d3", u), ==, -EINVAL);
        g_assert_cmpint(conf_uuid_parse("0d8f0a9e-3c1f-4f55-9a0b-7f2a0b1c2d3e0", u), ==, -EINVAL);
        g_assert_cmpint(conf_uuid_parse("zd8f0a9e-3c1f-4f55-9a0b-7f2a0b1c2d3e", u), ==, -EINVAL);
        conf_uuid_generate(u);
        conf_uuid_generate(v);
        g_assert_true(memcmp(u, v, 16) != 0);
        g_assert_cmpint(u[6] >> 4, ==, 4);
        for (int i = 0; i < 100; i++) {
                conf_mac_generate(mac);
                g_assert_true(g_str_has_prefix(mac, "52:54:00:"));
                g_assert_cmpint(strlen(mac), ==, 17);
        }
}

/* ---- canonical form of every test file ---- */

/* A golden file that matches passes. With VMGMT_REGENERATE set, one that
 * differs (or is missing) is rewritten and the test fails all the same
 * ("regenerated, not checked"): a stray variable cannot make a changed
 * canonical form pass. */
static void compare_golden(const char *name, const char *golden_path, const char *out) {
        _cleanup_free_ char *golden = NULL;
        bool have = g_file_get_contents(golden_path, &golden, NULL, NULL);

        if (have && streq(golden, out))
                return;
        if (getenv("VMGMT_REGENERATE")) {
                g_assert_true(g_file_set_contents(golden_path, out, -1, NULL));
                g_printerr("%s: regenerated, not checked (review `git diff`, then run again without VMGMT_REGENERATE)\n",
                           golden_path);
                g_test_fail();
                return;
        }
        if (!have)
                g_error("missing %s (run with VMGMT_REGENERATE=1 and review)", golden_path);
        g_error("%s differs from %s:\n%s", name, golden_path, out);
}

static void check_file(const char *name) {
        _cleanup_free_ char *xml = read_data(name);
        _cleanup_free_ char *out = canonical(xml, true, DOMAIN_FORMAT_INACTIVE);
        _cleanup_free_ char *again = canonical(out, true, DOMAIN_FORMAT_INACTIVE);
        _cleanup_free_ char *unnormalized = canonical(out, false, DOMAIN_FORMAT_INACTIVE);
        _cleanup_free_ char *golden_name = g_strdup_printf("%.*s.canonical", (int) (strlen(name) - 4), name);
        _cleanup_free_ char *golden_path = g_build_filename(data_dir, "canonical", golden_name, NULL);

        /* Idempotence: define(canonical) → identical canonical, with or without normalizing again. */
        g_assert_cmpstr(out, ==, again);
        g_assert_cmpstr(out, ==, unnormalized);

        compare_golden(name, golden_path, out);
}

/* The live form (id, pty paths, live VNC port) must be stable too. */
static void check_file_live(const char *name) {
        _cleanup_free_ char *xml = read_data(name);
        _cleanup_free_ char *out = canonical(xml, true, DOMAIN_FORMAT_SECURE);
        _cleanup_free_ char *again = canonical(out, true, DOMAIN_FORMAT_SECURE);
        _cleanup_free_ char *golden_name = g_strdup_printf("%.*s.live", (int) (strlen(name) - 4), name);
        _cleanup_free_ char *golden_path = g_build_filename(data_dir, "canonical", golden_name, NULL);

        g_assert_cmpstr(out, ==, again);
        compare_golden(name, golden_path, out);
}

static void test_file(gconstpointer data) {
        check_file(data);
        check_file_live(data);
}

/* ---- the live backing chain (<backingStore>) ---- */

#define STRV(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define CHAIN_DOMAIN(disk) "<domain type='qemu'><name>c</name><memory>1024</memory><os><type>hvm</type></os><devices>" disk "</devices></domain>"

static DomainDef *parse_ok(const char *xml) {
        DomainDef *def = NULL;
        ConfError err = {};

        if (domain_def_parse(xml, strlen(xml), &def, &err) < 0)
                g_error("parse failed: %s", err.message);
        return def;
}

static void assert_chain(const DomainDiskDef *d, const char *source, const char *const *paths, size_t n, bool known) {
        g_assert_cmpstr(d->source, ==, source);
        g_assert_cmpuint(d->n_backing, ==, n);
        for (size_t i = 0; i < n; i++)
                g_assert_cmpstr(d->backing[i].path, ==, paths[i]);
        g_assert_cmpint(d->backing_known, ==, known);
}

static void test_backing_store(void) {
        _cleanup_(domain_def_freep) DomainDef *def = parse_ok(CHAIN_DOMAIN(
                "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/i/top' index='3'/>"
                "<backingStore type='file' index='2'><format type='qcow2'/><source file='/i/mid'/>"
                "<backingStore type='file' index='1'><format type='raw'/><source file='/i/base'/><backingStore/>"
                "</backingStore></backingStore><target dev='vda'/></disk>"));
        DomainDiskDef *d = &def->disks[0];
        _cleanup_free_ char *live = NULL, *inactive = NULL;

        assert_chain(d, "/i/top", STRV("/i/mid", "/i/base"), 2, true);
        g_assert_cmpstr(d->backing[0].format, ==, "qcow2");
        g_assert_cmpstr(d->backing[1].format, ==, "raw");
        /* live XML only: the persistent definition never carries it */
        live = domain_def_format(def, 0);
        inactive = domain_def_format(def, DOMAIN_FORMAT_INACTIVE);
        g_assert_nonnull(strstr(live, "<backingStore type='file'>\n        <format type='qcow2'/>\n        <source file='/i/mid'/>\n"
                                      "        <backingStore type='file'>\n          <format type='raw'/>\n"
                                      "          <source file='/i/base'/>\n          <backingStore/>\n        </backingStore>\n"
                                      "      </backingStore>\n"));
        g_assert_null(strstr(inactive, "backingStore"));

        /* an external snapshot's overlay goes on top */
        g_assert_cmpint(domain_disk_backing_push(d, "/i/ovl", "qcow2"), ==, 0);
        assert_chain(d, "/i/ovl", STRV("/i/top", "/i/mid", "/i/base"), 3, true);
        g_assert_cmpstr(d->backing[0].format, ==, "qcow2");
        /* a commit of /i/top into /i/mid below the active layer: depth 1 leaves */
        g_assert_cmpint(domain_disk_backing_drop(d, 1, 2), ==, 0);
        assert_chain(d, "/i/ovl", STRV("/i/mid", "/i/base"), 2, true);
        /* an active commit into /i/base: depths 0 and 1 leave, base becomes the source */
        g_assert_cmpint(domain_disk_backing_drop(d, 0, 2), ==, 0);
        assert_chain(d, "/i/base", NULL, 0, true);
        g_assert_cmpstr(d->driver_type, ==, "raw");
        /* past the chain's end: nothing */
        g_assert_cmpint(domain_disk_backing_drop(d, 0, 1), ==, 0);
        assert_chain(d, "/i/base", NULL, 0, true);
        g_assert_cmpint(domain_disk_backing_set(d, STRV("/i/x", "/i/y"), NULL, 2), ==, 0);
        assert_chain(d, "/i/base", STRV("/i/x", "/i/y"), 2, true);
        g_assert_null(d->backing[0].format);
        /* a pull without a base: every backing layer leaves */
        g_assert_cmpint(domain_disk_backing_drop(d, 1, 3), ==, 0);
        assert_chain(d, "/i/base", NULL, 0, true);
        g_assert_cmpint(domain_disk_backing_set(d, STRV("/i/x"), NULL, 1), ==, 0);
        assert_chain(d, "/i/base", STRV("/i/x"), 1, true);
        domain_disk_backing_clear(d);
        assert_chain(d, "/i/base", NULL, 0, false);
        g_clear_pointer(&live, free);
        live = domain_def_format(def, 0);
        g_assert_null(strstr(live, "backingStore"));

        /* refused: a layer without a path, two chains, another type, too deep */
        static const char *const bad[] = {
                CHAIN_DOMAIN("<disk type='file'><source file='/a'/><backingStore type='file'><format type='raw'/></backingStore><target dev='vda'/></disk>"),
                CHAIN_DOMAIN("<disk type='file'><source file='/a'/><backingStore/><backingStore/><target dev='vda'/></disk>"),
                CHAIN_DOMAIN("<disk type='file'><source file='/a'/><backingStore type='network'><source file='/b'/></backingStore><target dev='vda'/></disk>"),
                CHAIN_DOMAIN("<disk type='file'><source file='/a'/><backingStore type='file'><source file='/b'/><bogus/></backingStore><target dev='vda'/></disk>"),
                NULL,
        };
        for (size_t i = 0; bad[i]; i++) {
                DomainDef *x = NULL;
                ConfError err = {};
                g_assert_cmpint(domain_def_parse(bad[i], strlen(bad[i]), &x, &err), ==, -EINVAL);
                g_assert_nonnull(err.message);
                conf_error_clear(&err);
        }
        {
                GString *deep = g_string_new("<domain type='qemu'><name>c</name><memory>1024</memory><os><type>hvm</type></os><devices><disk type='file'><source file='/a'/>");
                DomainDef *x = NULL;
                ConfError err = {};
                for (int i = 0; i <= DOMAIN_DISK_BACKING_MAX; i++)
                        g_string_append_printf(deep, "<backingStore type='file'><source file='/l%d'/>", i);
                for (int i = 0; i <= DOMAIN_DISK_BACKING_MAX; i++)
                        g_string_append(deep, "</backingStore>");
                g_string_append(deep, "<target dev='vda'/></disk></devices></domain>");
                g_assert_cmpint(domain_def_parse(deep->str, deep->len, &x, &err), ==, -EINVAL);
                if (!strstr(err.message, "longer than"))
                        g_error("%s", err.message);
                conf_error_clear(&err);
                g_string_free(deep, true);
        }
}

static int compare_names(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        data_dir = getenv("VMGMT_CONF_DATA") ?: VMGMT_SOURCE_ROOT "/tests/conf/data";

        g_test_add_func("/conf/units", test_units);
        g_test_add_func("/conf/units-in-xml", test_units_in_xml);
        g_test_add_func("/conf/names", test_names);
        g_test_add_func("/conf/virt-types", test_virt_types);
        g_test_add_func("/conf/uuid-mac", test_uuid_mac);
        g_test_add_func("/conf/backing-store", test_backing_store);

        GDir *dir = g_dir_open(data_dir, 0, NULL);
        g_assert_nonnull(dir);
        GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
        for (const char *f; (f = g_dir_read_name(dir));)
                if (g_str_has_suffix(f, ".xml"))
                        g_ptr_array_add(names, g_strdup(f));
        g_dir_close(dir);
        g_ptr_array_sort(names, compare_names);
        for (size_t i = 0; i < names->len; i++) {
                _cleanup_free_ char *path = g_strdup_printf("/conf/file/%s", (char *) names->pdata[i]);
                g_test_add_data_func(path, names->pdata[i], test_file);
        }

        int r = g_test_run();
        g_ptr_array_free(names, true);
        return r;
}
