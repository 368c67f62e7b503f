/* domain-lease.h — disk leases (libvirt's lock manager role, virtlockd's file
 * lockspace): a writable, non-shareable disk is used by at most one running
 * domain on every host that shares the lease directory. */
#pragma once

#include <stddef.h>

#include "driver.h"
#include "manager.h"

/* The leases one start (or one hot-plug) took: an OFD-locked fd per disk.
 * The hypervisor gets each in the fd set of its disk's image (DriverFiles
 * lease_fds) and holds the lock as long as the disk is in it: until the
 * disk is unplugged or the hypervisor exits, through vmgmtd restarts. The set's own
 * copies are closed when it is released. */
typedef struct VmLeases {
        int *fds;
        char **holders;         /* what each file says, without the pid */
        size_t n;
        int *by_disk;           /* per disk of the definition: its lease's fd in fds, or -1 */
        size_t n_disks;
} VmLeases;

/* The lease directory: [daemon] lease_dir=, else STATE/leases. */
const char *vm_lease_dir(Manager *m);

/* Takes the leases of the writable, non-shareable disks of `disks` (a
 * definition, or a hot-plugged disk's), held for domain `owner` (its name and
 * UUID go into the files), each as LEASE_DIR/SHA256(resolved path) locked
 * with F_OFD_SETLK, holder written in it. files: the opened files of `disks`
 * (their resolved paths), or NULL (the paths resolved here). On -EBUSY
 * *ret_error names the disk and its holder ("disk /x is in use by domain
 * NAME (UUID) on host H"); nothing stays locked then. The driver gets them
 * as DriverFiles lease_fds (= ret->by_disk).
 *
 * Migration: the destination starts its the hypervisor with DRIVER_START_NO_LEASES (the
 * source's the hypervisor holds them until the switch); after the switch the source's
 * the hypervisor quits and its fd sets, with the leases, go with it (nothing to release
 * by hand); then the destination takes them with this (owner = its domain's
 * definition, disks = the live one) and hands each fd to its the hypervisor: add-fd into
 * the fd set of the disk's image with opaque NODE-lease, as a hot-plug does
 * (the hypervisor-hotplug.c lease_added), or getfd for a lease that lives with the hypervisor. A
 * failed switch leaves them where they were, with the source's the hypervisor. */
int vm_leases_acquire(Manager *m, const DomainDef *owner, const DomainDef *disks, const DriverFiles *files,
                      VmLeases *ret, char **ret_error);

/* Writes the hypervisor's pid into each lease held (after its spawn). */
void vm_leases_set_pid(VmLeases *l, pid_t pid);

/* Closes the set's fds (a lease a hypervisor inherited stays held by it). */
void vm_leases_release(VmLeases *l);
