/* object-kind.h — a bus object kind, declared once: where its objects live on
 * the bus, how they are found and listed, its interface table, its polkit
 * action, how its registry is walked. One registry (object-kind.c) serves
 * every kind: the sd-bus registration, GetManagedObjects, Get<Noun> and
 * List<Noun>s, InterfacesAdded/Removed.
 *
 * Adding a kind is one declaration (in the file that holds the kind's whole
 * bus surface: domain-dbus.c, snapshot-dbus.c, network-dbus.c, pool-dbus.c,
 * volume-dbus.c, job.c) and one line in vm_object_kinds[]. */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>

#include "bus-util.h"

typedef struct Manager Manager;

/* Called for each object of a kind that is on the bus, with its path. */
typedef int (*VmObjectFn)(void *userdata, void *object, const char *path);

/* What a kind's XML format hook is asked for (GetXMLDesc's options). */
typedef enum VmFormatFlags {
        VM_FORMAT_INACTIVE = 1 << 0,     /* the persistent definition, not the running one */
        VM_FORMAT_SECURE = 1 << 1,       /* with secrets (the caller was authorized for them) */
} VmFormatFlags;

typedef struct VmObjectKind {
        const char *noun;                /* "domain": messages */
        const char *interface;           /* org.vmgmt.Domain */
        const char *path_prefix;         /* /org/vmgmt/domain: the fallback its objects live under */
        const char *path_pattern;        /* name encoding, sd_bus_path_encode_many()'s: PREFIX "/%" */
        const char *no_such_error;       /* org.vmgmt.Error.NoSuchDomain */
        const char *action;              /* the polkit action of its changing calls */
        /* persistence: CONFIG/SUBDIR/NAME.xml with SUBDIR/autostart/ links;
         * config_per_driver: CONFIG/DRIVER/, the directory of the driver that
         * runs the object (as libvirt keeps one directory per driver);
         * neither: not persistent. vm_object_kind_config_dir() builds it. */
        const char *config_subdir;
        bool config_per_driver;

        const sd_bus_vtable *vtable;
        sd_bus_object_find_t find;               /* sd_bus_add_fallback_vtable()'s: a path that names none is no_such_error */
        sd_bus_node_enumerator_t enumerate;      /* NULL: another kind under the same prefix lists these */
        BusPropertySetAuthorizeFn authorize_set; /* Properties.Set waits here for polkit; NULL: nothing writable */

        /* The registry: every object on the bus (stop early with a negative
         * return); the object Get<Noun> names (NULL: no such call) and its
         * name and whether it is active, for List<Noun>s; its path
         * (malloc'd; NULL: out of memory), for those and its signals. */
        int (*foreach)(Manager *m, VmObjectFn fn, void *userdata);
        void *(*lookup)(Manager *m, const char *name_or_uuid);
        const char *(*object_name)(const void *object);
        char *(*object_path)(const void *object);
        bool (*is_active)(const void *object);

        /* Its XML (NULL hooks: it has none, e.g. a job). xml_parse reads xml
         * into a definition, purely (nothing run, opened or asked of the
         * system): 0 with *ret, or a negative errno with an InvalidXML error
         * saying precisely what is wrong (-ENOMEM: none). def_name and
         * def_free are the definition's; def_details the polkit details of a
         * call taking a definition named name (NULL: it did not parse) on
         * parent (the object the call is on: a volume's pool; NULL on the
         * manager), NULL-terminated key/value pairs in buf. xml_format is an
         * object's XML (malloc'd; NULL: out of memory). */
        int (*xml_parse)(const char *xml, void **ret, sd_bus_error *error);
        const char *(*def_name)(const void *def);
        void (*def_free)(void *def);
        const char *const *(*def_details)(const void *parent, const char *name, const char *buf[static 7]);
        char *(*xml_format)(const void *object, VmFormatFlags flags);
} VmObjectKind;

/* Every kind vmgmtd serves (object-kind.c), NULL-terminated. */
extern const VmObjectKind *const vm_object_kinds[];

extern const VmObjectKind vm_domain_kind, vm_snapshot_kind, vm_network_kind, vm_pool_kind, vm_volume_kind,
        vm_job_kind;

/* Registers every kind with sd-bus: the Properties.Set filter, the fallback
 * vtable and the node enumerator. Returns 0 or a negative errno (logged). */
int vm_object_kinds_register(Manager *m);

/* GetManagedObjects' a{oa{sa{sv}}} entries of every object of every kind. */
int vm_object_kinds_append_managed_objects(Manager *m, sd_bus_message *reply, sd_bus_error *error);

/* Whether path has the shape of k's object paths (k->path_pattern), whether
 * or not such an object exists: a kind whose paths lie beneath another's
 * (a snapshot under its domain) is left them by the other's find. */
bool vm_object_kind_owns_path(const VmObjectKind *k, const char *path);

/* The directory k's definitions persist in (g_free'd): CONFIG/SUBDIR, or
 * CONFIG/DRIVER for a kind whose objects live in their driver's (driver: the
 * driver's name). NULL when k is not persistent. */
char *vm_object_kind_config_dir(const VmObjectKind *k, const Manager *m, const char *driver);

/* Get<Noun>(s name_or_uuid) → o. */
int vm_object_kind_method_get(const VmObjectKind *k, Manager *m, sd_bus_message *message, sd_bus_error *error);
/* List<Noun>s(a{sv} options: active b, inactive b) → ao, sorted by name. */
int vm_object_kind_method_list(const VmObjectKind *k, Manager *m, sd_bus_message *message, sd_bus_error *error);

/* The one path of every call that takes a kind's XML (DefineDomain,
 * CreateNetwork, DefinePool, CreateVolume, …): parses xml with the kind's
 * hook, then authorizes the call with the kind's action and details before
 * anything that costs the system (an fsync, a probe, a file open) is done. A
 * caller that may not do the action gets AccessDenied whether or not the XML
 * parsed, so it learns nothing about it; a caller that may gets the precise
 * InvalidXML. Returns 1 with *ret (the caller owns the definition and hands
 * it on), 0 while polkit has not answered (the handler returns 1 at once; the
 * message is dispatched again), or a negative errno with error set. */
int vm_object_kind_parse_authorized(const VmObjectKind *k, Manager *m, sd_bus_message *message, const char *xml,
                                    const void *parent, void **ret, sd_bus_error *error);

/* InterfacesAdded / InterfacesRemoved of an object of kind k at path (only
 * once start-up is done: m->ready). */
void vm_object_kind_emit_added(const VmObjectKind *k, Manager *m, const char *path);
void vm_object_kind_emit_removed(const VmObjectKind *k, Manager *m, const char *path);
/* PropertiesChanged of k's interface on object (at k->object_path()) naming
 * the NULL-terminated names (the values come from the vtable's getters);
 * nothing when names is empty or before start-up is done (m->ready). Whether
 * the object is on the bus at all is the caller's to know. */
void vm_object_kind_emit_changed(const VmObjectKind *k, Manager *m, const void *object, const char *const *names);
