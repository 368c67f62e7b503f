/* pool-dbus.c — org.vmgmt.StoragePool objects, the Manager's pool methods and storage's part of GetManagedObjects. */
#include <errno.h>
#include <string.h>

#include "auth.h"
#include "bus-util.h"
#include "log.h"
#include "object-kind.h"
#include "pool.h"

/* ---- properties ---- */

static int property_get_name(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append_basic(reply, 's', ((VmPool *) userdata)->name);
}

static int property_get_uuid(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append_basic(reply, 's', ((VmPool *) userdata)->uuid);
}

static int property_get_type(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VmPool *p = userdata;
        return sd_bus_message_append_basic(reply, 's', storage_pool_type_to_string(storage_pool_get_def(p->sp)->type));
}

static int property_get_path(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VmPool *p = userdata;
        return sd_bus_message_append_basic(reply, 's', strempty(storage_pool_get_def(p->sp)->target_path));
}

static int property_get_bool(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VmPool *p = userdata;
        int b = streq(property, "Active") ? vm_pool_is_active(p) :
                streq(property, "Persistent") ? p->persistent : p->autostart;
        return sd_bus_message_append_basic(reply, 'b', &b);
}

static int property_get_size(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const StoragePoolDef *def = storage_pool_get_def(((VmPool *) userdata)->sp);
        uint64_t v = streq(property, "Capacity") ? def->capacity :
                     streq(property, "Allocation") ? def->allocation : def->available;
        return sd_bus_message_append_basic(reply, 't', &v);
}

static const char *const *pool_details(VmPool *p, const char *volume, const char *buf[static 7]) {
        size_t n = 0;

        buf[n++] = "pool";
        buf[n++] = p->name;
        if (volume) {
                buf[n++] = "volume";
                buf[n++] = volume;
        }
        buf[n] = NULL;
        return buf;
}

static int property_set_autostart(sd_bus *bus, const char *path, const char *interface, const char *property,
                                  sd_bus_message *value, void *userdata, sd_bus_error *error) {
        VmPool *p = userdata;
        const char *details[7];
        int b, r;

        r = sd_bus_message_read_basic(value, 'b', &b);
        if (r < 0)
                return r;
        /* pool_object_callback() already waited for the answer; this takes it. */
        r = vm_authorize(p->storage->manager, sd_bus_get_current_message(bus), VM_ACTION_STORAGE_MANAGE,
                         pool_details(p, NULL, details), error);
        if (r < 0)
                return r;
        if (r == 0)
                return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED, "Access denied: authorization pending");
        if (!p->persistent)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE,
                                         "Cannot set autostart for transient pool '%s'", p->name);
        if (p->autostart == !!b)
                return 0;
        r = vm_pool_store_set_autostart(p->storage, p->name, b);
        if (r < 0)
                return sd_bus_error_setf(error, VM_ERROR_OPERATION_FAILED, "Failed to set autostart of pool '%s': %s",
                                         p->name, strerror(-r));
        p->autostart = b;
        vm_pool_emit_changes(p);
        return 0;
}

/* ---- methods ---- */

int vm_pool_method_prologue(sd_bus_message *message, VmPool *p, const char *volume, const BusOption *options,
                            sd_bus_error *error) {
        const char *details[7];
        int r;

        if (options) {
                r = bus_options_parse(message, options, error);
                if (r < 0)
                        return r;
        }
        return vm_authorize(p->storage->manager, message, VM_ACTION_STORAGE_MANAGE, pool_details(p, volume, details),
                            error);
}

static int reply_error(PoolOp *op, int r, const char *message, const char *fmt_verb) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *what = g_strdup_printf("Failed to %s pool '%s'", fmt_verb, op->pool);

        bus_error_from_errno(&error, r, message, what);
        return sd_bus_reply_method_error(op->message, &error);
}

