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
 * NULL (autostart) or root, then asks vm_domain_files_check(). Takes set.
 * Returns 0 and *ret (done is called later, once), or a negative errno (set
 * freed, done not called). */
int vm_domain_files_open(Manager *m, sd_bus_message *caller, DriverFileSet *set, VmDomainFilesDoneFn done,
                         void *userdata, VmDomainFilesJob **ret);
/* Stops the job (kills its child, closes what it opened); done is not called. NULL-safe. */
VmDomainFilesJob *vm_domain_files_job_cancel(VmDomainFilesJob *j);

/* The policy hook: may `uid` give the domain these files (every fd open,
 * with its resolved path and fstat in files->opened)? Returns 0, or a
 * negative errno with error set (AccessDenied naming the path). For now it
 * allows everything: the policy (block devices, /proc, /sys, /dev, storage
 * pools the caller may use; service/path-policy.c) fills it in. May become
 * asynchronous later. */
int vm_domain_files_check(Manager *m, uid_t uid, const DriverFileSet *files, sd_bus_error *error);
