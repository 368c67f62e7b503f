/* cgroup-tune.h — resource limits written into a process tree's own cgroup (cgroup-util.h made it):
 * CPU weight and bandwidth, memory limits, block I/O weight and throttling, cpuset memory nodes,
 * in the v2 files (Debian 12 hosts) or the v1 controllers' (cpu, memory, blkio, cpuset). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define CGROUP_LIMIT_UNLIMITED UINT64_MAX

/* Limits of one block device (0: leave as it is). */
typedef struct CgroupDeviceLimits {
        unsigned major, minor;
        unsigned weight;                        /* 100…1000 (v1 range; v2 io.weight takes it as it is) */
        uint64_t read_bps, write_bps, read_iops, write_iops;   /* CGROUP_LIMIT_UNLIMITED: no limit */
} CgroupDeviceLimits;

/* What to write; every 0 (NULL) field is left as it is. */
typedef struct CgroupLimits {
        uint64_t cpu_shares;                    /* v1 cpu.shares 2…262144; v2 cpu.weight scaled to 1…10000 */
        uint64_t cpu_period_us;                 /* 1000…1000000 */
        int64_t cpu_quota_us;                   /* -1: unlimited */
        uint64_t memory_hard, memory_soft, memory_swap_hard;   /* bytes; CGROUP_LIMIT_UNLIMITED: none.
                                                 * swap_hard is memory + swap (v1 memsw; v2 swap.max = it − hard) */
        unsigned blkio_weight;                  /* 100…1000 */
        const CgroupDeviceLimits *devices;
        size_t n_devices;
        const char *cpuset_mems;                /* "0-1" */
        const char *cpuset_cpus;                /* "0-1"; a thread group's pin (cgroup_thread_group()) */
} CgroupLimits;

/* Writes l into the cgroup of one process tree: paths are its directories,
 * one per hierarchy, as cgroup_create() made them. Each value goes to the
 * directory that has its file (a v2 directory is one with
 * cgroup.controllers; a v1 one has the controller's files). Returns 0, or a
 * negative errno with *ret_error (malloc'd) naming the file: -EOPNOTSUPP
 * when no directory has the controller the value needs (nothing of l is
 * written then), else the kernel's refusal (-EINVAL: out of range,
 * -EBUSY: the memory in use is above the new limit). */
int cgroup_limits_apply(char *const *paths, const CgroupLimits *l, char **ret_error);

/* Reads what the cgroup has now into *ret (every field the hierarchies
 * have; unlimited values as CGROUP_LIMIT_UNLIMITED / -1; devices are not
 * read). Returns 0 or a negative errno. */
int cgroup_limits_read(char *const *paths, CgroupLimits *ret);

/* The v2 cpu.weight for a v1 cpu.shares value and back (1024 is 100: both defaults). */
uint64_t cgroup_shares_to_weight(uint64_t shares);
uint64_t cgroup_weight_to_shares(uint64_t weight);

/* The CPUs the cgroup at paths may use (v2 cpuset.cpus.effective, v1
 * cpuset.cpus), malloc'd; NULL when no directory has a cpuset. */
char *cgroup_cpuset_cpus(char *const *paths);
