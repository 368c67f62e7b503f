/* domain-clone-live.c — the copies of a running original for Domain.Clone's option live: the running
 * definition names the images the guest uses now, and the driver's backup_disks copies them all at one
 * instant while the guest runs on (domain-clone-live.h). */
#include <errno.h>
#include <string.h>

#include "domain-clone-live.h"
#include "macro.h"

bool vm_clone_live_supported(const VmDomain *d) {
        return d->drv && d->drv->ops->backup_disks;
}

/* The index in the running definition of the disk `target`, or -1. */
static ssize_t live_disk_index(const VmDomain *d, const char *target) {
        const DomainDef *live = vm_domain_is_active(d) ? vm_domain_current_def(d) : NULL;

        for (size_t i = 0; live && target && i < live->n_disks; i++)
                if (streq_ptr(live->disks[i].target_dev, target))
                        return (ssize_t) i;
        return -1;
}

const DomainDiskDef *vm_clone_live_disk(const VmDomain *d, const char *target) {
        ssize_t i = live_disk_index(d, target);

        return i < 0 ? NULL : &vm_domain_current_def(d)->disks[i];
}

int vm_clone_live_copy(VmDomain *d, const CloneLiveDisk *disks, size_t n, uint64_t bandwidth,
                       const DriverJobCallbacks *cb, DriverJob **ret, char **ret_error) {
        g_autofree DriverBackupTarget *t = NULL;

        if (!vm_domain_is_active(d)) {
                *ret_error = g_strdup_printf("domain '%s' is not running any more", d->name);
                return -ESRCH;
        }
        if (!vm_clone_live_supported(d)) {
                *ret_error = g_strdup_printf("the %s driver cannot copy the disks of a running domain",
                                             d->drv->ops->name);
                return -EOPNOTSUPP;
        }
        t = g_new0(DriverBackupTarget, n);
        for (size_t k = 0; k < n; k++) {
                ssize_t i = live_disk_index(d, disks[k].target);

                if (i < 0) {
                        *ret_error = g_strdup_printf("disk %s left the running domain", strna(disks[k].target));
                        return -EINVAL;
                }
                t[k] = (DriverBackupTarget) { .disk = (size_t) i, .fd = disks[k].fd, .format = disks[k].format };
        }
        return d->drv->ops->backup_disks(d->rt, t, n, bandwidth, cb, ret, ret_error);
}
