/* object-kind.c — the one registry of bus object kinds: registration, GetManagedObjects, Get/List, added/removed signals. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>

#include "auth.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "object-kind.h"
#include "secret.h"

const VmObjectKind *const vm_object_kinds[] = {
        &vm_domain_kind,
        &vm_snapshot_kind,   /* under the domains' prefix: after them, whose find leaves it its paths */
        &vm_network_kind,
        &vm_pool_kind,
        &vm_volume_kind,
        &vm_job_kind,
        &vm_secret_kind,
        NULL,
};

/* Runs before sd-bus's own handling of every message under a kind's prefix: a
 * property Set cannot wait inside sd-bus's setter for polkit's answer, so it
 * waits here (see bus_property_set_filter()). */
static int kind_filter(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        for (const VmObjectKind *const *k = vm_object_kinds; *k; k++) {
                int r;

                if (!(*k)->authorize_set || !sd_bus_message_has_signature(message, "ssv"))
                        continue;
                if (!g_str_has_prefix(sd_bus_message_get_path(message) ?: "", (*k)->path_prefix))
                        continue;
                r = bus_property_set_filter(message, (*k)->interface, (*k)->vtable, (*k)->authorize_set, m, error);
                if (r != 0)
                        return r;
        }
        return 0;
}

int vm_object_kinds_register(Manager *m) {
        GHashTable *filtered = g_hash_table_new(g_str_hash, g_str_equal);
        int r = 0;

        for (const VmObjectKind *const *k = vm_object_kinds; *k && r >= 0; k++) {
                /* one filter per prefix, before the vtables (sd-bus runs fallbacks in order) */
                if ((*k)->authorize_set && !g_hash_table_contains(filtered, (*k)->path_prefix)) {
                        g_hash_table_add(filtered, (gpointer) (*k)->path_prefix);
                        r = sd_bus_add_fallback(m->bus, NULL, (*k)->path_prefix, kind_filter, m);
                        if (r < 0) {
                                log_error_errno(r, "Failed to add the %s property filter: %m", (*k)->noun);
                                break;
                        }
                }
                r = sd_bus_add_fallback_vtable(m->bus, NULL, (*k)->path_prefix, (*k)->interface, (*k)->vtable,
                                               (*k)->find, m);
                if (r < 0) {
                        log_error_errno(r, "Failed to add the %s vtable: %m", (*k)->noun);
                        break;
                }
                if ((*k)->enumerate) {
                        r = sd_bus_add_node_enumerator(m->bus, NULL, (*k)->path_prefix, (*k)->enumerate, m);
                        if (r < 0)
                                log_error_errno(r, "Failed to add the %s enumerator: %m", (*k)->noun);
                }
        }
        g_hash_table_destroy(filtered);
        return r < 0 ? r : 0;
}

/* A label of a decoded path: one path element, not empty. */
static bool path_label_ok(const char *label) {
        return !isempty(label) && !strchr(label, '/');
}

bool vm_object_kind_owns_path(const VmObjectKind *k, const char *path) {
        _cleanup_free_ char *a = NULL, *b = NULL;
        const char *p = strchr(k->path_pattern, '%');
        bool two = p && strchr(p + 1, '%');   /* PREFIX/% or PREFIX/%/WORD/% */
        int r;

        r = two ? sd_bus_path_decode_many(path, k->path_pattern, &a, &b)
                : sd_bus_path_decode_many(path, k->path_pattern, &a);
        return r > 0 && path_label_ok(a) && (!two || path_label_ok(b));
}

char *vm_object_kind_config_dir(const VmObjectKind *k, const Manager *m, const char *driver) {
        if (k->config_per_driver)
                return driver ? g_build_filename(m->paths.config_dir, driver, NULL) : NULL;
        return k->config_subdir ? g_build_filename(m->paths.config_dir, k->config_subdir, NULL) : NULL;
}

/* ---- GetManagedObjects ----
 *
 * sd-bus's generic object manager walks every child path, its prefixes and
 * vtables and calls find() per object; with 10,000 domains that costs about
 * 8 µs per object. This answers the same thing (the same interfaces, the
 * properties GetAll would return, through the vtable's own getters, so the
 * two cannot drift) in one pass over each kind's registry. */

typedef struct AppendCtx {
        const VmObjectKind *kind;
        sd_bus_message *reply;
        sd_bus_error *error;
} AppendCtx;

static int append_one(void *userdata, void *object, const char *path) {
        AppendCtx *c = userdata;

        return bus_append_managed_object(c->reply, path, c->kind->interface, c->kind->vtable, object, c->error);
}

