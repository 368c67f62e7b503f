/* object-store.c — named, UUID'd persistent definitions in a directory with autostart links, and their bus objects. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus-util.h"
#include "conf/domain-conf.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "object-kind.h"
#include "object-store.h"

static const char *object_uuid(const ObjectStore *st, const void *object) {
        return (const char *) object + st->type->uuid_offset;
}

static const char *object_path(const ObjectStore *st, const void *object) {
        return *(char *const *) ((const char *) object + st->type->path_offset);
}

static bool *object_on_bus_field(const ObjectStore *st, void *object) {
        return (bool *) ((char *) object + st->type->on_bus_offset);
}

static bool object_on_bus(const ObjectStore *st, const void *object) {
        return *(const bool *) ((const char *) object + st->type->on_bus_offset);
}

char *object_store_file(const char *dir, const char *name) {
        _cleanup_free_ char *base = g_strconcat(name, ".xml", NULL);
        return g_build_filename(dir, base, NULL);
}

void object_store_init(ObjectStore *st, const ObjectStoreType *type, Manager *manager) {
        st->type = type;
        st->manager = manager;
        st->config_dir = vm_object_kind_config_dir(type->kind, manager, NULL);
        st->autostart_dir = g_build_filename(st->config_dir, "autostart", NULL);
        st->objects = g_hash_table_new(g_str_hash, g_str_equal);
}

void object_store_deinit(ObjectStore *st) {
        if (st->objects)
                g_hash_table_destroy(st->objects);
        st->objects = NULL;
        g_free(st->config_dir);
        g_free(st->autostart_dir);
        st->config_dir = st->autostart_dir = NULL;
}

/* ---- registry ---- */

void object_store_add(ObjectStore *st, const char *name, void *object) {
        g_hash_table_insert(st->objects, (gpointer) name, object);
}

void object_store_steal(ObjectStore *st, const char *name) {
        g_hash_table_steal(st->objects, name);
}

void *object_store_lookup(const ObjectStore *st, const char *name) {
        return g_hash_table_lookup(st->objects, name);
}

void *object_store_find(const ObjectStore *st, const char *name_or_uuid) {
        GHashTableIter it;
        gpointer value;
        unsigned char u[16];
        char text[37];

        value = g_hash_table_lookup(st->objects, name_or_uuid);
        if (value)
                return value;
        if (conf_uuid_parse(name_or_uuid, u) < 0)
                return NULL;
        conf_uuid_format(u, text);
        g_hash_table_iter_init(&it, st->objects);
        while (g_hash_table_iter_next(&it, NULL, &value))
                if (streq(object_uuid(st, value), text))
                        return value;
        return NULL;
}

/* The NAME of PREFIX/NAME (malloc'd), or NULL. */
static char *path_name(const ObjectStore *st, const char *path) {
        char *name = NULL;

        if (sd_bus_path_decode_many(path, st->type->kind->path_pattern, &name) <= 0 || isempty(name)) {
                free(name);
                return NULL;
        }
        return name;
}

void *object_store_find_by_path(const ObjectStore *st, const char *path) {
        _cleanup_free_ char *name = path_name(st, path);

        return name ? g_hash_table_lookup(st->objects, name) : NULL;
}

/* ---- persistence ---- */

int object_store_save(ObjectStore *st, const char *name, const char *xml) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = mkdir_p(st->config_dir, 0755);
        if (r < 0)
                return r;
        path = object_store_file(st->config_dir, name);
        return write_file_atomic(path, xml, strlen(xml), 0600);
}

int object_store_set_autostart(ObjectStore *st, const char *name, bool autostart) {
        _cleanup_free_ char *link = object_store_file(st->autostart_dir, name);
        _cleanup_free_ char *target = g_strconcat("../", name, ".xml", NULL);
        int r;

        if (!autostart)
                return unlink_noent(link);
        r = mkdir_p(st->autostart_dir, 0755);
        if (r < 0)
                return r;
        (void) unlink_noent(link);
        if (symlink(target, link) < 0)
                return -errno;
        return fsync_parent_dir(link);
}

