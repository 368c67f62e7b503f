/* domain-blockjob.h — org.vmgmt.Domain's block jobs: BlockCommit, BlockPull, BlockCopy, BlockJobAbort, BlockResize. */
#pragma once

#include <systemd/sd-bus.h>

/* BlockCommit(s disk, a{sv} options) → o job; BlockPull(s disk, a{sv}) → o;
 * BlockCopy(s disk, s destination, a{sv}) → o; BlockJobAbort(s disk, a{sv});
 * BlockResize(s disk, t size, a{sv}). Polkit action org.vmgmt.domain.manage;
 * the files are opened with the caller's rights (domain-files.h). */
int domain_method_block_commit(sd_bus_message *message, void *userdata, sd_bus_error *error);
int domain_method_block_pull(sd_bus_message *message, void *userdata, sd_bus_error *error);
int domain_method_block_copy(sd_bus_message *message, void *userdata, sd_bus_error *error);
int domain_method_block_job_abort(sd_bus_message *message, void *userdata, sd_bus_error *error);
int domain_method_block_resize(sd_bus_message *message, void *userdata, sd_bus_error *error);
