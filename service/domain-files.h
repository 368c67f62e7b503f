/* domain-files.h — a start's host files, opened by vmgmtd with the rights of the bus caller who asked,
 * and the policy on what a caller may hand to a domain. */
#pragma once

#include <sys/types.h>
#include <systemd/sd-bus.h>

#include "driver-files.h"
#include "manager.h"

typedef struct VmDomainFilesJob VmDomainFilesJob;

/* r = 0: every file of set is open and allowed (set's ownership passed back);
 * r < 0: the start must fail with r and message (naming the path; -EACCES is
 * AccessDenied on the bus); set has been freed. */
typedef void (*VmDomainFilesDoneFn)(void *userdata, int r, DriverFileSet *set, const char *message);

/* Opens set's requests in a child of the loop (open-files.h) with the
 * credentials of the sender of `caller` — its uid, its effective gid and its
 * supplementary groups as the bus reports them — or as root when caller is
 * NULL (autostart) or root, then, for a caller other than root, has the path
 * policy judge where every fd leads (path-policy.h: no device, nothing under
 * /proc, /sys, /dev unless allow-listed, only storage pools polkit lets the
 * caller use for `domain`; this may ask polkit). Takes set.
 * Returns 0 and *ret (done is called later, once), or a negative errno (set
 * freed, done not called). */
int vm_domain_files_open(Manager *m, sd_bus_message *caller, const char *domain, DriverFileSet *set,
                         VmDomainFilesDoneFn done, void *userdata, VmDomainFilesJob **ret);
/* Stops the job (kills its child, closes what it opened); done is not called. NULL-safe. */
VmDomainFilesJob *vm_domain_files_job_cancel(VmDomainFilesJob *j);
