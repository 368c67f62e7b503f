/* test-cgroup-tune.c — cgroup_limits_apply/read against fake cgroup trees (plain directories and
 * files in a temporary directory laid out as a v2 cgroup and as v1 controllers' cgroups): which
 * file each limit goes to and in which words, v2's shares→weight and memory+swap→swap.max, the
 * refusal when a controller is missing. This host mounts v1 controllers only: the v2 path is
 * tested here, the v1 one also against the real hierarchies by tests/integration/test_tune.py. */
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../qemu/test-helpers.h"
#include "cgroup-tune.h"
#include "fileio.h"
#include "macro.h"

static void put(const char *dir, const char *file, const char *value) {
        _cleanup_free_ char *p = g_build_filename(dir, file, NULL);
        CHECK(write_file_atomic_nosync(p, value, strlen(value), 0644) == 0);
}

static char *get(const char *dir, const char *file) {
        _cleanup_free_ char *p = g_build_filename(dir, file, NULL);
        char *v = NULL;
        if (read_full_file(p, 65536, &v, NULL) < 0)
                return strdup("(missing)");
        return v;
}

#define CHECK_FILE(dir, file, want)                          \
        do {                                                 \
                _cleanup_free_ char *_v = get(dir, file);    \
                CHECK_STREQ(_v, want);                       \
        } while (0)

static void test_v2(const char *tmp) {
        _cleanup_free_ char *dir = g_build_filename(tmp, "v2", NULL);
        char *paths[] = { dir, NULL };
        const CgroupDeviceLimits dev = { .major = 8, .minor = 16, .weight = 300, .read_bps = 1048576,
                                         .write_iops = CGROUP_LIMIT_UNLIMITED };
        CgroupLimits l = {
                .cpu_shares = 2048, .cpu_quota_us = 50000, .memory_hard = 512u << 20, .memory_soft = 256u << 20,
                .memory_swap_hard = 768u << 20, .blkio_weight = 500, .devices = &dev, .n_devices = 1,
                .cpuset_mems = "0",
        }, back;
        _cleanup_free_ char *err = NULL;

        CHECK(mkdir(dir, 0755) == 0);
        put(dir, "cgroup.controllers", "cpuset cpu io memory pids\n");
        put(dir, "cpu.weight", "100\n");
        put(dir, "cpu.max", "max 100000\n");
        put(dir, "memory.max", "max\n");
        put(dir, "memory.high", "max\n");
        put(dir, "memory.swap.max", "max\n");
        put(dir, "io.weight", "default 100\n");
        put(dir, "io.max", "");
        put(dir, "cpuset.mems", "");

        CHECK(cgroup_limits_apply(paths, &l, &err) == 0);
        CHECK_FILE(dir, "cpu.weight", "200");           /* shares 1024 is weight 100 */
        CHECK_FILE(dir, "cpu.max", "50000 100000");     /* the period kept */
        CHECK_FILE(dir, "memory.max", "536870912");
        CHECK_FILE(dir, "memory.high", "268435456");
        CHECK_FILE(dir, "memory.swap.max", "268435456"); /* memory + swap 768 MiB less memory 512 MiB */
        CHECK_FILE(dir, "io.max", "8:16 rbps=1048576 wiops=max");
        CHECK_FILE(dir, "cpuset.mems", "0");
        /* a fake file keeps only the last write: the device weight came after the default one */
        CHECK_FILE(dir, "io.weight", "8:16 300");

        /* only the period: the quota stays; unlimited words */
        put(dir, "io.weight", "default 500\n");
        l = (CgroupLimits) { .cpu_period_us = 20000, .memory_hard = CGROUP_LIMIT_UNLIMITED };
        CHECK(cgroup_limits_apply(paths, &l, &err) == 0);
        CHECK_FILE(dir, "cpu.max", "50000 20000");
        CHECK_FILE(dir, "memory.max", "max");

        CHECK(cgroup_limits_read(paths, &back) == 0);
        CHECK(back.cpu_period_us == 20000);
        CHECK(back.cpu_quota_us == 50000);
        CHECK(back.memory_hard == CGROUP_LIMIT_UNLIMITED);
        CHECK(back.memory_soft == 268435456);
        CHECK(back.memory_swap_hard == CGROUP_LIMIT_UNLIMITED);
        CHECK(back.blkio_weight == 500);
        CHECK(cgroup_weight_to_shares(cgroup_shares_to_weight(1024)) == 1024);
        CHECK(cgroup_shares_to_weight(2) == 1 && cgroup_shares_to_weight(262144) == 10000);
}