int vm_object_kinds_append_managed_objects(Manager *m, sd_bus_message *reply, sd_bus_error *error) {
        for (const VmObjectKind *const *k = vm_object_kinds; *k; k++) {
                AppendCtx c = { *k, reply, error };
                int r = (*k)->foreach(m, append_one, &c);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- Get<Noun>, List<Noun>s ---- */

int vm_object_kind_method_get(const VmObjectKind *k, Manager *m, sd_bus_message *message, sd_bus_error *error) {
        const char *name;
        void *object;
        int r;

        r = sd_bus_message_read(message, "s", &name);
        if (r < 0)
                return r;
        _cleanup_free_ char *path = NULL;
        object = k->lookup(m, name);
        if (!object)
                return sd_bus_error_setf(error, k->no_such_error, "No %s '%s'", k->noun, name);
        path = k->object_path(object);
        if (!path)
                return -ENOMEM;
        return sd_bus_reply_method_return(message, "o", path);
}

typedef struct ListCtx {
        const VmObjectKind *kind;
        bool active, inactive;
        GPtrArray *objects;
} ListCtx;

static int list_one(void *userdata, void *object, const char *path) {
        ListCtx *c = userdata;
        bool a = c->kind->is_active(object);

        if ((a && c->active) || (!a && c->inactive))
                g_ptr_array_add(c->objects, object);
        return 0;
}

static const VmObjectKind *sort_kind;   /* g_ptr_array_sort() has no userdata before glib 2.74's _values variant */

static gint compare_names(gconstpointer a, gconstpointer b) {
        return strcmp(sort_kind->object_name(*(void *const *) a), sort_kind->object_name(*(void *const *) b));
}

int vm_object_kind_method_list(const VmObjectKind *k, Manager *m, sd_bus_message *message, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        ListCtx c = { .kind = k };
        const BusOption options[] = { { "active", "b", &c.active }, { "inactive", "b", &c.inactive }, {} };
        int r;

        r = bus_options_parse(message, options, error);
        if (r < 0)
                return r;
        if (!c.active && !c.inactive)
                c.active = c.inactive = true;
        c.objects = g_ptr_array_new();
        r = k->foreach(m, list_one, &c);
        if (r >= 0) {
                sort_kind = k;
                g_ptr_array_sort(c.objects, compare_names);
                r = sd_bus_message_new_method_return(message, &reply);
        }
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "o");
        for (guint i = 0; r >= 0 && i < c.objects->len; i++) {
                _cleanup_free_ char *path = k->object_path(c.objects->pdata[i]);
                r = path ? sd_bus_message_append_basic(reply, 'o', path) : -ENOMEM;
        }
        g_ptr_array_free(c.objects, TRUE);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* ---- definitions ---- */

int vm_object_kind_parse_authorized(const VmObjectKind *k, Manager *m, sd_bus_message *message, const char *xml,
                                    const void *parent, void **ret, sd_bus_error *error) {
        _cleanup_(sd_bus_error_free) sd_bus_error parse_error = SD_BUS_ERROR_NULL;
        const char *details[7];
        const char *name;
        void *def = NULL;
        int r;

        r = k->xml_parse(xml, &def, &parse_error);
        if (r == -ENOMEM)
                return r;
        name = def ? k->def_name(def) : NULL;
        r = vm_authorize(m, message, k->action, k->def_details(parent, name, details), error);
        if (r > 0 && !name) {
                /* allowed: now the caller may learn what is wrong with the XML */
                if (!sd_bus_error_is_set(&parse_error))
                        r = sd_bus_error_set(error, VM_ERROR_INVALID_XML, "Invalid XML");
                else {
                        r = sd_bus_error_get_errno(&parse_error);
                        sd_bus_error_move(error, &parse_error);
                        r = r > 0 ? -r : -EINVAL;
                }
        }
        if (r <= 0) {
                if (def)
                        k->def_free(def);
                return r;
        }
        *ret = def;
        return 1;
}

/* ---- signals ---- */

void vm_object_kind_emit_added(const VmObjectKind *k, Manager *m, const char *path) {
        if (m->ready && m->bus)
                (void) sd_bus_emit_object_added(m->bus, path);
}

void vm_object_kind_emit_removed(const VmObjectKind *k, Manager *m, const char *path) {
        if (m->ready && m->bus)
                (void) sd_bus_emit_interfaces_removed(m->bus, path, "org.freedesktop.DBus.Peer",
                                                      "org.freedesktop.DBus.Introspectable",
                                                      "org.freedesktop.DBus.Properties", k->interface, NULL);
}

void vm_object_kind_emit_changed(const VmObjectKind *k, Manager *m, const void *object, const char *const *names) {
        _cleanup_free_ char *path = NULL;

        if (!m->ready || !m->bus || !names[0])
                return;
        path = k->object_path(object);
        if (path)
                (void) sd_bus_emit_properties_changed_strv(m->bus, path, k->interface, (char **) names);
}
