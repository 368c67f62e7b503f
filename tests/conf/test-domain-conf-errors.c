/* test-domain-conf-errors.c — unit tests of the domain XML module: every error path, output flags, copy, generated identity. */
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/domain-conf.h"
#include "macro.h"

static const char *emulator_for_arch(void *userdata, const char *arch) {
        return streq(arch, "x86_64") ? "/usr/bin/qemu-system-x86_64" : NULL;
}

static const char *resolve_machine(void *userdata, const char *emulator, const char *machine) {
        if (!machine || streq(machine, "pc") || streq(machine, "pc-i440fx-7.2"))
                return "pc-i440fx-7.2";
        if (streq(machine, "q35") || streq(machine, "pc-q35-7.2"))
                return "pc-q35-7.2";
        return NULL;
}

static const DomainNormalizeCtx ctx = { .emulator_for_arch = emulator_for_arch, .resolve_machine = resolve_machine };

DEFINE_TRIVIAL_CLEANUP_FUNC(DomainDef *, domain_def_free);

#define HEAD "<domain type='qemu'>\n<name>t</name>\n<memory>65536</memory>\n<os><type>hvm</type></os>\n"
#define WRAP(devices) HEAD "<devices>\n" devices "\n</devices>\n</domain>\n"

typedef struct ErrorCase {
        const char *xml;
        const char *expect;   /* substring of the message */
        int line;             /* expected ConfError.line, -1 = don't care */
} ErrorCase;

