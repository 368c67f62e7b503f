/* qemu-tune.c — a running qemu's vCPUs (hot-plug, unplug), balloon target and resource limits
 * (its cgroup's limits, the affinity of its vCPU and emulator threads). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cgroup-tune.h"
#include "cgroup-util.h"
#include "fileio.h"
#include "log.h"
#include "qemu-driver-internal.h"
#include "qemu-tune.h"

/* ---- the live definition ---- */

/* The live definition changed: the status file gets it; shown (vCPUs,
 * currentMemory) tells the service its properties changed. */
static void live_def_changed(DriverRuntime *rt, bool shown) {
        const DomainDriverEvents *ev = &rt->driver->events;

        free(rt->def_xml);
        rt->def_xml = NULL;
        (void) qemu_runtime_save_status(rt);
        if (shown && ev->live_def_changed)
                ev->live_def_changed(rt->owner);
}

static int check_running(DriverRuntime *rt) {
        if (rt->starting)
                return -EBUSY;
        if (rt->killing || rt->state == DOMAIN_STATE_SHUTOFF || !rt->qmp)
                return -ESRCH;
        return 0;
}

/* ---- threads and affinity ---- */

/* What a thread name (-name debug-threads=on) says: the vCPU index ("CPU 3/TCG", "CPU 3/KVM"),
 * THREAD_IOTHREAD(id) for an <iothreads> one ("IO iothread2"), or -1 (another emulator thread). */
#define THREAD_IOTHREAD(id) (-1 - (int) (id))
#define IOTHREAD_OF(v) ((v) <= -2 ? (unsigned) (-1 - (v)) : 0u)

static int vcpu_of_comm(const char *comm) {
        unsigned n;
        char kind[16];

        if (sscanf(comm, "CPU %u/%15s", &n, kind) == 2)
                return (int) n;
        if (sscanf(comm, "IO iothread%u", &n) == 1 && n > 0 && n < INT_MAX / 2)
                return THREAD_IOTHREAD(n);
        return -1;
}

/* Calls fn for every thread of pid with its vCPU index (-1: an emulator thread, IOTHREAD_OF(): an iothread). */
static int foreach_thread(pid_t pid, int (*fn)(pid_t tid, int vcpu, void *userdata), void *userdata) {
        _cleanup_free_ char *dirname = g_strdup_printf("/proc/%d/task", (int) pid);
        DIR *dir = opendir(dirname);
        struct dirent *de;
        int r = 0;

        if (!dir)
                return -errno;
        while (r >= 0 && (de = readdir(dir))) {
                _cleanup_free_ char *path = NULL, *comm = NULL;
                pid_t tid = (pid_t) atoi(de->d_name);

                if (tid <= 0)
                        continue;
                path = g_strdup_printf("%s/%d/comm", dirname, (int) tid);
                if (read_full_file(path, 256, &comm, NULL) < 0)
                        continue;   /* the thread ended */
                r = fn(tid, vcpu_of_comm(g_strstrip(comm)), userdata);
        }
        closedir(dir);
        return r < 0 ? r : 0;
}

static void mask_to_cpuset(const uint8_t mask[DOMAIN_CPUSET_MAX / 8], cpu_set_t *set) {
        CPU_ZERO(set);
        for (unsigned i = 0; i < DOMAIN_CPUSET_MAX && i < CPU_SETSIZE; i++)
                if (mask[i / 8] & (1u << (i % 8)))
                        CPU_SET(i, set);
}

/* The host's online CPUs (what an unpinned thread may use). */
static void all_cpus(cpu_set_t *set) {
        long n = sysconf(_SC_NPROCESSORS_CONF);

        CPU_ZERO(set);
        for (long i = 0; i < n && i < CPU_SETSIZE; i++)
                CPU_SET((int) i, set);
}

typedef struct PinPlan {
        DriverRuntime *rt;
        const DomainTuneDef *tune, *old;
        bool pin_emulator;              /* also set the emulator threads (pinned, or a pin removed) */
        bool *pin_vcpus;                /* per vCPU: set it */
        unsigned n_vcpus;
        char **error;
} PinPlan;

/* Moves emulator thread tid into the domain's emulator/ group: 1 if it was moved, 0 if there is
 * none (no cgroup of its own, no cpuset), < 0 on failure. A thread a vCPU or an iothread
 * started after the start is in that thread's group, with its cpuset. */
static int emulator_thread_regroup(DriverRuntime *rt, pid_t tid) {
        g_auto(GStrv) emu = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        if (!rt || !rt->cgroups || !rt->cgroups[0])
                return 0;
        r = cgroup_thread_group(rt->cgroups, "emulator", &emu, &error);
        if (r < 0 || !emu[0])
                return r < 0 ? r : 0;
        r = cgroup_thread_group_attach(emu, tid, false, &error);
        return r < 0 ? r : 1;
}

