/* job.h — org.vmgmt.Job objects at /org/vmgmt/job/ID: the long operations of
 * every object kind (a volume's clone/upload/download, a domain's save,
 * restore, dump, snapshot, block job, migration).
 *
 * Whoever starts the work makes a job, publishes it, feeds it progress and
 * finishes it exactly once; Cancel asks the work to stop through the cancel
 * hook (the work then finishes with -ECANCELED). A finished job stays on the
 * bus for [daemon] job_linger_sec= (60 s), then goes away with
 * InterfacesRemoved. Ids never repeat, also over restarts of vmgmtd. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "manager.h"

#define VM_JOB_PREFIX "/org/vmgmt/job"
#define VM_JOB_INTERFACE "org.vmgmt.Job"
#define VM_ERROR_NO_SUCH_JOB "org.vmgmt.Error.NoSuchJob"

/* How long a finished job stays on the bus ([daemon] job_linger_sec= overrides). */
#define VM_JOB_LINGER_USEC_DEFAULT (60 * 1000000ULL)
/* At most this often a job's progress is signalled. */
#define VM_JOB_PROGRESS_INTERVAL_USEC (100 * 1000ULL)

typedef struct VmJob VmJob;

/* Asks the work to stop; it must finish the job later (-ECANCELED when it did
 * stop, its own result when it was too late). */
typedef void (*VmJobCancelFn)(VmJob *j, void *userdata);

/* A new job of `type` (as API.md lists: save, restore, dump, snapshot, clone,
 * upload, download, migrate, block-commit, …) on `object` (a bus path). Cancel
 * is authorized with polkit `action` and `details` (NULL-terminated key/value
 * pairs, copied; NULL: none). Not on the bus until vm_job_publish(). */
VmJob *vm_job_new(Manager *m, const char *type, const char *object, const char *action, const char *const *details);
/* What Cancel calls (NULL: the job cannot be cancelled → NotSupported). */
void vm_job_set_cancel(VmJob *j, VmJobCancelFn fn, void *userdata);
/* Data of whoever runs the job, freed with the job (also when vmgmtd exits
 * with it running); set NULL to take it back. */
void vm_job_set_owner_data(VmJob *j, void *data, GDestroyNotify free_data);
/* Puts the job on the bus (InterfacesAdded). */
void vm_job_publish(VmJob *j);
/* Frees a job that never went on the bus. */
void vm_job_discard(VmJob *j);

const char *vm_job_path(const VmJob *j);
const char *vm_job_type(const VmJob *j);
const char *vm_job_object(const VmJob *j);
bool vm_job_is_running(const VmJob *j);
uint64_t vm_job_total(const VmJob *j);

/* Progress: bytes done of total (0: unknown yet), signalled at most ten times a second. */
void vm_job_progress(VmJob *j, uint64_t processed, uint64_t total);
/* Details of the progress (a migration's RAM numbers, …), the Job's Info a{sv}: key → value
 * (t or s), signalled with the progress. */
void vm_job_set_info(VmJob *j, const char *key, uint64_t value);
void vm_job_set_info_string(VmJob *j, const char *key, const char *value);
/* The end, once: r = 0 completed, -ECANCELED cancelled, else failed with message
 * (NULL: strerror). The cancel hook is not called any more. */
void vm_job_finish(VmJob *j, int r, const char *message);

/* The running job of `type` (NULL: any type) on `object`, or NULL. */
VmJob *vm_job_find_running(Manager *m, const char *object, const char *type);
VmJob *vm_job_find_by_path(Manager *m, const char *path);

/* Jobs table and id reservation (RUN/job-ids); called by the manager. */
void vm_jobs_init(Manager *m);
/* Frees every job without calling any cancel hook (before the drivers go). */
void vm_jobs_free_all(Manager *m);