static const ErrorCase cases[] = {
        /* syntax */
        { "<domain type='qemu'>\n<name>x</name>\n<memory>1</memory\n</domain>", "malformed XML", 4 },
        { "<domain type='qemu'><name>x</name>", "malformed XML", -1 },
        { "<domain type='qemu'><name>&undefined;</name></domain>", "malformed XML", -1 },
        { "<?xml version='1.0'?>\n<!DOCTYPE domain [<!ENTITY x 'boom'>]>\n<domain type='qemu'><name>&x;</name></domain>", "DOCTYPE", -1 },
        { "<!DOCTYPE domain SYSTEM 'http://example.com/evil.dtd'>\n<domain type='qemu'><name>x</name></domain>", "DOCTYPE", -1 },
        { "<domain type='qemu'><name>\xff\xfe</name></domain>", "malformed XML", -1 },
        /* structure */
        { "<network><name>x</name></network>", "root element must be <domain>, not <network>", 1 },
        { "<domain type='qemu'>\n<memory>1024</memory>\n<os><type>hvm</type></os></domain>", "missing <name>", 1 },
        { "<domain type='qemu'><name>x</name><os><type>hvm</type></os></domain>", "missing <memory>", -1 },
        { "<domain type='qemu'><name>x</name><memory>1024</memory></domain>", "missing <os>", -1 },
        { "<domain><name>x</name><memory>1024</memory><os><type>hvm</type></os></domain>", "needs a 'type'", -1 },
        { "<domain type='frob'><name>x</name></domain>", "invalid value 'frob' for attribute 'type' of <domain> (allowed: qemu, kvm, lxc, xen,", 1 },
        { "<domain type='qemu'>\n<name>x</name>\n<name>y</name>\n</domain>", "duplicate element <name> in <domain>", 3 },
        { HEAD "<memory>1024</memory></domain>", "duplicate element <memory>", -1 },
        { HEAD "<devices/><devices/></domain>", "duplicate element <devices>", -1 },
        { HEAD "<devices>hello</devices></domain>", "unexpected text in <devices>", -1 },
        { HEAD "<qemu:commandline xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'/></domain>",
          "unknown element <qemu:commandline> in <domain>", -1 },
        { HEAD "<metadata><plain/></metadata></domain>", "own XML namespace", -1 },
        /* unknown names with did-you-mean */
        { WRAP("<membaloon model='virtio'/>"), "line 6: unknown element <membaloon> in <devices>; did you mean <memballoon>?", 6 },
        { WRAP("<disk type='file' devcie='disk'/>"), "unknown attribute 'devcie' of <disk>; did you mean 'device'?", 6 },
        { WRAP("<frobnicate/>"), "unknown element <frobnicate> in <devices> (allowed: emulator, memballoon, disk,", 6 },
        { HEAD "<feautres/></domain>", "did you mean <features>?", 5 },
        { HEAD "<clock offset='utc'><timer name='rtc' tickpolicy='catchup' presetn='no'/></clock></domain>",
          "unknown attribute 'presetn' of <timer>; did you mean 'present'?", -1 },
        { WRAP("<disk type='file' device='disk'><source file='/a'/><target dev='vda' bus='virtoi'/></disk>"),
          "invalid value 'virtoi' for attribute 'bus' of <target>; did you mean 'virtio'? (allowed: virtio, sata, ide, scsi)", 6 },
        { WRAP("<disk type='nvme'/>"), "invalid value 'nvme' for attribute 'type' of <disk> (allowed: file, block, volume, network)", -1 },
        { HEAD "<on_poweroff>explode</on_poweroff></domain>", "invalid value 'explode' of <on_poweroff> (allowed: destroy, restart,", -1 },
        { WRAP("<interface type='user'><model type='virtio-net'/></interface>"), "(allowed: virtio, e1000, e1000e, rtl8139)", -1 },
        { WRAP("<graphics type='spice'/>"), "(allowed: vnc)", -1 },
        /* numbers and units */
        { "<domain type='qemu'><name>x</name><memory>abc</memory></domain>", "invalid value 'abc' of <memory>: not an unsigned number", -1 },
        { "<domain type='qemu'><name>x</name><memory>-5</memory></domain>", "not an unsigned number", -1 },
        { "<domain type='qemu'><name>x</name><memory unit='XB'>1</memory></domain>", "invalid unit 'XB' of <memory>", -1 },
        { "<domain type='qemu'><name>x</name><memory unit='EiB'>100</memory></domain>", "value '100' of <memory> is too large", -1 },
        { "<domain type='qemu'><name>x</name><memory>99999999999999999999999</memory></domain>", "too large", -1 },
        { "<domain type='qemu'><name>x</name><memory>0</memory></domain>", "must be larger than 0", -1 },
        { HEAD "<currentMemory>131072</currentMemory></domain>", "<currentMemory> must be between", -1 },
        { HEAD "<vcpu>99999999999999999999</vcpu></domain>", "out of range", -1 },
        { HEAD "<vcpu>0</vcpu></domain>", "at least 1", -1 },
        { HEAD "<vcpu current='4'>2</vcpu></domain>", "must be between 1 and 2", -1 },
        { WRAP("<graphics type='vnc' port='70000'/>"), "out of range (max 65535)", -1 },
        { WRAP("<graphics type='vnc' port='22'/>"), "VNC port 22 is not in the range 5900-65535", -1 },
        { WRAP("<disk type='file'><source file='/a'/><target dev='vda'/><address type='pci' slot='0x20'/></disk>"),
          "value '0x20' of attribute 'slot' of <address> is out of range", -1 },
        /* identity */
        { "<domain type='qemu'><name>x</name><uuid>not-a-uuid</uuid></domain>", "invalid UUID 'not-a-uuid'", -1 },
        { "<domain type='qemu'><name>a/b</name></domain>", "invalid domain name: name must not contain '/'", -1 },
        { "<domain type='qemu'><name>.</name></domain>", "must not be '.' or '..'", -1 },
        { "<domain type='qemu'><name>tab&#9;in</name></domain>", "control characters", -1 },
        { "<domain type='qemu'><name>x</name><title>a\nb</title></domain>", "<title> must not contain newlines", -1 },
        { WRAP("<interface type='user'><mac address='53:54:00:12:34:56'/></interface>"), "MAC address '53:54:00:12:34:56' is a multicast address", -1 },
        { WRAP("<interface type='user'><mac address='52:54:00:12:34'/></interface>"), "invalid MAC address", -1 },
        { WRAP("<interface type='user'><mac address='52:54:00:12:34:56'/></interface><interface type='user'><mac address='52:54:00:12:34:56'/></interface>"),
          "duplicate MAC address", -1 },
        /* devices */
        { WRAP("<disk type='file'><source file='/a'/><target dev='vda'/></disk>\n<disk type='file'><source file='/b'/><target dev='vda'/></disk>"),
          "duplicate disk target dev 'vda'", 7 },
        { WRAP("<disk type='file'><source file='/a'/></disk>"), "needs a <target dev=", -1 },
        { WRAP("<disk type='file'><target dev='vda'/></disk>"), "needs a <source>", -1 },
        { WRAP("<disk type='file'><source file='/a'/><target dev='xyz'/></disk>"), "cannot tell the bus", -1 },
        { WRAP("<interface type='network'/>"), "needs <source network=", -1 },
        { WRAP("<interface type='user'><bandwidth><inbound average='100' peak='50'/></bandwidth></interface>"),
          "<inbound> peak=50 is below average=100", -1 },
        { WRAP("<interface type='user'><bandwidth><outbound burst='64'/></bandwidth></interface>"),
          "<outbound> needs a non-zero average=", -1 },
        { WRAP("<interface type='user'><bandwidth><inbound floor='10' burst='64'/></bandwidth></interface>"),
          "<inbound>: peak= and burst= need average=", -1 },
        { WRAP("<interface type='bridge'><source bridge='br0'/><bandwidth><inbound average='100' floor='10'/></bandwidth></interface>"),
          "floor= in <inbound> needs <interface type='network'>", -1 },
        { WRAP("<interface type='user'><bandwidth><outbound average='100' floor='10'/></bandwidth></interface>"),
          "floor= is only supported for <inbound>", -1 },
        { WRAP("<interface type='user'><bandwidth><inbond average='100'/></bandwidth></interface>"),
          "did you mean <inbound>?", -1 },
        { WRAP("<channel type='unix'><target type='virtio'/></channel>"), "target needs a 'name'", -1 },
        { WRAP("<rng model='virtio'><backend model='random'>/etc/shadow</backend></rng>"), "is not allowed", -1 },
        { WRAP("<serial type='file'/>"), "(allowed: pty)", -1 },
        { WRAP("<video><model type='vga'/></video><video><model type='vga' primary='yes'/></video>"), "only the first video device can be primary", -1 },
        /* normalization */
        { "<domain type='qemu'><name>x</name><memory>1024</memory><os><type machine='pc-foo'>hvm</type></os></domain>",
          "unknown machine type 'pc-foo'", -1 },
        { "<domain type='qemu'><name>x</name><memory>1024</memory><os><type arch='aarch64'>hvm</type></os></domain>",
          "no emulator found for architecture 'aarch64'", -1 },
        { "<domain type='qemu'><name>x</name><memory>1024</memory><os><type arch='sparc'>hvm</type></os></domain>",
          "invalid value 'sparc' for attribute 'arch'", -1 },
        { WRAP("<disk type='file' device='cdrom'><target dev='vdc' bus='virtio'/></disk>"), "a cdrom cannot be on the virtio bus", -1 },
        { "<domain type='qemu'><name>x</name><memory>1024</memory><os><type machine='q35'>hvm</type></os><devices>"
          "<disk type='file'><source file='/a'/><target dev='hda' bus='ide'/></disk></devices></domain>", "IDE is not available", -1 },
        { "<domain type='qemu'><name>x</name><memory>1024</memory><os><type>hvm</type><boot dev='hd'/></os><devices>"
          "<disk type='file'><source file='/a'/><target dev='vda'/><boot order='1'/></disk></devices></domain>",
          "cannot be used together with <os><boot", -1 },
        { "<domain type='qemu'><name>x</name><memory>1024</memory><vcpu>4</vcpu><os><type>hvm</type></os>"
          "<cpu><topology sockets='1' cores='2' threads='1'/></cpu></domain>", "does not match <vcpu> 4", -1 },
        { WRAP("<disk type='file'><source file='/a'/><target dev='vda'/><address type='pci' bus='0' slot='3'/></disk>"
               "<disk type='file'><source file='/b'/><target dev='vdb'/><address type='pci' bus='0' slot='3'/></disk>"),
          "is used twice", -1 },
        { WRAP("<disk type='file'><source file='/a'/><target dev='vda'/><address type='pci' bus='5' slot='0'/></disk>"),
          "PCI bus 5 does not exist", -1 },
        { WRAP("<disk type='file'><source file='/a'/><target dev='sda' bus='sata'/><address type='pci' slot='3'/></disk>"),
          "needs a drive address", -1 },
        { WRAP("<controller type='usb' model='none'/><input type='tablet' bus='usb'/>"), "needs a USB controller", -1 },
        { WRAP("<controller type='pci' index='1' model='pcie-root-port'/>"), "has only its pci-root", -1 },
        /* found by fuzz-domain-xml: a second IDE controller claiming PIIX3's function */
        { WRAP("<controller type='ide' index='1'><address type='pci' bus='0' slot='1' function='1'/></controller>"),
          "has only IDE controller 0", -1 },
        { WRAP("<controller type='scsi' index='0'><address type='pci' bus='0' slot='1' function='1'/></controller>"),
          "is used twice", -1 },
        /* sound and audio */
        { WRAP("<sound/>"), "<sound> needs a 'model'", -1 },
        { WRAP("<sound model='ich7'/>"), "did you mean 'ich6'", -1 },
        { WRAP("<sound model='sb16'><address type='pci' slot='5'/></sound>"), "takes no <address>", -1 },
        { WRAP("<sound model='ich9'><audio/></sound>"), "needs an 'id'", -1 },
        { WRAP("<sound model='ich9'><audio id='3'/></sound><audio id='1' type='none'/>"), "<audio id='3'>, which is not defined", -1 },
        { WRAP("<audio id='1' type='spice'/>"), "needs SPICE graphics", -1 },
        { WRAP("<audio id='1' type='pulseaudio'/>"), "type 'pulseaudio' is not supported", -1 },
        { WRAP("<audio id='1' type='none'/><audio id='1' type='none'/>"), "defined twice", -1 },
        { WRAP("<audio id='0' type='none'/>"), "1 or more", -1 },
};

