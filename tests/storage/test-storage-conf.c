/* test-storage-conf.c — pool and volume XML: round trips, normalization, units and every error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/storage-conf.h"

static unsigned failures;

#define check(cond)                                                                             \
        do {                                                                                    \
                if (!(cond)) {                                                                  \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
                        failures++;                                                             \
                }                                                                               \
        } while (0)

/* parse → normalize → format, twice: the second pass must change nothing. */
static char *pool_roundtrip(const char *xml) {
        StoragePoolDef *def = NULL, *def2 = NULL;
        ConfError err = {};
        char *out, *out2;

        if (storage_pool_def_parse(xml, strlen(xml), &def, &err) < 0) {
                fprintf(stderr, "unexpected pool error: %s\n", err.message);
                conf_error_clear(&err);
                failures++;
                return NULL;
        }
        check(storage_pool_def_normalize(def, &err) == 0);
        out = storage_pool_def_format(def);
        if (storage_pool_def_parse(out, strlen(out), &def2, &err) < 0) {
                fprintf(stderr, "reparse failed: %s\n%s", err.message, out);
                failures++;
                return out;
        }
        check(storage_pool_def_normalize(def2, &err) == 0);
        out2 = storage_pool_def_format(def2);
        if (strcmp(out, out2) != 0) {
                fprintf(stderr, "pool round trip differs:\n%s---\n%s", out, out2);
                failures++;
        }
        StoragePoolDef *copy = storage_pool_def_copy(def2);
        char *out3 = storage_pool_def_format(copy);
        check(strcmp(out3, out2) == 0);
        free(out3);
        storage_pool_def_free(copy);
        free(out2);
        storage_pool_def_free(def);
        storage_pool_def_free(def2);
        return out;
}

static char *vol_roundtrip(const char *xml) {
        StorageVolDef *def = NULL, *def2 = NULL;
        ConfError err = {};
        char *out, *out2;

        if (storage_vol_def_parse(xml, strlen(xml), &def, &err) < 0) {
                fprintf(stderr, "unexpected volume error: %s\n", err.message);
                conf_error_clear(&err);
                failures++;
                return NULL;
        }
        out = storage_vol_def_format(def);
        if (storage_vol_def_parse(out, strlen(out), &def2, &err) < 0) {
                fprintf(stderr, "reparse failed: %s\n%s", err.message, out);
                failures++;
                return out;
        }
        out2 = storage_vol_def_format(def2);
        if (strcmp(out, out2) != 0) {
                fprintf(stderr, "volume round trip differs:\n%s---\n%s", out, out2);
                failures++;
        }
        free(out2);
        storage_vol_def_free(def);
        storage_vol_def_free(def2);
        return out;
}

static void pool_error(const char *xml, const char *expect) {
        StoragePoolDef *def = NULL;
        ConfError err = {};
        int r = storage_pool_def_parse(xml, strlen(xml), &def, &err);
        if (r >= 0 || !err.message || !strstr(err.message, expect)) {
                fprintf(stderr, "pool error: expected '%s', got r=%d '%s' for\n%s\n", expect, r,
                        err.message ? err.message : "(none)", xml);
                failures++;
        }
        storage_pool_def_free(def);
        conf_error_clear(&err);
}

static void vol_error(const char *xml, const char *expect) {
        StorageVolDef *def = NULL;
        ConfError err = {};
        int r = storage_vol_def_parse(xml, strlen(xml), &def, &err);
        if (r >= 0 || !err.message || !strstr(err.message, expect)) {
                fprintf(stderr, "volume error: expected '%s', got r=%d '%s' for\n%s\n", expect, r,
                        err.message ? err.message : "(none)", xml);
                failures++;
        }
        storage_vol_def_free(def);
        conf_error_clear(&err);
}