bool object_store_get_autostart(const ObjectStore *st, const char *name) {
        _cleanup_free_ char *link = object_store_file(st->autostart_dir, name);

        return access(link, F_OK) == 0;
}

int object_store_remove(ObjectStore *st, const char *name) {
        _cleanup_free_ char *path = object_store_file(st->config_dir, name);
        int r;

        (void) object_store_set_autostart(st, name, false);
        r = unlink_noent(path);
        if (r < 0)
                return r;
        return fsync_parent_dir(path);
}

void object_store_load_dir(const char *dir, size_t max_size, ObjectStoreLoadFn fn, void *userdata) {
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        const char *e;

        if (!d)
                return;
        while ((e = g_dir_read_name(d))) {
                _cleanup_free_ char *path = NULL, *xml = NULL;
                size_t len;
                int r;

                if (!g_str_has_suffix(e, ".xml") || e[0] == '.')
                        continue;
                path = g_build_filename(dir, e, NULL);
                r = read_full_file(path, max_size, &xml, &len);
                if (r < 0) {
                        log_error_errno(r, "Failed to read %s: %m", path);
                        continue;
                }
                fn(userdata, path, xml, len);
        }
}

bool object_store_default_wanted(const ObjectStore *st) {
        _cleanup_free_ char *marker = g_build_filename(st->config_dir, st->type->default_marker, NULL);

        return access(marker, F_OK) != 0;
}

void object_store_default_done(ObjectStore *st) {
        _cleanup_free_ char *marker = g_build_filename(st->config_dir, st->type->default_marker, NULL);

        (void) write_file_atomic(marker, "", 0, 0644);
}

/* ---- the bus ---- */

int object_store_bus_find(const ObjectStore *st, const char *path, void **found, sd_bus_error *error) {
        _cleanup_free_ char *name = path_name(st, path);
        void *object;

        if (!name)
                return 0;
        object = g_hash_table_lookup(st->objects, name);
        if (!object || !object_on_bus(st, object))
                return sd_bus_error_setf(error, st->type->kind->no_such_error, "No %s '%s'", st->type->kind->noun,
                                         name);
        *found = object;
        return 1;
}

void object_store_append_paths(const ObjectStore *st, GPtrArray *l) {
        GHashTableIter it;
        gpointer value;

        g_hash_table_iter_init(&it, st->objects);
        while (g_hash_table_iter_next(&it, NULL, &value))
                if (object_on_bus(st, value))
                        g_ptr_array_add(l, strdup(object_path(st, value)));
}

/* The bus once start-up is done, else NULL: no signals before. */
static sd_bus *ready_bus(const ObjectStore *st) {
        return st->manager->ready ? st->manager->bus : NULL;
}

void object_store_emit_added(const ObjectStore *st, void *object) {
        sd_bus *bus = ready_bus(st);
        bool *on_bus = object_on_bus_field(st, object);

        if (*on_bus)
                return;
        *on_bus = true;
        if (bus)
                (void) sd_bus_emit_object_added(bus, object_path(st, object));
}

void object_store_emit_removed(const ObjectStore *st, const void *object) {
        sd_bus *bus = ready_bus(st);

        if (!bus || !object_on_bus(st, object))
                return;
        vm_object_kind_emit_removed(st->type->kind, st->manager, object_path(st, object));
}

void object_store_emit_changed(const ObjectStore *st, const void *object, const char **names) {
        if (object_on_bus(st, object))
                vm_object_kind_emit_changed(st->type->kind, st->manager, object, names);
}

void object_store_emit_event(const ObjectStore *st, const void *object, const char *event) {
        sd_bus *bus = ready_bus(st);

        if (!bus)
                return;
        (void) sd_bus_emit_signal(bus, VM_MANAGER_PATH, VM_MANAGER_INTERFACE, st->type->event_signal, "os",
                                  object_path(st, object), event);
}
