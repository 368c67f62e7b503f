/* cgroup-tune.c — resource limits in a process tree's cgroup, v2 files or v1 controllers'. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup-tune.h"
#include "fileio.h"
#include "macro.h"

/* The defaults meet: shares 1024 is weight 100. */
uint64_t cgroup_shares_to_weight(uint64_t shares) {
        return CLAMP(shares * 100 / 1024, 1, 10000);
}

uint64_t cgroup_weight_to_shares(uint64_t weight) {
        return CLAMP(weight * 1024 / 100, 2, 262144);
}

/* The directory among paths that has `file`, or NULL. */
static const char *dir_with(char *const *paths, const char *file) {
        for (char *const *p = paths; p && *p; p++) {
                _cleanup_free_ char *f = g_build_filename(*p, file, NULL);
                if (access(f, F_OK) == 0)
                        return *p;
        }
        return NULL;
}

typedef struct Write {
        const char *dir;
        const char *file;
        char *value;
} Write;

static void writes_free(GArray *w) {
        for (guint i = 0; i < w->len; i++)
                free(g_array_index(w, Write, i).value);
        g_array_free(w, true);
}

static int write_one(const Write *w, char **ret_error) {
        _cleanup_free_ char *path = g_build_filename(w->dir, w->file, NULL);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);   /* O_TRUNC: no-op on cgroupfs */
        int r;

        r = fd < 0 ? -errno : write_full(fd, w->value, strlen(w->value));
        if (r < 0 && ret_error) {
                free(*ret_error);
                *ret_error = g_strdup_printf("cannot write '%s' to %s: %s", w->value, path, strerror(-r));
        }
        return r;
}

static char *read_value(const char *dir, const char *file) {
        _cleanup_free_ char *path = g_build_filename(dir, file, NULL);
        char *buf = NULL;

        if (read_full_file(path, 65536, &buf, NULL) < 0)
                return NULL;
        g_strstrip(buf);
        return buf;
}

/* Adds a write of `file` (the first name any directory has among v2 and v1)
 * or notes the missing controller. */
static const char *plan(GArray *w, char *const *paths, const char *v2, const char *v1, char *value, char **missing) {
        const char *dir = v2 ? dir_with(paths, v2) : NULL;
        const char *file = v2;

        if (!dir && v1) {
                dir = dir_with(paths, v1);
                file = v1;
        }
        if (!dir) {
                if (!*missing)
                        *missing = g_strdup(v2 ?: v1);
                free(value);
                return NULL;
        }
        g_array_append_val(w, ((Write) { .dir = dir, .file = file, .value = value }));
        return file;
}

static char *bytes_text(uint64_t v, const char *unlimited) {
        return v == CGROUP_LIMIT_UNLIMITED ? g_strdup(unlimited) : g_strdup_printf("%" PRIu64, v);
}

/* v2 cpu.max is "QUOTA PERIOD" in one file: what is not given stays as it is. */
static char *cpu_max_text(char *const *paths, const CgroupLimits *l) {
        const char *dir = dir_with(paths, "cpu.max");
        _cleanup_free_ char *cur = dir ? read_value(dir, "cpu.max") : NULL;
        _cleanup_free_ char *quota = NULL;
        uint64_t period = 100000;

        if (cur) {
                g_auto(GStrv) f = g_strsplit(cur, " ", 2);
                if (f[0] && f[1])
                        period = strtoull(f[1], NULL, 10) ?: 100000;
                quota = g_strdup(f[0]);
        }
        if (l->cpu_period_us)
                period = l->cpu_period_us;
        if (l->cpu_quota_us) {
                free(quota);
                quota = l->cpu_quota_us < 0 ? g_strdup("max") : g_strdup_printf("%" PRId64, l->cpu_quota_us);
        }
        return g_strdup_printf("%s %" PRIu64, quota ?: "max", period);
}

static void plan_cpu(GArray *w, char *const *paths, const CgroupLimits *l, char **missing) {
        bool v2 = dir_with(paths, "cpu.max") || !dir_with(paths, "cpu.cfs_quota_us");

        if (l->cpu_shares) {
                if (dir_with(paths, "cpu.weight"))
                        plan(w, paths, "cpu.weight", NULL,
                             g_strdup_printf("%" PRIu64, cgroup_shares_to_weight(l->cpu_shares)), missing);
                else
                        plan(w, paths, NULL, "cpu.shares", g_strdup_printf("%" PRIu64, l->cpu_shares), missing);
        }
        if (!l->cpu_period_us && !l->cpu_quota_us)
                return;
        if (v2) {
                plan(w, paths, "cpu.max", NULL, cpu_max_text(paths, l), missing);
                return;
        }
        if (l->cpu_period_us)
                plan(w, paths, NULL, "cpu.cfs_period_us", g_strdup_printf("%" PRIu64, l->cpu_period_us), missing);
        if (l->cpu_quota_us)
                plan(w, paths, NULL, "cpu.cfs_quota_us", g_strdup_printf("%" PRId64, l->cpu_quota_us), missing);
}