static void test_errors(void) {
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(domain_def_freep) DomainDef *def = NULL;
                ConfError err = {};
                int r;

                r = domain_def_parse(cases[i].xml, strlen(cases[i].xml), &def, &err);
                if (r >= 0)
                        r = domain_def_normalize(def, &ctx, &err);
                if (r >= 0)
                        g_error("case %zu: expected an error containing \"%s\", got success", i, cases[i].expect);
                g_assert_cmpint(r, ==, -EINVAL);
                if (!err.message || !strstr(err.message, cases[i].expect))
                        g_error("case %zu: expected \"%s\" in \"%s\"", i, cases[i].expect, strna(err.message));
                if (cases[i].line >= 0 && err.line != cases[i].line)
                        g_error("case %zu: expected line %d, got %d (%s)", i, cases[i].line, err.line, err.message);
                conf_error_clear(&err);
        }
}

static void test_too_big(void) {
        size_t n = DOMAIN_XML_MAX_SIZE + 1;
        _cleanup_free_ char *big = malloc(n);
        DomainDef *def = NULL;
        ConfError err = {};

        /* not even well-formed: the size check comes before parsing */
        memset(big, '<', n);
        g_assert_cmpint(domain_def_parse(big, n, &def, &err), ==, -EFBIG);
        g_assert_null(def);
        g_assert_nonnull(strstr(err.message, "larger than"));
        conf_error_clear(&err);

        /* 10 MiB, as the integration tests send */
        free(big);
        n = 10 * 1024 * 1024;
        big = malloc(n);
        memset(big, ' ', n);
        g_assert_cmpint(domain_def_parse(big, n, &def, &err), ==, -EFBIG);
        conf_error_clear(&err);
}

