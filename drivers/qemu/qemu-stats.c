/* qemu-stats.c — a running domain's counters, as libvirt's typed parameters name them.
 *
 * What qemu alone knows (block counters and sizes, the balloon, the vCPU
 * threads) is asked in a round of QMP commands; the kernel's counters (the
 * cgroup's CPU time, each vCPU thread's times, the taps) are read when the
 * answer is made, so they are fresh even when qemu is slow. One round per
 * domain is under way at a time and every caller that comes meanwhile shares
 * it; a caller waits at most its own timeout and then gets what qemu said
 * last. A qemu that hangs (SIGSTOP) therefore delays a caller once: while
 * its round is overdue, later callers are answered at once. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "qemu-disk-node.h"
#include "qemu-driver-internal.h"
#include "qemu-stats.h"
#include "qemu-tune.h"
#include "time-util.h"

#define QMP_GROUPS (DRIVER_STATS_BALLOON | DRIVER_STATS_VCPU | DRIVER_STATS_BLOCK)
#define STATS_TIMEOUT_USEC_DEFAULT (5u * 1000000u)
#define BALLOON_QOM_PATH "/machine/peripheral/balloon0"
#define CPUS_MAX_AGE_USEC (30u * 1000000u)   /* the vCPU threads are asked again after this (or a hot-plug) */
#define GUEST_IDLE_USEC (10u * 1000000u)      /* a guest that reports no memory statistics is asked this often */
#define BALLOON_POLL_SEC 5          /* guest-stats-polling-interval when <stats period> is unset */

typedef struct QemuStats QemuStats;

typedef struct StatsWaiter {
        QemuStats *s;
        unsigned groups;
        uint64_t round;             /* the round whose answers it waits for */
        bool incomplete;            /* qemu went away before that round */
        sd_event_source *timer;
        DriverStatsFn fn;
        void *userdata;
        struct StatsWaiter *next;
} StatsWaiter;

enum { ANSWER_BLOCKSTATS, ANSWER_BLOCK, ANSWER_BALLOON, ANSWER_GUEST, ANSWER_CPUS, _ANSWER_MAX };

struct QemuStats {
        DriverRuntime *rt;
        uint64_t round;             /* the round asked last (0: none yet) */
        unsigned round_groups;      /* what it asks */
        unsigned round_pending;     /* its replies still to come */
        unsigned next_groups;       /* what the waiters of round + 1 want */
        bool overdue;               /* a waiter of this round gave up on it */
        bool polling_set;           /* guest-stats-polling-interval was set */
        JsonValue *answers[_ANSWER_MAX];        /* what qemu said last (NULL: nothing) */
        JsonValue *fresh[_ANSWER_MAX];          /* this round's */
        StatsWaiter *waiters;
        GHashTable *files;          /* path → fd: the kernel's counters, kept open and read again with pread */
        uint64_t cpus_usec;         /* when the vCPU threads were asked for (CLOCK_MONOTONIC) */
        uint64_t guest_usec;        /* when the guest's memory statistics were asked for */
        unsigned round_sent;        /* ANSWER_* bits answered in this round */
};

static void stats_gone(DriverRuntime *rt, bool exited, void *userdata);

/* ---- the result ---- */

static void stat_add(DriverStats *st, DriverStatType type, uint64_t u, const char *s, const char *fmt, ...)
        _printf_(5, 6);

static void stat_add(DriverStats *st, DriverStatType type, uint64_t u, const char *s, const char *fmt, ...) {
        DriverStat *e;
        va_list ap;

        if (st->n == st->n_allocated) {
                st->n_allocated = st->n_allocated ? st->n_allocated * 2 : 32;
                st->items = g_renew(DriverStat, st->items, st->n_allocated);
        }
        e = &st->items[st->n++];
        va_start(ap, fmt);
        e->key = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        e->type = type;
        e->u = u;
        e->s = type == DRIVER_STAT_STRING ? g_strdup(s) : NULL;
}

#define stat_u(st, v, ...) stat_add((st), DRIVER_STAT_UINT, (v), NULL, __VA_ARGS__)
#define stat_s(st, v, ...) stat_add((st), DRIVER_STAT_STRING, 0, (v), __VA_ARGS__)