static void test_v1(const char *tmp) {
        const char *ctl[] = { "cpu", "memory", "blkio" };
        char *paths[ELEMENTSOF(ctl) + 1] = {};
        const CgroupDeviceLimits dev = { .major = 253, .minor = 0, .write_bps = 4096 };
        CgroupLimits l = { .cpu_shares = 512, .cpu_period_us = 10000, .cpu_quota_us = -1,
                           .memory_hard = 1u << 30, .memory_swap_hard = 2u << 30,
                           .devices = &dev, .n_devices = 1 }, back;
        _cleanup_free_ char *err = NULL;

        for (size_t i = 0; i < ELEMENTSOF(ctl); i++) {
                paths[i] = g_build_filename(tmp, ctl[i], NULL);
                CHECK(mkdir(paths[i], 0755) == 0);
        }
        put(paths[0], "cpu.shares", "1024\n");
        put(paths[0], "cpu.cfs_period_us", "100000\n");
        put(paths[0], "cpu.cfs_quota_us", "-1\n");
        put(paths[1], "memory.limit_in_bytes", "9223372036854771712\n");
        put(paths[1], "memory.soft_limit_in_bytes", "9223372036854771712\n");
        put(paths[1], "memory.memsw.limit_in_bytes", "9223372036854771712\n");
        put(paths[2], "blkio.throttle.write_bps_device", "");

        CHECK(cgroup_limits_apply(paths, &l, &err) == 0);
        CHECK_FILE(paths[0], "cpu.shares", "512");
        CHECK_FILE(paths[0], "cpu.cfs_period_us", "10000");
        CHECK_FILE(paths[0], "cpu.cfs_quota_us", "-1");
        CHECK_FILE(paths[1], "memory.limit_in_bytes", "1073741824");
        CHECK_FILE(paths[1], "memory.memsw.limit_in_bytes", "2147483648");
        CHECK_FILE(paths[2], "blkio.throttle.write_bps_device", "253:0 4096");

        CHECK(cgroup_limits_read(paths, &back) == 0);
        CHECK(back.cpu_shares == 512);
        CHECK(back.memory_hard == 1u << 30);
        CHECK(back.memory_soft == CGROUP_LIMIT_UNLIMITED);

        /* no blkio.weight (no CFQ/BFQ): refused, and nothing else of the call written */
        l = (CgroupLimits) { .cpu_shares = 100, .blkio_weight = 200 };
        CHECK(cgroup_limits_apply(paths, &l, &err) == -EOPNOTSUPP);
        CHECK(err && strstr(err, "blkio.weight"));
        CHECK_FILE(paths[0], "cpu.shares", "512");
        for (size_t i = 0; i < ELEMENTSOF(ctl); i++)
                free(paths[i]);
}

int main(void) {
        char tmp[] = "/tmp/test-cgroup-tune-XXXXXX";
        _cleanup_free_ char *cmd = NULL;

        if (!mkdtemp(tmp))
                return EXIT_FAILURE;
        test_v2(tmp);
        test_v1(tmp);
        cmd = g_strdup_printf("rm -rf '%s'", tmp);
        if (system(cmd) != 0)
                fprintf(stderr, "cannot remove %s\n", tmp);
        return TEST_EXIT();
}