static DomainDef *parse_ok(const char *xml, bool normalize) {
        DomainDef *def = NULL;
        ConfError err = {};
        if (domain_def_parse(xml, strlen(xml), &def, &err) < 0)
                g_error("parse: %s", err.message);
        if (normalize && domain_def_normalize(def, &ctx, &err) < 0)
                g_error("normalize: %s", err.message);
        return def;
}

static void test_flags(void) {
        static const char xml[] =
                "<domain type='kvm' id='7'><name>f</name><memory>65536</memory><os><type>hvm</type></os><devices>"
                "<interface type='bridge'><source bridge='br0'/><target dev='vnet3'/></interface>"
                "<serial type='pty'><source path='/dev/pts/9'/></serial>"
                "<graphics type='vnc' port='5901' autoport='yes' passwd='hunter2'/></devices></domain>";
        _cleanup_(domain_def_freep) DomainDef *def = parse_ok(xml, true);
        _cleanup_free_ char *live = domain_def_format(def, 0);
        _cleanup_free_ char *secure = domain_def_format(def, DOMAIN_FORMAT_SECURE);
        _cleanup_free_ char *inactive = domain_def_format(def, DOMAIN_FORMAT_INACTIVE);

        g_assert_nonnull(strstr(live, "<domain type='kvm' id='7'>"));
        g_assert_nonnull(strstr(live, "<target dev='vnet3'/>"));
        g_assert_nonnull(strstr(live, "<source path='/dev/pts/9'/>"));
        g_assert_nonnull(strstr(live, "<console type='pty' tty='/dev/pts/9'>"));
        g_assert_nonnull(strstr(live, "port='5901' autoport='yes'"));
        g_assert_null(strstr(live, "hunter2"));
        g_assert_nonnull(strstr(secure, "passwd='hunter2'"));

        g_assert_nonnull(strstr(inactive, "<domain type='kvm'>"));
        g_assert_null(strstr(inactive, "vnet3"));
        g_assert_null(strstr(inactive, "/dev/pts/9"));
        g_assert_null(strstr(inactive, "hunter2"));
        g_assert_nonnull(strstr(inactive, "port='-1' autoport='yes'"));
}

