/* qemu-stats.h — statistics of running qemu domains and their guest agent's addresses (DomainDriverOps.get_stats, .agent_interfaces). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "driver.h"
#include "json-util.h"

/* DomainDriverOps.get_stats: see driver.h. */
int qemu_stats_get(DriverRuntime *rt, unsigned groups, uint64_t timeout_usec, DriverStatsFn fn, void *userdata);
/* DomainDriverOps.agent_interfaces (qemu-agent.c): see driver.h. */
int qemu_agent_interfaces(DriverRuntime *rt, uint64_t timeout_usec, DriverIfAddrFn fn, void *userdata);
/* A non-negative QMP number as uint64 (values beyond int64 come as reals); false otherwise. */
bool qemu_json_u64(const JsonValue *v, uint64_t *ret);