static void stats_clear(DriverStats *st) {
        for (size_t i = 0; i < st->n; i++) {
                g_free(st->items[i].key);
                g_free(st->items[i].s);
        }
        g_free(st->items);
        *st = (DriverStats) {};
}

/* The content of a /proc, /sys or cgroup file (malloc'd, NUL-terminated): pread() of an fd kept in
 * s->files, so each poll costs one read, not an open, a path walk and a close. */
static int stats_read(QemuStats *s, const char *path, size_t max, char **ret) {
        gpointer v;
        char *buf;
        ssize_t n;
        int fd;

        if (!s)
                return read_full_file(path, max, ret, NULL);
        if (g_hash_table_lookup_extended(s->files, path, NULL, &v)) {
                fd = GPOINTER_TO_INT(v);
                if (fd < 0)
                        return -ENOENT;   /* not there last time: a cgroup file this hierarchy lacks */
        } else {
                fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
                if (fd < 0 && errno != ENOENT)
                        return -errno;
                /* no such file in a cgroup directory stays so; elsewhere (a thread, a tap) it may come */
                if (fd >= 0 || strncmp(path, "/proc/", 6) != 0)
                        g_hash_table_insert(s->files, g_strdup(path), GINT_TO_POINTER(fd));
                if (fd < 0)
                        return -ENOENT;
        }
        buf = malloc(max + 1);
        if (!buf)
                return -ENOMEM;
        n = pread(fd, buf, max, 0);
        if (n < 0) {
                int r = -errno;
                free(buf);
                g_hash_table_remove(s->files, path);   /* gone (a thread, a tap): opened afresh next time */
                return r;
        }
        buf[n] = 0;
        *ret = buf;
        return 0;
}

static void close_fd(gpointer p) {
        if (GPOINTER_TO_INT(p) >= 0)
                close(GPOINTER_TO_INT(p));
}

bool qemu_json_u64(const JsonValue *v, uint64_t *ret) {
        int64_t i;

        if (json_util_integer(v, &i) >= 0) {
                if (i < 0)
                        return false;
                *ret = (uint64_t) i;
                return true;
        }
        if (json_is_real(v) && json_real_value(v) >= 0) {
                *ret = (uint64_t) json_real_value(v);
                return true;
        }
        return false;
}

/* ---- what the kernel counts ---- */

static uint64_t ticks_to_ns(uint64_t ticks) {
        long hz = sysconf(_SC_CLK_TCK);
        return ticks * (1000000000u / (uint64_t) (hz > 0 ? hz : 100));
}

/* utime and stime (ticks) of /proc/…/stat text: the fields after the comm in parentheses. */
static int parse_stat_times(const char *text, uint64_t *ret_user, uint64_t *ret_system) {
        const char *p = strrchr(text, ')');
        unsigned long long u, s;

        /* ") S ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime" */
        if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &u, &s) != 2)
                return -EINVAL;
        *ret_user = u;
        *ret_system = s;
        return 0;
}

/* Field `field` (1-based, as proc(5) counts: 3 is the state) of /proc/…/stat text. */
static bool stat_field(const char *text, unsigned field, uint64_t *ret) {
        const char *p = strrchr(text, ')');
        unsigned long long v;

        if (!p || field < 3)
                return false;
        p++;
        for (unsigned i = 3; i < field; i++) {
                p = strchr(p + 1, ' ');
                if (!p)
                        return false;
        }
        if (sscanf(p, " %llu", &v) != 1)
                return false;
        *ret = v;
        return true;
}

static int read_stat_times(QemuStats *s, const char *path, uint64_t *ret_user, uint64_t *ret_system, uint64_t *ret_cpu) {
        _cleanup_free_ char *text = NULL;
        int r;

        r = stats_read(s, path, 4096, &text);
        if (r < 0)
                return r;
        r = parse_stat_times(text, ret_user, ret_system);
        if (r >= 0 && ret_cpu && !stat_field(text, 39, ret_cpu))   /* the CPU it ran on last */
                *ret_cpu = UINT64_MAX;
        return r;
}

