/* snapshot-dbus.c — org.vmgmt.Snapshot at /org/vmgmt/domain/NAME/snapshot/SNAP (the snapshot kind, over each
 * domain's list of snapshots), its properties, GetXML and the Domain's ListSnapshots; the operations that
 * change disks or memory (CreateSnapshot, Revert, Delete) are in snapshot-op.c. */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "bus-util.h"
#include "domain-files.h"
#include "log.h"
#include "object-kind.h"
#include "path-policy.h"
#include "snapshot.h"

#define NAMES(...) ((const char *const[]){ __VA_ARGS__, NULL })

VmSnapshot *vm_snapshot_new(VmDomain *d, SnapshotDef *def) {
        VmSnapshot *s = g_new0(VmSnapshot, 1);

        s->domain = d;
        s->def = def;
        if (sd_bus_path_encode_many(&s->path, VM_DOMAIN_PREFIX "/%/snapshot/%", d->name, def->name) < 0) {
                vm_snapshot_free(s);
                return NULL;
        }
        return s;
}

void vm_snapshot_free(void *p) {
        VmSnapshot *s = p;

        if (!s)
                return;
        snapshot_def_free(s->def);
        free(s->path);
        g_free(s);
}

VmSnapshot *vm_snapshot_find(VmDomain *d, const char *name) {
        for (guint i = 0; name && d->snapshots && i < d->snapshots->len; i++) {
                VmSnapshot *s = d->snapshots->pdata[i];
                if (streq(s->def->name, name))
                        return s;
        }
        return NULL;
}

VmSnapshot *vm_snapshot_parent(const VmSnapshot *s) {
        return s->def->parent ? vm_snapshot_find(s->domain, s->def->parent) : NULL;
}

static bool snapshot_has_children(const VmSnapshot *s) {
        VmDomain *d = s->domain;

        for (guint i = 0; i < d->snapshots->len; i++)
                if (vm_snapshot_parent(d->snapshots->pdata[i]) == s)
                        return true;
        return false;
}

static bool snapshot_is_descendant(const VmSnapshot *s, const VmSnapshot *ancestor) {
        unsigned depth = 0;

        for (const VmSnapshot *p = vm_snapshot_parent(s); p && depth < 10000; p = vm_snapshot_parent(p), depth++)
                if (p == ancestor)
                        return true;
        return false;
}

const char *vm_snapshot_path(const VmSnapshot *s) {
        return s->path;
}

void vm_snapshots_drop(VmDomain *d) {
        Manager *m = d->manager;

        vm_snapshot_store_remove_all(d);
        for (guint i = 0; i < d->snapshots->len; i++) {
                VmSnapshot *s = d->snapshots->pdata[i];
                if (s->on_bus)
                        vm_object_kind_emit_removed(&vm_snapshot_kind, m, s->path);
        }
        g_ptr_array_set_size(d->snapshots, 0);
        if (d->current_snapshot) {
                d->current_snapshot = NULL;
                vm_object_kind_emit_changed(&vm_domain_kind, m, d, NAMES("CurrentSnapshot"));
        }
}

void vm_snapshots_repath(VmDomain *d) {
        for (guint i = 0; i < d->snapshots->len; i++) {
                VmSnapshot *s = d->snapshots->pdata[i];
                char *path = NULL;

                if (sd_bus_path_encode_many(&path, VM_DOMAIN_PREFIX "/%/snapshot/%", d->name, s->def->name) < 0)
                        continue;
                if (s->on_bus)
                        vm_object_kind_emit_removed(&vm_snapshot_kind, d->manager, s->path);
                free(s->path);
                s->path = path;
                if (s->on_bus)
                        vm_object_kind_emit_added(&vm_snapshot_kind, d->manager, s->path);
        }
}

static int compare_snapshots(gconstpointer a, gconstpointer b) {
        const VmSnapshot *x = *(VmSnapshot *const *) a, *y = *(VmSnapshot *const *) b;

        if (x->def->creation_time != y->def->creation_time)
                return x->def->creation_time < y->def->creation_time ? -1 : 1;
        return strcmp(x->def->name, y->def->name);
}

