/* test-domain-conf-tpm.c — <tpm>: parse, normalize (model and version defaults), canonical form and its
 * round trip, copy, the host paths of a passthrough TPM, and the refusals (each naming the problem). */
#include <errno.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "conf/domain-conf.h"
#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(DomainDef *, domain_def_free);

#define HEAD "<domain type='qemu'>\n<name>t</name>\n<memory>65536</memory>\n<os><type>hvm</type></os>\n"
#define DEVICES(d) HEAD "<devices>\n" d "\n</devices>\n</domain>\n"
#define EMU(attrs, children) "<tpm model='tpm-crb'><backend type='emulator'" attrs ">" children "</backend></tpm>"

static const char *emulator_for_arch(void *userdata, const char *arch) {
        return streq(arch, "x86_64") ? "/usr/bin/qemu-system-x86_64" : NULL;
}

static const char *resolve_machine(void *userdata, const char *emulator, const char *machine) {
        return !machine || streq(machine, "pc") || streq(machine, "pc-i440fx-7.2") ? "pc-i440fx-7.2" : NULL;
}

static const DomainNormalizeCtx ctx = { .emulator_for_arch = emulator_for_arch, .resolve_machine = resolve_machine };

static const struct {
        const char *xml, *expect;
} refusals[] = {
        { DEVICES(EMU("", "") EMU("", "")), "a domain has at most one <tpm>" },
        { DEVICES("<tpm model='tpm-tis'/>"), "<tpm> needs a <backend type='emulator'> or type='passthrough'" },
        { DEVICES("<tpm model='tpm-foo'><backend type='emulator'/></tpm>"),
          "invalid value 'tpm-foo' for attribute 'model' of <tpm>" },
        { DEVICES("<tpm model='tpm-spapr'><backend type='emulator'/></tpm>"), "<tpm model='tpm-spapr'> is for pSeries guests" },
        { DEVICES("<tpm><backend/></tpm>"), "<tpm> <backend> needs a 'type'" },
        { DEVICES("<tpm><backend type='emulatr'/></tpm>"), "invalid value 'emulatr' for attribute 'type' of <backend>" },
        { DEVICES("<tpm><backend type='external'><source type='unix' mode='connect' path='/s'/></backend></tpm>"),
          "<backend type='external'> (a swtpm somebody else runs) is not supported by vmgmt" },
        { DEVICES(EMU(" version='1.2'", "")), "TPM 1.2 is not supported by vmgmt" },
        { DEVICES(EMU(" version='3.0'", "")), "invalid value '3.0' for attribute 'version'" },
        { DEVICES(EMU(" persistent_state='maybe'", "")), "persistent_state" },
        { DEVICES(EMU(" persistant_state='yes'", "")), "did you mean 'persistent_state'" },
        { DEVICES(EMU("", "<encryption secret='6dd3e4a5-1d76-44ce-961f-f119f5aad935'/>")),
          "<tpm> <encryption> (an encrypted TPM state) is not supported by vmgmt yet" },
        { DEVICES(EMU("", "<active_pcr_banks/>")), "<active_pcr_banks> names no bank" },
        { DEVICES(EMU("", "<active_pcr_banks><sha256/><sha256/></active_pcr_banks>")), "sha256" },
        { DEVICES(EMU("", "<active_pcr_banks><md5/></active_pcr_banks>")), "unknown element <md5> in <active_pcr_banks>" },
        { DEVICES(EMU("", "<device path='/dev/tpm0'/>")), "<tpm> <device> is for type='passthrough' backends only" },
        { DEVICES("<tpm><backend type='passthrough'><active_pcr_banks><sha1/></active_pcr_banks></backend></tpm>"),
          "<tpm> <active_pcr_banks> is for type='emulator' backends only" },
        { DEVICES("<tpm><backend type='passthrough'><device path='/etc/passwd'/></backend></tpm>"),
          "<device path='/etc/passwd'> is not a TPM device (/dev/tpmN)" },
        { DEVICES("<tpm><backend type='passthrough'><device path='/dev/tpm0/../sda'/></backend></tpm>"),
          "is not a TPM device" },
        { DEVICES("<tpm><backend type='passthrough'><device/></backend></tpm>"), "<device> needs a 'path'" },
        { DEVICES("<tpm><backend type='passthrough' version='2.0'/></tpm>"), "takes no 'version'" },
        { DEVICES("<tpm><backend type='emulator'/><address type='pci' slot='5'/></tpm>"), "<tpm> takes no <address>" },
        { DEVICES("<tpm><backend type='emulator'><profile name='default-v1'/></backend></tpm>"),
          "<tpm> <backend> <profile> is not supported by vmgmt" },
};

static void test_refusals(void) {
        for (size_t i = 0; i < ELEMENTSOF(refusals); i++) {
                _cleanup_(domain_def_freep) DomainDef *def = NULL;
                ConfError err = {};
                int r = domain_def_parse(refusals[i].xml, strlen(refusals[i].xml), &def, &err);

                if (r >= 0)
                        g_error("case %zu: expected an error containing \"%s\", got success", i, refusals[i].expect);
                g_assert_cmpint(r, ==, -EINVAL);
                g_assert_null(def);
                if (!err.message || !strstr(err.message, refusals[i].expect))
                        g_error("case %zu: expected \"%s\" in \"%s\"", i, refusals[i].expect, strna(err.message));
                g_assert_nonnull(strstr(err.message, "line "));
                conf_error_clear(&err);
        }
}

