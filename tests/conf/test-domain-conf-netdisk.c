/* test-domain-conf-netdisk.c — <disk type='network'>: refusals (each an error naming the problem,
 * nothing defined), the source's fields as parsed, copy, and the secret value never formatted. */
#include <errno.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "conf/domain-conf.h"
#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(DomainDef *, domain_def_free);

#define HEAD "<domain type='qemu'>\n<name>t</name>\n<memory>65536</memory>\n<os><type>hvm</type></os>\n"
#define DISK(source, extra) \
        HEAD "<devices>\n<disk type='network' device='disk'>" source "<target dev='vda'/>" extra "</disk>\n</devices>\n</domain>\n"
#define HOST "<host name='127.0.0.1' port='10809'/>"

static const struct {
        const char *xml, *expect;
} cases[] = {
        /* unknown protocol, missing protocol, host, name */
        { DISK("<source protocol='sheepdog' name='x'>" HOST "</source>", ""),
          "invalid value 'sheepdog' for attribute 'protocol' of <source> (allowed: nbd, iscsi, nfs, rbd, gluster)" },
        { DISK("<source name='x'>" HOST "</source>", ""), "disk 'vda': <source> of a network disk needs a 'protocol'" },
        { DISK("", ""), "disk 'vda' needs a <source protocol=" },
        { DISK("<source protocol='nbd' name='x'/>", ""), "disk 'vda': a nbd source needs a <host name=" },
        { DISK("<source protocol='iscsi' name='iqn.2026-12.org.vmgmt:t/0'/>", ""), "a iscsi source needs a <host" },
        { DISK("<source protocol='iscsi'>" HOST "</source>", ""), "an iscsi source needs name='IQN/LUN'" },
        { DISK("<source protocol='iscsi' name='target0/1'>" HOST "</source>", ""), "iscsi name 'target0/1' is not 'IQN/LUN'" },
        { DISK("<source protocol='iscsi' name='iqn.2026-12.org.vmgmt:t/x'>" HOST "</source>", ""), "is not 'IQN/LUN'" },
        { DISK("<source protocol='nfs'>" HOST "</source>", ""), "an nfs source needs name='/export/path/of/the/image'" },
        { DISK("<source protocol='nfs' name='relative/x'>" HOST "</source>", ""), "an nfs source needs name=" },
        { DISK("<source protocol='rbd' name='imageonly'/>", ""), "an rbd source needs name='POOL/IMAGE'" },
        { DISK("<source protocol='rbd' name='pool/img@snap'/>", ""), "a snapshot goes in <snapshot name=" },
        { DISK("<source protocol='gluster' name='volonly'>" HOST "</source>", ""), "a gluster source needs name='VOLUME/PATH'" },
        { DISK("<source protocol='nbd'><host port='10809'/></source>", ""), "<host> needs a 'name'" },
        { DISK("<source protocol='nbd'>" HOST HOST "</source>", ""), "a nbd source has exactly one <host>" },
        { DISK("<source protocol='nbd'><host name='a' port='0'/></source>", ""), "<host port='0'> is not a port" },
        { DISK("<source protocol='nbd'><host name='a' port='70000'/></source>", ""), "port" },
        { DISK("<source protocol='nbd'><host name='a,b'/></source>", ""), "<host name='a,b'> is not a host name or address" },
        { DISK("<source protocol='nbd'><host transport='rdma' name='a'/></source>", ""),
          "invalid value 'rdma' for attribute 'transport' of <host> (allowed: tcp, unix)" },
        { DISK("<source protocol='nbd'><host transport='unix'/></source>", ""), "<host transport='unix'> needs socket='/absolute/path'" },
        { DISK("<source protocol='nbd'><host transport='unix' socket='rel.sock'/></source>", ""), "needs socket='/absolute/path'" },
        { DISK("<source protocol='nbd'><host name='a' socket='/s'/></source>", ""), "'socket' needs <host transport='unix'>" },
        { DISK("<source protocol='iscsi' name='iqn.2026-12.org.vmgmt:t/0'><host transport='unix' socket='/s'/></source>", ""),
          "a iscsi server is not reached through a unix socket" },
        /* protocol-specific children in the wrong place */
        { DISK("<source protocol='nfs' name='/e/x' tls='yes'>" HOST "</source>", ""), "tls= is for nbd sources only" },
        { DISK("<source protocol='nbd'>" HOST "<initiator><iqn name='iqn.2026-12.org.x:c'/></initiator></source>", ""),
          "<initiator> is for iscsi sources only" },
        { DISK("<source protocol='nbd'>" HOST "<config file='/etc/ceph/ceph.conf'/></source>", ""), "<config> is for rbd sources only" },
        { DISK("<source protocol='gluster' name='v/p'>" HOST "<snapshot name='s'/></source>", ""), "<snapshot> is for rbd sources only" },
        { DISK("<source protocol='rbd' name='p/i'><snapshot/></source>", ""), "<snapshot> needs a 'name'" },
        /* <auth>: a secret of the wrong usage type, auth without a secret, … */
        { DISK("<source protocol='rbd' name='p/i'><auth username='admin'><secret type='iscsi' usage='x'/></auth></source>", ""),
          "the <auth> of a rbd source needs <secret type='ceph'>, not 'iscsi'" },
        { DISK("<source protocol='iscsi' name='iqn.2026-12.org.vmgmt:t/0'>" HOST
               "<auth username='u'><secret type='ceph' usage='x'/></auth></source>", ""),
          "the <auth> of a iscsi source needs <secret type='iscsi'>, not 'ceph'" },
        { DISK("<source protocol='rbd' name='p/i'><auth username='admin'><secret type='tls' usage='x'/></auth></source>", ""),
          "<secret type='tls'> is not a disk secret type (ceph, iscsi)" },
        { DISK("<source protocol='rbd' name='p/i'><auth username='admin'/></source>", ""),
          "<auth> needs a <secret type=… usage=…|uuid=…/>" },
        { DISK("<source protocol='rbd' name='p/i'><auth username='admin'><secret type='ceph'/></auth></source>", ""),
          "<secret> of <auth> needs either 'usage' or 'uuid'" },
        { DISK("<source protocol='rbd' name='p/i'><auth username='admin'><secret type='ceph' usage='a' "
               "uuid='3e1e3b0a-5c2d-4a86-9c55-0c8b7a2f4d11'/></auth></source>", ""),
          "needs either 'usage' or 'uuid'" },
        { DISK("<source protocol='rbd' name='p/i'><auth username='admin'><secret type='ceph' uuid='nope'/></auth></source>", ""),
          "<secret uuid='nope'> is not a UUID" },
        { DISK("<source protocol='rbd' name='p/i'><auth><secret type='ceph' usage='a'/></auth></source>", ""),
          "<auth> needs a 'username'" },
        { DISK("<source protocol='rbd' name='p/i'><auth username='a'><secret type='ceph' usage='a'/></auth></source>",
               "<auth username='b'><secret type='ceph' usage='a'/></auth>"),
          "disk 'vda' has more than one <auth>" },
        { DISK("<source protocol='nbd'>" HOST "<auth username='a'><secret type='ceph' usage='a'/></auth></source>", ""),
          "a nbd source takes no <auth>" },
        { HEAD "<devices><disk type='file'><source file='/x'/><auth username='a'><secret type='ceph' usage='a'/></auth>"
               "<target dev='vda'/></disk></devices></domain>",
          "<auth> needs <disk type='network'>" },
        { DISK("<source protocol='nbd' file='/x'>" HOST "</source>", ""), "unknown attribute 'file' of <source>" },
};