static int pin_thread(pid_t tid, int vcpu, void *userdata) {
        PinPlan *p = userdata;
        const char *cpuset = NULL;
        uint8_t mask[DOMAIN_CPUSET_MAX / 8];
        cpu_set_t set;
        int r;

        if (IOTHREAD_OF(vcpu) && (domain_tune_iothreadpin(p->tune, IOTHREAD_OF(vcpu)) ||
                                   (p->old && domain_tune_iothreadpin(p->old, IOTHREAD_OF(vcpu))))) {
                const DomainIOThreadPinDef *pin = domain_tune_iothreadpin(p->tune, IOTHREAD_OF(vcpu));
                cpuset = pin ? pin->cpuset : NULL;   /* an unpinned iothread is the emulator's */
                if (!cpuset)
                        cpuset = p->tune->emulatorpin;
        } else if (vcpu >= 0) {
                const DomainVcpuPinDef *pin = domain_tune_vcpupin(p->tune, (unsigned) vcpu);
                if ((unsigned) vcpu >= p->n_vcpus || !p->pin_vcpus[vcpu])
                        return 0;
                cpuset = pin ? pin->cpuset : NULL;
        } else {
                if (!p->pin_emulator)
                        return 0;
                cpuset = p->tune->emulatorpin;
        }
        if (cpuset) {
                if (domain_cpuset_parse(cpuset, mask) < 0)
                        return -EINVAL;
                mask_to_cpuset(mask, &set);
        } else
                all_cpus(&set);
        r = sched_setaffinity(tid, sizeof(set), &set) < 0 ? -errno : 0;
        if (r == -EINVAL && vcpu == -1 && emulator_thread_regroup(p->rt, tid) > 0)
                /* it lived in the group of the thread that started it (a vCPU's, an iothread's):
                 * their cpuset refused these CPUs; in emulator/ it may have them */
                r = sched_setaffinity(tid, sizeof(set), &set) < 0 ? -errno : 0;
        if (r < 0 && r != -ESRCH) {
                _cleanup_free_ char *what = vcpu >= 0          ? g_strdup_printf("vCPU %d", vcpu)
                                            : IOTHREAD_OF(vcpu) ? g_strdup_printf("iothread %u", IOTHREAD_OF(vcpu))
                                                                : g_strdup("the emulator");
                *p->error = g_strdup_printf("cannot pin %s (thread %d) to CPUs %s: %s", what, (int) tid,
                                            cpuset ?: "(all)", strerror(-r));
                return r;
        }
        return 0;
}

/* Sets the affinity of rt's threads that `tune` pins, or that `old` pinned
 * and `tune` no longer does (old NULL: the start). */
static int apply_pins(DriverRuntime *rt, const DomainTuneDef *tune, const DomainTuneDef *old, char **ret_error) {
        unsigned n = rt->def->vcpus;
        _cleanup_free_ bool *which = calloc(n ?: 1, sizeof(bool));
        PinPlan p = { .rt = rt, .tune = tune, .old = old, .pin_vcpus = which, .n_vcpus = n, .error = ret_error };
        bool any = false;

        if (!which)
                return -ENOMEM;
        for (unsigned i = 0; i < n; i++) {
                which[i] = domain_tune_vcpupin(tune, i) || (old && domain_tune_vcpupin(old, i));
                any = any || which[i];
        }
        p.pin_emulator = tune->emulatorpin || (old && old->emulatorpin);
        any = any || tune->n_iothreadpins || (old && old->n_iothreadpins);
        if (!any && !p.pin_emulator)
                return 0;
        return foreach_thread(rt->pid, pin_thread, &p);
}

typedef struct AffinityQuery {
        int vcpu;
        pid_t tid;
} AffinityQuery;

static int find_thread(pid_t tid, int vcpu, void *userdata) {
        AffinityQuery *q = userdata;

        if (q->tid == 0 && vcpu == q->vcpu)
                q->tid = tid;
        return 0;
}

int qemu_tune_get_affinity(DriverRuntime *rt, int vcpu, char **ret_cpuset) {
        AffinityQuery q = { .vcpu = vcpu < 0 ? -1 : vcpu };
        uint8_t mask[DOMAIN_CPUSET_MAX / 8] = {};
        cpu_set_t set;
        int r;

        if (rt->pid <= 0)
                return -ESRCH;
        r = foreach_thread(rt->pid, find_thread, &q);
        if (r < 0)
                return r;
        if (q.tid == 0)
                return vcpu < 0 ? -ESRCH : -ENOENT;
        if (sched_getaffinity(q.tid, sizeof(set), &set) < 0)
                return -errno;
        for (unsigned i = 0; i < DOMAIN_CPUSET_MAX && i < CPU_SETSIZE; i++)
                if (CPU_ISSET(i, &set))
                        mask[i / 8] |= (uint8_t) (1u << (i % 8));
        *ret_cpuset = domain_cpuset_format(mask);
        return *ret_cpuset ? 0 : -ENOMEM;
}

/* ---- cgroup limits ---- */

static bool tune_has_cgroup_limits(const DomainTuneDef *t) {
        return t->shares || t->period || t->quota || t->global_period || t->global_quota || t->emulator_period ||
               t->emulator_quota || t->hard_limit_kib || t->soft_limit_kib || t->swap_hard_limit_kib ||
               t->blkio_weight || t->n_blkio_devices || t->numa_nodeset;
}

static uint64_t kib_to_bytes(uint64_t kib) {
        if (kib == 0)
                return 0;
        if (kib >= DOMAIN_MEMTUNE_UNLIMITED)
                return CGROUP_LIMIT_UNLIMITED;
        return kib * 1024;
}