static void test_copy(void) {
        static const char xml[] =
                "<domain type='qemu' id='3'><name>c</name><memory>65536</memory><os><type machine='q35'>hvm</type></os><devices>"
                "<disk type='file'><source file='/x'/><target dev='vda'/></disk>"
                "<graphics type='vnc' passwd='pw'/><serial type='pty'/></devices></domain>";
        _cleanup_(domain_def_freep) DomainDef *def = parse_ok(xml, true);
        _cleanup_(domain_def_freep) DomainDef *copy = domain_def_copy(def);
        g_assert_nonnull(copy);
        _cleanup_free_ char *a = domain_def_format(def, DOMAIN_FORMAT_SECURE);
        _cleanup_free_ char *b = domain_def_format(copy, DOMAIN_FORMAT_SECURE);
        g_assert_cmpstr(a, ==, b);
        g_assert_true(copy->disks != def->disks);

        _cleanup_(domain_def_freep) DomainDef *raw = parse_ok(xml, false);
        _cleanup_(domain_def_freep) DomainDef *raw_copy = domain_def_copy(raw);
        g_assert_false(raw_copy->has_uuid);
        g_assert_null(raw_copy->memballoon);
}

static void test_generated_identity(void) {
        static const char xml[] =
                "<domain type='qemu'><name>g</name><memory>65536</memory><os><type>hvm</type></os><devices>"
                "<interface type='user'/><interface type='user'><model type='virtio'/></interface></devices></domain>";
        _cleanup_(domain_def_freep) DomainDef *a = parse_ok(xml, true);
        _cleanup_(domain_def_freep) DomainDef *b = parse_ok(xml, true);

        g_assert_true(a->has_uuid);
        g_assert_true(memcmp(a->uuid, b->uuid, 16) != 0);
        g_assert_true(g_str_has_prefix(a->nets[0].mac, "52:54:00:"));
        g_assert_cmpstr(a->nets[0].mac, !=, a->nets[1].mac);
        g_assert_cmpstr(a->nets[0].model, ==, "rtl8139");
        g_assert_cmpstr(a->os_machine, ==, "pc-i440fx-7.2");
        g_assert_cmpstr(a->emulator, ==, "/usr/bin/qemu-system-x86_64");
        g_assert_cmpstr(a->clock_offset, ==, "utc");
        g_assert_cmpint(a->on_poweroff, ==, DOMAIN_ACTION_DESTROY);
        g_assert_cmpint(a->on_reboot, ==, DOMAIN_ACTION_RESTART);
        g_assert_cmpint(a->on_crash, ==, DOMAIN_ACTION_DESTROY);
        g_assert_cmpuint(a->current_memory_kib, ==, 65536);
        g_assert_nonnull(a->memballoon);
        g_assert_cmpstr(a->memballoon->model, ==, "virtio");

        /* normalizing again changes nothing (identity included) */
        _cleanup_free_ char *once = domain_def_format(a, 0);
        ConfError err = {};
        g_assert_cmpint(domain_def_normalize(a, &ctx, &err), ==, 0);
        _cleanup_free_ char *twice = domain_def_format(a, 0);
        g_assert_cmpstr(once, ==, twice);
}

