/* pool-manager.c — the Manager's storage methods (DefinePool, CreatePool, GetPool, ListPools, GetVolumeByPath) and PoolEvent, in their own vtable on /org/vmgmt. */
#include <errno.h>
#include <string.h>

#include "auth.h"
#include "bus-util.h"
#include "log.h"
#include "object-kind.h"
#include "pool.h"

/* Normalizes a parsed definition; a redefinition without UUID keeps the pool's. */
static int normalize_pool_def(VmStorage *s, StoragePoolDef *def, sd_bus_error *error) {
        ConfError err = {};
        VmPool *existing;
        int r;

        existing = object_store_lookup(&s->store, def->name);
        if (existing && !def->has_uuid) {
                conf_uuid_parse(existing->uuid, def->uuid);
                def->has_uuid = true;
        }
        r = storage_pool_def_normalize(def, &err);
        if (r < 0) {
                sd_bus_error_setf(error, VM_ERROR_INVALID_XML, "%s", err.message ?: "Invalid pool definition");
                conf_error_clear(&err);
                return r;
        }
        return 0;
}

/* Parses the XML and authorizes the call (vm_object_kind_parse_authorized():
 * an unauthorized caller learns nothing about the XML), then normalizes it.
 * Returns 1 with *ret, 0 (authorization pending) or a negative errno. */
static int parse_and_authorize(Manager *m, sd_bus_message *message, const char *xml, StoragePoolDef **ret,
                               sd_bus_error *error) {
        void *def = NULL;
        int r;

        r = vm_object_kind_parse_authorized(&vm_pool_kind, m, message, xml, NULL, &def, error);
        if (r <= 0)
                return r;
        r = normalize_pool_def(m->storage, def, error);
        if (r < 0) {
                storage_pool_def_free(def);
                return r;
        }
        *ret = def;
        return 1;
}

/* What storage_pool_def_same_source() compared, for a message: the target
 * directory, else the network source (an rbd pool, an iSCSI target). */
static char *pool_storage_describe(const StoragePoolDef *def) {
        if (!isempty(def->target_path))
                return g_strdup(def->target_path);
        return g_strdup_printf("%s %s", strempty(def->source_host),
                               strempty(def->source_device ?: def->source_name));
}

/* The pool def would replace (NULL: a new one), or AlreadyExists when the
 * name, UUID or storage belongs to another pool. */
static int check_conflicts(VmStorage *s, const StoragePoolDef *def, VmPool **ret, sd_bus_error *error) {
        VmPool *same = object_store_lookup(&s->store, def->name);
        GHashTableIter it;
        gpointer value;
        char uuid[37];

        conf_uuid_format(def->uuid, uuid);
        if (same && !streq(same->uuid, uuid))
                return sd_bus_error_setf(error, VM_ERROR_ALREADY_EXISTS, "Pool '%s' already exists with UUID %s",
                                         def->name, same->uuid);
        g_hash_table_iter_init(&it, s->store.objects);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                VmPool *p = value;
                if (p == same)
                        continue;
                if (streq(p->uuid, uuid))
                        return sd_bus_error_setf(error, VM_ERROR_ALREADY_EXISTS, "Pool '%s' already has UUID %s",
                                                 p->name, uuid);
                if (storage_pool_def_same_source(storage_pool_get_def(p->sp), def)) {
                        g_autofree char *what = pool_storage_describe(def);

                        return sd_bus_error_setf(error, VM_ERROR_ALREADY_EXISTS,
                                                 "Pool '%s' already uses the same storage (%s)", p->name, what);
                }
        }
        *ret = same;
        return 0;
}

static int method_define_pool(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        VmStorage *s = m->storage;
        StoragePoolDef *def = NULL;
        const char *xml;
        VmPool *p = NULL;
        int r;

        r = sd_bus_message_read(message, "s", &xml);
        if (r < 0)
                return r;
        r = bus_options_parse(message, (const BusOption[]) { {} }, error);
        if (r < 0)
                return r;
        r = parse_and_authorize(m, message, xml, &def, error);
        if (r <= 0)
                return r < 0 ? r : 1;   /* 0: authorization pending, the call is dispatched again */
        r = check_conflicts(s, def, &p, error);
        if (r < 0)
                goto finish;
        r = vm_pool_store_write(s, def);
        if (r < 0) {
                r = sd_bus_error_setf(error, VM_ERROR_OPERATION_FAILED, "Failed to save pool '%s': %s", def->name,
                                      strerror(-r));
                goto finish;
        }
        if (!p) {
                r = vm_pool_new(s, def, true, &p);
                if (r < 0) {
                        (void) vm_pool_store_remove(s, def->name);
                        goto finish;
                }
                vm_pool_add_to_bus(p);
        } else {
                /* an active pool keeps running as it is; the new definition applies at its next start */
                r = vm_pool_set_next_def(p, def);
                if (r < 0)
                        goto finish;
                p->persistent = true;
                vm_pool_emit_changes(p);
        }
        vm_pool_emit_event(p, "defined");
        r = sd_bus_reply_method_return(message, "o", p->path);
finish:
        storage_pool_def_free(def);
        return r < 0 ? r : 1;
}

