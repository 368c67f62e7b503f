/* cgroup-util.h — a cgroup of its own for one supervised process tree, in every cgroup hierarchy the
 * host mounts: made, checked and removed here, joined by the child (SpawnConfinement.cgroups).
 * Knows nothing of what runs in it. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#define CGROUP_ROOT "/sys/fs/cgroup"

/* Makes the cgroup NAME under the parent group GROUP (both plain names,
 * no '/'):
 *  - cgroup v2 (CGROUP_ROOT is a cgroup2 mount, as on Debian 12 hosts):
 *    CGROUP_ROOT/GROUP.slice/NAME.scope, with the controllers the root
 *    hands down enabled in GROUP.slice. (Where systemd runs the daemon with
 *    Delegate=yes its own cgroup would be the parent instead; nothing here
 *    asks systemd.)
 *  - cgroup v1 (a mount per controller under CGROUP_ROOT): in every
 *    hierarchy that has a controller, HIER/OWN/GROUP/NAME, OWN being the
 *    caller's own cgroup there (so the limits the daemon runs under still
 *    apply to its children); cpuset.cpus/mems are copied from the parent.
 *    A hybrid host's unified hierarchy is used too when it has controllers.
 * Returns 0 with *ret_paths the directories made (NULL-terminated, malloc'd;
 * empty when the host mounts no cgroup hierarchy at all: the caller runs
 * without), or a negative errno with *ret_error (malloc'd) naming the path:
 * -EBUSY when NAME exists and has processes in it. An existing empty NAME
 * is reused. */
int cgroup_create(const char *group, const char *name, char ***ret_paths, char **ret_error);

/* Removes the directories, their thread groups (cgroup_thread_group()) first
 * (the processes in them must be gone). ENOENT is fine. Returns 0 or the
 * first failure's negative errno. */
int cgroup_remove(char *const *paths);

/* Whether pid is in the cgroup at path or in one of its thread groups (a cgroup.procs, or
 * for a thread group its cgroup.threads or v1 tasks, lists it). */
bool cgroup_contains(const char *path, pid_t pid);

/* ---- thread groups: libvirt's emulator/, vcpuN/, iothreadN/ under a process tree's cgroup ---- */

/* Makes (or finds) the sub-cgroup NAME (no '/') of the cgroup whose
 * directories are paths (as cgroup_create() made them), where the threads
 * of one process are placed apart, each group with its own CPU bandwidth
 * and cpuset:
 *  - cgroup v2 (a directory with cgroup.controllers handed cpu or cpuset; a
 *    hybrid host's unified one with hugetlb only is left out): DIR/NAME with
 *    cgroup.type "threaded" (DIR becomes the threaded domain: the memory
 *    and io limits stay there), and the threaded controllers cpu and cpuset
 *    enabled in DIR's cgroup.subtree_control where DIR has them;
 *  - cgroup v1: DIR/NAME in the hierarchies of cpu, cpuacct and cpuset
 *    (cpuset.cpus/mems copied from DIR).
 * Returns 0 with *ret_paths (NULL-terminated, malloc'd; empty when no
 * directory has those controllers), or a negative errno with *ret_error
 * (malloc'd) naming the path. */
int cgroup_thread_group(char *const *paths, const char *name, char ***ret_paths, char **ret_error);

/* Moves into the thread group at paths (cgroup_thread_group()) the thread tid
 * alone, or (process) every thread of the process tid leads: v2
 * cgroup.threads / cgroup.procs, v1 tasks / cgroup.procs. Threads it makes
 * later start where the thread making them is. Returns 0, or a negative
 * errno with *ret_error (malloc'd) naming the file (-ESRCH: gone). */
int cgroup_thread_group_attach(char *const *paths, pid_t tid, bool process, char **ret_error);