static void test_pools(void) {
        char *s;

        s = pool_roundtrip("<pool type='dir'><name>p1</name><uuid>12345678123456781234567812345678</uuid>"
                           "<target><path>/var//lib/images/</path><permissions><mode>755</mode><owner>107</owner>"
                           "<group>0</group><label>system_u:object_r:virt_image_t:s0</label></permissions></target></pool>");
        check(s && strcmp(s,
                "<pool type='dir'>\n"
                "  <name>p1</name>\n"
                "  <uuid>12345678-1234-5678-1234-567812345678</uuid>\n"
                "  <capacity unit='bytes'>0</capacity>\n"
                "  <allocation unit='bytes'>0</allocation>\n"
                "  <available unit='bytes'>0</available>\n"
                "  <source/>\n"
                "  <target>\n"
                "    <path>/var/lib/images</path>\n"
                "    <permissions>\n"
                "      <mode>0755</mode>\n"
                "      <owner>107</owner>\n"
                "      <group>0</group>\n"
                "      <label>system_u:object_r:virt_image_t:s0</label>\n"
                "    </permissions>\n"
                "  </target>\n"
                "</pool>\n") == 0);
        free(s);

        s = pool_roundtrip("<pool type='fs'><name>f</name><source><device path='/dev/loop7'/><format type='ext4'/></source>"
                           "<target><path>/mnt/f</path></target></pool>");
        check(s && strstr(s, "<device path='/dev/loop7'/>") && strstr(s, "<format type='ext4'/>") && strstr(s, "<uuid>"));
        free(s);

        s = pool_roundtrip("<pool type='fs'><name>f</name><source><device path='/dev/sdb1'/></source>"
                           "<target><path>/mnt/f</path></target></pool>");
        check(s && strstr(s, "<format type='auto'/>"));
        free(s);

        s = pool_roundtrip("<pool type='netfs'><name>n</name><source><host name='nfs.example.com' port='2049'/>"
                           "<dir path='/export/vms'/><format type='nfs'/></source><target><path>/mnt/n</path></target></pool>");
        check(s && strstr(s, "<host name='nfs.example.com' port='2049'/>") && strstr(s, "<dir path='/export/vms'/>"));
        free(s);

        /* GlusterFS as libvirt has it: the volume name as the dir, normalized */
        s = pool_roundtrip("<pool type='netfs'><name>g</name><source><host name='gluster.example.com' port='24007'/>"
                           "<dir path='/vms//'/><format type='glusterfs'/></source><target><path>/mnt/g/</path></target></pool>");
        check(s && strstr(s, "<host name='gluster.example.com' port='24007'/>") && strstr(s, "<dir path='/vms'/>") &&
              strstr(s, "<format type='glusterfs'/>") && strstr(s, "<path>/mnt/g</path>"));
        free(s);

        s = pool_roundtrip("<pool type='netfs'><name>n</name><source><host name='h'/><dir path='/e'/></source>"
                           "<target><path>/mnt/n</path></target></pool>");
        check(s && strstr(s, "<format type='auto'/>"));
        free(s);

        /* libvirt's output (with capacity numbers and units) is accepted */
        s = pool_roundtrip("<pool type='dir'>\n  <name>default</name>\n  <capacity unit='GiB'>10</capacity>\n"
                           "  <allocation unit='bytes'>5</allocation>\n  <available>7</available>\n  <source>\n  </source>\n"
                           "  <target>\n    <path>/var/lib/libvirt/images</path>\n  </target>\n</pool>\n");
        check(s && strstr(s, "<capacity unit='bytes'>10737418240</capacity>"));
        free(s);

        s = storage_pool_default_xml("/var/lib/vmgmt");
        char *d = pool_roundtrip(s);
        check(d && strstr(d, "<name>default</name>") && strstr(d, "<path>/var/lib/vmgmt/images</path>") &&
              strstr(d, "<mode>0711</mode>"));
        free(s);
        free(d);

        /* errors */
        pool_error("<pool type='dir'><name>p</name></pool>", "missing <target>");
        pool_error("<pool><name>p</name><target><path>/x</path></target></pool>", "requires a type");
        pool_error("<pool type='lvm'><name>p</name><target><path>/x</path></target></pool>", "invalid value 'lvm'");
        pool_error("<pool type='dri'><name>p</name><target><path>/x</path></target></pool>", "did you mean 'dir'");
        pool_error("<pool type='dir'><target><path>/x</path></target></pool>", "missing <name>");
        pool_error("<pool type='dir'><name>a/b</name><target><path>/x</path></target></pool>", "must not contain '/'");
        pool_error("<pool type='dir'><name>..</name><target><path>/x</path></target></pool>", "invalid pool name");
        pool_error("<pool type='dir'><name>p</name><uuid>xyz</uuid><target><path>/x</path></target></pool>", "invalid UUID");
        pool_error("<pool type='dir'><name>p</name><target><path>rel/x</path></target></pool>", "must be absolute");
        pool_error("<pool type='dir'><name>p</name><target><path>/</path></target></pool>", "root directory");
        pool_error("<pool type='dir'><name>p</name><target><pth>/x</pth></target></pool>", "did you mean <path>");
        pool_error("<pool type='dir'><name>p</name>\n<targte><path>/x</path></targte></pool>", "line 2: unknown element <targte>");
        pool_error("<pool type='dir'><name>p</name><target><path>/x</path><permissions><mode>999</mode></permissions></target></pool>",
                   "octal mode");
        pool_error("<pool type='dir'><name>p</name><target><path>/x</path><permissions><owner>qemu</owner></permissions></target></pool>",
                   "numeric id");
        pool_error("<pool type='dir'><name>p</name><source><device path='/dev/sda'/></source><target><path>/x</path></target></pool>",
                   "does not apply to a pool of type 'dir'");
        pool_error("<pool type='fs'><name>p</name><target><path>/x</path></target></pool>", "requires <source><device");
        pool_error("<pool type='fs'><name>p</name><source><device path='dev/sda'/></source><target><path>/x</path></target></pool>",
                   "must be absolute");
        pool_error("<pool type='fs'><name>p</name><source><device path='/dev/sda'/><format type='ntfs'/></source><target><path>/x</path></target></pool>",
                   "invalid value 'ntfs'");
        pool_error("<pool type='netfs'><name>p</name><source><host name='h'/></source><target><path>/x</path></target></pool>",
                   "requires <source><host");
        pool_error("<pool type='netfs'><name>p</name><source><host name='h' port='99999'/><dir path='/e'/></source><target><path>/x</path></target></pool>",
                   "out of range");
        pool_error("<pool type='netfs'><name>p</name><source><host name='h'/><dir path='/e'/><format type='gluster'/></source>"
                   "<target><path>/x</path></target></pool>",
                   "invalid value 'gluster'");
        pool_error("<pool type='netfs'><name>p</name><source><host name='h'/><dir path='/e'/><format type='ext4'/></source>"
                   "<target><path>/x</path></target></pool>",
                   "invalid value 'ext4'");
        pool_error("<pool type='fs'><name>p</name><source><device path='/dev/sda'/><format type='glusterfs'/></source>"
                   "<target><path>/x</path></target></pool>",
                   "invalid value 'glusterfs'");
        pool_error("<pool type='dir'><name>p</name><capacity unit='XB'>1</capacity><target><path>/x</path></target></pool>",
                   "invalid unit 'XB'");
        pool_error("<pool type='dir' foo='1'><name>p</name><target><path>/x</path></target></pool>", "unknown attribute 'foo'");
        pool_error("<pool type='dir'><name>p</name><name>q</name><target><path>/x</path></target></pool>", "duplicate element <name>");
        pool_error("<pool type='dir'><name>p</name>", "malformed XML");
        pool_error("<!DOCTYPE pool [<!ENTITY x 'y'>]><pool type='dir'><name>&x;</name><target><path>/x</path></target></pool>",
                   "DOCTYPE");
        pool_error("<volume><name>p</name></volume>", "root element must be <pool>");
        pool_error("", "empty XML");
}