/* The cgroup's limits of one device: what t sets, and "no limit" for what old
 * set and t no longer does. 1 when there is something to write, 0 not, -EINVAL. */
static int device_limits(const DomainBlkioDeviceDef *d, const DomainBlkioDeviceDef *was, CgroupDeviceLimits *ret,
                         char **ret_error) {
        const uint64_t now[] = { d ? d->read_bytes_sec : 0, d ? d->write_bytes_sec : 0, d ? d->read_iops_sec : 0,
                                 d ? d->write_iops_sec : 0 };
        const uint64_t before[] = { was ? was->read_bytes_sec : 0, was ? was->write_bytes_sec : 0,
                                    was ? was->read_iops_sec : 0, was ? was->write_iops_sec : 0 };
        uint64_t v[4];
        const char *path = d ? d->path : was->path;
        struct stat st;
        bool any = d && d->weight;

        for (size_t k = 0; k < 4; k++) {
                v[k] = now[k] ?: before[k] ? CGROUP_LIMIT_UNLIMITED : 0;
                any = any || v[k];
        }
        if (!any)
                return 0;
        if (stat(path, &st) < 0 || !S_ISBLK(st.st_mode)) {
                *ret_error = g_strdup_printf("blkiotune device %s is not a block device", path);
                return -EINVAL;
        }
        *ret = (CgroupDeviceLimits) {
                .major = major(st.st_rdev), .minor = minor(st.st_rdev), .weight = d ? d->weight : 0,
                .read_bps = v[0], .write_bps = v[1], .read_iops = v[2], .write_iops = v[3],
        };
        return 1;
}

static const DomainBlkioDeviceDef *find_device(const DomainTuneDef *t, const char *path) {
        for (size_t i = 0; t && i < t->n_blkio_devices; i++)
                if (streq(t->blkio_devices[i].path, path))
                        return &t->blkio_devices[i];
        return NULL;
}

/* Writes t's limits into rt's cgroup; old (NULL at start): the limits in
 * force, whose device throttles t drops are lifted. */
static int apply_cgroup(DriverRuntime *rt, const DomainTuneDef *t, const DomainTuneDef *old, char **ret_error) {
        size_t n_old = old ? old->n_blkio_devices : 0, n = 0;
        _cleanup_free_ CgroupDeviceLimits *devs = NULL;
        CgroupLimits l;
        int r;

        if (!tune_has_cgroup_limits(t) && n_old == 0)
                return 0;
        if (!rt->cgroups || !rt->cgroups[0]) {
                *ret_error = strdup("the domain runs without a cgroup of its own (confinement is off or the host "
                                    "mounts no cgroups): cputune, memtune, blkiotune and numatune need one");
                return -EOPNOTSUPP;
        }
        devs = calloc(t->n_blkio_devices + n_old + 1, sizeof(CgroupDeviceLimits));
        if (!devs)
                return -ENOMEM;
        for (size_t i = 0; i < t->n_blkio_devices; i++) {
                const DomainBlkioDeviceDef *d = &t->blkio_devices[i];
                r = device_limits(d, find_device(old, d->path), &devs[n], ret_error);
                if (r < 0)
                        return r;
                n += r;
        }
        for (size_t i = 0; i < n_old; i++) {
                const DomainBlkioDeviceDef *was = &old->blkio_devices[i];
                if (find_device(t, was->path))
                        continue;
                r = device_limits(NULL, was, &devs[n], ret_error);
                if (r < 0)
                        return r;
                n += r;
        }
        l = (CgroupLimits) {
                /* period/quota are each vCPU's (thread_groups_apply()), global_* the whole domain's */
                .cpu_shares = t->shares, .cpu_period_us = t->global_period, .cpu_quota_us = t->global_quota,
                .memory_hard = kib_to_bytes(t->hard_limit_kib), .memory_soft = kib_to_bytes(t->soft_limit_kib),
                .memory_swap_hard = kib_to_bytes(t->swap_hard_limit_kib), .blkio_weight = t->blkio_weight,
                .devices = devs, .n_devices = n, .cpuset_mems = t->numa_nodeset,
        };
        return cgroup_limits_apply(rt->cgroups, &l, ret_error);
}

/* ---- thread groups: emulator/ and vcpuN/ under the domain's cgroup (libvirt's layout) ---- */

typedef struct GroupPlan {
        DriverRuntime *rt;
        const DomainTuneDef *tune, *old;
        bool place;                     /* move the vCPU threads into their groups */
        bool place_iothreads;           /* and the iothreads (at the start) */
        char *all_cpus;                 /* the domain cgroup's cpuset: an unpinned group's */
        char **error;
} GroupPlan;

/* CPU bandwidth and cpuset of one thread group: pin NULL and was_pinned: back to all the
 * domain's CPUs. A host without a cpuset controller keeps the sched_setaffinity() pin alone. */