/* The value of "KEY N" lines (cpu.stat, cpuacct.stat). */
static bool keyed_value(const char *text, const char *key, uint64_t *ret) {
        size_t n = strlen(key);

        for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
                if (strncmp(p, key, n) == 0 && p[n] == ' ') {
                        unsigned long long v;
                        if (sscanf(p + n + 1, "%llu", &v) != 1)
                                return false;
                        *ret = v;
                        return true;
                }
        return false;
}

/* CPU time (ns) of everything in the domain's cgroup: cpu.stat on v2, cpuacct on v1. */
static bool cgroup_cpu(QemuStats *s, DriverRuntime *rt, uint64_t *ret_total, uint64_t *ret_user, uint64_t *ret_system) {
        for (char **p = rt->cgroups; p && *p; p++) {
                _cleanup_free_ char *f = NULL, *text = NULL, *acct = NULL;
                uint64_t total, user = 0, sys = 0;

                f = g_strdup_printf("%s/cpu.stat", *p);
                if (stats_read(s, f, 4096, &text) >= 0 && keyed_value(text, "usage_usec", &total)) {
                        (void) keyed_value(text, "user_usec", &user);
                        (void) keyed_value(text, "system_usec", &sys);
                        *ret_total = total * 1000;
                        *ret_user = user * 1000;
                        *ret_system = sys * 1000;
                        return true;
                }
                g_free(f);
                f = g_strdup_printf("%s/cpuacct.usage", *p);
                free(text);
                text = NULL;
                if (stats_read(s, f, 4096, &text) < 0 || sscanf(text, "%" SCNu64, &total) != 1)
                        continue;
                g_free(f);
                f = g_strdup_printf("%s/cpuacct.stat", *p);
                if (stats_read(s, f, 4096, &acct) >= 0) {
                        (void) keyed_value(acct, "user", &user);
                        (void) keyed_value(acct, "system", &sys);
                }
                *ret_total = total;
                *ret_user = ticks_to_ns(user);
                *ret_system = ticks_to_ns(sys);
                return true;
        }
        return false;
}

static void add_cpu(DriverStats *st, QemuStats *s, DriverRuntime *rt) {
        uint64_t total, user, sys;

        if (!cgroup_cpu(s, rt, &total, &user, &sys)) {
                _cleanup_free_ char *path = g_strdup_printf("/proc/%d/stat", (int) rt->pid);

                /* confinement off: no cgroup of its own, the process's times */
                if (read_stat_times(s, path, &user, &sys, NULL) < 0)
                        return;
                user = ticks_to_ns(user);
                sys = ticks_to_ns(sys);
                total = user + sys;
        }
        stat_u(st, total, "cpu.time");
        stat_u(st, user, "cpu.user");
        stat_u(st, sys, "cpu.system");
}

/* Resident memory from statm (its second field, in pages): far cheaper for the kernel to make than status. */
static void add_rss(DriverStats *st, QemuStats *s, DriverRuntime *rt) {
        _cleanup_free_ char *path = g_strdup_printf("/proc/%d/statm", (int) rt->pid), *text = NULL;
        unsigned long long pages;
        long page = sysconf(_SC_PAGESIZE);

        if (stats_read(s, path, 256, &text) < 0 || sscanf(text, "%*u %llu", &pages) != 1)
                return;
        stat_u(st, pages * (uint64_t) (page > 0 ? page : 4096) / 1024, "balloon.rss");
}

/* "0-3,5": the CPUs set in m. */
static char *cpu_list(const cpu_set_t *m) {
        GString *out = g_string_new(NULL);

        for (int i = 0; i < CPU_SETSIZE; i++) {
                int j = i;

                if (!CPU_ISSET(i, m))
                        continue;
                while (j + 1 < CPU_SETSIZE && CPU_ISSET(j + 1, m))
                        j++;
                g_string_append_printf(out, out->len ? ",%d" : "%d", i);
                if (j > i)
                        g_string_append_printf(out, "-%d", j);
                i = j;
        }
        return g_string_free(out, FALSE);
}

/* ---- the groups ---- */

static bool has_balloon(const DomainDef *def) {
        return def->memballoon && streq_ptr(def->memballoon->model ?: "virtio", "virtio");
}

