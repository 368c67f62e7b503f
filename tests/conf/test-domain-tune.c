/* test-domain-tune.c — <cputune>, <memtune>, <blkiotune>, <numatune>: what parses into DomainTuneDef,
 * the canonical form (libvirt's element order, units in KiB, cpusets canonical) and its round trip,
 * the deep copy, cpuset parsing, and the errors; the global and emulator bandwidth, <perf>. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "../qemu/test-helpers.h"
#include "conf/domain-conf.h"
#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(DomainDef *, domain_def_free);

static const char tuned[] =
        "<domain type='qemu'><name>t</name><memory unit='MiB'>256</memory><vcpu current='2'>4</vcpu>"
        "<cputune><shares>2048</shares><period>20000</period><quota>-1</quota>"
        "<vcpupin vcpu='1' cpuset='3,1-2,^2'/><vcpupin vcpu='0' cpuset='0'/><emulatorpin cpuset='0-3'/></cputune>"
        "<memtune><hard_limit unit='G'>1</hard_limit><soft_limit>524288</soft_limit>"
        "<swap_hard_limit unit='MiB'>2048</swap_hard_limit></memtune>"
        "<blkiotune><weight>500</weight><device><path>/dev/sda</path><weight>300</weight>"
        "<read_bytes_sec>1048576</read_bytes_sec><write_iops_sec>50</write_iops_sec></device></blkiotune>"
        "<numatune><memory mode='interleave' nodeset='1,0'/></numatune>"
        "<os><type>hvm</type></os></domain>";

static const char tuned_canonical[] =
        "  <memory unit='KiB'>262144</memory>\n"
        "  <blkiotune>\n"
        "    <weight>500</weight>\n"
        "    <device>\n"
        "      <path>/dev/sda</path>\n"
        "      <weight>300</weight>\n"
        "      <read_bytes_sec>1048576</read_bytes_sec>\n"
        "      <write_iops_sec>50</write_iops_sec>\n"
        "    </device>\n"
        "  </blkiotune>\n"
        "  <memtune>\n"
        "    <hard_limit unit='KiB'>1048576</hard_limit>\n"
        "    <soft_limit unit='KiB'>524288</soft_limit>\n"
        "    <swap_hard_limit unit='KiB'>2097152</swap_hard_limit>\n"
        "  </memtune>\n"
        "  <vcpu current='2'>4</vcpu>\n"
        "  <cputune>\n"
        "    <shares>2048</shares>\n"
        "    <period>20000</period>\n"
        "    <quota>-1</quota>\n"
        "    <vcpupin vcpu='1' cpuset='1,3'/>\n"
        "    <vcpupin vcpu='0' cpuset='0'/>\n"
        "    <emulatorpin cpuset='0-3'/>\n"
        "  </cputune>\n"
        "  <numatune>\n"
        "    <memory mode='interleave' nodeset='0-1'/>\n"
        "  </numatune>\n";

static void test_parse_format_copy(void) {
        _cleanup_(domain_def_freep) DomainDef *def = NULL, *again = NULL, *copy = NULL;
        _cleanup_free_ char *xml = NULL, *xml2 = NULL, *xml3 = NULL;
        ConfError err = {};

        CHECK(domain_def_parse(tuned, strlen(tuned), &def, &err) == 0);
        if (!def) {
                fprintf(stderr, "parse: %s\n", err.message);
                return;
        }
        CHECK(def->tune.shares == 2048 && def->tune.period == 20000 && def->tune.quota == -1);
        CHECK(def->tune.n_vcpupins == 2);
        CHECK_STREQ(domain_tune_vcpupin(&def->tune, 1)->cpuset, "1,3");
        CHECK(def->tune.hard_limit_kib == 1048576 && def->tune.soft_limit_kib == 524288 &&
              def->tune.swap_hard_limit_kib == 2097152);
        CHECK(def->tune.blkio_weight == 500 && def->tune.n_blkio_devices == 1);
        CHECK(def->tune.blkio_devices[0].read_bytes_sec == 1048576 && def->tune.blkio_devices[0].write_iops_sec == 50);
        CHECK_STREQ(def->tune.numa_mode, "interleave");
        xml = domain_def_format(def, DOMAIN_FORMAT_INACTIVE);
        CHECK(xml && strstr(xml, tuned_canonical));
        if (xml && !strstr(xml, tuned_canonical))
                fprintf(stderr, "canonical form:\n%s", xml);
        /* the canonical form parses into itself */
        CHECK(domain_def_parse(xml, strlen(xml), &again, &err) == 0);
        xml2 = again ? domain_def_format(again, DOMAIN_FORMAT_INACTIVE) : NULL;
        CHECK_STREQ(xml2, xml);
        /* the copy owns its own pins and devices */
        copy = domain_def_copy(def);
        CHECK(copy != NULL);
        if (!copy)
                return;
        CHECK(domain_tune_set_vcpupin(&copy->tune, 1, NULL) == 0);
        free(copy->tune.blkio_devices[0].path);
        copy->tune.blkio_devices[0].path = strdup("/dev/sdb");
        CHECK(domain_tune_vcpupin(&def->tune, 1) != NULL);
        CHECK_STREQ(def->tune.blkio_devices[0].path, "/dev/sda");
        xml3 = domain_def_format(copy, DOMAIN_FORMAT_INACTIVE);
        CHECK(xml3 && !strstr(xml3, "vcpupin vcpu='1'") && strstr(xml3, "<path>/dev/sdb</path>"));
        conf_error_clear(&err);
}

