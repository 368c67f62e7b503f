/* domain-files.h — a start's host files, opened by vmgmtd with the rights of the bus caller who asked,
 * and the policy on what a caller may hand to a domain. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

#include "driver-files.h"
#include "manager.h"
#include "open-files.h"

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

/* ---- files a caller names for one operation (Save, CoreDump, RestoreDomain, …) ----
 *
 * The same opening as the caller and the same path policy as a start's files,
 * for a list of plain OpenFileRequests. A file to be written as a result
 * (a save image, a dump) is asked for with OPEN_FILE_CREATE: it is created
 * as the caller at a temporary name next to the path and judged by the
 * policy as the file it will become (the path's name in the temporary's real
 * directory); the operation then makes it appear under its name with
 * vm_caller_file_finish(RENAME) or removes it with (UNLINK), with the rights
 * it was created with, so a cancelled or failed operation leaves nothing. */

typedef struct VmCallerFiles {
        OpenFiles *files;          /* one per request, every one open (files[i].request == i) */
        OpenFileCreds creds;       /* whose rights they were opened with; root for root and autostart */
        gid_t *groups;             /* creds.groups (owned) */
        bool *created;             /* per files[]: an OPEN_FILE_CREATE temporary not yet finished */
} VmCallerFiles;

/* Closes every fd. Files created and not finished stay where they are (see
 * vm_caller_files_discard()). NULL-safe; returns NULL. */
VmCallerFiles *vm_caller_files_free(VmCallerFiles *f);

/* r = 0: every request is open and allowed (files' ownership passed);
 * r < 0: refused or failed with message (naming the path; -EACCES is AccessDenied
 * on the bus); whatever was created has been removed again and files is NULL. */
typedef void (*VmCallerFilesDoneFn)(void *userdata, int r, VmCallerFiles *files, const char *message);

/* Opens requests (copied) as the sender of `caller` (root when NULL or root),
 * then, for a caller other than root, has the path policy judge every file for
 * domain `domain` with `caller`'s member as the verb (path-policy.h). Returns 0
 * and *ret (done is called later, once; cancel with vm_domain_files_job_cancel(),
 * which removes created files in the background), or a negative errno (done not called). */
int vm_caller_files_open(Manager *m, sd_bus_message *caller, const char *domain, const OpenFileRequest *requests,
                         size_t n_requests, VmCallerFilesDoneFn done, void *userdata, VmDomainFilesJob **ret);

/* Renames (to its path) or unlinks the OPEN_FILE_CREATE file of request i with
 * f's credentials (open_file_finish_start()). Returns 0 and *ret (may be NULL:
 * then it runs to its end unwatched), or a negative errno (done not called). */
int vm_caller_file_finish(Manager *m, VmCallerFiles *f, size_t i, OpenFileFinish action,
                          OpenFileFinishDoneFn done, void *userdata, OpenFilesJob **ret);

/* Unlinks every created file of f not finished yet in the background (errors logged) and frees f. NULL-safe; returns NULL. */
VmCallerFiles *vm_caller_files_discard(Manager *m, VmCallerFiles *f);
