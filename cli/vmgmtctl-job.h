/* vmgmtctl-job.h — following an org.vmgmt.Job to its end as virsh's verbs do (vmgmtctl-job.c). */
#pragma once

#include <stdbool.h>

#include "vmgmtctl.h"

/* virsh's --verbose progress: "\rLABEL: [ 42 %]" on stderr (stdout flushed
 * first), whatever stderr is; progress is 0..1. */
void ctl_job_progress_line(const char *label, double progress);

/* Follows the job at path until it ends, as ctl_follow_job(), showing its
 * progress as virsh does: with verbose the --verbose line under label
 * ("Save", "Managedsave", "Dump", "Block commit", "Block Pull", "Block
 * Copy"…) on every change and at 100 % when it completed, then a newline;
 * without, a bar only when stderr is a terminal. Ctrl-C cancels. Returns 0
 * when it completed, else the job's error printed. */
int ctl_follow_job_as(Context *c, const char *path, const char *label, bool verbose);