static void add_balloon(DriverStats *st, QemuStats *s, DriverRuntime *rt) {
        static const struct {
                const char *qemu, *key;
                bool bytes;
        } guest[] = {
                { "stat-swap-in", "swap_in", true },
                { "stat-swap-out", "swap_out", true },
                { "stat-major-faults", "major_fault", false },
                { "stat-minor-faults", "minor_fault", false },
                { "stat-free-memory", "unused", true },
                { "stat-total-memory", "available", true },
                { "stat-available-memory", "usable", true },
                { "stat-disk-caches", "disk_caches", true },
                { "stat-htlb-pgalloc", "hugetlb_pgalloc", false },
                { "stat-htlb-pgfail", "hugetlb_pgfail", false },
        };
        const JsonValue *balloon = s ? s->answers[ANSWER_BALLOON] : NULL;
        const JsonValue *g = s ? s->answers[ANSWER_GUEST] : NULL;
        uint64_t v = rt->def->current_memory_kib;

        if (qemu_json_u64(json_object_get(balloon, "actual"), &v))
                v /= 1024;
        stat_u(st, v, "balloon.current");
        stat_u(st, rt->def->memory_kib, "balloon.maximum");
        for (size_t i = 0; i < ELEMENTSOF(guest); i++)
                if (qemu_json_u64(json_object_get(json_object_get(g, "stats"), guest[i].qemu), &v))
                        stat_u(st, guest[i].bytes ? v / 1024 : v, "balloon.%s", guest[i].key);
        if (qemu_json_u64(json_object_get(g, "last-update"), &v) && v > 0)
                stat_u(st, v, "balloon.last-update");
        add_rss(st, s, rt);
}

static void add_vcpu(DriverStats *st, QemuStats *s, DriverRuntime *rt) {
        const JsonValue *cpus = s ? s->answers[ANSWER_CPUS] : NULL;
        unsigned current = rt->def->current_vcpus ?: rt->def->vcpus;

        if (json_is_array(cpus))
                current = (unsigned) json_array_size(cpus);
        stat_u(st, current, "vcpu.current");
        stat_u(st, rt->def->vcpus, "vcpu.maximum");
        for (size_t i = 0; i < json_array_size(cpus); i++) {
                const JsonValue *c = json_array_get(cpus, i);
                _cleanup_free_ char *path = NULL, *sched = NULL;
                cpu_set_t mask;
                uint64_t index, tid, user, sys, cpu;
                unsigned long long run, wait;

                if (!qemu_json_u64(json_object_get(c, "cpu-index"), &index) ||
                    !qemu_json_u64(json_object_get(c, "thread-id"), &tid))
                        continue;
                stat_u(st, 1, "vcpu.%" PRIu64 ".state", index);   /* libvirt's VIR_VCPU_RUNNING */
                path = g_strdup_printf("/proc/%d/task/%" PRIu64 "/stat", (int) rt->pid, tid);
                if (read_stat_times(s, path, &user, &sys, &cpu) >= 0) {
                        stat_u(st, ticks_to_ns(user + sys), "vcpu.%" PRIu64 ".time", index);
                        if (cpu != UINT64_MAX)
                                stat_u(st, cpu, "vcpu.%" PRIu64 ".cpu", index);
                }
                g_free(path);
                /* the host CPUs the thread may run on (virsh vcpuinfo's affinity) */
                if (sched_getaffinity((pid_t) tid, sizeof(mask), &mask) >= 0) {
                        _cleanup_free_ char *list = cpu_list(&mask);
                        stat_s(st, list, "vcpu.%" PRIu64 ".affinity", index);
                }
                /* run time and time waiting for a host CPU (ns) */
                path = g_strdup_printf("/proc/%d/task/%" PRIu64 "/schedstat", (int) rt->pid, tid);
                if (stats_read(s, path, 4096, &sched) >= 0 && sscanf(sched, "%llu %llu", &run, &wait) == 2)
                        stat_u(st, wait, "vcpu.%" PRIu64 ".wait", index);
        }
}

static bool netdev_name_valid(const char *n) {
        return !isempty(n) && strlen(n) < 16 && !strchr(n, '/') && !streq(n, ".") && !streq(n, "..");
}

