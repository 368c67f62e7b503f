/* qemu-stats.h — statistics of running qemu domains and their guest agent's addresses (DomainDriverOps.get_stats, .agent_interfaces). */
#pragma once

#include "driver.h"

/* DomainDriverOps.get_stats: see driver.h. */
int qemu_stats_get(DriverRuntime *rt, unsigned groups, uint64_t timeout_usec, DriverStatsFn fn, void *userdata);
/* DomainDriverOps.agent_interfaces: see driver.h. */
int qemu_stats_agent_interfaces(DriverRuntime *rt, uint64_t timeout_usec, DriverIfAddrFn fn, void *userdata);