static void test_refusals(void) {
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(domain_def_freep) DomainDef *def = NULL;
                ConfError err = {};
                int r = domain_def_parse(cases[i].xml, strlen(cases[i].xml), &def, &err);

                if (r >= 0)
                        g_error("case %zu: expected an error containing \"%s\", got success", i, cases[i].expect);
                g_assert_cmpint(r, ==, -EINVAL);
                g_assert_null(def);
                if (!err.message || !strstr(err.message, cases[i].expect))
                        g_error("case %zu: expected \"%s\" in \"%s\"", i, cases[i].expect, strna(err.message));
                conf_error_clear(&err);
        }
}

static DomainDef *parse_ok(const char *xml) {
        DomainDef *def = NULL;
        ConfError err = {};

        if (domain_def_parse(xml, strlen(xml), &def, &err) < 0)
                g_error("parse failed: %s", err.message);
        return def;
}

static void test_fields(void) {
        static const char xml[] =
                DISK("<source protocol='iscsi' name='iqn.2026-12.org.vmgmt:t/3'><host name='192.0.2.1'/>"
                     "<auth username='chap'><secret type='iscsi' uuid='3E1E3B0A-5C2D-4A86-9C55-0C8B7A2F4D11'/></auth></source>", "");
        _cleanup_(domain_def_freep) DomainDef *def = parse_ok(xml);
        const DomainDiskDef *d = &def->disks[0];

        g_assert_cmpint(d->type, ==, DOMAIN_DISK_TYPE_NETWORK);
        g_assert_null(d->source);
        g_assert_cmpint(d->net.protocol, ==, DOMAIN_DISK_PROTOCOL_ISCSI);
        g_assert_cmpstr(d->net.name, ==, "iqn.2026-12.org.vmgmt:t/3");
        g_assert_cmpuint(d->net.n_hosts, ==, 1);
        g_assert_cmpstr(d->net.hosts[0].name, ==, "192.0.2.1");
        g_assert_cmpuint(domain_disk_host_port(&d->net, &d->net.hosts[0]), ==, 3260);
        g_assert_cmpstr(d->net.auth_username, ==, "chap");
        g_assert_cmpstr(d->net.secret_uuid, ==, "3e1e3b0a-5c2d-4a86-9c55-0c8b7a2f4d11");
        g_assert_cmpstr(domain_disk_protocol_secret_type(d->net.protocol), ==, "iscsi");
}

