/* driver.c — string tables of the driver contract. */
#include <errno.h>
#include <string.h>
#include "driver.h"

static const char *const state_table[_DOMAIN_STATE_MAX] = {
        [DOMAIN_STATE_SHUTOFF] = "shutoff",
        [DOMAIN_STATE_RUNNING] = "running",
        [DOMAIN_STATE_PAUSED] = "paused",
        [DOMAIN_STATE_SHUTDOWN] = "shutdown",
        [DOMAIN_STATE_CRASHED] = "crashed",
        [DOMAIN_STATE_PMSUSPENDED] = "pmsuspended",
};

static const char *const event_table[_DOMAIN_EVENT_MAX] = {
        [DOMAIN_EVENT_NONE] = NULL,
        [DOMAIN_EVENT_DEFINED] = "defined",
        [DOMAIN_EVENT_UNDEFINED] = "undefined",
        [DOMAIN_EVENT_STARTED] = "started",
        [DOMAIN_EVENT_SUSPENDED] = "suspended",
        [DOMAIN_EVENT_RESUMED] = "resumed",
        [DOMAIN_EVENT_STOPPED] = "stopped",
        [DOMAIN_EVENT_SHUTDOWN] = "shutdown",
        [DOMAIN_EVENT_PMSUSPENDED] = "pmsuspended",
        [DOMAIN_EVENT_CRASHED] = "crashed",
};

const char *domain_state_to_string(DomainState s) {
        return (unsigned) s < _DOMAIN_STATE_MAX ? state_table[s] : NULL;
}

int domain_state_from_string(const char *s) {
        for (int i = 0; i < _DOMAIN_STATE_MAX; i++)
                if (s && strcmp(s, state_table[i]) == 0)
                        return i;
        return -EINVAL;
}

const char *domain_event_type_to_string(DomainEventType e) {
        return (unsigned) e < _DOMAIN_EVENT_MAX ? event_table[e] : NULL;
}