static int group_limits(GroupPlan *p, char *const *sub, uint64_t period, int64_t quota, const char *pin,
                        bool was_pinned) {
        CgroupLimits l = { .cpu_period_us = period, .cpu_quota_us = quota };
        int r;

        if (period || quota) {
                r = cgroup_limits_apply(sub, &l, p->error);
                if (r < 0)
                        return r;
        }
        l = (CgroupLimits) { .cpuset_cpus = pin ?: was_pinned ? p->all_cpus : NULL };
        if (!l.cpuset_cpus)
                return 0;
        r = cgroup_limits_apply(sub, &l, p->error);
        if (r == -EOPNOTSUPP) {
                log_debug("Domain %s: %s", p->rt->def->name, *p->error);
                free(*p->error);
                *p->error = NULL;
                return 0;
        }
        return r;
}

/* An <iothreads> thread: its own iothreadN/, with its <iothreadpin>. */
static int group_iothread(GroupPlan *p, pid_t tid, unsigned id) {
        _cleanup_free_ char *name = g_strdup_printf("iothread%u", id);
        g_auto(GStrv) sub = NULL;
        const DomainIOThreadPinDef *pin = domain_tune_iothreadpin(p->tune, id);
        int r;

        r = cgroup_thread_group(p->rt->cgroups, name, &sub, p->error);
        if (r < 0)
                return r;
        if (p->place_iothreads) {
                r = cgroup_thread_group_attach(sub, tid, false, p->error);
                if (r == -ESRCH) {
                        free(*p->error);
                        *p->error = NULL;
                        return 0;
                }
                if (r < 0)
                        return r;
        }
        return group_limits(p, sub, 0, 0, pin ? pin->cpuset : NULL,
                            p->old && domain_tune_iothreadpin(p->old, id) != NULL);
}

static int group_thread(pid_t tid, int vcpu, void *userdata) {
        GroupPlan *p = userdata;
        _cleanup_free_ char *name = NULL;
        g_auto(GStrv) sub = NULL;
        const DomainVcpuPinDef *pin, *was;
        int r;

        if (IOTHREAD_OF(vcpu))
                return group_iothread(p, tid, IOTHREAD_OF(vcpu));
        if (vcpu < 0)
                return 0;   /* an emulator thread: emulator/ has them all */
        name = g_strdup_printf("vcpu%d", vcpu);
        r = cgroup_thread_group(p->rt->cgroups, name, &sub, p->error);
        if (r < 0)
                return r;
        if (p->place) {
                r = cgroup_thread_group_attach(sub, tid, false, p->error);
                if (r == -ESRCH) {   /* unplugged meanwhile */
                        free(*p->error);
                        *p->error = NULL;
                        return 0;
                }
                if (r < 0)
                        return r;
        }
        pin = domain_tune_vcpupin(p->tune, (unsigned) vcpu);
        was = p->old ? domain_tune_vcpupin(p->old, (unsigned) vcpu) : NULL;
        return group_limits(p, sub, p->tune->period, p->tune->quota, pin ? pin->cpuset : NULL, was != NULL);
}

/* Makes emulator/, a vcpuN/ per vCPU thread and an iothreadN/ per <iothreads>
 * thread, moves the threads there (place_emulator: the whole process into
 * emulator/ first and the iothreads into theirs, at the start;
 * place_vcpus: each vCPU thread into its own, also after a hot-plug) and
 * writes tune's period/quota and vcpupin into each vcpuN/, its
 * emulator_period/quota and emulatorpin into emulator/, iothreadpin into
 * iothreadN/; old: the tune in
 * force (a pin it had and tune drops gives the group all CPUs again). */
static int thread_groups_apply(DriverRuntime *rt, const DomainTuneDef *tune, const DomainTuneDef *old,
                               bool place_emulator, bool place_vcpus, char **ret_error) {
        GroupPlan p = { .rt = rt, .tune = tune, .old = old, .place = place_vcpus, .place_iothreads = place_emulator,
                        .error = ret_error };
        g_auto(GStrv) emu = NULL;
        int r;

        if (!rt->cgroups || !rt->cgroups[0]) {
                if (!tune->period && !tune->quota && !tune->emulator_period && !tune->emulator_quota)
                        return 0;
                *ret_error = strdup("the domain runs without a cgroup of its own (confinement is off or the host "
                                    "mounts no cgroups): a vCPU's or the emulator's period and quota need one");
                return -EOPNOTSUPP;
        }
        if (rt->pid <= 0)
                return -ESRCH;
        r = cgroup_thread_group(rt->cgroups, "emulator", &emu, ret_error);
        if (r < 0)
                return r;
        if (!emu[0])
                return 0;   /* no cpu, cpuacct or cpuset controller: nothing to place threads apart for */
        if (place_emulator) {
                r = cgroup_thread_group_attach(emu, rt->pid, true, ret_error);
                if (r < 0)
                        return r;
        }
        p.all_cpus = cgroup_cpuset_cpus(rt->cgroups);
        r = group_limits(&p, emu, tune->emulator_period, tune->emulator_quota, tune->emulatorpin,
                         old && old->emulatorpin);
        if (r >= 0)
                r = foreach_thread(rt->pid, group_thread, &p);
        free(p.all_cpus);
        return r;
}

int qemu_tune_apply_cgroup(DriverRuntime *rt, char **ret_error) {
        return apply_cgroup(rt, &rt->def->tune, NULL, ret_error);
}

