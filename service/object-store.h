/* object-store.h — a set of named, UUID'd persistent definitions: CONFIG/KIND/NAME.xml with autostart links, and the bus objects PREFIX/NAME over them (networks, pools). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <glib.h>
#include <systemd/sd-bus.h>

typedef struct VmObjectKind VmObjectKind;

/* What the store knows of the objects it holds: each is a struct with a
 * `char uuid[37]`, a `char *path` and a `bool on_bus` at these offsets; the
 * rest (noun, path, interface, errors, directory) is the kind's. */
typedef struct ObjectStoreType {
        const VmObjectKind *kind;       /* vm_network_kind */
        const char *event_signal;       /* NetworkEvent, of the manager */
        const char *default_marker;     /* file in the config dir: the default object was defined once */
        size_t uuid_offset, path_offset, on_bus_offset;
        bool (*is_active)(void *object);
} ObjectStoreType;

typedef struct Manager Manager;

typedef struct ObjectStore {
        const ObjectStoreType *type;
        Manager *manager;               /* its bus, once ready, carries the signals */
        char *config_dir;               /* NAME.xml */
        char *autostart_dir;            /* autostart/NAME.xml: links to ../NAME.xml */
        GHashTable *objects;            /* name → object; the name is the object's, neither is owned */
} ObjectStore;

/* dir/NAME.xml, g_free'd by the caller. */
char *object_store_file(const char *dir, const char *name);

/* The directory is the kind's (vm_object_kind_config_dir()); the table starts
 * empty. deinit frees the store's own memory only: the caller frees the
 * objects (and empties the table) first. */
void object_store_init(ObjectStore *st, const ObjectStoreType *type, Manager *manager);
void object_store_deinit(ObjectStore *st);

/* ---- registry ---- */

/* Registers object under name (borrowed from the object: it must live as long). */
void object_store_add(ObjectStore *st, const char *name, void *object);
void object_store_steal(ObjectStore *st, const char *name);
void *object_store_lookup(const ObjectStore *st, const char *name);
/* By name, else by UUID (any spelling conf_uuid_parse takes); NULL when none. */
void *object_store_find(const ObjectStore *st, const char *name_or_uuid);
/* The object PREFIX/NAME names (on the bus or not), or NULL. */
void *object_store_find_by_path(const ObjectStore *st, const char *path);

/* ---- persistence ---- */

/* Writes CONFIG/NAME.xml atomically and durably (0600), creating the directory. */
int object_store_save(ObjectStore *st, const char *name, const char *xml);
/* Removes the autostart link and CONFIG/NAME.xml (durably); a missing file is fine. */
int object_store_remove(ObjectStore *st, const char *name);
/* Creates (durably) or removes the link autostart/NAME.xml → ../NAME.xml. */
int object_store_set_autostart(ObjectStore *st, const char *name, bool autostart);
bool object_store_get_autostart(const ObjectStore *st, const char *name);

/* Calls fn for every NAME.xml in dir (not dot files) with its contents; a file
 * that cannot be read is logged and skipped. A missing dir has none. */
typedef void (*ObjectStoreLoadFn)(void *userdata, const char *path, const char *xml, size_t len);
void object_store_load_dir(const char *dir, size_t max_size, ObjectStoreLoadFn fn, void *userdata);

/* The default object is defined once: true until object_store_default_done()
 * left its marker, so an undefined default stays undefined. */
bool object_store_default_wanted(const ObjectStore *st);
void object_store_default_done(ObjectStore *st);

/* ---- the bus ---- */

/* sd_bus_add_fallback_vtable()'s find: 0 for a path that is not PREFIX/NAME,
 * "No NOUN 'NAME'" (no_such_error) for an object not on the bus. */
int object_store_bus_find(const ObjectStore *st, const char *path, void **found, sd_bus_error *error);
/* The paths of the objects on the bus appended to l (strdup'd). */
void object_store_append_paths(const ObjectStore *st, GPtrArray *l);
/* The signals about an object; none before start-up is done (manager->ready).
 * added: InterfacesAdded, once (sets on_bus); removed: InterfacesRemoved if it
 * was on the bus; changed: PropertiesChanged of the NULL-terminated names,
 * when any and on the bus; event: the manager's event_signal (o path, s event). */
void object_store_emit_added(const ObjectStore *st, void *object);
void object_store_emit_removed(const ObjectStore *st, const void *object);
void object_store_emit_changed(const ObjectStore *st, const void *object, const char **names);
void object_store_emit_event(const ObjectStore *st, const void *object, const char *event);