static void test_cpusets(void) {
        uint8_t mask[DOMAIN_CPUSET_MAX / 8];
        _cleanup_free_ char *a = NULL;

        CHECK(domain_cpuset_parse("0-7,^3,^5,^6,10", mask) == 0);
        a = domain_cpuset_format(mask);
        CHECK_STREQ(a, "0-2,4,7,10");
        CHECK(domain_cpuset_parse("", mask) == -EINVAL);
        CHECK(domain_cpuset_parse("^1", mask) == -EINVAL);
        CHECK(domain_cpuset_parse("0,^0", mask) == -EINVAL);
        CHECK(domain_cpuset_parse("3-1", mask) == -EINVAL);
        CHECK(domain_cpuset_parse("4096", mask) == -EINVAL);
        CHECK(domain_cpuset_parse("1-x", mask) == -EINVAL);
        CHECK(domain_cpuset_parse("^5-6", mask) == -EINVAL);   /* as libvirt: a negation names one CPU */
        CHECK(domain_cpuset_parse(" 2 , 4 ", mask) == 0);
}

static void test_errors(void) {
        static const struct { const char *inner; const char *message; } cases[] = {
                { "<cputune><vcpupin vcpu='2' cpuset='0'/></cputune>", "below the vCPU count 2" },
                { "<cputune><vcpupin vcpu='0' cpuset='0'/><vcpupin vcpu='0' cpuset='1'/></cputune>", "duplicate <vcpupin" },
                { "<cputune><vcpupin vcpu='0' cpuset='9-1'/></cputune>", "invalid cpuset '9-1'" },
                { "<cputune><emulatorpin/></cputune>", "needs a 'cpuset'" },
                { "<cputune><shares>1</shares></cputune>", "<shares> must be between 2 and 262144" },
                { "<cputune><quota>5</quota></cputune>", "<quota> must be -1" },
                { "<cputune><period>100</period></cputune>", "<period> must be between" },
                { "<cputune><global_quota>5</global_quota></cputune>", "<global_quota> must be -1" },
                { "<cputune><emulator_period>2000000</emulator_period></cputune>", "<emulator_period>" },
                { "<perf><event name='cpu_cycle' enabled='yes'/></perf>", "cpu_cycle" },
                { "<perf><event name='cpu_cycles'/></perf>", "needs a 'name' and 'enabled'" },
                { "<perf><event name='page_faults' enabled='yes'/><event name='page_faults' enabled='no'/></perf>",
                  "duplicate <perf><event name='page_faults'>" },
                { "<cputune><iothreadpin iothread='1' cpuset='0'/></cputune>", "<iothreadpin> needs an 'iothread' of" },
                { "<iothreads>1</iothreads><cputune><iothreadpin iothread='1'/></cputune>", "<iothreadpin> needs a 'cpuset'" },
                { "<iothreads>1</iothreads><iothreadids><iothread id='1'/><iothread id='2'/></iothreadids>",
                  "less than the 2 <iothreadids>" },
                { "<iothreadids><iothread id='0'/></iothreadids>", "an 'id' above 0" },
                { "<memtune><hard_limit unit='parsec'>1</hard_limit></memtune>", "invalid <hard_limit>" },
                { "<blkiotune><weight>50</weight></blkiotune>", "between 100 and 1000" },
                { "<blkiotune><device><weight>200</weight></device></blkiotune>", "needs a <path>" },
                { "<blkiotune><device><path>sda</path></device></blkiotune>", "must be absolute" },
                { "<numatune><memory mode='strict'/></numatune>", "needs a 'nodeset'" },
                { "<numatune><memory mode='loose' nodeset='0'/></numatune>", "mode" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(domain_def_freep) DomainDef *def = NULL;
                _cleanup_free_ char *xml = g_strdup_printf("<domain type='qemu'><name>e</name><memory>65536</memory>"
                                                           "<vcpu>2</vcpu>%s<os><type>hvm</type></os></domain>",
                                                           cases[i].inner);
                ConfError err = {};

                CHECK(domain_def_parse(xml, strlen(xml), &def, &err) == -EINVAL);
                CHECK(err.message && strstr(err.message, cases[i].message));
                if (!err.message || !strstr(err.message, cases[i].message))
                        fprintf(stderr, "case %zu: %s\n", i, strna(err.message));
                conf_error_clear(&err);
        }
}

/* <global_*>, <emulator_*> of <cputune>, <perf>: parsed, formatted in libvirt's order, round trip */
static void test_bandwidth_and_perf(void) {
        static const char in[] =
                "<domain type='qemu'><name>b</name><memory>65536</memory><vcpu>2</vcpu>"
                "<cputune><emulator_quota>-1</emulator_quota><quota>30000</quota><emulator_period>20000</emulator_period>"
                "<global_quota>200000</global_quota><global_period>100000</global_period></cputune>"
                "<os><type>hvm</type></os>"
                "<perf><event name='task_clock' enabled='yes'/><event name='cpu_cycles' enabled='no'/></perf></domain>";
        static const char cputune[] =
                "  <cputune>\n"
                "    <global_period>100000</global_period>\n"
                "    <global_quota>200000</global_quota>\n"
                "    <quota>30000</quota>\n"
                "    <emulator_period>20000</emulator_period>\n"
                "    <emulator_quota>-1</emulator_quota>\n"
                "  </cputune>\n";
        static const char perf[] =
                "  <perf>\n"
                "    <event name='cpu_cycles' enabled='no'/>\n"
                "    <event name='task_clock' enabled='yes'/>\n"
                "  </perf>\n"
                "  <devices>";
        _cleanup_(domain_def_freep) DomainDef *def = NULL, *again = NULL;
        _cleanup_free_ char *xml = NULL, *xml2 = NULL;
        ConfError err = {};

        CHECK(domain_def_parse(in, strlen(in), &def, &err) == 0);
        if (!def)
                return;
        CHECK(def->tune.global_period == 100000 && def->tune.global_quota == 200000);
        CHECK(def->tune.emulator_period == 20000 && def->tune.emulator_quota == -1);
        CHECK(def->tune.quota == 30000 && def->tune.period == 0);
        CHECK(def->tune.perf_enabled == 1u << 14 && def->tune.perf_disabled == 1u << 3);   /* task_clock, cpu_cycles */
        xml = domain_def_format(def, DOMAIN_FORMAT_INACTIVE);
        CHECK(xml && strstr(xml, cputune) && strstr(xml, perf));
        if (xml && (!strstr(xml, cputune) || !strstr(xml, perf)))
                fprintf(stderr, "got:\n%s", xml);
        CHECK(domain_def_parse(xml, strlen(xml), &again, &err) == 0);
        xml2 = again ? domain_def_format(again, DOMAIN_FORMAT_INACTIVE) : NULL;
        CHECK_STREQ(xml2, xml);
}

/* <iothreads>, <iothreadids> (unlisted ones get the lowest free ids), <iothreadpin>, <driver iothread=> */
static void test_iothreads(void) {
        static const char in[] =
                "<domain type='qemu'><name>i</name><memory>65536</memory><vcpu>1</vcpu>"
                "<iothreads>3</iothreads><iothreadids><iothread id='2'/></iothreadids>"
                "<cputune><iothreadpin iothread='1' cpuset='1,0'/></cputune><os><type>hvm</type></os>"
                "<devices><disk type='file' device='disk'><driver name='qemu' type='raw' iothread='2'/>"
                "<source file='/x.img'/><target dev='vda' bus='virtio'/></disk></devices></domain>";
        static const char head[] =
                "  <iothreads>3</iothreads>\n"
                "  <iothreadids>\n"
                "    <iothread id='2'/>\n"
                "    <iothread id='1'/>\n"
                "    <iothread id='3'/>\n"
                "  </iothreadids>\n"
                "  <cputune>\n"
                "    <iothreadpin iothread='1' cpuset='0-1'/>\n"
                "  </cputune>\n";
        _cleanup_(domain_def_freep) DomainDef *def = NULL, *again = NULL, *copy = NULL;
        _cleanup_free_ char *xml = NULL, *xml2 = NULL, *xml3 = NULL;
        ConfError err = {};

        CHECK(domain_def_parse(in, strlen(in), &def, &err) == 0);
        if (!def)
                return;
        CHECK(def->tune.n_iothreads == 3 && def->tune.iothread_ids[0] == 2 && def->tune.iothread_ids[1] == 1 &&
              def->tune.iothread_ids[2] == 3);
        CHECK(domain_tune_has_iothread(&def->tune, 3) && !domain_tune_has_iothread(&def->tune, 4));
        CHECK_STREQ(domain_tune_iothreadpin(&def->tune, 1)->cpuset, "0-1");
        CHECK(def->n_disks == 1 && def->disks[0].driver_iothread == 2);
        xml = domain_def_format(def, DOMAIN_FORMAT_INACTIVE);
        CHECK(xml && strstr(xml, head) && strstr(xml, "<driver name='qemu' type='raw' iothread='2'/>"));
        if (xml && !strstr(xml, head))
                fprintf(stderr, "got:\n%s", xml);
        CHECK(domain_def_parse(xml, strlen(xml), &again, &err) == 0);
        xml2 = again ? domain_def_format(again, DOMAIN_FORMAT_INACTIVE) : NULL;
        CHECK_STREQ(xml2, xml);
        copy = domain_def_copy(def);
        xml3 = copy ? domain_def_format(copy, DOMAIN_FORMAT_INACTIVE) : NULL;
        CHECK_STREQ(xml3, xml);
}

int main(void) {
        test_parse_format_copy();
        test_iothreads();
        test_bandwidth_and_perf();
        test_cpusets();
        test_errors();
        return TEST_EXIT();
}