int qemu_tune_set(DriverRuntime *rt, const DomainTuneDef *tune, char **ret_error) {
        DomainTuneDef copy;
        int r;

        *ret_error = NULL;
        r = check_running(rt);
        if (r < 0)
                return r;
        r = apply_cgroup(rt, tune, &rt->def->tune, ret_error);
        if (r < 0)
                return r;
        r = thread_groups_apply(rt, tune, &rt->def->tune, false, false, ret_error);
        if (r < 0)
                return r;
        /* after the cpusets: writing one sets its threads' affinity */
        r = apply_pins(rt, tune, &rt->def->tune, ret_error);
        if (r < 0)
                return r;
        r = domain_tune_copy(&copy, tune);
        if (r < 0) {
                domain_tune_clear(&copy);
                return r;
        }
        domain_tune_clear(&rt->def->tune);
        rt->def->tune = copy;
        live_def_changed(rt, false);
        return 0;
}

/* ---- <perf>: counters of qemu's threads (perf_event_open, inherited by the threads they start) ---- */

#define PERF_UNSUPPORTED UINT32_MAX   /* libvirt's resctrl events (cmt, mbmt, mbml): not here */

/* By domain_perf_event_names' index. */
static const struct {
        uint32_t type;
        uint64_t config;
} perf_kinds[] = {
        { PERF_UNSUPPORTED, 0 }, { PERF_UNSUPPORTED, 0 }, { PERF_UNSUPPORTED, 0 },
        { PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES }, { PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS },
        { PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_REFERENCES }, { PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_MISSES },
        { PERF_TYPE_HARDWARE, PERF_COUNT_HW_BRANCH_INSTRUCTIONS }, { PERF_TYPE_HARDWARE, PERF_COUNT_HW_BRANCH_MISSES },
        { PERF_TYPE_HARDWARE, PERF_COUNT_HW_BUS_CYCLES },
        { PERF_TYPE_HARDWARE, PERF_COUNT_HW_STALLED_CYCLES_FRONTEND },
        { PERF_TYPE_HARDWARE, PERF_COUNT_HW_STALLED_CYCLES_BACKEND }, { PERF_TYPE_HARDWARE, PERF_COUNT_HW_REF_CPU_CYCLES },
        { PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK }, { PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK },
        { PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS }, { PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CONTEXT_SWITCHES },
        { PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_MIGRATIONS }, { PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS_MIN },
        { PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS_MAJ }, { PERF_TYPE_SOFTWARE, PERF_COUNT_SW_ALIGNMENT_FAULTS },
        { PERF_TYPE_SOFTWARE, PERF_COUNT_SW_EMULATION_FAULTS },
};

/* The counters of one runtime: per event, an fd per thread qemu had when they were opened. */
typedef struct PerfCounters {
        GArray *fds[ELEMENTSOF(perf_kinds)];
} PerfCounters;

static GHashTable *perf_by_runtime;   /* DriverRuntime * → PerfCounters * */

static void perf_counters_free(PerfCounters *pc) {
        for (size_t i = 0; i < ELEMENTSOF(pc->fds); i++) {
                for (guint k = 0; pc->fds[i] && k < pc->fds[i]->len; k++)
                        close(g_array_index(pc->fds[i], int, k));
                if (pc->fds[i])
                        g_array_free(pc->fds[i], true);
        }
        free(pc);
}

static void perf_close(DriverRuntime *rt) {
        PerfCounters *pc = perf_by_runtime ? g_hash_table_lookup(perf_by_runtime, rt) : NULL;

        if (!pc)
                return;
        g_hash_table_remove(perf_by_runtime, rt);
        perf_counters_free(pc);
}

/* Why the kernel refused event name (errno r), for the start's error. */
static char *perf_refusal(const char *name, int r) {
        _cleanup_free_ char *paranoid = NULL;

        if (r == -ENOENT || r == -EOPNOTSUPP || r == -ENODEV)
                return g_strdup_printf("perf event %s: this host has no such counter (hardware events need a PMU, "
                                       "which a virtual machine often lacks)", name);
        if (r == -EACCES || r == -EPERM) {
                (void) read_full_file("/proc/sys/kernel/perf_event_paranoid", 64, &paranoid, NULL);
                return g_strdup_printf("perf event %s: not permitted (kernel.perf_event_paranoid is %s)", name,
                                       paranoid ? g_strstrip(paranoid) : "unknown");
        }
        return g_strdup_printf("perf event %s: %s", name, strerror(-r));
}

typedef struct PerfOpen {
        PerfCounters *pc;
        uint32_t events;
        char **error;
} PerfOpen;