static DomainDef *parse_normalize(const char *xml) {
        DomainDef *def = NULL;
        ConfError err = {};

        if (domain_def_parse(xml, strlen(xml), &def, &err) < 0)
                g_error("parse failed: %s", err.message);
        if (domain_def_normalize(def, &ctx, &err) < 0)
                g_error("normalize failed: %s", err.message);
        return def;
}

/* The canonical <tpm> block of xml's normalized form, and the same again after a second round. */
static char *tpm_block(const char *xml) {
        _cleanup_(domain_def_freep) DomainDef *def = parse_normalize(xml), *again = NULL, *copy = NULL;
        _cleanup_free_ char *out = domain_def_format(def, 0), *out2 = NULL, *out3 = NULL;
        const char *a, *b;

        again = parse_normalize(out);
        out2 = domain_def_format(again, 0);
        g_assert_cmpstr(out, ==, out2);
        copy = domain_def_copy(def);
        g_assert_nonnull(copy);
        out3 = domain_def_format(copy, 0);
        g_assert_cmpstr(out, ==, out3);
        a = strstr(out, "    <tpm");
        b = strstr(out, "</tpm>\n");
        g_assert_nonnull(a);
        g_assert_nonnull(b);
        /* after the inputs, before the graphics and the memballoon, as libvirt orders them */
        g_assert_true(strstr(out, "<input") < a && a < strstr(out, "<memballoon"));
        return g_strndup(a, b + strlen("</tpm>\n") - a);
}

static void test_emulator(void) {
        _cleanup_free_ char *plain = tpm_block(DEVICES("<tpm><backend type='emulator'/></tpm>"));
        _cleanup_free_ char *full = tpm_block(DEVICES(
                "<tpm model='tpm-crb'><backend type='emulator' version='2.0' persistent_state='yes'>"
                "<active_pcr_banks><sha512/><sha1/><sha256/></active_pcr_banks></backend><alias name='ua-tpm'/></tpm>"));
        _cleanup_(domain_def_freep) DomainDef *def = parse_normalize(DEVICES(EMU(" persistent_state='no'", "")));
        _cleanup_free_ char *banks = NULL;

        /* libvirt's defaults: tpm-tis, TPM 2.0 */
        g_assert_cmpstr(plain, ==, "    <tpm model='tpm-tis'>\n      <backend type='emulator' version='2.0'/>\n    </tpm>\n");
        g_assert_cmpstr(full, ==,
                        "    <tpm model='tpm-crb'>\n"
                        "      <backend type='emulator' version='2.0' persistent_state='yes'>\n"
                        "        <active_pcr_banks>\n          <sha1/>\n          <sha256/>\n          <sha512/>\n"
                        "        </active_pcr_banks>\n      </backend>\n"
                        "      <alias name='ua-tpm'/>\n    </tpm>\n");
        g_assert_cmpstr(def->tpm->backend, ==, "emulator");
        g_assert_false(def->tpm->persistent_state);
        g_assert_cmpuint(def->tpm->pcr_banks, ==, 0);
        banks = domain_tpm_pcr_banks_to_string(DOMAIN_TPM_PCR_SHA256 | DOMAIN_TPM_PCR_SHA384);
        g_assert_cmpstr(banks, ==, "sha256,sha384");
}

static void test_passthrough(void) {
        _cleanup_free_ char *block = tpm_block(DEVICES(
                "<tpm model='tpm-tis'><backend type='passthrough'><device path='/dev/tpm1'/></backend></tpm>"));
        _cleanup_(domain_def_freep) DomainDef *def = parse_normalize(DEVICES(
                "<tpm model='tpm-tis'><backend type='passthrough'><device path='/dev/tpm1'/></backend></tpm>"));
        _cleanup_free_ DomainPath *paths = NULL;
        size_t n = 0, found = 0;

        g_assert_cmpstr(block, ==,
                        "    <tpm model='tpm-tis'>\n      <backend type='passthrough'>\n        <device path='/dev/tpm1'/>\n"
                        "      </backend>\n    </tpm>\n");
        /* the device and its cancel file are the service's to open, for qemu */
        g_assert_cmpint(domain_def_host_paths(def, &paths, &n), ==, 0);
        for (size_t i = 0; i < n; i++) {
                if (paths[i].purpose != DOMAIN_PATH_TPM)
                        continue;
                g_assert_cmpint(paths[i].mode, ==, paths[i].index == 0 ? DOMAIN_PATH_READ_WRITE : DOMAIN_PATH_WRITE);
                g_assert_cmpstr(paths[i].path, ==, paths[i].index == 0 ? "/dev/tpm1" : "/sys/class/tpm/tpm1/device/cancel");
                found++;
        }
        g_assert_cmpuint(found, ==, 2);
        g_assert_cmpstr(domain_path_purpose_to_string(DOMAIN_PATH_TPM), ==, "tpm");
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/conf/tpm/refusals", test_refusals);
        g_test_add_func("/conf/tpm/emulator", test_emulator);
        g_test_add_func("/conf/tpm/passthrough", test_passthrough);
        return g_test_run();
}