/* The value the service puts into a start's copy is copied with it and never formatted. */
static void test_secret_value(void) {
        static const char xml[] =
                DISK("<source protocol='rbd' name='p/i'><auth username='admin'><secret type='ceph' usage='c'/></auth></source>", "");
        _cleanup_(domain_def_freep) DomainDef *def = parse_ok(xml);
        _cleanup_(domain_def_freep) DomainDef *copy = NULL;
        _cleanup_free_ char *a = NULL, *b = NULL;

        def->disks[0].net.secret_value = (uint8_t *) g_strdup("AQBsecretkeyvalue==");
        def->disks[0].net.secret_len = strlen("AQBsecretkeyvalue==");
        copy = domain_def_copy(def);
        g_assert_nonnull(copy);
        g_assert_true(copy->disks[0].net.secret_value != def->disks[0].net.secret_value);
        g_assert_cmpmem(copy->disks[0].net.secret_value, copy->disks[0].net.secret_len, "AQBsecretkeyvalue==", 19);
        g_assert_true(copy->disks[0].net.hosts == NULL && copy->disks[0].net.n_hosts == 0);
        a = domain_def_format(def, DOMAIN_FORMAT_SECURE);
        b = domain_def_format(copy, DOMAIN_FORMAT_SECURE);
        g_assert_cmpstr(a, ==, b);
        g_assert_null(strstr(a, "AQBsecret"));
        g_assert_nonnull(strstr(a, "<secret type='ceph' usage='c'/>"));
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/conf/netdisk/refusals", test_refusals);
        g_test_add_func("/conf/netdisk/fields", test_fields);
        g_test_add_func("/conf/netdisk/secret-value", test_secret_value);
        return g_test_run();
}