static int perf_open_thread(pid_t tid, int vcpu, void *userdata) {
        PerfOpen *o = userdata;

        for (size_t i = 0; i < ELEMENTSOF(perf_kinds); i++) {
                struct perf_event_attr attr = {
                        .size = sizeof(attr), .type = perf_kinds[i].type, .config = perf_kinds[i].config,
                        .inherit = 1,   /* the threads it starts are counted too */
                };
                int fd;

                if (!(o->events & (1u << i)))
                        continue;
                fd = (int) syscall(SYS_perf_event_open, &attr, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
                if (fd < 0) {
                        int r = -errno;
                        if (r == -ESRCH)
                                return 0;   /* the thread ended */
                        *o->error = perf_refusal(domain_perf_event_names[i], r);
                        return r == -ENOENT || r == -ENODEV ? -EOPNOTSUPP : r;
                }
                g_array_append_val(o->pc->fds[i], fd);
        }
        return 0;
}

/* Opens the counters of the events rt's definition enables on every thread of its qemu. */
static int perf_open(DriverRuntime *rt, char **ret_error) {
        uint32_t events = rt->def->tune.perf_enabled;
        PerfCounters *pc;
        PerfOpen o;
        int r;

        perf_close(rt);
        if (!events)
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(perf_kinds); i++)
                if ((events & (1u << i)) && perf_kinds[i].type == PERF_UNSUPPORTED) {
                        *ret_error = g_strdup_printf("perf event %s is not supported (it needs resctrl)",
                                                     domain_perf_event_names[i]);
                        return -EOPNOTSUPP;
                }
        if (rt->pid <= 0)
                return -ESRCH;
        pc = calloc(1, sizeof(PerfCounters));
        if (!pc)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(pc->fds); i++)
                pc->fds[i] = g_array_new(false, false, sizeof(int));
        o = (PerfOpen) { .pc = pc, .events = events, .error = ret_error };
        r = foreach_thread(rt->pid, perf_open_thread, &o);
        if (r < 0) {
                perf_counters_free(pc);
                return r;
        }
        if (!perf_by_runtime)
                perf_by_runtime = g_hash_table_new(g_direct_hash, g_direct_equal);
        g_hash_table_insert(perf_by_runtime, rt, pc);
        return 0;
}

uint32_t qemu_tune_perf_read(DriverRuntime *rt, uint64_t values[]) {
        PerfCounters *pc = perf_by_runtime ? g_hash_table_lookup(perf_by_runtime, rt) : NULL;
        uint32_t counted = 0;

        for (size_t i = 0; pc && i < ELEMENTSOF(pc->fds); i++) {
                if (pc->fds[i]->len == 0)
                        continue;
                values[i] = 0;
                for (guint k = 0; k < pc->fds[i]->len; k++) {
                        uint64_t v;
                        if (read(g_array_index(pc->fds[i], int, k), &v, sizeof(v)) == (ssize_t) sizeof(v))
                                values[i] += v;   /* with its threads' (inherit) */
                }
                counted |= 1u << i;
        }
        return counted;
}

/* ---- the balloon: the guest reports what it reached ---- */

static void tune_event(DriverRuntime *rt, const char *name, const JsonValue *data, void *userdata) {
        int64_t actual;

        if (!streq(name, "BALLOON_CHANGE") || json_util_integer(json_object_get(data, "actual"), &actual) < 0 ||
            actual <= 0)
                return;
        if ((uint64_t) actual / 1024 == rt->def->current_memory_kib)
                return;
        rt->def->current_memory_kib = MIN((uint64_t) actual / 1024, rt->def->memory_kib);
        live_def_changed(rt, true);
}

static void tune_gone(DriverRuntime *rt, bool exited, void *userdata) {
        perf_close(rt);
}

static const QemuListener tune_listener = { .event = tune_event, .gone = tune_gone };

int qemu_tune_started(DriverRuntime *rt, char **ret_error) {
        int r;

        *ret_error = NULL;
        qemu_runtime_remove_listener(rt, &tune_listener);
        r = qemu_runtime_add_listener(rt, &tune_listener);
        if (r < 0)
                return r;
        r = thread_groups_apply(rt, &rt->def->tune, NULL, true, true, ret_error);
        if (r < 0)
                return r;
        r = apply_pins(rt, &rt->def->tune, NULL, ret_error);
        if (r < 0)
                return r;
        return perf_open(rt, ret_error);
}

void qemu_tune_recovered(DriverRuntime *rt) {
        _cleanup_free_ char *err = NULL;

        if (qemu_runtime_add_listener(rt, &tune_listener) < 0)
                log_warning("Domain %s: cannot follow its balloon: out of memory", rt->def->name);
        else if (perf_open(rt, &err) < 0)   /* the counters start again from 0 */
                log_warning("Domain %s: no perf counters: %s", rt->def->name, err ?: "out of memory");
}

/* ---- calls that wait for qemu ---- */

typedef struct TuneCall {
        DriverRuntime *rt;
        DriverDoneFn done;
        void *userdata;
        bool listening;
        unsigned n_pending;             /* commands sent, replies not yet seen */
        /* SetVCPUs */
        unsigned target;
        unsigned present;               /* vCPUs qemu has now */
        GPtrArray *unplugging;          /* qom paths sent device_del, DEVICE_DELETED not seen */
        sd_event_source *timer;
        uint64_t timeout_usec;          /* for the guest to release the vCPUs unplugged */
        int error;
        char *message;
        /* SetMemory */
        uint64_t kib;
} TuneCall;

static void call_event(DriverRuntime *rt, const char *name, const JsonValue *data, void *userdata);
static void call_gone(DriverRuntime *rt, bool exited, void *userdata);

static QemuListener call_listener(TuneCall *c) {
        return (QemuListener) { .event = call_event, .gone = call_gone, .userdata = c };
}

