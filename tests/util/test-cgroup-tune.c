/* test-cgroup-tune.c — cgroup_limits_apply/read against fake cgroup trees (plain directories and
 * files in a temporary directory laid out as a v2 cgroup and as v1 controllers' cgroups): which
 * file each limit goes to and in which words, v2's shares→weight and memory+swap→swap.max, the
 * refusal when a controller is missing; the thread groups (emulator/, vcpuN/) of cgroup-util: v2's
 * threaded type and the threaded controllers only, v1 only in cpu/cpuacct/cpuset, where a
 * thread or a process is written, each group's bandwidth and cpuset. This host mounts v1 controllers only: the v2 path is
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
#include "cgroup-util.h"
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

/* A thread group as cgroup_thread_group() finds it on v2 (the kernel makes a new directory's files: the
 * fake has them made before) */
static void test_thread_groups_v2(const char *tmp) {
        _cleanup_free_ char *dir = g_build_filename(tmp, "tg2", NULL), *sub = g_build_filename(dir, "vcpu0", NULL);
        _cleanup_free_ char *err = NULL, *control = NULL, *cpus = NULL;
        char *paths[] = { dir, NULL };
        g_auto(GStrv) groups = NULL;
        CgroupLimits l = { .cpu_period_us = 50000, .cpu_quota_us = 150000, .cpuset_cpus = "1" };

        CHECK(mkdir(dir, 0755) == 0);
        put(dir, "cgroup.controllers", "cpuset cpu io memory pids\n");
        put(dir, "cgroup.subtree_control", "");
        put(dir, "cpuset.cpus.effective", "0-3\n");
        CHECK(mkdir(sub, 0755) == 0);
        put(sub, "cgroup.type", "domain\n");
        put(sub, "cgroup.controllers", "cpuset cpu\n");
        put(sub, "cgroup.threads", "");
        put(sub, "cgroup.procs", "");
        put(sub, "cpu.max", "max 100000\n");
        put(sub, "cpuset.cpus", "");

        CHECK(cgroup_thread_group(paths, "vcpu0", &groups, &err) == 0);
        CHECK(groups && groups[0] && !groups[1]);
        CHECK_STREQ(groups[0], sub);
        CHECK_FILE(sub, "cgroup.type", "threaded");
        /* only threaded controllers below a threaded domain (the fake keeps the last write) */
        control = get(dir, "cgroup.subtree_control");
        CHECK(strstr(control, "+cpu") && !strstr(control, "memory") && !strstr(control, "io") && !strstr(control, "pids"));
        CHECK(cgroup_thread_group_attach(groups, 4242, false, &err) == 0);
        CHECK_FILE(sub, "cgroup.threads", "4242");
        CHECK_FILE(sub, "cgroup.procs", "");
        CHECK(cgroup_thread_group_attach(groups, 4241, true, &err) == 0);
        CHECK_FILE(sub, "cgroup.procs", "4241");
        CHECK(cgroup_limits_apply(groups, &l, &err) == 0);
        CHECK_FILE(sub, "cpu.max", "150000 50000");
        CHECK_FILE(sub, "cpuset.cpus", "1");
        cpus = cgroup_cpuset_cpus(paths);
        CHECK_STREQ(cpus, "0-3");
        CHECK(cgroup_thread_group(paths, "../x", &groups, &err) == -EINVAL);
}

/* v1: the groups go to the cpu, cpuacct and cpuset hierarchies only (not a unified one without cpu or
 * cpuset), with the parent's cpuset */
static void test_thread_groups_v1(const char *tmp) {
        const char *ctl[] = { "cpu", "memory", "cpuset", "unified" };   /* a hybrid host's v2 with hugetlb only */
        char *paths[ELEMENTSOF(ctl) + 1] = {};
        _cleanup_free_ char *err = NULL, *cpus = NULL;
        g_auto(GStrv) groups = NULL;
        CgroupLimits l = { .cpu_period_us = 20000, .cpu_quota_us = 60000 };

        for (size_t i = 0; i < ELEMENTSOF(ctl); i++) {
                paths[i] = g_build_filename(tmp, "tg1", ctl[i], NULL);
                CHECK(g_mkdir_with_parents(paths[i], 0755) == 0);
        }
        put(paths[0], "cpu.shares", "1024\n");
        put(paths[1], "memory.limit_in_bytes", "9223372036854771712\n");
        put(paths[2], "cpuset.cpus", "0-1");
        put(paths[2], "cpuset.mems", "0");
        put(paths[3], "cgroup.controllers", "hugetlb\n");

        CHECK(cgroup_thread_group(paths, "emulator", &groups, &err) == 0);
        CHECK(g_strv_length(groups) == 2);
        CHECK(g_str_has_prefix(groups[0], paths[0]) && g_str_has_suffix(groups[0], "/emulator"));
        CHECK(g_str_has_prefix(groups[1], paths[2]) && g_str_has_suffix(groups[1], "/emulator"));
        {
                _cleanup_free_ char *mem_group = g_build_filename(paths[1], "emulator", NULL);
                CHECK(access(mem_group, F_OK) < 0);
                _cleanup_free_ char *unified_group = g_build_filename(paths[3], "emulator", NULL);
                CHECK(access(unified_group, F_OK) < 0);
        }
        /* the kernel would copy nothing: the fake has the files, made empty as v1 makes them */
        put(groups[1], "cpuset.cpus", "");
        put(groups[1], "cpuset.mems", "");
        g_strfreev(groups);
        groups = NULL;
        CHECK(cgroup_thread_group(paths, "emulator", &groups, &err) == 0);
        CHECK_FILE(groups[1], "cpuset.cpus", "0-1");
        CHECK_FILE(groups[1], "cpuset.mems", "0");
        put(groups[0], "tasks", "");
        put(groups[0], "cgroup.procs", "");
        put(groups[1], "tasks", "");
        put(groups[1], "cgroup.procs", "");
        CHECK(cgroup_thread_group_attach(groups, 77, false, &err) == 0);
        CHECK_FILE(groups[0], "tasks", "77");
        CHECK_FILE(groups[1], "tasks", "77");
        CHECK_FILE(groups[0], "cgroup.procs", "");
        put(groups[0], "cpu.cfs_period_us", "100000\n");
        put(groups[0], "cpu.cfs_quota_us", "-1\n");
        CHECK(cgroup_limits_apply(groups, &l, &err) == 0);
        CHECK_FILE(groups[0], "cpu.cfs_period_us", "20000");
        CHECK_FILE(groups[0], "cpu.cfs_quota_us", "60000");
        cpus = cgroup_cpuset_cpus(paths);
        CHECK_STREQ(cpus, "0-1");
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
        test_thread_groups_v2(tmp);
        test_thread_groups_v1(tmp);
        cmd = g_strdup_printf("rm -rf '%s'", tmp);
        if (system(cmd) != 0)
                fprintf(stderr, "cannot remove %s\n", tmp);
        return TEST_EXIT();
}