static void add_net(DriverStats *st, QemuStats *s, DriverRuntime *rt) {
        /* a tap's receive is the guest's transmit: counters as the guest sees them (as libvirt) */
        static const struct {
                const char *key, *file;
        } counters[] = {
                { "rx.bytes", "tx_bytes" }, { "rx.pkts", "tx_packets" }, { "rx.errs", "tx_errors" },
                { "rx.drop", "tx_dropped" }, { "tx.bytes", "rx_bytes" }, { "tx.pkts", "rx_packets" },
                { "tx.errs", "rx_errors" }, { "tx.drop", "rx_dropped" },
        };

        stat_u(st, rt->def->n_nets, "net.count");
        for (size_t i = 0; i < rt->def->n_nets; i++) {
                const char *tap = rt->def->nets[i].target_dev;

                if (!netdev_name_valid(tap))
                        continue;
                stat_s(st, tap, "net.%zu.name", i);
                for (size_t k = 0; k < ELEMENTSOF(counters); k++) {
                        _cleanup_free_ char *path = g_strdup_printf("/sys/class/net/%s/statistics/%s", tap,
                                                                    counters[k].file);
                        _cleanup_free_ char *text = NULL;
                        uint64_t v;

                        if (stats_read(s, path, 64, &text) >= 0 && sscanf(text, "%" SCNu64, &v) == 1)
                                stat_u(st, v, "net.%zu.%s", i, counters[k].key);
                }
        }
}

static void add_block(DriverStats *st, QemuStats *s, DriverRuntime *rt) {
        static const struct {
                const char *qemu, *key;
        } counters[] = {
                { "rd_operations", "rd.reqs" }, { "rd_bytes", "rd.bytes" }, { "rd_total_time_ns", "rd.times" },
                { "wr_operations", "wr.reqs" }, { "wr_bytes", "wr.bytes" }, { "wr_total_time_ns", "wr.times" },
                { "flush_operations", "fl.reqs" }, { "flush_total_time_ns", "fl.times" },
                { "wr_highest_offset", "allocation" },
        };
        const JsonValue *blockstats = s ? s->answers[ANSWER_BLOCKSTATS] : NULL;
        const JsonValue *block = s ? s->answers[ANSWER_BLOCK] : NULL;

        stat_u(st, rt->def->n_disks, "block.count");
        for (size_t i = 0; i < rt->def->n_disks; i++) {
                const DomainDiskDef *d = &rt->def->disks[i];
                const JsonValue *e = NULL, *stats, *image = json_object_get(qemu_disk_inserted(block, rt->def, i), "image");
                char id[80];
                uint64_t v;

                /* by the device: an earlier disk's unplug moved the later ones in the definition */
                if (qemu_disk_device_id(d, i, id, sizeof(id), true) >= 0)
                        e = qemu_block_of_device(blockstats, id);
                stats = json_object_get(e, "stats");

                if (d->target_dev)
                        stat_s(st, d->target_dev, "block.%zu.name", i);
                if (d->source)
                        stat_s(st, d->source, "block.%zu.path", i);
                for (size_t k = 0; k < ELEMENTSOF(counters); k++)
                        if (qemu_json_u64(json_object_get(stats, counters[k].qemu), &v))
                                stat_u(st, v, "block.%zu.%s", i, counters[k].key);
                if (qemu_json_u64(json_object_get(image, "virtual-size"), &v))
                        stat_u(st, v, "block.%zu.capacity", i);
                if (qemu_json_u64(json_object_get(image, "actual-size"), &v))
                        stat_u(st, v, "block.%zu.physical", i);
        }
}

/* perf.NAME: the <perf> events' counters, read now (qemu-tune.c has them open). */
static void add_perf(DriverStats *st, DriverRuntime *rt) {
        uint64_t values[32];
        uint32_t counted = qemu_tune_perf_read(rt, values);

        for (unsigned i = 0; domain_perf_event_names[i]; i++)
                if (counted & (1u << i))
                        stat_u(st, values[i], "perf.%s", domain_perf_event_names[i]);
}