static void plan_memory(GArray *w, char *const *paths, const CgroupLimits *l, char **missing) {
        bool v2 = dir_with(paths, "memory.max") != NULL;

        if (v2) {
                if (l->memory_hard)
                        plan(w, paths, "memory.max", NULL, bytes_text(l->memory_hard, "max"), missing);
                if (l->memory_soft)
                        plan(w, paths, "memory.high", NULL, bytes_text(l->memory_soft, "max"), missing);
                if (l->memory_swap_hard) {
                        uint64_t hard = l->memory_hard;
                        if (!hard) {
                                _cleanup_free_ char *cur = read_value(dir_with(paths, "memory.max"), "memory.max");
                                hard = !cur || streq(cur, "max") ? CGROUP_LIMIT_UNLIMITED : strtoull(cur, NULL, 10);
                        }
                        plan(w, paths, "memory.swap.max", NULL,
                             l->memory_swap_hard == CGROUP_LIMIT_UNLIMITED || hard == CGROUP_LIMIT_UNLIMITED
                                     ? g_strdup("max")
                                     : g_strdup_printf("%" PRIu64, l->memory_swap_hard > hard ? l->memory_swap_hard - hard : 0),
                             missing);
                }
                return;
        }
        if (l->memory_hard)
                plan(w, paths, NULL, "memory.limit_in_bytes", bytes_text(l->memory_hard, "-1"), missing);
        if (l->memory_soft)
                plan(w, paths, NULL, "memory.soft_limit_in_bytes", bytes_text(l->memory_soft, "-1"), missing);
        if (l->memory_swap_hard)
                plan(w, paths, NULL, "memory.memsw.limit_in_bytes", bytes_text(l->memory_swap_hard, "-1"), missing);
}

static void plan_blkio(GArray *w, char *const *paths, const CgroupLimits *l, char **missing) {
        bool v2 = dir_with(paths, "io.max") || dir_with(paths, "io.weight");

        if (l->blkio_weight) {
                if (v2)
                        plan(w, paths, "io.weight", "io.bfq.weight", g_strdup_printf("default %u", l->blkio_weight), missing);
                else
                        plan(w, paths, "blkio.weight", "blkio.bfq.weight", g_strdup_printf("%u", l->blkio_weight), missing);
        }
        for (size_t i = 0; i < l->n_devices; i++) {
                const CgroupDeviceLimits *d = &l->devices[i];
                const uint64_t values[] = { d->read_bps, d->write_bps, d->read_iops, d->write_iops };
                const char *const v2_keys[] = { "rbps", "wbps", "riops", "wiops" };
                const char *const v1_files[] = { "blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device",
                                                 "blkio.throttle.read_iops_device", "blkio.throttle.write_iops_device" };

                if (d->weight)
                        plan(w, paths, v2 ? "io.weight" : "blkio.weight_device", v2 ? NULL : "blkio.bfq.weight_device",
                             g_strdup_printf("%u:%u %u", d->major, d->minor, d->weight), missing);
                if (v2) {
                        GString *s = g_string_new(NULL);
                        g_string_printf(s, "%u:%u", d->major, d->minor);
                        for (size_t k = 0; k < ELEMENTSOF(values); k++) {
                                if (values[k] == CGROUP_LIMIT_UNLIMITED)
                                        g_string_append_printf(s, " %s=max", v2_keys[k]);
                                else if (values[k])
                                        g_string_append_printf(s, " %s=%" PRIu64, v2_keys[k], values[k]);
                        }
                        if (strchr(s->str, '='))
                                plan(w, paths, "io.max", NULL, g_string_free(s, false), missing);
                        else
                                g_string_free(s, true);
                        continue;
                }
                for (size_t k = 0; k < ELEMENTSOF(values); k++)
                        if (values[k])
                                plan(w, paths, NULL, v1_files[k],
                                     g_strdup_printf("%u:%u %" PRIu64, d->major, d->minor,
                                                     values[k] == CGROUP_LIMIT_UNLIMITED ? 0 : values[k]),
                                     missing);
        }
}

