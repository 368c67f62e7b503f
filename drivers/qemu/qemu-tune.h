/* qemu-tune.h — vCPU hot-plug, the balloon target and resource limits of a running qemu (qemu-tune.c). */
#pragma once

#include "qemu-driver-internal.h"

/* DomainDriverOps.set_vcpus, .set_memory, .set_tune, .get_affinity */
int qemu_tune_set_vcpus(DriverRuntime *rt, unsigned count, uint64_t timeout_usec, DriverDoneFn done,
                        void *userdata);
int qemu_tune_set_memory(DriverRuntime *rt, uint64_t kib, DriverDoneFn done, void *userdata);
int qemu_tune_set(DriverRuntime *rt, const DomainTuneDef *tune, char **ret_error);
int qemu_tune_get_affinity(DriverRuntime *rt, int vcpu, char **ret_cpuset);

/* Before the spawn, once qemu_confine_prepare() made rt's cgroup: writes the
 * definition's cputune/memtune/blkiotune/numatune limits into it. 0, or a
 * negative errno with *ret_error (malloc'd): the start fails. */
int qemu_tune_apply_cgroup(DriverRuntime *rt, char **ret_error);
/* Once the monitor is up (the vCPU threads exist): puts the threads into
 * their groups (emulator/, vcpuN/), pins the vCPU and emulator threads as
 * the definition says, opens the <perf> counters (an event the kernel
 * refuses fails the start, its reason named) and follows the balloon's
 * BALLOON_CHANGE into the live currentMemory. 0, or a negative errno with
 * *ret_error (malloc'd or NULL): the start fails. */
int qemu_tune_started(DriverRuntime *rt, char **ret_error);
/* The <perf> counters of rt's qemu (all its threads): values[i] for each bit i of what it
 * returns (domain_perf_event_names' indices); 0 when none are open. */
uint32_t qemu_tune_perf_read(DriverRuntime *rt, uint64_t values[]);
/* A runtime found running at daemon start: the balloon's reports are followed again (the
 * threads keep the affinity and thread groups they had; <perf> counters start again from 0). */
void qemu_tune_recovered(DriverRuntime *rt);
