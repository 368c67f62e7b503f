/* bus-util.h — the edge between D-Bus and the rest: error names, a{sv} option parsing, caller credentials,
 * GetManagedObjects entries. */
#pragma once

#include <glib.h>

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

#define VM_ERROR_NO_SUCH_DOMAIN "org.vmgmt.Error.NoSuchDomain"
#define VM_ERROR_NO_SUCH_SNAPSHOT "org.vmgmt.Error.NoSuchSnapshot"
#define VM_ERROR_ALREADY_EXISTS "org.vmgmt.Error.AlreadyExists"
#define VM_ERROR_INVALID_XML "org.vmgmt.Error.InvalidXML"
#define VM_ERROR_INVALID_STATE "org.vmgmt.Error.InvalidState"
#define VM_ERROR_BUSY "org.vmgmt.Error.Busy"
#define VM_ERROR_CONFLICT "org.vmgmt.Error.Conflict"
#define VM_ERROR_NOT_SUPPORTED "org.vmgmt.Error.NotSupported"
#define VM_ERROR_OPERATION_FAILED "org.vmgmt.Error.OperationFailed"
#define VM_ERROR_CANCELLED "org.vmgmt.Error.Cancelled"

/* One allowed key of an a{sv} options dict. `type` is the D-Bus signature the
 * value must have ("b", "t", "u", "x", "s"); `ret` points at a bool / uint64_t /
 * uint32_t / int64_t / const char * (borrowed from the message) of that type; `seen`, if
 * not NULL, is set to true when the key was given. */
typedef struct BusOption {
        const char *key;
        const char *type;
        void *ret;
        bool *seen;
} BusOption;

/* Reads an a{sv} at the current position of m. Every key must be in the table
 * (terminated by an entry with key NULL; the table may be NULL for "no
 * options") with exactly its type. Returns 0, or a negative errno with error set
 * to InvalidArgs naming the offending key. */
int bus_options_parse(sd_bus_message *m, const BusOption *table, sd_bus_error *error);

/* The one map from a failure (negative errno plus the driver's or OS's
 * message) to a bus error, the same for every kind of object (API.md
 * "Errors"): -EOPNOTSUPP → NotSupported, -EINVAL → InvalidArgs, -EEXIST →
 * AlreadyExists, -EBUSY → Busy, -EALREADY/-ENOTCONN/-ESRCH/-ENOTEMPTY →
 * InvalidState, -ECANCELED → Cancelled, -EACCES → AccessDenied (a file the
 * caller cannot open), anything else → OperationFailed.
 * `what` prefixes the message ("Failed to start domain 'x'"). Returns r (a
 * negative errno, for the handler to return; -EIO when r was not negative). */
int bus_error_from_errno(sd_bus_error *error, int r, const char *message, const char *what);

/* The uid and pid of the sender of m, cached per unique name (cache owned by
 * the caller). Returns 0 or a negative errno. */
typedef struct BusCredsCache BusCredsCache;
BusCredsCache *bus_creds_cache_new(void);
BusCredsCache *bus_creds_cache_free(BusCredsCache *c);
int bus_creds_cache_get(BusCredsCache *c, sd_bus_message *m, uid_t *ret_uid, pid_t *ret_pid);
/* Without asking the bus: 1 and the cached uid/pid (either may be NULL) when
 * `sender` is known, else 0. */
int bus_creds_cache_lookup(BusCredsCache *c, const char *sender, uid_t *ret_uid, pid_t *ret_pid);
/* Without asking the bus: 1 with uid, pid and the supplementary groups
 * (appended to `groups`, gid_t) when the bus told them for `sender`, else 0. */
int bus_creds_cache_lookup_groups(BusCredsCache *c, const char *sender, uid_t *ret_uid, pid_t *ret_pid,
                                  GArray *groups);
/* Records what the bus said about `sender` (from an asynchronous query);
 * groups (gid_t, copied) NULL when not known. */
void bus_creds_cache_put(BusCredsCache *c, const char *sender, uid_t uid, pid_t pid, const GArray *groups);
/* Reads a GetConnectionCredentials reply: UnixUserID (UINT32_MAX when absent),
 * ProcessID (0 when absent) and UnixGroupIDs (appended to groups, gid_t;
 * *ret_have_groups says whether the bus sent them). 0 or a negative errno. */
int bus_connection_credentials_read(sd_bus_message *reply, uint32_t *ret_uid, uint32_t *ret_pid, GArray *groups,
                                    bool *ret_have_groups);
/* Drops `sender` (it disconnected). */
void bus_creds_cache_forget(BusCredsCache *c, const char *sender);
/* The gid to act as for a caller whose groups the bus told (gid_t, as
 * bus_connection_credentials_read() gave them) and whose uid/pid it told:
 * one of those groups (see bus-util.c for which). 0, or -ENOENT when the
 * bus told none. */
int bus_creds_pick_gid(const GArray *groups, uid_t uid, pid_t pid, gid_t *ret);

/* Custom GetManagedObjects replies (answered from a registry in one pass, not
 * through sd-bus's per-object walk). Both read properties through the vtable's
 * own getters, called with `userdata` as the object, so they cannot drift from
 * GetAll; properties GetAll leaves out (hidden, explicit) are left out here too.
 *
 * bus_append_interface_properties() appends one {s a{sv}} entry: `interface`
 * and its properties (none when vtable is NULL). bus_append_managed_object()
 * appends one {o a{sa{sv}}} entry: the standard Peer, Introspectable and
 * Properties interfaces (no properties) followed by `interface`. Both return 0
 * or a negative errno (from sd-bus or a getter, which may set error). */
int bus_append_interface_properties(sd_bus_message *reply, const char *path, const char *interface,
                                    const sd_bus_vtable *vtable, void *userdata, sd_bus_error *error);
int bus_append_managed_object(sd_bus_message *reply, const char *path, const char *interface,
                              const sd_bus_vtable *vtable, void *userdata, sd_bus_error *error);

/* Properties.Set of a property whose change needs polkit: sd-bus calls the
 * setter synchronously, so it cannot wait for the answer there. A fallback
 * filter (sd_bus_add_fallback(), run before sd-bus's own handling) calls
 * bus_property_set_filter(), which picks out Properties.Set("ssv") of a
 * writable property of `interface` in `vtable` and calls `authorize` with the
 * property name (borrowed from the message, which is rewound for sd-bus to
 * read again). `authorize` returns 0 when the answer is pending (the message
 * will be dispatched again once it is in), > 0 when sd-bus may go on (the
 * answer is in for the setter to take, or there is no such object for sd-bus
 * to report), or a negative errno. The result is the filter's: 1 (stop, the
 * call waits), 0 (sd-bus goes on) or a negative errno. */
typedef int (*BusPropertySetAuthorizeFn)(sd_bus_message *message, const char *property, void *userdata,
                                         sd_bus_error *error);
int bus_property_set_filter(sd_bus_message *message, const char *interface, const sd_bus_vtable *vtable,
                            BusPropertySetAuthorizeFn authorize, void *userdata, sd_bus_error *error);
