/* domain-clone-live.h — Domain.Clone of a running original (option live, domain-clone-live.c): the
 * hypervisor copies its disks, all as they were at one instant, while the guest runs on. The files
 * (the copies, opened as the caller) and the new definition stay domain-clone.c's. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "domain.h"

/* One copy: the running disk it is of and the file it goes into. */
typedef struct CloneLiveDisk {
        const char *target;        /* the disk's target dev, the same in the running and the new definition */
        int fd;                    /* the copy's new, empty file, read-write (the driver dup()s it) */
        const char *format;        /* "raw", "qcow2" */
} CloneLiveDisk;

/* Whether d's driver copies the disks of a running domain at all. */
bool vm_clone_live_supported(const VmDomain *d);

/* The disk of active d's running definition whose target dev is `target` (the image the guest uses
 * now: the active layer a snapshot made, a volume's file), or NULL when it has none (a disk added
 * to the persistent definition only). Valid until the domain changes. */
const DomainDiskDef *vm_clone_live_disk(const VmDomain *d, const char *target);

/* Starts the copies of disks[] of active d (each bandwidth bytes/s at most, 0: no limit); cb as
 * DomainDriverOps.backup_disks reports. 0 with *ret (done once), or a negative errno with
 * *ret_error (malloc'd): -ESRCH not running any more, -EINVAL a disk that left it, the driver's. */
int vm_clone_live_copy(VmDomain *d, const CloneLiveDisk *disks, size_t n, uint64_t bandwidth,
                       const DriverJobCallbacks *cb, DriverJob **ret, char **ret_error);