static void test_volumes(void) {
        char *s;
        StorageVolDef *def = NULL;
        ConfError err = {};

        s = vol_roundtrip("<volume><name>a.img</name><capacity unit='G'>1</capacity><allocation>0</allocation>"
                          "<target><format type='raw'/><permissions><mode>0644</mode></permissions></target></volume>");
        check(s && strcmp(s,
                "<volume type='file'>\n"
                "  <name>a.img</name>\n"
                "  <capacity unit='bytes'>1073741824</capacity>\n"
                "  <allocation unit='bytes'>0</allocation>\n"
                "  <target>\n"
                "    <format type='raw'/>\n"
                "    <permissions>\n"
                "      <mode>0644</mode>\n"
                "    </permissions>\n"
                "  </target>\n"
                "</volume>\n") == 0);
        free(s);

        s = vol_roundtrip("<volume type='file'><name>b.qcow2</name><key>/p/b.qcow2</key><source></source>"
                          "<capacity unit='bytes'>12345</capacity><allocation unit='KiB'>4</allocation><physical unit='bytes'>200704</physical>"
                          "<target><path>/p/b.qcow2</path><format type='qcow2'/><compat>1.1</compat>"
                          "<timestamps><atime>1.5</atime><mtime>2</mtime></timestamps></target>"
                          "<backingStore><path>/p/base.img</path><format type='raw'/><permissions><mode>0600</mode></permissions></backingStore>"
                          "</volume>");
        check(s && strstr(s, "<key>/p/b.qcow2</key>") && strstr(s, "<capacity unit='bytes'>12345</capacity>") &&
              strstr(s, "<allocation unit='bytes'>4096</allocation>") && strstr(s, "<compat>1.1</compat>") &&
              strstr(s, "<backingStore>\n    <path>/p/base.img</path>\n    <format type='raw'/>") && !strstr(s, "timestamps"));
        free(s);

        /* every libvirt unit, SI and binary */
        static const struct { const char *unit; unsigned long long bytes; } units[] = {
                { "b", 1 }, { "bytes", 1 }, { "KB", 1000 }, { "k", 1024 }, { "KiB", 1024 },
                { "MB", 1000000 }, { "M", 1048576 }, { "MiB", 1048576 }, { "GB", 1000000000ull },
                { "G", 1073741824ull }, { "GiB", 1073741824ull }, { "TB", 1000000000000ull },
                { "T", 1099511627776ull }, { "TiB", 1099511627776ull }, { "PB", 1000000000000000ull },
                { "P", 1125899906842624ull }, { "EB", 1000000000000000000ull }, { "E", 1152921504606846976ull },
        };
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
                uint64_t v = 0;
                check(storage_parse_size("1", units[i].unit, &v) == 0 && v == units[i].bytes);
        }
        uint64_t v;
        check(storage_parse_size("17", "E", &v) == -ERANGE);
        check(storage_parse_size("1", "Q", &v) == -EINVAL);
        check(storage_parse_size("-1", NULL, &v) == -EINVAL);
        check(storage_parse_size("5", NULL, &v) == 0 && v == 5);

        check(storage_vol_def_parse("<volume><name>x</name><capacity unit='GB'>1</capacity></volume>", 63, &def, &err) == 0);
        check(def && def->capacity == 1000000000ull && !def->has_format);
        storage_vol_def_free(def);

        /* names */
        const char *reason;
        check(storage_vol_name_validate("disk.qcow2", &reason) == 0);
        check(storage_vol_name_validate("..", &reason) < 0);
        check(storage_vol_name_validate("../etc/passwd", &reason) < 0);
        check(storage_vol_name_validate(".hidden", &reason) < 0);
        check(storage_vol_name_validate("a\nb", &reason) < 0);

        vol_error("<volume><capacity>1</capacity></volume>", "missing <name>");
        vol_error("<volume><name>../x</name><capacity>1</capacity></volume>", "must not contain '/'");
        vol_error("<volume><name>..</name><capacity>1</capacity></volume>", "invalid volume name");
        vol_error("<volume><name>.x.partial-000000</name><capacity>1</capacity></volume>", "must not begin with '.'");
        vol_error("<volume><name>x</name></volume>", "missing <capacity>");
        vol_error("<volume><name>x</name><capacity unit='GX'>1</capacity></volume>", "invalid unit 'GX'");
        vol_error("<volume><name>x</name><capacity>1.5</capacity></volume>", "not an unsigned number");
        vol_error("<volume><name>x</name><capacity unit='E'>100</capacity></volume>", "too large");
        vol_error("<volume><name>x</name><capacity>1</capacity><target><format type='qcow3'/></target></volume>",
                  "did you mean 'qcow2'");
        vol_error("<volume><name>x</name><capacity>1</capacity><target><fromat type='raw'/></target></volume>",
                  "did you mean <format>");
        vol_error("<volume><name>x</name><capacity>1</capacity><target><format type='raw'/><compat>1.1</compat></target></volume>",
                  "applies only to format qcow2");
        vol_error("<volume><name>x</name><capacity>1</capacity><target><format type='qcow2'/><compat>2</compat></target></volume>",
                  "invalid <compat>");
        vol_error("<volume><name>x</name><capacity>1</capacity><backingStore><format type='raw'/></backingStore></volume>",
                  "missing <path> in <backingStore>");
        vol_error("<volume><name>x</name><capacity>1</capacity><backingStore><path>base</path></backingStore></volume>",
                  "must be absolute");
        vol_error("<volume type='network'><name>x</name><capacity>1</capacity></volume>", "invalid value 'network'");
        vol_error("<volume><name>x</name><capacity>1</capacity><capacity>2</capacity></volume>", "duplicate element");
        vol_error("<volume><name>x</name><capacity>1</capacity><target><permissions><mode>abc</mode></permissions></target></volume>",
                  "octal mode");
        vol_error("<pool/>", "root element must be <volume>");
}

int main(void) {
        test_pools();
        test_volumes();
        if (failures) {
                fprintf(stderr, "%u failure(s)\n", failures);
                return 1;
        }
        printf("ok\n");
        return 0;
}