static void call_free(TuneCall *c) {
        if (c->listening)
                qemu_runtime_remove_listener(c->rt, &(QemuListener) { .event = call_event, .gone = call_gone,
                                                                       .userdata = c });
        if (c->unplugging)
                g_ptr_array_free(c->unplugging, true);
        sd_event_source_disable_unref(c->timer);
        free(c->message);
        free(c);
}

static void call_finish(TuneCall *c, int r, const char *message) {
        DriverDoneFn done = c->done;
        void *userdata = c->userdata;
        _cleanup_free_ char *m = message ? strdup(message) : NULL;

        call_free(c);
        done(userdata, r, m);
}

static int call_new(DriverRuntime *rt, DriverDoneFn done, void *userdata, TuneCall **ret) {
        TuneCall *c = calloc(1, sizeof(TuneCall));
        QemuListener l;
        int r;

        if (!c)
                return -ENOMEM;
        *c = (TuneCall) { .rt = rt, .done = done, .userdata = userdata };
        l = call_listener(c);
        r = qemu_runtime_add_listener(rt, &l);
        if (r < 0) {
                free(c);
                return r;
        }
        c->listening = true;
        *ret = c;
        return 0;
}

/* The process went: done with -ESRCH (driver teardown: nothing is called).
 * The monitor goes with it, so no reply can come after this. */
static void call_gone(DriverRuntime *rt, bool exited, void *userdata) {
        TuneCall *c = userdata;

        c->listening = false;
        if (!exited) {
                call_free(c);
                return;
        }
        call_finish(c, -ESRCH, "the domain stopped");
}

/* ---- SetMemory ---- */

static void balloon_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        TuneCall *c = userdata;
        _cleanup_free_ char *msg = NULL;

        if (r < 0) {
                msg = g_strdup_printf("qemu refused the balloon target: %s", error ?: strerror(-r));
                call_finish(c, r == -ECONNRESET ? -ESRCH : r, msg);
                return;
        }
        c->rt->def->current_memory_kib = c->kib;
        live_def_changed(c->rt, true);
        call_finish(c, 0, NULL);
}

int qemu_tune_set_memory(DriverRuntime *rt, uint64_t kib, DriverDoneFn done, void *userdata) {
        const DomainMemballoonDef *m = rt->def->memballoon;
        JsonValue *args;
        TuneCall *c;
        int r;

        r = check_running(rt);
        if (r < 0)
                return r;
        if (kib == 0 || kib > rt->def->memory_kib)
                return -EINVAL;
        if (!m || !streq_ptr(m->model, "virtio"))
                return -EOPNOTSUPP;
        r = call_new(rt, done, userdata, &c);
        if (r < 0)
                return r;
        c->kib = kib;
        args = json_object();
        json_object_set_new(args, "value", json_integer((json_int_t) (kib * 1024)));
        r = qmp_send(rt->qmp, "balloon", args, balloon_reply, c);
        if (r < 0) {
                call_free(c);
                return r == -ENOTCONN ? -ESRCH : r;
        }
        return 0;
}

/* ---- SetVCPUs ---- */

static void vcpus_settle(TuneCall *c) {
        if (c->n_pending > 0 || (c->unplugging && c->unplugging->len > 0))
                return;
        if (c->rt->def->current_vcpus != c->present) {
                c->rt->def->current_vcpus = c->present;
                live_def_changed(c->rt, true);
        }
        call_finish(c, c->error, c->message);
}

static void vcpu_fail(TuneCall *c, int r, const char *what, const char *error) {
        if (c->error == 0) {
                c->error = r == -ECONNRESET ? -ESRCH : r;
                c->message = g_strdup_printf("%s: %s", what, error ?: strerror(-r));
        }
}

static void device_add_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        TuneCall *c = userdata;

        c->n_pending--;
        if (r < 0)
                vcpu_fail(c, r, "qemu cannot plug a vCPU", error);
        else {
                /* its thread runs by now (qemu waits for it): into a vcpuN/ of its own, pinned */
                _cleanup_free_ char *err = NULL;
                const DomainTuneDef *t = &c->rt->def->tune;

                c->present++;
                if (thread_groups_apply(c->rt, t, NULL, false, true, &err) < 0 || apply_pins(c->rt, t, NULL, &err) < 0)
                        log_warning("Domain %s: the vCPU plugged is not in its cgroup or not pinned: %s",
                                    c->rt->def->name, err ?: "out of memory");
        }
        vcpus_settle(c);
}

static void device_del_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        TuneCall *c = userdata;

        c->n_pending--;
        if (r < 0) {
                /* not unplugged: no DEVICE_DELETED will come for it */
                vcpu_fail(c, r, "qemu cannot unplug a vCPU", error);
                if (c->unplugging->len > 0)
                        g_ptr_array_remove_index(c->unplugging, c->unplugging->len - 1);
        }
        vcpus_settle(c);
}

static void call_event(DriverRuntime *rt, const char *name, const JsonValue *data, void *userdata) {
        TuneCall *c = userdata;
        const char *path = json_util_member_string(data, "path");

        if (!c->unplugging || !streq(name, "DEVICE_DELETED") || !path)
                return;
        for (guint i = 0; i < c->unplugging->len; i++)
                if (streq(c->unplugging->pdata[i], path)) {
                        g_ptr_array_remove_index(c->unplugging, i);
                        c->present--;
                        vcpus_settle(c);
                        return;
                }
}

