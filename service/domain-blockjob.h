/* domain-blockjob.h — org.vmgmt.Domain's block jobs: BlockCommit, BlockPull, BlockCopy, BlockJobAbort, BlockResize. */
#pragma once

#include <systemd/sd-bus.h>

#include "domain.h"

/* BlockCommit(s disk, a{sv} options) → o job; BlockPull(s disk, a{sv}) → o;
 * BlockCopy(s disk, s destination, a{sv}) → o; BlockJobAbort(s disk, a{sv});
 * BlockResize(s disk, t size, a{sv}). Polkit action org.vmgmt.domain.manage;
 * the files are opened with the caller's rights (domain-files.h). */
int domain_method_block_commit(sd_bus_message *message, void *userdata, sd_bus_error *error);
int domain_method_block_pull(sd_bus_message *message, void *userdata, sd_bus_error *error);
int domain_method_block_copy(sd_bus_message *message, void *userdata, sd_bus_error *error);
int domain_method_block_job_abort(sd_bus_message *message, void *userdata, sd_bus_error *error);
int domain_method_block_resize(sd_bus_message *message, void *userdata, sd_bus_error *error);

/* For another operation (a snapshot's deletion): the commit of the layer `top`
 * of disk `disk` (its path in the chain) into `base` (by path; NULL: the layer
 * right below top), the Job and the file rights as BlockCommit's for the sender of
 * `message` (never answered): an active commit pivots when `top` is the
 * active layer; the layer that leaves the chain is removed as the caller
 * (delete). done is called once with the result (0, -ECANCELED, or the
 * failure with a message; base: the base's path as the chain names it, NULL
 * when refused before the chain was read) when 0 is returned; a refusal at once is a negative
 * errno with error set (done not called). */
typedef void (*VmBlockCommitDoneFn)(void *userdata, int r, const char *message, const char *base);
int vm_domain_block_commit(VmDomain *d, sd_bus_message *message, const char *disk, const char *top,
                           const char *base, VmBlockCommitDoneFn done, void *userdata, sd_bus_error *error);

/* After a restart (the domains recovered, the bus objects registered): the
 * block jobs every recovered domain runs (the driver kept them in its status) become org.vmgmt.Job objects again, BlockJobAbort and
 * Cancel work on them, and their ends are reported as if vmgmtd had never gone. */
void vm_domain_block_jobs_adopt_all(Manager *m);