int vm_domain_method_list_snapshots(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        bool roots = false, leaves = false;
        const char *descendants_of = NULL;
        const BusOption options[] = {
                { "roots", "b", &roots }, { "leaves", "b", &leaves }, { "descendants_of", "o", &descendants_of }, {}
        };
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        g_autoptr(GPtrArray) l = g_ptr_array_new();
        const VmSnapshot *ancestor = NULL;
        int r;

        r = bus_options_parse(message, options, error);
        if (r < 0)
                return r;
        if (descendants_of) {
                for (guint i = 0; i < d->snapshots->len && !ancestor; i++)
                        if (streq(((VmSnapshot *) d->snapshots->pdata[i])->path, descendants_of))
                                ancestor = d->snapshots->pdata[i];
                if (!ancestor)
                        return sd_bus_error_setf(error, VM_ERROR_NO_SUCH_SNAPSHOT, "Domain '%s' has no snapshot %s", d->name,
                                                 descendants_of);
        }
        for (guint i = 0; i < d->snapshots->len; i++) {
                VmSnapshot *s = d->snapshots->pdata[i];

                if (!s->on_bus || (roots && vm_snapshot_parent(s)) || (leaves && snapshot_has_children(s)) ||
                    (ancestor && !snapshot_is_descendant(s, ancestor)))
                        continue;
                g_ptr_array_add(l, s);
        }
        g_ptr_array_sort(l, compare_snapshots);
        r = sd_bus_message_new_method_return(message, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "o");
        for (guint i = 0; r >= 0 && i < l->len; i++)
                r = sd_bus_message_append_basic(reply, 'o', ((VmSnapshot *) l->pdata[i])->path);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* ---- properties ---- */

static int property_get_string(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VmSnapshot *s = userdata;
        const char *v = streq(property, "Name") ? s->def->name : streq(property, "State") ? s->def->state : s->def->description;

        return sd_bus_message_append_basic(reply, 's', strempty(v));
}

static int property_get_creation_time(sd_bus *bus, const char *path, const char *interface, const char *property,
                                      sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VmSnapshot *s = userdata;
        return sd_bus_message_append_basic(reply, 't', &s->def->creation_time);
}

static int property_get_parent(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VmSnapshot *p = vm_snapshot_parent(userdata);
        return sd_bus_message_append_basic(reply, 'o', p ? p->path : "/");
}

static int property_get_is_current(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VmSnapshot *s = userdata;
        int b = s->domain->current_snapshot == s;
        return sd_bus_message_append_basic(reply, 'b', &b);
}

static int property_get_domain(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VmSnapshot *s = userdata;
        return sd_bus_message_append_basic(reply, 'o', s->domain->path);
}

/* ---- methods ---- */

static int method_get_xml(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmSnapshot *s = userdata;
        _cleanup_free_ char *xml = NULL;
        int r;

        r = bus_options_parse(message, NULL, error);
        if (r < 0)
                return r;
        xml = snapshot_def_format(s->def);
        if (!xml)
                return -ENOMEM;
        return sd_bus_reply_method_return(message, "s", xml);
}

/* The domain was started paused for a revert to a snapshot with memory: now the memory is loaded into it. */
/* ---- the object table ---- */

#define EMITS SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE
#define CONST SD_BUS_VTABLE_PROPERTY_CONST
#define UNPRIV SD_BUS_VTABLE_UNPRIVILEGED

static const sd_bus_vtable snapshot_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Name", "s", property_get_string, 0, CONST),
        SD_BUS_PROPERTY("Description", "s", property_get_string, 0, EMITS),
        SD_BUS_PROPERTY("CreationTime", "t", property_get_creation_time, 0, CONST),
        SD_BUS_PROPERTY("State", "s", property_get_string, 0, CONST),
        SD_BUS_PROPERTY("Parent", "o", property_get_parent, 0, EMITS),
        SD_BUS_PROPERTY("IsCurrent", "b", property_get_is_current, 0, EMITS),
        SD_BUS_PROPERTY("Domain", "o", property_get_domain, 0, CONST),
        SD_BUS_METHOD_WITH_ARGS("Revert", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT, vm_snapshot_method_revert, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("Delete", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT, vm_snapshot_method_delete, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("GetXML", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("s", xml), method_get_xml,
                                UNPRIV),
        SD_BUS_VTABLE_END
};

/* ---- finding and listing ---- */

/* PREFIX/DOMAIN/snapshot/SNAP: 0 for any other path (the domain kind's, or
 * none), NoSuchDomain for a domain that does not exist, NoSuchSnapshot for a
 * snapshot its domain does not have. */
static int snapshot_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                                sd_bus_error *error) {
        _cleanup_free_ char *domain = NULL, *name = NULL;
        VmSnapshot *s;
        VmDomain *d;

        if (sd_bus_path_decode_many(path, vm_snapshot_kind.path_pattern, &domain, &name) <= 0 || isempty(domain) ||
            isempty(name))
                return 0;
        d = vm_domain_find_by_name(userdata, domain);
        if (!d || d->hidden)
                return sd_bus_error_setf(error, VM_ERROR_NO_SUCH_DOMAIN, "No domain '%s'", domain);
        s = vm_snapshot_find(d, name);
        if (!s || !s->on_bus)
                return sd_bus_error_setf(error, VM_ERROR_NO_SUCH_SNAPSHOT, "No snapshot '%s' of domain '%s'", name,
                                         domain);
        *found = s;
        return 1;
}

static int snapshot_foreach(Manager *m, VmObjectFn fn, void *userdata) {
        GHashTableIter it;
        gpointer value;

        g_hash_table_iter_init(&it, m->domains_by_name);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                VmDomain *d = value;

                if (d->hidden)
                        continue;
                for (guint i = 0; d->snapshots && i < d->snapshots->len; i++) {
                        VmSnapshot *s = d->snapshots->pdata[i];
                        int r;

                        if (!s->on_bus)
                                continue;
                        r = fn(userdata, s, s->path);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int append_path(void *userdata, void *object, const char *path) {
        g_ptr_array_add(userdata, strdup(path));
        return 0;
}

static int snapshot_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes,
                                    sd_bus_error *error) {
        GPtrArray *l = g_ptr_array_new();

        (void) snapshot_foreach(userdata, append_path, l);
        g_ptr_array_add(l, NULL);
        *nodes = (char **) g_ptr_array_free(l, FALSE);
        return 1;
}

static const char *snapshot_name(const void *object) {
        return ((const VmSnapshot *) object)->def->name;
}

static char *snapshot_path(const void *object) {
        return g_strdup(((const VmSnapshot *) object)->path);
}

const VmObjectKind vm_snapshot_kind = {
        .noun = "snapshot",
        .interface = VM_SNAPSHOT_INTERFACE,
        .path_prefix = VM_DOMAIN_PREFIX,   /* under its domain's path */
        .path_pattern = VM_DOMAIN_PREFIX "/%/snapshot/%",
        .no_such_error = VM_ERROR_NO_SUCH_SNAPSHOT,
        .action = VM_ACTION_DOMAIN_MANAGE,   /* API.md: snapshots are domain.manage */
        .vtable = snapshot_vtable,
        .find = snapshot_object_find,
        .enumerate = snapshot_node_enumerator,
        .foreach = snapshot_foreach,
        .object_name = snapshot_name,
        .object_path = snapshot_path,
};