static int unplug_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        TuneCall *c = userdata;

        c->timer = sd_event_source_disable_unref(c->timer);
        vcpu_fail(c, -ETIMEDOUT, "the guest did not release the vCPU", "timed out");
        g_ptr_array_set_size(c->unplugging, 0);   /* what the guest gives back later is still gone from qemu */
        vcpus_settle(c);
        return 0;
}

/* Orders hotpluggable CPU slots by their topology ids (socket, die, core, thread). */
static int64_t slot_key(const JsonValue *slot) {
        const JsonValue *props = json_object_get(slot, "props");
        const char *const ids[] = { "socket-id", "die-id", "core-id", "thread-id" };
        int64_t key = 0;

        for (size_t i = 0; i < ELEMENTSOF(ids); i++) {
                int64_t v = 0;
                (void) json_util_integer(json_object_get(props, ids[i]), &v);
                key = key * 4096 + v;
        }
        return key;
}

static int compare_slots(const void *a, const void *b) {
        int64_t x = slot_key(*(const JsonValue *const *) a), y = slot_key(*(const JsonValue *const *) b);
        return x < y ? -1 : x > y;
}

static int plug_one(TuneCall *c, const JsonValue *slot) {
        const JsonValue *props = json_object_get(slot, "props");
        const char *type = json_util_member_string(slot, "type");
        JsonValue *args = json_object();
        const char *key;
        JsonValue *v;
        int r;

        if (!args || !type) {
                json_decref(args);
                return -EINVAL;
        }
        json_object_set_new(args, "driver", json_string(type));
        json_object_set_new(args, "id", json_sprintf("vcpu%" PRId64, slot_key(slot)));
        json_object_foreach((JsonValue *) props, key, v)
                if (!streq(key, "node-id"))
                        json_object_set(args, key, v);
        r = qmp_send(c->rt->qmp, "device_add", args, device_add_reply, c);
        if (r >= 0)
                c->n_pending++;
        return r;
}

static int unplug_one(TuneCall *c, const char *qom_path) {
        JsonValue *args = json_object();
        int r;

        json_object_set_new(args, "id", json_string(qom_path));
        r = qmp_send(c->rt->qmp, "device_del", args, device_del_reply, c);
        if (r >= 0) {
                c->n_pending++;
                g_ptr_array_add(c->unplugging, g_strdup(qom_path));
        }
        return r;
}

static void hotpluggable_reply(Qmp *q, int r, const JsonValue *ret, const char *error, void *userdata) {
        TuneCall *c = userdata;
        g_autoptr(GPtrArray) slots = g_ptr_array_new();
        unsigned present = 0;

        if (r < 0) {
                vcpu_fail(c, r, "qemu cannot list its CPU slots", error);
                vcpus_settle(c);
                return;
        }
        for (size_t i = 0; i < json_array_size(ret); i++) {
                const JsonValue *slot = json_array_get(ret, i);
                g_ptr_array_add(slots, (gpointer) slot);
                if (json_util_member_string(slot, "qom-path"))
                        present++;
        }
        g_ptr_array_sort(slots, compare_slots);
        c->present = present;
        c->unplugging = g_ptr_array_new_with_free_func(g_free);
        if (c->target > present) {
                unsigned want = c->target - present;
                for (guint i = 0; want > 0 && i < slots->len; i++) {
                        if (json_util_member_string(slots->pdata[i], "qom-path"))
                                continue;
                        r = plug_one(c, slots->pdata[i]);
                        if (r < 0) {
                                vcpu_fail(c, r, "cannot ask qemu to plug a vCPU", NULL);
                                break;
                        }
                        want--;
                }
        } else if (c->target < present) {
                unsigned drop = present - c->target;
                for (guint i = slots->len; drop > 0 && i > 1; i--) {   /* never the first (boot) vCPU */
                        const char *path = json_util_member_string(slots->pdata[i - 1], "qom-path");
                        if (!path)
                                continue;
                        r = unplug_one(c, path);
                        if (r < 0) {
                                vcpu_fail(c, r, "cannot ask qemu to unplug a vCPU", NULL);
                                break;
                        }
                        drop--;
                }
                if (c->unplugging->len > 0)
                        (void) sd_event_add_time_relative(c->rt->driver->event, &c->timer, CLOCK_MONOTONIC,
                                                          c->timeout_usec, 0, unplug_timeout, c);
        }
        vcpus_settle(c);
}

int qemu_tune_set_vcpus(DriverRuntime *rt, unsigned count, uint64_t timeout_usec, DriverDoneFn done,
                        void *userdata) {
        TuneCall *c;
        int r;

        r = check_running(rt);
        if (r < 0)
                return r;
        if (count == 0 || count > rt->def->vcpus)
                return -EINVAL;
        r = call_new(rt, done, userdata, &c);
        if (r < 0)
                return r;
        c->target = count;
        c->timeout_usec = timeout_usec ?: 60 * 1000000ULL;
        r = qmp_send(rt->qmp, "query-hotpluggable-cpus", NULL, hotpluggable_reply, c);
        if (r < 0) {
                call_free(c);
                return r == -ENOTCONN ? -ESRCH : r;
        }
        return 0;
}