static void pool_op_done(void *userdata, int r, const char *message) {
        PoolOp *op = userdata;
        VmStorage *s = op->storage;
        VmPool *p = object_store_lookup(&s->store, op->pool);

        if (p && streq(op->verb, "start"))
                p->starting = false;
        if (r < 0) {
                (void) reply_error(op, r, message, op->verb);
                pool_op_free(op);
                return;
        }
        if (p) {
                if (streq(op->verb, "start")) {
                        (void) vm_pool_run_state_set(s, p, true);
                        vm_pool_emit_changes(p);
                        vm_pool_emit_event(p, "started");
                } else if (streq(op->verb, "stop")) {
                        (void) vm_pool_run_state_set(s, p, false);
                        vm_pool_apply_next_def(p);
                        vm_pool_emit_changes(p);
                        vm_pool_emit_event(p, "stopped");
                        if (!p->persistent)
                                vm_pool_remove(p);
                } else if (streq(op->verb, "build"))
                        vm_pool_emit_event(p, "created");
                else if (streq(op->verb, "delete"))
                        vm_pool_emit_event(p, "deleted");
                else
                        vm_pool_emit_changes(p);
        }
        (void) sd_bus_reply_method_return(op->message, NULL);
        pool_op_free(op);
}

static int method_start(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmPool *p = userdata;
        PoolOp *op;
        int r;

        r = vm_pool_method_prologue(message, p, NULL, (const BusOption[]) { {} }, error);
        if (r <= 0)
                return r < 0 ? r : 1;   /* 0: authorization pending, dispatched again */
        if (p->starting)
                return sd_bus_error_setf(error, VM_ERROR_BUSY, "Pool '%s' is being started", p->name);
        if (vm_pool_is_active(p))
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Pool '%s' is already active", p->name);
        vm_pool_apply_next_def(p);
        op = pool_op_new(p->storage, message, "start", p->name, NULL);
        r = storage_pool_start(p->sp, pool_op_done, op);
        if (r < 0) {
                pool_op_free(op);
                return bus_error_from_errno(error, r, NULL, "Failed to start pool");
        }
        p->starting = true;
        return 1;
}

static int method_stop(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmPool *p = userdata;
        const char *user;
        PoolOp *op;
        int r;

        r = vm_pool_method_prologue(message, p, NULL, (const BusOption[]) { {} }, error);
        if (r <= 0)
                return r < 0 ? r : 1;   /* 0: authorization pending, dispatched again */
        if (p->starting)
                return sd_bus_error_setf(error, VM_ERROR_BUSY, "Pool '%s' is being started", p->name);
        if (!vm_pool_is_active(p))
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Pool '%s' is not active", p->name);
        user = vm_storage_pool_user(p->storage->manager, p);
        if (user)
                return sd_bus_error_setf(error, VM_ERROR_BUSY,
                                         "Cannot stop pool '%s': running domain '%s' uses a volume of it", p->name, user);
        op = pool_op_new(p->storage, message, "stop", p->name, NULL);
        r = storage_pool_stop(p->sp, pool_op_done, op);
        if (r < 0) {
                pool_op_free(op);
                return bus_error_from_errno(error, r, NULL, "Failed to stop pool");
        }
        return 1;
}

static int method_build(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmPool *p = userdata;
        bool overwrite = false, no_overwrite = false;
        const BusOption options[] = { { "overwrite", "b", &overwrite }, { "no_overwrite", "b", &no_overwrite }, {} };
        PoolOp *op;
        int r;

        r = vm_pool_method_prologue(message, p, NULL, options, error);
        if (r <= 0)
                return r < 0 ? r : 1;   /* 0: authorization pending, dispatched again */
        if (overwrite && no_overwrite)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                                        "Options overwrite and no_overwrite exclude each other");
        if (vm_pool_is_active(p))
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Pool '%s' is active", p->name);
        op = pool_op_new(p->storage, message, "build", p->name, NULL);
        r = storage_pool_build(p->sp, (overwrite ? STORAGE_POOL_BUILD_OVERWRITE : 0) |
                                      (no_overwrite ? STORAGE_POOL_BUILD_NO_OVERWRITE : 0), pool_op_done, op);
        if (r < 0) {
                pool_op_free(op);
                return bus_error_from_errno(error, r, NULL, "Failed to build pool");
        }
        return 1;
}