int cgroup_limits_apply(char *const *paths, const CgroupLimits *l, char **ret_error) {
        GArray *w = g_array_new(false, false, sizeof(Write));
        _cleanup_free_ char *missing = NULL;
        int r = 0;

        *ret_error = NULL;
        plan_cpu(w, paths, l, &missing);
        plan_memory(w, paths, l, &missing);
        plan_blkio(w, paths, l, &missing);
        if (l->cpuset_mems)
                plan(w, paths, "cpuset.mems", NULL, g_strdup(l->cpuset_mems), &missing);
        if (l->cpuset_cpus)
                plan(w, paths, "cpuset.cpus", NULL, g_strdup(l->cpuset_cpus), &missing);
        if (missing) {
                *ret_error = g_strdup_printf("the domain's cgroup has no %s (its controller is not available here)",
                                             missing);
                writes_free(w);
                return -EOPNOTSUPP;
        }
        for (guint i = 0; r >= 0 && i < w->len; i++) {
                Write *x = &g_array_index(w, Write, i);

                r = write_one(x, ret_error);
                /* v1 memory + swap must stay ≥ memory: a hard limit raised above it goes after the memsw one */
                if (r == -EINVAL && streq(x->file, "memory.limit_in_bytes") && i + 1 < w->len &&
                    streq(g_array_index(w, Write, i + 1).file, "memory.memsw.limit_in_bytes")) {
                        r = write_one(&g_array_index(w, Write, i + 1), ret_error);
                        if (r >= 0)
                                r = write_one(x, ret_error);
                }
                if (r >= 0) {
                        free(*ret_error);
                        *ret_error = NULL;
                }
        }
        writes_free(w);
        return r < 0 ? r : 0;
}

/* ---- reading ---- */

static uint64_t read_u64(char *const *paths, const char *file, const char *unlimited, bool *found) {
        const char *dir = dir_with(paths, file);
        _cleanup_free_ char *v = dir ? read_value(dir, file) : NULL;

        *found = v != NULL;
        if (!v)
                return 0;
        if (streq(v, unlimited))
                return CGROUP_LIMIT_UNLIMITED;
        return strtoull(v, NULL, 10);
}

/* v1 reports "no limit" as the largest page-aligned value. */
static uint64_t v1_limit(uint64_t v) {
        return v >= (UINT64_C(1) << 62) ? CGROUP_LIMIT_UNLIMITED : v;
}

int cgroup_limits_read(char *const *paths, CgroupLimits *ret) {
        bool f;
        uint64_t v;

        *ret = (CgroupLimits) {};
        v = read_u64(paths, "cpu.weight", "", &f);
        if (f)
                ret->cpu_shares = cgroup_weight_to_shares(v);
        else
                ret->cpu_shares = read_u64(paths, "cpu.shares", "", &f);
        if (dir_with(paths, "cpu.max")) {
                _cleanup_free_ char *cur = read_value(dir_with(paths, "cpu.max"), "cpu.max");
                g_auto(GStrv) parts = g_strsplit(strempty(cur), " ", 2);
                if (parts[0] && parts[1]) {
                        ret->cpu_quota_us = streq(parts[0], "max") ? -1 : (int64_t) strtoll(parts[0], NULL, 10);
                        ret->cpu_period_us = strtoull(parts[1], NULL, 10);
                }
        } else {
                _cleanup_free_ char *q = NULL;
                const char *dir = dir_with(paths, "cpu.cfs_quota_us");
                ret->cpu_period_us = read_u64(paths, "cpu.cfs_period_us", "", &f);
                q = dir ? read_value(dir, "cpu.cfs_quota_us") : NULL;
                ret->cpu_quota_us = q ? (int64_t) strtoll(q, NULL, 10) : 0;
        }
        if (dir_with(paths, "memory.max")) {
                ret->memory_hard = read_u64(paths, "memory.max", "max", &f);
                ret->memory_soft = read_u64(paths, "memory.high", "max", &f);
                v = read_u64(paths, "memory.swap.max", "max", &f);
                ret->memory_swap_hard = !f ? 0
                                        : v == CGROUP_LIMIT_UNLIMITED || ret->memory_hard == CGROUP_LIMIT_UNLIMITED
                                                ? CGROUP_LIMIT_UNLIMITED
                                                : ret->memory_hard + v;
        } else {
                ret->memory_hard = v1_limit(read_u64(paths, "memory.limit_in_bytes", "-1", &f));
                ret->memory_soft = v1_limit(read_u64(paths, "memory.soft_limit_in_bytes", "-1", &f));
                v = read_u64(paths, "memory.memsw.limit_in_bytes", "-1", &f);
                ret->memory_swap_hard = f ? v1_limit(v) : 0;
        }
        if (dir_with(paths, "io.weight")) {
                _cleanup_free_ char *cur = read_value(dir_with(paths, "io.weight"), "io.weight");
                const char *d = cur ? strstr(cur, "default ") : NULL;
                ret->blkio_weight = d ? (unsigned) strtoul(d + 8, NULL, 10) : 0;
        } else
                ret->blkio_weight = (unsigned) read_u64(paths, "blkio.weight", "", &f);
        return 0;
}

char *cgroup_cpuset_cpus(char *const *paths) {
        const char *dir = dir_with(paths, "cpuset.cpus.effective");

        if (dir)
                return read_value(dir, "cpuset.cpus.effective");
        dir = dir_with(paths, "cpuset.cpus");
        return dir ? read_value(dir, "cpuset.cpus") : NULL;
}
