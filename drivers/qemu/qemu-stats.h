/* qemu-stats.h — statistics of running qemu domains (DomainDriverOps.get_stats). */
#pragma once

#include "driver.h"

/* DomainDriverOps.get_stats: see driver.h. */
int qemu_stats_get(DriverRuntime *rt, unsigned groups, uint64_t timeout_usec, DriverStatsFn fn, void *userdata);