/* Builds and delivers the groups of one caller from what is known now. */
static void deliver(QemuStats *s, DriverRuntime *rt, unsigned groups, bool incomplete, DriverStatsFn fn,
                    void *userdata) {
        DriverStats st = { .incomplete = incomplete };

        if (rt) {
                if (groups & DRIVER_STATS_CPU)
                        add_cpu(&st, s, rt);
                if (groups & DRIVER_STATS_BALLOON)
                        add_balloon(&st, s, rt);
                if (groups & DRIVER_STATS_VCPU)
                        add_vcpu(&st, s, rt);
                if (groups & DRIVER_STATS_INTERFACE)
                        add_net(&st, s, rt);
                if (groups & DRIVER_STATS_BLOCK)
                        add_block(&st, s, rt);
                if (groups & DRIVER_STATS_PERF)
                        add_perf(&st, rt);
        }
        fn(userdata, &st);
        stats_clear(&st);
}

/* ---- waiters ---- */

static StatsWaiter *waiter_free(StatsWaiter *w) {
        sd_event_source_disable_unref(w->timer);
        g_free(w);
        return NULL;
}

static void waiter_unlink(StatsWaiter *w) {
        for (StatsWaiter **p = &w->s->waiters; *p; p = &(*p)->next)
                if (*p == w) {
                        *p = w->next;
                        break;
                }
        w->next = NULL;
}

static int on_waiter_timeout(sd_event_source *source, uint64_t usec, void *userdata) {
        StatsWaiter *w = userdata;
        QemuStats *s = w->s;

        s->overdue = true;
        waiter_unlink(w);
        deliver(s, s->rt, w->groups, true, w->fn, w->userdata);
        waiter_free(w);
        return 0;
}

/* ---- rounds ---- */

static void round_done(QemuStats *s);

static void reply_common(QemuStats *s, unsigned which, int r, const JsonValue *ret) {
        s->round_sent |= 1u << which;
        json_decref(s->fresh[which]);
        s->fresh[which] = r >= 0 && ret ? json_incref((JsonValue *) ret) : NULL;
        if (s->round_pending > 0 && --s->round_pending == 0)
                round_done(s);
}

