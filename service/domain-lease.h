/* domain-lease.h — disk leases (libvirt's lock manager role, virtlockd's file
 * lockspace): a writable, non-shareable disk is used by at most one running
 * domain on every host that shares the lease directory. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "driver.h"
#include "manager.h"

/* The leases one start (or one hot-plug) took: an OFD-locked fd per disk.
 * The hypervisor gets each in the fd set of its disk's image (DriverFiles
 * lease_fds) and holds the lock as long as the disk is in it: until the
 * disk is unplugged or the hypervisor exits, through vmgmtd restarts. The set's own
 * copies are closed when it is released. */
typedef struct VmLeases {
        int *fds;
        char **holders;         /* what each file says, without the pid (NULL: a <lease> device's) */
        char **paths;           /* each fd's lease file */
        char **whats;           /* a disk's identity, or a <lease> device's Busy message */
        int64_t *offsets;       /* the byte each fd locks, -1: the whole file */
        size_t *groups;         /* the lease each fd is of (a hypervisor may have several fds of one) */
        size_t n;
        int *by_disk;           /* per disk of the definition: its lease's fd in fds, or -1 */
        size_t n_disks;
} VmLeases;

/* The lease directory: [daemon] lease_dir=, else STATE/leases. */
const char *vm_lease_dir(Manager *m);

/* Takes the leases of the writable, non-shareable disks of `def` (a
 * definition, or a hot-plugged disk's), held for domain `owner` (its name and
 * UUID go into the files; owner == def: its <lease> devices too), each as
 * LEASE_DIR/SHA256(resolved path) locked (lock; else only opened: a migration's
 * destination, see below) with F_OFD_SETLK, holder written in it. files: the
 * opened files of `def` (their resolved paths), or NULL (the paths resolved
 * then). It all happens in a thread (the lease directory is on shared storage,
 * which may hang) with copies of what it needs; done follows on the loop with
 * the leases (done may move them out; what it leaves is released) or, on
 * -EBUSY, a message naming the disk and its holder ("disk /x is in use by
 * domain NAME (UUID) on host H"); nothing stays locked then. The driver gets
 * them as DriverFiles lease_fds (= leases->by_disk).
 * Returns 0 and *ret, or a negative errno (done not called). */
typedef struct VmLeasesCall VmLeasesCall;
typedef void (*VmLeasesDoneFn)(void *userdata, int r, VmLeases *leases, const char *message);
int vm_leases_take_start(Manager *m, const DomainDef *owner, const DomainDef *def, const DriverFiles *files, bool lock,
                         VmLeasesDoneFn done, void *userdata, VmLeasesCall **ret);
/* A <lease> device detached from a running domain: its lock, held by the hypervisor pid on fds of
 * lease->target_path, is unlocked (in a thread, as above); done follows with r (leases empty) or a
 * message. Returns 0 and *ret, or a negative errno (done not called). */
int vm_lease_device_release_start(Manager *m, const DomainLeaseDef *lease, pid_t pid, VmLeasesDoneFn done,
                                  void *userdata, VmLeasesCall **ret);
/* The same for the lease of `disk` (by its identity, resolved in the thread): what a block copy
 * leaves behind in the hypervisor (the old image's after a pivot, the copy's after any other end)
 * is let go now, also while the guest is paused (the hypervisor then keeps removed fds open).
 * A disk that takes no lease: 0 and *ret NULL, done not called. */
int vm_lease_disk_release_start(Manager *m, const DomainDiskDef *disk, pid_t pid, VmLeasesDoneFn done,
                                void *userdata, VmLeasesCall **ret);
/* done is not called; what the thread takes is let go when it ends. NULL-safe; returns NULL. */
VmLeasesCall *vm_leases_call_cancel(VmLeasesCall *c);

/* Whether a start of def takes a lease (a disk that needs one, a <lease> device). */
bool vm_leases_needed(const DomainDef *def);

/* Writes the hypervisor's pid into each lease held (after its spawn), in a thread of its own. */
void vm_leases_set_pid(VmLeases *l, pid_t pid);

/* Closes the set's fds (a lease a hypervisor inherited stays held by it). */
void vm_leases_release(VmLeases *l);

/* ---- a live migration's handover (service/manager-migrate.c, service/domain-migrate.c) ----
 *
 * A lease belongs to the open file description the hypervisor holds, so it moves between two
 * hypervisors without either exiting; at no moment do two running guests hold it:
 * 1. the destination's PrepareMigration opens the lease files, WITHOUT locking them
 *    (the source's hypervisor holds them), and starts its hypervisor with DRIVER_START_NO_LEASES
 *    and these fds as DriverFiles lease_fds (in the disks' fd sets, as at any start); it keeps
 *    its own copies, the same open file descriptions;
 * 2. the source, once the stream is through (its guest paused), takes the lease fds out of its
 *    hypervisor (vm_leases_of_process()) and unlocks them (vm_leases_unlock()), the hypervisor
 *    still running, before it asks FinishIncomingMigration;
 * 3. the destination's FinishIncomingMigration locks its copies (vm_leases_lock(), never
 *    waiting: what the destination's hypervisor holds is locked with them) before the guest runs
 *    there; one held by anyone else fails it Busy naming the holder, the guest does not run
 *    there (the incoming domain is killed, its locks released first);
 * 4. the source: the destination runs it, its hypervisor quits; the destination did not take
 *    it, it locks its copies again and the guest runs on; when that fails (someone else took a
 *    lease meanwhile), the guest stays paused there (the Job's error names the holder).
 * A failed stream leaves the leases where they were, with the source's hypervisor.
 *
 * vm_leases_take_start() with lock false opens them for step 1. */

/* Locks every lease of l (each once, on one of its fds; F_OFD_SETLK, never waiting) and writes its
 * holder with pid: 0, or -EBUSY with *ret_error naming the holder (then nothing of l is locked). */
int vm_leases_lock(VmLeases *l, pid_t pid, char **ret_error);

/* Unlocks every fd of l; the fds stay open. */
void vm_leases_unlock(VmLeases *l);

/* The leases of owner's disks `def` (its live definition; owner == def: its <lease> devices too)
 * that the running hypervisor `pid` holds: copies of its fds (pidfd_getfd(), found by the lease
 * files' inodes among /proc/PID/fd), sharing their open file descriptions. */
int vm_leases_of_process(Manager *m, const DomainDef *owner, const DomainDef *def, pid_t pid, VmLeases *ret,
                         char **ret_error);