static void test_metadata_verbatim(void) {
        static const char xml[] =
                "<domain type='qemu'><name>m</name>"
                "<metadata>\n"
                "    <app1:foo xmlns:app1=\"http://app1.org/app1/\">..</app1:foo>\n"
                "    <app2:bar xmlns:app2=\"http://app1.org/app2/\" a=\"1\">\n      <app2:x>&lt;&amp;</app2:x>\n    </app2:bar>\n"
                "    <y:z xmlns:y=\"urn:y\"><!-- kept --><y:w/></y:z>\n"
                "  </metadata><memory>65536</memory><os><type>hvm</type></os></domain>";
        _cleanup_(domain_def_freep) DomainDef *def = parse_ok(xml, true);
        _cleanup_free_ char *out = domain_def_format(def, 0);
        const char *expect =
                "  <metadata>\n"
                "    <app1:foo xmlns:app1=\"http://app1.org/app1/\">..</app1:foo>\n"
                "    <app2:bar xmlns:app2=\"http://app1.org/app2/\" a=\"1\">\n      <app2:x>&lt;&amp;</app2:x>\n    </app2:bar>\n"
                "    <y:z xmlns:y=\"urn:y\"><!-- kept --><y:w/></y:z>\n"
                "  </metadata>\n";
        if (!strstr(out, expect))
                g_error("metadata not kept verbatim:\n%s", out);

        /* a namespace declared on <domain> is carried into the kept element */
        static const char xml2[] =
                "<domain type='qemu' xmlns:n='urn:n'><name>m</name><metadata><n:a/></metadata>"
                "<memory>65536</memory><os><type>hvm</type></os></domain>";
        _cleanup_(domain_def_freep) DomainDef *def2 = parse_ok(xml2, false);
        g_assert_nonnull(strstr(def2->metadata_xml, "xmlns:n=\"urn:n\""));
}

static void test_escaping(void) {
        static const char xml[] =
                "<domain type='qemu'><name>a&amp;b&lt;c&gt;'\"</name><description>x &amp; &lt;y&gt;</description>"
                "<memory>65536</memory><os><type>hvm</type><cmdline>console=ttyS0 a='b' c=\"d\"</cmdline></os><devices>"
                "<disk type='file'><source file=\"/tmp/a'b,c&amp;d.img\"/><target dev='vda'/></disk></devices></domain>";
        _cleanup_(domain_def_freep) DomainDef *def = parse_ok(xml, true);
        g_assert_cmpstr(def->name, ==, "a&b<c>'\"");
        g_assert_cmpstr(def->disks[0].source, ==, "/tmp/a'b,c&d.img");
        _cleanup_free_ char *out = domain_def_format(def, 0);
        _cleanup_(domain_def_freep) DomainDef *again = parse_ok(out, true);
        g_assert_cmpstr(again->name, ==, def->name);
        g_assert_cmpstr(again->cmdline, ==, "console=ttyS0 a='b' c=\"d\"");
        g_assert_cmpstr(again->disks[0].source, ==, "/tmp/a'b,c&d.img");
        _cleanup_free_ char *out2 = domain_def_format(again, 0);
        g_assert_cmpstr(out, ==, out2);
}

static void test_cpu_modes(void) {
        const struct { const char *cpu, *expect; } t[] = {
                { "<cpu mode='maximum'/>", "<cpu mode='maximum' check='none' migratable='on'/>" },
                { "<cpu mode='host-passthrough' migratable='off'/>", "<cpu mode='host-passthrough' check='none' migratable='off'/>" },
                { "<cpu mode='host-model'/>", "<cpu mode='host-model' check='partial'/>" },
                { "<cpu><model>Skylake-Client</model></cpu>",
                  "<cpu mode='custom' match='exact' check='partial'>\n    <model fallback='allow'>Skylake-Client</model>\n  </cpu>" },
                { "<cpu mode='custom' match='minimum' check='full'><model fallback='forbid'>qemu64</model></cpu>",
                  "<cpu mode='custom' match='minimum' check='full'>\n    <model fallback='forbid'>qemu64</model>\n  </cpu>" },
                { "<cpu><topology sockets='1' cores='1' threads='1'/></cpu>",
                  "<cpu>\n    <topology sockets='1' dies='1' cores='1' threads='1'/>\n  </cpu>" },
        };
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                _cleanup_free_ char *xml = g_strdup_printf(
                        "<domain type='qemu'><name>c</name><memory>65536</memory><os><type>hvm</type></os>%s</domain>", t[i].cpu);
                _cleanup_(domain_def_freep) DomainDef *def = parse_ok(xml, true);
                _cleanup_free_ char *out = domain_def_format(def, 0);
                if (!strstr(out, t[i].expect))
                        g_error("expected\n%s\nin\n%s", t[i].expect, out);
        }
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/conf/errors", test_errors);
        g_test_add_func("/conf/too-big", test_too_big);
        g_test_add_func("/conf/format-flags", test_flags);
        g_test_add_func("/conf/copy", test_copy);
        g_test_add_func("/conf/generated-identity", test_generated_identity);
        g_test_add_func("/conf/metadata-verbatim", test_metadata_verbatim);
        g_test_add_func("/conf/escaping", test_escaping);
        g_test_add_func("/conf/cpu-modes", test_cpu_modes);
        return g_test_run();
}