static int method_refresh(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmPool *p = userdata;
        PoolOp *op;
        int r;

        r = vm_pool_method_prologue(message, p, NULL, (const BusOption[]) { {} }, error);
        if (r <= 0)
                return r < 0 ? r : 1;   /* 0: authorization pending, dispatched again */
        if (!vm_pool_is_active(p))
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Pool '%s' is not active", p->name);
        op = pool_op_new(p->storage, message, "refresh", p->name, NULL);
        r = storage_pool_refresh(p->sp, pool_op_done, op);
        if (r < 0) {
                pool_op_free(op);
                return bus_error_from_errno(error, r, NULL, "Failed to refresh pool");
        }
        return 1;
}

static int method_delete(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmPool *p = userdata;
        PoolOp *op;
        int r;

        r = vm_pool_method_prologue(message, p, NULL, (const BusOption[]) { {} }, error);
        if (r <= 0)
                return r < 0 ? r : 1;   /* 0: authorization pending, dispatched again */
        if (vm_pool_is_active(p) || p->starting)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Pool '%s' is active", p->name);
        /* the rmdir runs in a thread; the reply when it is done */
        op = pool_op_new(p->storage, message, "delete", p->name, NULL);
        r = storage_pool_delete_async(p->sp, pool_op_done, op);
        if (r < 0) {
                pool_op_free(op);
                return bus_error_from_errno(error, r, NULL, "Failed to delete pool");
        }
        return 1;
}

static int method_undefine(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmPool *p = userdata;
        VmStorage *s = p->storage;
        int r;

        r = vm_pool_method_prologue(message, p, NULL, (const BusOption[]) { {} }, error);
        if (r <= 0)
                return r < 0 ? r : 1;   /* 0: authorization pending, dispatched again */
        if (!p->persistent)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Pool '%s' is transient", p->name);
        r = vm_pool_store_remove(s, p->name);
        if (r < 0)
                return sd_bus_error_setf(error, VM_ERROR_OPERATION_FAILED, "Failed to remove pool '%s': %s", p->name,
                                         strerror(-r));
        vm_pool_emit_event(p, "undefined");
        p->next_def = storage_pool_def_free(p->next_def);   /* a transient pool has no next definition */
        if (vm_pool_is_active(p) || p->starting) {
                /* an active pool stays, transient, until it stops */
                p->persistent = false;
                p->autostart = false;
                vm_pool_emit_changes(p);
        } else
                vm_pool_remove(p);
        return sd_bus_reply_method_return(message, NULL);
}

static int method_get_xml(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmPool *p = userdata;
        _cleanup_free_ char *xml = NULL;
        bool secure = false, inactive = false;
        const BusOption options[] = { { "secure", "b", &secure }, { "inactive", "b", &inactive }, {} };
        int r;

        r = bus_options_parse(message, options, error);
        if (r < 0)
                return r;
        if (secure) {
                /* pools carry no secrets yet; asking for them is still a privileged call */
                r = vm_pool_method_prologue(message, p, NULL, NULL, error);
                if (r <= 0)
                        return r < 0 ? r : 1;
        }
        /* inactive: the persistent definition, which a DefinePool while active may have changed */
        xml = vm_pool_kind.xml_format(p, inactive ? VM_FORMAT_INACTIVE : 0);
        if (!xml)
                return -ENOMEM;
        return sd_bus_reply_method_return(message, "s", xml);
}

