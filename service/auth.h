/* auth.h — the one gate every changing call passes (polkit plugs in here in issue 3). */
#pragma once

#include <systemd/sd-bus.h>

typedef struct Manager Manager;

/* polkit action ids (API.md "Authorization"). */
#define VM_ACTION_DOMAIN_LIFECYCLE "org.vmgmt.domain.lifecycle"
#define VM_ACTION_DOMAIN_MANAGE "org.vmgmt.domain.manage"
#define VM_ACTION_DOMAIN_CONSOLE "org.vmgmt.domain.console"
#define VM_ACTION_DOMAIN_MIGRATE "org.vmgmt.domain.migrate"
#define VM_ACTION_NETWORK_MANAGE "org.vmgmt.network.manage"
#define VM_ACTION_STORAGE_MANAGE "org.vmgmt.storage.manage"

/* Decides whether the sender of `message` may do `action`. `details` is a
 * NULL-terminated list of key, value pairs passed to polkit ("domain", NAME,
 * "domain_uuid", UUID, …); "verb" is added from the message's member.
 *
 * Returns 1 when allowed (the handler goes on), 0 when the answer is pending
 * (the handler must return 1 at once; the message is dispatched again when the
 * answer arrives and this function then returns the answer), or a negative
 * errno with error set (AccessDenied, InteractiveAuthorizationRequired).
 * Issue 2: every caller is allowed; the bus policy lets only root own the name. */
int vm_authorize(Manager *m, sd_bus_message *message, const char *action, const char *const *details,
                 sd_bus_error *error);