static void create_pool_done(void *userdata, int r, const char *message) {
        PoolOp *op = userdata;
        VmStorage *s = op->storage;
        VmPool *p = object_store_lookup(&s->store, op->pool);

        if (r < 0 || !p) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                _cleanup_free_ char *what = g_strdup_printf("Failed to create pool '%s'", op->pool);
                bus_error_from_errno(&error, r < 0 ? r : -ENOENT, message, what);
                (void) sd_bus_reply_method_error(op->message, &error);
                if (p)
                        vm_pool_remove(p);
                pool_op_free(op);
                return;
        }
        p->starting = false;
        (void) vm_pool_run_state_set(s, p, true);
        vm_pool_emit_changes(p);
        vm_pool_add_to_bus(p);
        vm_pool_emit_event(p, "started");
        (void) sd_bus_reply_method_return(op->message, "o", p->path);
        pool_op_free(op);
}

static int method_create_pool(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        VmStorage *s = m->storage;
        StoragePoolDef *def = NULL;
        const char *xml;
        VmPool *p = NULL;
        PoolOp *op;
        int r;

        r = sd_bus_message_read(message, "s", &xml);
        if (r < 0)
                return r;
        r = bus_options_parse(message, (const BusOption[]) { {} }, error);
        if (r < 0)
                return r;
        r = parse_and_authorize(m, message, xml, &def, error);
        if (r <= 0)
                return r < 0 ? r : 1;   /* 0: authorization pending, the call is dispatched again */
        r = check_conflicts(s, def, &p, error);
        if (r < 0)
                goto finish;
        if (p) {
                r = sd_bus_error_setf(error, VM_ERROR_ALREADY_EXISTS, "Pool '%s' already exists", def->name);
                goto finish;
        }
        r = vm_pool_new(s, def, false, &p);
        if (r < 0)
                goto finish;
        op = pool_op_new(s, message, "create", p->name, NULL);
        r = storage_pool_start(p->sp, create_pool_done, op);
        if (r < 0) {
                pool_op_free(op);
                vm_pool_remove(p);
                r = bus_error_from_errno(error, r, NULL, "Failed to create pool");
                goto finish;
        }
        p->starting = true;
        r = 1;
finish:
        storage_pool_def_free(def);
        return r < 0 ? r : 1;
}

static int method_get_pool(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        return vm_object_kind_method_get(&vm_pool_kind, m, message, error);
}

static int method_list_pools(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        return vm_object_kind_method_list(&vm_pool_kind, m, message, error);
}

static int method_get_volume_by_path(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        _cleanup_free_ char *object = NULL;
        StorageVolume *v;
        const char *path;
        int r;

        r = sd_bus_message_read(message, "s", &path);
        if (r < 0)
                return r;
        v = storage_driver_find_volume_by_path(m->storage->driver, path);
        if (!v)
                return sd_bus_error_setf(error, VM_ERROR_NO_SUCH_VOLUME, "No volume with path '%s'", path);
        object = vm_volume_path(v);
        if (!object)
                return -ENOMEM;
        return sd_bus_reply_method_return(message, "o", object);
}

#define UNPRIV SD_BUS_VTABLE_UNPRIVILEGED

static const sd_bus_vtable manager_pool_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("DefinePool", SD_BUS_ARGS("s", xml, "a{sv}", options), SD_BUS_RESULT("o", pool),
                                method_define_pool, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("CreatePool", SD_BUS_ARGS("s", xml, "a{sv}", options), SD_BUS_RESULT("o", pool),
                                method_create_pool, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("GetPool", SD_BUS_ARGS("s", name_or_uuid), SD_BUS_RESULT("o", pool),
                                method_get_pool, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("ListPools", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("ao", pools),
                                method_list_pools, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("GetVolumeByPath", SD_BUS_ARGS("s", path), SD_BUS_RESULT("o", volume),
                                method_get_volume_by_path, UNPRIV),
        SD_BUS_SIGNAL_WITH_ARGS("PoolEvent", SD_BUS_ARGS("o", pool, "s", event), 0),
        SD_BUS_VTABLE_END
};

int vm_manager_pool_register(Manager *m) {
        int r;

        r = sd_bus_add_object_vtable(m->bus, NULL, VM_MANAGER_PATH, VM_MANAGER_INTERFACE, manager_pool_vtable, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the manager's pool methods: %m");
        return 0;
}
