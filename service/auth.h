/* auth.h — the one gate every changing call passes: polkit, asked asynchronously from the event loop. */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>

typedef struct Manager Manager;

/* polkit action ids (API.md "Authorization"). */
#define VM_ACTION_DOMAIN_LIFECYCLE "org.vmgmt.domain.lifecycle"
#define VM_ACTION_DOMAIN_MANAGE "org.vmgmt.domain.manage"
#define VM_ACTION_DOMAIN_CONSOLE "org.vmgmt.domain.console"
#define VM_ACTION_DOMAIN_MIGRATE "org.vmgmt.domain.migrate"
#define VM_ACTION_NETWORK_MANAGE "org.vmgmt.network.manage"
#define VM_ACTION_STORAGE_MANAGE "org.vmgmt.storage.manage"
/* a domain of a caller other than root uses a file of a storage pool (path-policy.h) */
#define VM_ACTION_STORAGE_USE "org.vmgmt.storage.use"

/* Decides whether the sender of `message` may do `action`. `details` is a
 * NULL-terminated list of key, value pairs passed to polkit ("domain", NAME,
 * "domain_uuid", UUID, …); "verb" (the message's member) is put first.
 *
 * Callers with uid 0 (or the daemon's own uid) are allowed without asking.
 * Everybody else is checked with polkit's CheckAuthorization, subject
 * system-bus-name, AllowUserInteraction when the message carries the
 * ALLOW_INTERACTIVE_AUTHORIZATION flag. Nothing is cached beyond one call:
 * every call is checked afresh.
 *
 * Returns 1 when allowed (the handler goes on), 0 when the answer is pending
 * (the handler must return 1 at once, having changed nothing; the message is
 * dispatched again when the answer arrives and this function then returns it),
 * or a negative errno with error set: AccessDenied (polkit said no, is missing
 * or did not answer in time), InteractiveAuthorizationRequired (polkit would
 * ask for a password but the caller did not allow interaction).
 *
 * One check per message: a handler calls this once, before any change. When
 * the action or details differ between the two dispatches (the object was
 * renamed meanwhile) the answer is AccessDenied. */
int vm_authorize(Manager *m, sd_bus_message *message, const char *action, const char *const *details,
                 sd_bus_error *error);

/* As vm_authorize(), but an allowed answer stays for the vm_authorize() call
 * that follows in the same dispatch (used by the Properties.Set filter, which
 * runs before sd-bus calls the property's setter). */
int vm_authorize_prepare(Manager *m, sd_bus_message *message, const char *action, const char *const *details,
                         sd_bus_error *error);

/* polkit cancellation ids, for CheckAuthorization calls of others (path-policy-check.c):
 * a fresh one of this vmgmtd's ("vmgmt-N") into buf, and CancelCheckAuthorization
 * for one still pending (nothing for ""; the answer is not waited for). */
#define VM_AUTH_CANCEL_ID_MAX 48
void vm_auth_new_cancel_id(Manager *m, char buf[static VM_AUTH_CANCEL_ID_MAX]);
void vm_auth_cancel_check(Manager *m, const char *cancel_id);

/* A caller whose call is answered later (the call waits for something
 * slower than polkit, e.g. an emulator's capabilities probe). It is followed
 * by the same disconnect tracking that drops pending authorizations: a caller
 * that went away meanwhile is gone, and its call must not happen either. */
typedef struct VmCaller VmCaller;

/* Starts following the sender of `message` (never NULL; a message without a
 * sender is never gone). */
VmCaller *vm_caller_watch(Manager *m, sd_bus_message *message);
/* True once the caller disconnected after vm_caller_watch(). */
bool vm_caller_gone(const VmCaller *c);
const char *vm_caller_name(const VmCaller *c);
VmCaller *vm_caller_free(VmCaller *c);

/* Sets up the table of checks under way and subscribes to disconnections (a
 * caller that goes away while its check is pending is forgotten; its call does
 * nothing). Called once the bus is attached. Returns 0 or a negative errno. */
int vm_auth_init(Manager *m);

/* Drops every check under way; callers still waiting get AccessDenied (at
 * exit, while the bus is still connected). */
void vm_auth_done(Manager *m);