static int method_list_volumes(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmPool *p = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ StorageVolume **vols = NULL;
        size_t n = 0;
        int r;

        r = bus_options_parse(message, (const BusOption[]) { {} }, error);
        if (r < 0)
                return r;
        r = storage_pool_list_volumes(p->sp, &vols, &n);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_return(message, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "o");
        for (size_t i = 0; r >= 0 && i < n; i++) {
                _cleanup_free_ char *path = vm_volume_path(vols[i]);
                r = path ? sd_bus_message_append_basic(reply, 'o', path) : -ENOMEM;
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_get_volume(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmPool *p = userdata;
        _cleanup_free_ char *path = NULL;
        StorageVolume *v;
        const char *name;
        int r;

        r = sd_bus_message_read(message, "s", &name);
        if (r < 0)
                return r;
        v = storage_pool_find_volume(p->sp, name);
        if (!v)
                return sd_bus_error_setf(error, VM_ERROR_NO_SUCH_VOLUME, "No volume '%s' in pool '%s'", name, p->name);
        path = vm_volume_path(v);
        return sd_bus_reply_method_return(message, "o", path);
}

static void create_volume_done(void *userdata, int r, const char *message, StorageVolume *vol) {
        PoolOp *op = userdata;

        if (r < 0) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                _cleanup_free_ char *what = g_strdup_printf("Failed to create volume '%s' in pool '%s'", op->volume,
                                                            op->pool);
                bus_error_from_errno(&error, r, message, what);
                (void) sd_bus_reply_method_error(op->message, &error);
        } else {
                _cleanup_free_ char *path = vm_volume_path(vol);
                (void) sd_bus_reply_method_return(op->message, "o", path);
        }
        pool_op_free(op);
}

static int method_create_volume(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmPool *p = userdata;
        StorageVolDef *def = NULL;
        StorageJobCallbacks cb = { .done = create_volume_done };
        bool prealloc_metadata = false;
        const char *xml;
        PoolOp *op;
        int r;

        r = sd_bus_message_read(message, "s", &xml);
        if (r < 0)
                return r;
        r = bus_options_parse(message, (const BusOption[]) { { "prealloc_metadata", "b", &prealloc_metadata }, {} },
                              error);
        if (r < 0)
                return r;
        r = vm_object_kind_parse_authorized(&vm_volume_kind, p->storage->manager, message, xml, p,
                                            (void **) &def, error);
        if (r <= 0)
                return r < 0 ? r : 1;   /* 0: authorization pending, dispatched again */
        if (!vm_pool_is_active(p)) {
                r = sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Pool '%s' is not active", p->name);
                goto finish;
        }
        if (storage_pool_find_volume(p->sp, def->name)) {
                r = sd_bus_error_setf(error, VM_ERROR_ALREADY_EXISTS, "Volume '%s' already exists in pool '%s'",
                                      def->name, p->name);
                goto finish;
        }
        op = pool_op_new(p->storage, message, "create", p->name, def->name);
        cb.userdata = op;
        r = storage_volume_create_full(p->sp, def, prealloc_metadata ? STORAGE_VOLUME_CREATE_PREALLOC_METADATA : 0,
                                       &cb, NULL);
        if (r < 0) {
                _cleanup_free_ char *what = g_strdup_printf("Failed to create volume '%s' in pool '%s'", def->name,
                                                            p->name);
                pool_op_free(op);
                r = bus_error_from_errno(error, r, NULL, what);
                goto finish;
        }
        r = 1;
finish:
        storage_vol_def_free(def);
        return r < 0 ? r : 1;
}

static int method_clone_volume(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmPool *p = userdata;
        VmStorage *s = p->storage;
        StorageVolDef *def = NULL;
        StorageVolume *src;
        StorageJob *sj = NULL;
        StorageJobCallbacks cb;
        const char *xml, *source;
        _cleanup_free_ char *object = NULL;
        VmJob *j;
        int r;

        r = sd_bus_message_read(message, "so", &xml, &source);
        if (r < 0)
                return r;
        r = bus_options_parse(message, (const BusOption[]) { {} }, error);
        if (r < 0)
                return r;
        r = vm_object_kind_parse_authorized(&vm_volume_kind, p->storage->manager, message, xml, p,
                                            (void **) &def, error);
        if (r <= 0)
                return r < 0 ? r : 1;   /* 0: authorization pending, dispatched again */
        src = vm_volume_find_by_path(s, source);
        if (!src) {
                r = sd_bus_error_setf(error, VM_ERROR_NO_SUCH_VOLUME, "No volume at %s", source);
                goto finish;
        }
        if (!vm_pool_is_active(p)) {
                r = sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Pool '%s' is not active", p->name);
                goto finish;
        }
        if (storage_pool_find_volume(p->sp, def->name)) {
                r = sd_bus_error_setf(error, VM_ERROR_ALREADY_EXISTS, "Volume '%s' already exists in pool '%s'",
                                      def->name, p->name);
                goto finish;
        }
        r = sd_bus_path_encode_many(&object, VM_POOL_PREFIX "/%/volume/%", p->name, def->name);
        if (r < 0)
                goto finish;
        j = vm_storage_job_new(s, "clone", object, p->name, def->name);
        cb = vm_storage_job_callbacks(j);
        r = storage_volume_clone(p->sp, def, src, &cb, &sj);
        if (r < 0) {
                _cleanup_free_ char *what = g_strdup_printf("Failed to clone volume '%s' in pool '%s'", def->name,
                                                            p->name);
                vm_job_discard(j);
                r = bus_error_from_errno(error, r, NULL, what);
                goto finish;
        }
        vm_storage_job_started(j, sj);
        vm_job_publish(j);
        r = sd_bus_reply_method_return(message, "o", vm_job_path(j));
finish:
        storage_vol_def_free(def);
        return r < 0 ? r : 1;
}

/* ---- the object table ---- */

#define EMITS SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE
#define CONST SD_BUS_VTABLE_PROPERTY_CONST
#define UNPRIV SD_BUS_VTABLE_UNPRIVILEGED

const sd_bus_vtable pool_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Name", "s", property_get_name, 0, CONST),
        SD_BUS_PROPERTY("UUID", "s", property_get_uuid, 0, CONST),
        SD_BUS_PROPERTY("Type", "s", property_get_type, 0, EMITS),
        SD_BUS_PROPERTY("Path", "s", property_get_path, 0, EMITS),
        SD_BUS_PROPERTY("Active", "b", property_get_bool, 0, EMITS),
        SD_BUS_PROPERTY("Persistent", "b", property_get_bool, 0, EMITS),
        SD_BUS_WRITABLE_PROPERTY("Autostart", "b", property_get_bool, property_set_autostart, 0, EMITS | UNPRIV),
        SD_BUS_PROPERTY("Capacity", "t", property_get_size, 0, EMITS),
        SD_BUS_PROPERTY("Allocation", "t", property_get_size, 0, EMITS),
        SD_BUS_PROPERTY("Available", "t", property_get_size, 0, EMITS),
        SD_BUS_METHOD_WITH_ARGS("Start", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT, method_start, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("Stop", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT, method_stop, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("Build", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT, method_build, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("Delete", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT, method_delete, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("Undefine", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT, method_undefine, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("Refresh", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT, method_refresh, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("GetXML", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("s", xml), method_get_xml, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("CreateVolume", SD_BUS_ARGS("s", xml, "a{sv}", options), SD_BUS_RESULT("o", volume),
                                method_create_volume, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("CloneVolume", SD_BUS_ARGS("s", xml, "o", source, "a{sv}", options),
                                SD_BUS_RESULT("o", job), method_clone_volume, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("ListVolumes", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("ao", volumes),
                                method_list_volumes, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("GetVolume", SD_BUS_ARGS("s", name), SD_BUS_RESULT("o", volume),
                                method_get_volume, UNPRIV),
        SD_BUS_VTABLE_END
};

static int pool_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                            sd_bus_error *error) {
        Manager *m = userdata;

        if (!m->storage)
                return 0;
        return object_store_bus_find(&m->storage->store, path, found, error);
}

static int pool_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error) {
        Manager *m = userdata;
        GPtrArray *l = g_ptr_array_new();
        GHashTableIter it;
        gpointer value;

        if (m->storage) {
                g_hash_table_iter_init(&it, m->storage->store.objects);
                while (g_hash_table_iter_next(&it, NULL, &value)) {
                        VmPool *p = value;
                        _cleanup_free_ StorageVolume **vols = NULL;
                        size_t n = 0;
                        if (!p->on_bus)
                                continue;
                        g_ptr_array_add(l, strdup(p->path));
                        if (storage_pool_list_volumes(p->sp, &vols, &n) >= 0)
                                for (size_t i = 0; i < n; i++)
                                        g_ptr_array_add(l, vm_volume_path(vols[i]));
                }
        }
        g_ptr_array_add(l, NULL);
        *nodes = (char **) g_ptr_array_free(l, FALSE);
        return 1;
}

/* Properties.Set waits for polkit here, before sd-bus calls the setter (as for domains). */
static int pool_authorize_set(sd_bus_message *message, const char *property, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *details[7];
        VmPool *p;

        if (!m->storage)
                return 1;
        p = vm_pool_find_by_path(m->storage, sd_bus_message_get_path(message));
        if (!p)
                return 1;
        return vm_authorize_prepare(m, message, VM_ACTION_STORAGE_MANAGE, pool_details(p, NULL, details), error);
}

/* ---- the kind ---- */

static int pool_foreach(Manager *m, VmObjectFn fn, void *userdata) {
        GHashTableIter it;
        gpointer value;

        if (!m->storage)
                return 0;
        g_hash_table_iter_init(&it, m->storage->store.objects);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                VmPool *p = value;
                int r;

                if (!p->on_bus)
                        continue;
                r = fn(userdata, p, p->path);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void *pool_lookup(Manager *m, const char *name_or_uuid) {
        VmPool *p = m->storage ? object_store_find(&m->storage->store, name_or_uuid) : NULL;

        return p && p->on_bus ? p : NULL;
}

static const char *pool_name(const void *object) {
        return ((const VmPool *) object)->name;
}

static char *pool_path(const void *object) {
        return g_strdup(((const VmPool *) object)->path);
}

static bool pool_active(const void *object) {
        return vm_pool_is_active((VmPool *) object);
}

/* Pool XML (pure: nothing is asked of the system yet). */
static int pool_xml_parse(const char *xml, void **ret, sd_bus_error *error) {
        StoragePoolDef *def = NULL;
        ConfError err = {};
        int r;

        r = storage_pool_def_parse(xml, strlen(xml), &def, &err);
        if (r == -EFBIG) {
                conf_error_clear(&err);
                return sd_bus_error_setf(error, VM_ERROR_INVALID_XML, "Pool XML is larger than %u bytes",
                                         STORAGE_XML_MAX_SIZE);
        }
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                sd_bus_error_setf(error, VM_ERROR_INVALID_XML, "%s", err.message ?: "Invalid pool XML");
                conf_error_clear(&err);
                return -EINVAL;
        }
        *ret = def;
        return 0;
}

static const char *pool_def_name(const void *def) {
        return ((const StoragePoolDef *) def)->name;
}

static void pool_def_free_hook(void *def) {
        storage_pool_def_free(def);
}

static const char *const *pool_def_details(const void *parent, const char *name, const char *buf[static 7]) {
        buf[0] = name ? "pool" : NULL;
        buf[1] = name;
        buf[2] = NULL;
        return buf;
}

/* inactive: the persistent definition, which a DefinePool while active may have changed. */
static char *pool_xml_format(const void *object, VmFormatFlags flags) {
        const VmPool *p = object;

        return storage_pool_def_format(flags & VM_FORMAT_INACTIVE && p->next_def ? p->next_def
                                                                                 : storage_pool_get_def(p->sp));
}

const VmObjectKind vm_pool_kind = {
        .noun = "pool",
        .interface = VM_POOL_INTERFACE,
        .path_prefix = VM_POOL_PREFIX,
        .path_pattern = VM_POOL_PREFIX "/%",
        .no_such_error = VM_ERROR_NO_SUCH_POOL,
        .action = VM_ACTION_STORAGE_MANAGE,
        .config_subdir = "storage",
        .vtable = pool_vtable,
        .find = pool_object_find,
        .enumerate = pool_node_enumerator,   /* with the pools' volumes */
        .authorize_set = pool_authorize_set,
        .foreach = pool_foreach,
        .lookup = pool_lookup,
        .object_name = pool_name,
        .object_path = pool_path,
        .is_active = pool_active,
        .xml_parse = pool_xml_parse,
        .def_name = pool_def_name,
        .def_free = pool_def_free_hook,
        .def_details = pool_def_details,
        .xml_format = pool_xml_format,
};
