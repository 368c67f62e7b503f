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

/* Removes the directories (the processes in them must be gone). ENOENT is
 * fine. Returns 0 or the first failure's negative errno. */
int cgroup_remove(char *const *paths);

/* Whether pid is in the cgroup at path (its cgroup.procs lists it). */
bool cgroup_contains(const char *path, pid_t pid);
