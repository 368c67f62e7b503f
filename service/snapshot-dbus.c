/* snapshot-dbus.c — org.vmgmt.Snapshot at /org/vmgmt/domain/NAME/snapshot/SNAP: the snapshot kind, over each domain's list of snapshots. */
#include <errno.h>
#include <string.h>

#include "auth.h"
#include "bus-util.h"
#include "domain.h"
#include "log.h"
#include "object-kind.h"

/* A snapshot of a domain, in its domain's list (VmDomain.snapshots). The list
 * is empty until CreateSnapshot (issue 13) fills it: this kind serves what is
 * there, which today is nothing, so every snapshot path of an existing domain
 * is NoSuchSnapshot. */
struct VmSnapshot {
        VmDomain *domain;          /* borrowed: the domain owns its snapshots */
        char *name;
        char *path;                /* /org/vmgmt/domain/ENCODED/snapshot/ENCODED */
        char *description;
        uint64_t creation_time;    /* Unix seconds */
        char *state;               /* the domain's state when it was taken */
        VmSnapshot *parent;        /* NULL for a root */
        bool on_bus;
};

void vm_snapshot_free(void *p) {
        VmSnapshot *s = p;

        if (!s)
                return;
        g_free(s->name);
        free(s->path);
        g_free(s->description);
        g_free(s->state);
        g_free(s);
}

VmSnapshot *vm_snapshot_find(VmDomain *d, const char *name) {
        for (guint i = 0; d->snapshots && i < d->snapshots->len; i++) {
                VmSnapshot *s = d->snapshots->pdata[i];
                if (streq(s->name, name))
                        return s;
        }
        return NULL;
}

/* ---- properties ---- */

static int property_get_string(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VmSnapshot *s = userdata;
        const char *v = streq(property, "Name") ? s->name : streq(property, "State") ? s->state : s->description;

        return sd_bus_message_append_basic(reply, 's', strempty(v));
}

static int property_get_creation_time(sd_bus *bus, const char *path, const char *interface, const char *property,
                                      sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VmSnapshot *s = userdata;
        return sd_bus_message_append_basic(reply, 't', &s->creation_time);
}

static int property_get_parent(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VmSnapshot *s = userdata;
        return sd_bus_message_append_basic(reply, 'o', s->parent ? s->parent->path : "/");
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

/* Revert, Delete and GetXML are declared so that a call on a snapshot path
 * is answered by the kind's find (NoSuchSnapshot); no snapshot exists until
 * CreateSnapshot (issue 13) makes one, and with it these. */
static int method_not_yet(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmSnapshot *s = userdata;

        return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED, "%s of snapshot '%s' is not supported yet",
                                 sd_bus_message_get_member(message), s->name);
}

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
        SD_BUS_METHOD_WITH_ARGS("Revert", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT, method_not_yet, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("Delete", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT, method_not_yet, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("GetXML", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("s", xml), method_not_yet,
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
        return ((const VmSnapshot *) object)->name;
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
