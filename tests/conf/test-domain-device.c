/* test-domain-device.c — domain_device_parse(): the XML of one device as AttachDevice, DetachDevice and
 * UpdateDevice take it (one <disk>, <interface>, <controller> or <lease>, validated as in a <devices>, errors
 * naming the caller's line), and an interface's user alias kept through parse, copy and format. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/domain-conf.h"

static unsigned failures, checked;

#define CHECK(cond, ...)                                                  \
        do {                                                              \
                checked++;                                                \
                if (!(cond)) {                                            \
                        failures++;                                       \
                        fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);  \
                        fprintf(stderr, __VA_ARGS__);                     \
                        fputc('\n', stderr);                              \
                }                                                         \
        } while (0)

static int parse(const char *xml, DomainDef **ret, DomainDeviceKind *kind, char **ret_msg) {
        ConfError err = {};
        int r = domain_device_parse(xml, strlen(xml), ret, kind, &err);

        *ret_msg = err.message ? strdup(err.message) : NULL;
        conf_error_clear(&err);
        return r;
}

static void expect_error(const char *xml, const char *needle) {
        DomainDef *def = NULL;
        DomainDeviceKind kind;
        char *msg = NULL;
        int r = parse(xml, &def, &kind, &msg);

        CHECK(r < 0, "accepted: %s", xml);
        CHECK(!def, "a definition on failure: %s", xml);
        CHECK(msg && strstr(msg, needle), "%s: message %s lacks '%s'", xml, msg ? msg : "(none)", needle);
        domain_def_free(def);
        free(msg);
}

int main(void) {
        DomainDef *def = NULL;
        DomainDeviceKind kind = _DOMAIN_DEVICE_KIND_MAX;
        char *msg = NULL, *out;
        int r;

        r = parse("<?xml version='1.0'?>\n<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                  "<source file='/var/lib/images/b.qcow2'/><target dev='vdb' bus='virtio'/></disk>\n",
                  &def, &kind, &msg);
        CHECK(r == 0, "disk refused: %s", msg ? msg : "");
        CHECK(kind == DOMAIN_DEVICE_DISK, "kind %d", kind);
        CHECK(def && def->n_disks == 1 && def->n_nets == 0 && def->n_controllers == 0, "not one disk");
        CHECK(def && def->n_disks == 1 && strcmp(def->disks[0].target_dev, "vdb") == 0 &&
              strcmp(def->disks[0].source, "/var/lib/images/b.qcow2") == 0 &&
              strcmp(def->disks[0].driver_type, "qcow2") == 0, "disk fields");
        domain_def_free(def);
        free(msg);
        def = NULL, msg = NULL;

        r = parse("<interface type='network'><mac address='52:54:00:AA:BB:01'/><source network='default'/>"
                  "<model type='virtio'/><alias name='ua-nic1'/></interface>", &def, &kind, &msg);
        CHECK(r == 0 && kind == DOMAIN_DEVICE_NET && def->n_nets == 1, "interface refused: %s", msg ? msg : "");
        if (r == 0) {
                DomainDef *copy;
                CHECK(strcmp(def->nets[0].mac, "52:54:00:aa:bb:01") == 0, "mac %s", def->nets[0].mac);
                CHECK(def->nets[0].alias && strcmp(def->nets[0].alias, "ua-nic1") == 0, "alias lost");
                /* the alias survives a copy and formats as a disk's does */
                copy = domain_def_copy(def);
                CHECK(copy && copy->nets[0].alias && strcmp(copy->nets[0].alias, "ua-nic1") == 0, "copy lost the alias");
                copy->name = strdup("x");
                out = domain_def_format(copy, 0);
                CHECK(out && strstr(out, "<alias name='ua-nic1'/>"), "formatted without the alias: %s", out ? out : "");
                free(out);
                domain_def_free(copy);
        }
        domain_def_free(def);
        free(msg);
        def = NULL, msg = NULL;

        /* a libvirt alias ("net0") is a runtime name, not configuration */
        r = parse("<interface type='user'><alias name='net0'/></interface>", &def, &kind, &msg);
        CHECK(r == 0 && def->nets[0].alias == NULL, "runtime alias kept");
        domain_def_free(def);
        free(msg);
        def = NULL, msg = NULL;

        r = parse("  <!-- a comment --> <controller type='scsi' index='1' model='virtio-scsi'/>\n", &def, &kind, &msg);
        CHECK(r == 0 && kind == DOMAIN_DEVICE_CONTROLLER && def->n_controllers == 1 && def->controllers[0].index == 1,
              "controller refused: %s", msg ? msg : "");
        domain_def_free(def);
        free(msg);
        def = NULL, msg = NULL;

        /* a libvirt <lease>, as AttachDevice takes it */
        r = parse("<lease><lockspace>space</lockspace><key>k1</key><target path='/var/lib/vmgmt/leases/space-k1' "
                  "offset='1024'/></lease>", &def, &kind, &msg);
        CHECK(r == 0, "lease refused: %s", msg ? msg : "");
        CHECK(kind == DOMAIN_DEVICE_LEASE, "kind %d", kind);
        CHECK(def && def->n_leases == 1 && def->n_disks == 0 && strcmp(def->leases[0].key, "k1") == 0 &&
              strcmp(def->leases[0].lockspace, "space") == 0 &&
              strcmp(def->leases[0].target_path, "/var/lib/vmgmt/leases/space-k1") == 0 &&
              def->leases[0].target_offset == 1024, "lease fields");
        CHECK(strcmp(domain_device_kind_to_string(DOMAIN_DEVICE_LEASE), "lease") == 0, "kind name");
        domain_def_free(def);
        free(msg);
        def = NULL, msg = NULL;
        expect_error("", "no element");
        expect_error("<disk type='file'><target dev='vda'/></disk><disk type='file'/>", "one element, not 2");
        expect_error("<serial type='pty'/>", "<serial> is not a device that can be attached");
        expect_error("<disk type='file'><bogus/></disk>", "bogus");
        expect_error("<disk", "malformed XML");
        expect_error("text <controller type='scsi'/>", "text outside the device element");
        expect_error("<devices><disk type='file'/></devices>", "<devices> is not a device");
        expect_error("<!DOCTYPE x [<!ENTITY e 'x'>]><controller type='scsi'/>", "malformed XML");   /* a DOCTYPE cannot be inside */
        expect_error("<interface type='network'><mac address='zz'/></interface>", "invalid MAC address");
        CHECK(strcmp(domain_device_kind_to_string(DOMAIN_DEVICE_NET), "interface") == 0, "kind name");

        printf("%u checks, %u failed\n", checked, failures);
        return failures ? 1 : 0;
}