#define REPLY_FN(name, which)                                                                           \
        static void name(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {      \
                reply_common(userdata, which, r, ret);                                                  \
        }
REPLY_FN(reply_blockstats, ANSWER_BLOCKSTATS)
REPLY_FN(reply_block, ANSWER_BLOCK)
REPLY_FN(reply_balloon, ANSWER_BALLOON)
REPLY_FN(reply_guest, ANSWER_GUEST)
REPLY_FN(reply_cpus, ANSWER_CPUS)

static int round_send(QemuStats *s, const char *command, JsonValue *arguments, QmpReplyFn fn) {
        int r = qmp_send(s->rt->qmp, command, arguments, fn, s);
        if (r >= 0)
                s->round_pending++;
        return r;
}

/* Whether the guest's own memory statistics are to be asked now: each round while the guest reports
 * them, every GUEST_IDLE_USEC while it does not (no balloon driver, or not yet). */
static bool guest_stats_due(const QemuStats *s) {
        uint64_t last = 0;

        if (!s->answers[ANSWER_GUEST] ||
            (qemu_json_u64(json_object_get(s->answers[ANSWER_GUEST], "last-update"), &last) && last > 0))
                return true;
        return monotonic_usec() >= s->guest_usec + GUEST_IDLE_USEC;
}

static bool balloon_needs_qemu(const QemuStats *s) {
        return !s->answers[ANSWER_BALLOON] || guest_stats_due(s);
}

static JsonValue *qom_args(const char *property, JsonValue *value) {
        JsonValue *a = json_object();

        json_object_set_new(a, "path", json_string(BALLOON_QOM_PATH));
        json_object_set_new(a, "property", json_string(property));
        if (value)
                json_object_set_new(a, "value", value);
        return a;
}

/* Asks qemu what the groups need. Returns 0, or -ENOTCONN when nothing could be asked. */
static int round_start(QemuStats *s, unsigned groups) {
        DriverRuntime *rt = s->rt;

        if (!rt->qmp || !qmp_is_ready(rt->qmp))
                return -ENOTCONN;
        s->round++;
        s->round_groups = groups;
        s->round_pending = 0;
        s->round_sent = 0;
        s->overdue = false;
        for (unsigned i = 0; i < _ANSWER_MAX; i++) {
                json_decref(s->fresh[i]);
                s->fresh[i] = NULL;
        }
        if (groups & DRIVER_STATS_BLOCK) {
                (void) round_send(s, "query-blockstats", NULL, reply_blockstats);
                (void) round_send(s, "query-block", NULL, reply_block);
        }
        if (groups & DRIVER_STATS_BALLOON) {
                if (!s->polling_set && rt->def->memballoon->stats_period == 0) {
                        /* the guest reports its memory only when asked to, every few seconds */
                        s->polling_set = qmp_send(rt->qmp, "qom-set",
                                                  qom_args("guest-stats-polling-interval",
                                                           json_integer(BALLOON_POLL_SEC)),
                                                  NULL, NULL) >= 0;
                }
                if (!s->answers[ANSWER_BALLOON])   /* afterwards BALLOON_CHANGE tells */
                        (void) round_send(s, "query-balloon", NULL, reply_balloon);
                if (guest_stats_due(s) && round_send(s, "qom-get", qom_args("guest-stats", NULL), reply_guest) >= 0)
                        s->guest_usec = monotonic_usec();
        }
        if (groups & DRIVER_STATS_VCPU && round_send(s, "query-cpus-fast", NULL, reply_cpus) >= 0)
                s->cpus_usec = monotonic_usec();
        return s->round_pending > 0 ? 0 : -ENOTCONN;
}

/* Every reply of the round is in: it becomes what qemu said last; its waiters are answered. */
static void round_done(QemuStats *s) {
        StatsWaiter *done = NULL, **tail = &done;

        static const unsigned group_of[_ANSWER_MAX] = {
                [ANSWER_BLOCKSTATS] = DRIVER_STATS_BLOCK, [ANSWER_BLOCK] = DRIVER_STATS_BLOCK,
                [ANSWER_BALLOON] = DRIVER_STATS_BALLOON, [ANSWER_GUEST] = DRIVER_STATS_BALLOON,
                [ANSWER_CPUS] = DRIVER_STATS_VCPU,
        };
        for (unsigned i = 0; i < _ANSWER_MAX; i++)
                if ((s->round_groups & group_of[i]) && (s->round_sent & (1u << i))) {
                        json_decref(s->answers[i]);
                        s->answers[i] = TAKE_PTR(s->fresh[i]);
                }
        s->overdue = false;
        for (StatsWaiter **p = &s->waiters; *p;) {
                StatsWaiter *w = *p;
                if (w->round <= s->round) {
                        *p = w->next;
                        w->next = NULL;
                        *tail = w;
                        tail = &w->next;
                } else
                        p = &w->next;
        }
        if (s->waiters) {
                /* those who wanted more than this round asked: the next one is theirs */
                unsigned next = s->next_groups;

                s->next_groups = 0;
                if (round_start(s, next) < 0) {
                        for (StatsWaiter *w = s->waiters; w; w = w->next)
                                w->incomplete = true;
                        *tail = TAKE_PTR(s->waiters);
                }
        }
        while (done) {
                StatsWaiter *w = done;
                done = w->next;
                deliver(s, s->rt, w->groups, w->incomplete, w->fn, w->userdata);
                waiter_free(w);
        }
}

/* ---- the per-runtime state, kept as a listener of the runtime ---- */

static QemuStats *stats_find(DriverRuntime *rt) {
        for (QemuListener *l = rt->listeners; l; l = l->next)
                if (l->gone == stats_gone)
                        return l->userdata;
        return NULL;
}

static QemuStats *stats_free(QemuStats *s) {
        while (s->waiters) {
                StatsWaiter *w = s->waiters;
                s->waiters = w->next;
                waiter_free(w);
        }
        for (unsigned i = 0; i < _ANSWER_MAX; i++) {
                json_decref(s->answers[i]);
                json_decref(s->fresh[i]);
        }
        if (s->files)
                g_hash_table_destroy(s->files);
        g_free(s);
        return NULL;
}

/* A device came or went (a vCPU's hot-plug among them): the vCPU threads are asked again. The
 * balloon's size changed: qemu tells it with the event. */
static void stats_event(DriverRuntime *rt, const char *name, const JsonValue *data, void *userdata) {
        QemuStats *s = userdata;

        if (STR_IN_SET(name, "DEVICE_DELETED", "ACPI_DEVICE_OST", "DEVICE_ADDED"))
                s->cpus_usec = 0;
        if (streq(name, "BALLOON_CHANGE") && json_object_get(data, "actual")) {
                /* what query-balloon would say now */
                json_decref(s->answers[ANSWER_BALLOON]);
                s->answers[ANSWER_BALLOON] = json_object();
                json_object_set(s->answers[ANSWER_BALLOON], "actual", json_object_get(data, "actual"));
        }
}

/* The process is gone (its monitor first: no reply will come) or the driver is torn down. */
static void stats_gone(DriverRuntime *rt, bool exited, void *userdata) {
        QemuStats *s = userdata;

        while (exited && s->waiters) {
                StatsWaiter *w = s->waiters;
                s->waiters = w->next;
                deliver(s, NULL, w->groups, true, w->fn, w->userdata);
                waiter_free(w);
        }
        stats_free(s);
}

static int stats_get_or_new(DriverRuntime *rt, QemuStats **ret) {
        QemuListener l = { .event = stats_event, .gone = stats_gone };
        QemuStats *s = stats_find(rt);
        int r;

        if (s) {
                *ret = s;
                return 0;
        }
        s = g_new0(QemuStats, 1);
        s->rt = rt;
        s->files = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, close_fd);
        l.userdata = s;
        r = qemu_runtime_add_listener(rt, &l);
        if (r < 0) {
                g_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

int qemu_stats_get(DriverRuntime *rt, unsigned groups, uint64_t timeout_usec, DriverStatsFn fn, void *userdata) {
        unsigned need = groups & QMP_GROUPS;
        QemuStats *s = NULL;
        StatsWaiter *w;
        uint64_t round;
        int r;

        if (rt->starting)
                return -EBUSY;
        if (rt->killing || rt->state == DOMAIN_STATE_SHUTOFF)
                return -ESRCH;
        if (!has_balloon(rt->def))
                need &= ~DRIVER_STATS_BALLOON;
        r = stats_get_or_new(rt, &s);
        if (r < 0)
                return r;
        if (rt->def->n_disks == 0)
                need &= ~DRIVER_STATS_BLOCK;
        if ((need & DRIVER_STATS_BALLOON) && !balloon_needs_qemu(s))
                need &= ~DRIVER_STATS_BALLOON;
        if ((need & DRIVER_STATS_VCPU) && s->answers[ANSWER_CPUS] &&
            monotonic_usec() < s->cpus_usec + CPUS_MAX_AGE_USEC)
                need &= ~DRIVER_STATS_VCPU;   /* the vCPU threads are known: their times come from /proc */
        if (!need || !rt->qmp || !qmp_is_ready(rt->qmp)) {
                deliver(s, rt, groups, need != 0, fn, userdata);
                return 0;
        }
        if (s->round_pending > 0) {
                if (s->overdue) {   /* qemu has not answered others in time: no need to wait again */
                        deliver(s, rt, groups, true, fn, userdata);
                        return 0;
                }
                if ((need & ~s->round_groups) == 0)
                        round = s->round;
                else {
                        round = s->round + 1;
                        s->next_groups |= need;
                }
        } else {
                if (round_start(s, need) < 0) {
                        deliver(s, rt, groups, true, fn, userdata);
                        return 0;
                }
                round = s->round;
        }
        w = g_new0(StatsWaiter, 1);
        w->s = s;
        w->groups = groups;
        w->round = round;
        w->fn = fn;
        w->userdata = userdata;
        r = sd_event_add_time_relative(rt->driver->event, &w->timer, CLOCK_MONOTONIC,
                                       timeout_usec ?: STATS_TIMEOUT_USEC_DEFAULT, 0, on_waiter_timeout, w);
        if (r < 0) {
                waiter_free(w);
                return r;
        }
        w->next = s->waiters;
        s->waiters = w;
        return 0;
}
