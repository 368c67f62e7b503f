/* pool.c — storage pools in vmgmtd: registry, persistence, the default pool, start-up recovery, driver events, domain disks. */
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "bus-util.h"
#include "domain.h"
#include "fileio.h"
#include "log.h"
#include "object-kind.h"
#include "auth.h"
#include "pool.h"
#include "secret.h"

static bool pool_is_active(void *object) {
        return vm_pool_is_active(object);
}

static const ObjectStoreType pool_store_type = {
        .kind = &vm_pool_kind,
        .event_signal = "PoolEvent",
        .default_marker = ".default-pool-defined",
        .uuid_offset = offsetof(VmPool, uuid),
        .path_offset = offsetof(VmPool, path),
        .on_bus_offset = offsetof(VmPool, on_bus),
        .is_active = pool_is_active,
};

/* ---- operations waiting for the driver ---- */

PoolOp *pool_op_new(VmStorage *s, sd_bus_message *message, const char *verb, const char *pool, const char *volume) {
        PoolOp *op = g_new0(PoolOp, 1);

        op->storage = s;
        op->message = sd_bus_message_ref(message);
        op->verb = verb;
        op->pool = g_strdup(pool);
        op->volume = g_strdup(volume);
        g_hash_table_add(s->ops, op);
        return op;
}

void pool_op_free(PoolOp *op) {
        if (!op)
                return;
        g_hash_table_remove(op->storage->ops, op);
        sd_bus_message_unref(op->message);
        g_free(op->pool);
        g_free(op->volume);
        g_free(op);
}

/* ---- registry ---- */

static void pool_props_clear(VmPoolProps *p) {
        g_free(p->type);
        g_free(p->target);
        p->type = p->target = NULL;
}

static void pool_props_get(VmPool *p, VmPoolProps *ret) {
        const StoragePoolDef *def = storage_pool_get_def(p->sp);

        ret->active = storage_pool_is_active(p->sp);
        ret->persistent = p->persistent;
        ret->autostart = p->autostart;
        ret->capacity = def->capacity;
        ret->allocation = def->allocation;
        ret->available = def->available;
        ret->type = g_strdup(storage_pool_type_to_string(def->type));
        ret->target = g_strdup(def->target_path ?: "");
}

void vm_pool_emit_changes(VmPool *p) {
        VmPoolProps now;
        const char *names[10];
        size_t n = 0;

        pool_props_get(p, &now);
        if (now.active != p->last.active)
                names[n++] = "Active";
        if (now.persistent != p->last.persistent)
                names[n++] = "Persistent";
        if (now.autostart != p->last.autostart)
                names[n++] = "Autostart";
        if (now.capacity != p->last.capacity)
                names[n++] = "Capacity";
        if (now.allocation != p->last.allocation)
                names[n++] = "Allocation";
        if (now.available != p->last.available)
                names[n++] = "Available";
        if (!streq(now.type, p->last.type))
                names[n++] = "Type";
        if (!streq(now.target, p->last.target))
                names[n++] = "Path";
        names[n] = NULL;
        pool_props_clear(&p->last);
        p->last = now;
        object_store_emit_changed(&p->storage->store, p, names);
}

void vm_pool_emit_event(VmPool *p, const char *event) {
        object_store_emit_event(&p->storage->store, p, event);
}

void vm_pool_add_to_bus(VmPool *p) {
        object_store_emit_added(&p->storage->store, p);
}

int vm_pool_new(VmStorage *s, const StoragePoolDef *def, bool persistent, VmPool **ret) {
        VmPool *p;
        int r;

        p = g_new0(VmPool, 1);
        p->storage = s;
        p->name = g_strdup(def->name);
        conf_uuid_format(def->uuid, p->uuid);
        r = sd_bus_path_encode(VM_POOL_PREFIX, def->name, &p->path);
        if (r < 0)
                goto fail;
        r = storage_pool_new(s->driver, def, p, &p->sp);
        if (r < 0)
                goto fail;
        p->persistent = persistent;
        pool_props_get(p, &p->last);
        object_store_add(&s->store, p->name, p);
        *ret = p;
        return 0;
fail:
        free(p->path);
        g_free(p->name);
        g_free(p);
        return r;
}

bool vm_pool_def_equal(const StoragePoolDef *a, const StoragePoolDef *b) {
        _cleanup_free_ char *x = NULL, *y = NULL;
        StoragePoolDef *ca = storage_pool_def_copy(a), *cb = storage_pool_def_copy(b);

        if (ca && cb) {
                ca->capacity = ca->allocation = ca->available = 0;
                cb->capacity = cb->allocation = cb->available = 0;
                x = storage_pool_def_format(ca);
                y = storage_pool_def_format(cb);
        }
        storage_pool_def_free(ca);
        storage_pool_def_free(cb);
        return x && y && streq(x, y);
}

int vm_pool_set_next_def(VmPool *p, const StoragePoolDef *def) {
        StoragePoolDef *copy = NULL;

        if (!vm_pool_def_equal(storage_pool_get_def(p->sp), def)) {
                copy = storage_pool_def_copy(def);
                if (!copy)
                        return -ENOMEM;
        }
        storage_pool_def_free(p->next_def);
        p->next_def = copy;
        vm_pool_apply_next_def(p);
        return 0;
}

void vm_pool_apply_next_def(VmPool *p) {
        if (!p->next_def || vm_pool_is_active(p) || p->starting)
                return;
        if (storage_pool_set_def(p->sp, p->next_def) < 0)
                return;
        p->next_def = storage_pool_def_free(p->next_def);
        vm_pool_emit_changes(p);
}

static void pool_free(VmPool *p) {
        storage_pool_def_free(p->next_def);
        storage_pool_free(p->sp);
        pool_props_clear(&p->last);
        free(p->path);
        g_free(p->name);
        g_free(p);
}

void vm_pool_remove(VmPool *p) {
        _cleanup_free_ StorageVolume **vols = NULL;
        size_t n = 0;

        /* the volumes go with it */
        if (p->on_bus && storage_pool_list_volumes(p->sp, &vols, &n) >= 0)
                for (size_t i = 0; i < n; i++)
                        vm_volume_emit_removed(p->storage, vols[i]);
        object_store_emit_removed(&p->storage->store, p);
        object_store_steal(&p->storage->store, p->name);
        pool_free(p);
}

VmPool *vm_pool_find(VmStorage *s, const char *name_or_uuid) {
        return object_store_find(&s->store, name_or_uuid);
}

VmPool *vm_pool_find_by_path(VmStorage *s, const char *path) {
        return object_store_find_by_path(&s->store, path);
}

VmPool *vm_pool_of(StoragePool *sp) {
        return storage_pool_get_owner(sp);
}

bool vm_pool_is_active(VmPool *p) {
        return storage_pool_is_active(p->sp);
}

char *vm_volume_path(StorageVolume *v) {
        VmPool *p = vm_pool_of(storage_volume_get_pool(v));
        char *path = NULL;

        if (sd_bus_path_encode_many(&path, VM_POOL_PREFIX "/%/volume/%", p->name,
                                    storage_volume_get_def(v)->name) < 0)
                return NULL;
        return path;
}

StorageVolume *vm_volume_find_by_path(VmStorage *s, const char *path) {
        _cleanup_free_ char *pool = NULL, *vol = NULL;
        VmPool *p;

        if (sd_bus_path_decode_many(path, VM_POOL_PREFIX "/%/volume/%", &pool, &vol) <= 0)
                return NULL;
        p = object_store_lookup(&s->store, pool);
        if (!p)
                return NULL;
        return storage_pool_find_volume(p->sp, vol);
}

/* ---- persistence: CONFIG/storage/NAME.xml, autostart links, run state ---- */

/* The XML of def as it goes on disk: only the definition, no statvfs numbers. NULL: out of memory. */
static char *pool_def_format_stored(const StoragePoolDef *def) {
        StoragePoolDef *copy = storage_pool_def_copy(def);
        char *xml;

        if (!copy)
                return NULL;
        copy->capacity = copy->allocation = copy->available = 0;
        xml = storage_pool_def_format(copy);
        storage_pool_def_free(copy);
        return xml;
}

int vm_pool_store_write(VmStorage *s, const StoragePoolDef *def) {
        _cleanup_free_ char *xml = pool_def_format_stored(def);

        if (!xml)
                return -ENOMEM;
        return object_store_save(&s->store, def->name, xml);
}

int vm_pool_store_set_autostart(VmStorage *s, const char *name, bool autostart) {
        return object_store_set_autostart(&s->store, name, autostart);
}

int vm_pool_store_remove(VmStorage *s, const char *name) {
        return object_store_remove(&s->store, name);
}

int vm_pool_run_state_set(VmStorage *s, VmPool *p, bool active) {
        _cleanup_free_ char *path = object_store_file(s->run_dir, p->name), *xml = NULL;
        int r;

        if (!active)
                return unlink_noent(path);
        r = mkdir_p(s->run_dir, 0755);
        if (r < 0)
                return r;
        xml = pool_def_format_stored(storage_pool_get_def(p->sp));
        if (!xml)
                return -ENOMEM;
        /* a mark that the pool is active; "transient" when it has no file in CONFIG */
        return write_file_atomic_nosync(path, xml, strlen(xml), 0600);
}

static int pool_def_load(const char *path, const char *xml, size_t len, StoragePoolDef **ret) {
        StoragePoolDef *def = NULL;
        ConfError err = {};
        int r;

        r = storage_pool_def_parse(xml, len, &def, &err);
        if (r >= 0)
                r = storage_pool_def_normalize(def, &err);
        if (r < 0) {
                log_error("Ignoring %s: %s", path, err.message ?: strerror(-r));
                conf_error_clear(&err);
                storage_pool_def_free(def);
                return r;
        }
        *ret = def;
        return 0;
}

typedef struct PoolLoad {
        VmStorage *storage;
        bool persistent;           /* CONFIG/storage, else the run state (pools active before a restart) */
} PoolLoad;

/* A pool already loaded (persistent) that was active before the restart with
 * a definition changed since: it runs on as it was, the persistent one waits
 * for the next start. */
static void pool_load_run_state(VmPool *p, const StoragePoolDef *def) {
        if (!vm_pool_def_equal(storage_pool_get_def(p->sp), def) &&
            (p->next_def = storage_pool_def_copy(storage_pool_get_def(p->sp))) && storage_pool_set_def(p->sp, def) < 0)
                p->next_def = storage_pool_def_free(p->next_def);
        pool_props_clear(&p->last);
        pool_props_get(p, &p->last);
}

static void pool_load_one(void *userdata, const char *path, const char *xml, size_t len) {
        const PoolLoad *l = userdata;
        VmStorage *s = l->storage;
        StoragePoolDef *def = NULL;
        VmPool *p;

        if (pool_def_load(path, xml, len, &def) < 0)
                return;
        p = object_store_lookup(&s->store, def->name);
        if (p) {
                if (!l->persistent)
                        pool_load_run_state(p, def);
                else {
                        pool_props_clear(&p->last);
                        pool_props_get(p, &p->last);
                }
                storage_pool_def_free(def);
                return;
        }
        if (vm_pool_new(s, def, l->persistent, &p) < 0) {
                log_error("Failed to add pool '%s'.", def->name);
                storage_pool_def_free(def);
                return;
        }
        if (l->persistent) {
                p->autostart = object_store_get_autostart(&s->store, def->name);
                pool_props_clear(&p->last);
                pool_props_get(p, &p->last);
        }
        p->on_bus = true;    /* the bus comes later: no signals before it */
        storage_pool_def_free(def);
}

/* Loads every NAME.xml of dir; persistent or transient (run state) pools. */
static void pool_load_dir(VmStorage *s, const char *dir, bool persistent) {
        PoolLoad l = { .storage = s, .persistent = persistent };

        object_store_load_dir(dir, STORAGE_XML_MAX_SIZE, pool_load_one, &l);
}

/* The `default` pool, once: a marker remembers it was defined, so an undefined default stays undefined. */
static void pool_define_default(VmStorage *s) {
        Manager *m = s->manager;
        _cleanup_free_ char *xml = NULL;
        StoragePoolDef *def = NULL;
        ConfError err = {};
        VmPool *p;
        int r;

        if (!object_store_default_wanted(&s->store))
                return;
        xml = storage_pool_default_xml(m->paths.state_dir);
        if (!xml)
                return;
        r = storage_pool_def_parse(xml, strlen(xml), &def, &err);
        if (r >= 0)
                r = storage_pool_def_normalize(def, &err);
        conf_error_clear(&err);
        if (r < 0 || object_store_lookup(&s->store, def->name)) {
                storage_pool_def_free(def);
                object_store_default_done(&s->store);
                return;
        }
        /* built at once: a directory, nothing to wait for */
        r = mkdir_p(def->target_path, 0711);
        if (r >= 0)
                r = vm_pool_store_write(s, def);
        if (r >= 0)
                r = vm_pool_new(s, def, true, &p);
        if (r >= 0) {
                p->on_bus = true;
                p->autostart = true;
                (void) vm_pool_store_set_autostart(s, def->name, true);
                pool_props_clear(&p->last);
                pool_props_get(p, &p->last);
                log_info("Defined the default storage pool at %s.", def->target_path);
        } else
                log_error_errno(r, "Failed to define the default storage pool: %m");
        storage_pool_def_free(def);
        object_store_default_done(&s->store);
}

/* ---- driver events ---- */

static void on_pool_changed(void *userdata, StoragePool *sp) {
        VmPool *p = vm_pool_of(sp);

        if (p)
                vm_pool_emit_changes(p);
}

static void on_volume_added(void *userdata, StorageVolume *v) {
        vm_volume_emit_added(userdata, v);
}

static void on_volume_changed(void *userdata, StorageVolume *v) {
        vm_volume_emit_changed(userdata, v);
}

static void on_volume_removed(void *userdata, StorageVolume *v) {
        vm_volume_emit_removed(userdata, v);
}

/* ---- start-up ---- */

static void startup_start_done(void *userdata, int r, const char *message) {
        PoolOp *op = userdata;
        VmStorage *s = op->storage;
        VmPool *p = object_store_lookup(&s->store, op->pool);

        if (p) {
                p->starting = false;
                if (r < 0) {
                        log_error("Failed to start storage pool '%s': %s", p->name, message ?: strerror(-r));
                        (void) vm_pool_run_state_set(s, p, false);
                        if (!p->persistent)
                                vm_pool_remove(p);
                } else {
                        log_info("Started storage pool '%s'.", p->name);
                        (void) vm_pool_run_state_set(s, p, true);
                        vm_pool_emit_changes(p);
                        vm_pool_emit_event(p, "started");
                }
        }
        pool_op_free(op);
        startup_gate_leave(&s->startup, s->manager);
}

void vm_storage_when_started(Manager *m, void (*fn)(Manager *m)) {
        VmStorage *s = m->storage;

        if (!s) {
                fn(m);
                return;
        }
        startup_gate_then(&s->startup, m, fn);
}

static void pool_op_key_free(gpointer p) {
        PoolOp *op = p;
        /* only at exit: the driver is gone and calls nothing back */
        if (op->message)
                (void) sd_bus_reply_method_errorf(op->message, VM_ERROR_OPERATION_FAILED,
                                                  "vmgmtd is shutting down");
        sd_bus_message_unref(op->message);
        g_free(op->pool);
        g_free(op->volume);
        g_free(op);
}

/* An rbd or iscsi pool's <auth> secret, from org.vmgmt.Secret objects. */
static int on_lookup_secret(void *userdata, const char *usage_type, const char *usage_or_uuid, uint8_t **ret,
                            size_t *ret_len) {
        VmStorage *s = userdata;
        return vm_secret_lookup_value(s->manager, usage_type, usage_or_uuid, ret, ret_len);
}

int vm_storage_startup(Manager *m) {
        StorageDriverEvents events = {
                .pool_changed = on_pool_changed,
                .volume_added = on_volume_added,
                .volume_changed = on_volume_changed,
                .volume_removed = on_volume_removed,
                .lookup_secret = on_lookup_secret,
        };
        GHashTableIter it;
        gpointer value;
        GPtrArray *todo;
        VmStorage *s;
        int r;

        s = g_new0(VmStorage, 1);
        s->manager = m;
        m->storage = s;
        object_store_init(&s->store, &pool_store_type, m);
        s->pools = s->store.objects;
        s->run_dir = g_build_filename(m->paths.run_dir, "storage", NULL);
        s->ops = g_hash_table_new(g_direct_hash, g_direct_equal);
        events.userdata = s;

        r = storage_driver_new(m->event, &events, &s->driver);
        if (r < 0)
                return log_error_errno(r, "Failed to start the storage driver: %m");
        if (m->config.pool_refresh_usec > 0)
                storage_driver_set_stats_interval(s->driver, m->config.pool_refresh_usec);
        if (m->config.probe_timeout_usec > 0)
                storage_driver_set_probe_timeout(s->driver, m->config.probe_timeout_usec);
        r = mkdir_p(s->store.config_dir, 0755);
        if (r < 0)
                return log_error_errno(r, "Failed to create %s: %m", s->store.config_dir);

        pool_load_dir(s, s->store.config_dir, true);
        pool_define_default(s);
        /* pools active before a restart stay active; transient ones come back from the run state */
        pool_load_dir(s, s->run_dir, false);

        todo = g_ptr_array_new();
        g_hash_table_iter_init(&it, s->store.objects);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                VmPool *p = value;
                _cleanup_free_ char *run = object_store_file(s->run_dir, p->name);
                bool was_active = access(run, F_OK) == 0;
                if (was_active || (p->autostart && m->config.autostart))
                        g_ptr_array_add(todo, p);
        }
        for (guint i = 0; i < todo->len; i++) {
                VmPool *p = todo->pdata[i];
                PoolOp *op = g_new0(PoolOp, 1);
                op->storage = s;
                op->verb = "start";
                op->pool = g_strdup(p->name);
                g_hash_table_add(s->ops, op);
                p->starting = true;
                startup_gate_enter(&s->startup);   /* before: the driver may be done before it returns */
                r = storage_pool_start(p->sp, startup_start_done, op);
                if (r < 0) {
                        log_error_errno(r, "Failed to start storage pool '%s': %m", p->name);
                        p->starting = false;
                        pool_op_free(op);
                        startup_gate_leave(&s->startup, s->manager);
                }
        }
        g_ptr_array_free(todo, TRUE);
        return 0;
}

/* ---- storage jobs ---- */

static void storage_job_on_progress(void *userdata, uint64_t processed, uint64_t total) {
        vm_job_progress(userdata, processed, total);
}

static void storage_job_on_done(void *userdata, int r, const char *message, StorageVolume *vol) {
        VmJob *j = userdata;

        /* a copy of unknown size is as large as the volume it made */
        if (r >= 0 && vol && vm_job_total(j) == 0) {
                uint64_t cap = storage_volume_get_def(vol)->capacity;
                vm_job_progress(j, cap, cap);
        }
        vm_job_finish(j, r, message);
}

static void storage_job_on_cancel(VmJob *j, void *userdata) {
        storage_job_cancel(userdata);
}

VmJob *vm_storage_job_new(VmStorage *s, const char *type, const char *object, const char *pool, const char *volume) {
        return vm_job_new(s->manager, type, object, VM_ACTION_STORAGE_MANAGE,
                          (const char *const[]) { "pool", pool, "volume", volume, NULL });
}

StorageJobCallbacks vm_storage_job_callbacks(VmJob *j) {
        return (StorageJobCallbacks) { .progress = storage_job_on_progress, .done = storage_job_on_done, .userdata = j };
}

void vm_storage_job_started(VmJob *j, StorageJob *sj) {
        vm_job_set_cancel(j, storage_job_on_cancel, sj);
}

void vm_storage_shutdown(Manager *m) {
        VmStorage *s = m->storage;
        GHashTableIter it;
        gpointer value;

        if (!s || !s->driver)
                return;
        vm_jobs_free_all(m);   /* the driver cancels the running ones without callbacks */
        /* the pools' driver halves go with the driver */
        g_hash_table_iter_init(&it, s->store.objects);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                VmPool *p = value;
                p->sp = storage_pool_free(p->sp);
        }
        s->driver = storage_driver_free(s->driver);
        g_hash_table_iter_init(&it, s->ops);
        while (g_hash_table_iter_next(&it, &value, NULL)) {
                g_hash_table_iter_steal(&it);
                pool_op_key_free(value);
        }
}

void vm_storage_free(Manager *m) {
        VmStorage *s = m->storage;
        GHashTableIter it;
        gpointer value;

        if (!s)
                return;
        vm_storage_shutdown(m);
        g_hash_table_iter_init(&it, s->store.objects);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                g_hash_table_iter_steal(&it);
                pool_free(value);
        }
        object_store_deinit(&s->store);
        s->pools = NULL;
        g_hash_table_destroy(s->ops);
        g_free(s->run_dir);
        g_free(s);
        m->storage = NULL;
}

/* ---- domains ---- */

static bool disk_uses(const DomainDiskDef *disk, const char *pool, const char *vol, const char *path) {
        if (disk->type == DOMAIN_DISK_TYPE_VOLUME)
                return streq_ptr(disk->source_pool, pool) && streq_ptr(disk->source_volume, vol);
        return disk->source && streq(disk->source, path);
}

typedef bool (*DiskMatchFn)(const DomainDiskDef *disk, const void *ctx);

/* The first running domain with a disk for which match() is true (live or persistent definition). */
static const char *running_domain_with_disk(Manager *m, DiskMatchFn match, const void *ctx) {
        GHashTableIter it;
        gpointer value;

        g_hash_table_iter_init(&it, m->domains_by_name);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                VmDomain *d = value;
                const DomainDef *defs[2];
                if (!vm_domain_is_active(d))
                        continue;
                defs[0] = vm_domain_current_def(d);
                defs[1] = d->def;
                for (size_t k = 0; k < 2; k++)
                        for (size_t i = 0; defs[k] && i < defs[k]->n_disks; i++)
                                if (match(&defs[k]->disks[i], ctx))
                                        return d->name;
        }
        return NULL;
}

typedef struct VolumeMatch {
        const char *pool, *name, *path;
} VolumeMatch;

static bool disk_is_volume(const DomainDiskDef *disk, const void *ctx) {
        const VolumeMatch *vm = ctx;
        return disk_uses(disk, vm->pool, vm->name, vm->path);
}

const char *vm_storage_volume_user(Manager *m, StorageVolume *v) {
        const StorageVolDef *vd = storage_volume_get_def(v);
        VolumeMatch vm = { vm_pool_of(storage_volume_get_pool(v))->name, vd->name, vd->path };

        return running_domain_with_disk(m, disk_is_volume, &vm);
}

static bool path_in(const char *path, const char *dir) {
        size_t n = strlen(dir);
        return path && strncmp(path, dir, n) == 0 && path[n] == '/';
}

/* True when disk is in pool p: a volume of it, a file under its target, or
 * a volume of any pool whose backing chain reaches into it. */
static bool disk_in_pool(const DomainDiskDef *disk, const void *ctx) {
        VmPool *p = (VmPool *) ctx;
        const char *target = storage_pool_get_def(p->sp)->target_path;
        StorageVolume *v;
        const char *const *chain;
        size_t n;

        if (disk->type == DOMAIN_DISK_TYPE_VOLUME && streq_ptr(disk->source_pool, p->name))
                return true;
        if (!disk->source)
                return false;
        if (path_in(disk->source, target))
                return true;
        v = storage_driver_find_volume_by_path(p->storage->driver, disk->source);
        chain = v ? storage_volume_get_backing_chain(v, &n) : NULL;
        for (size_t i = 0; chain && i < n; i++)
                if (path_in(chain[i], target))
                        return true;
        return false;
}

const char *vm_storage_pool_user(Manager *m, VmPool *p) {
        return running_domain_with_disk(m, disk_in_pool, p);
}

/* A <disk type='volume'> of an rbd or iscsi-direct pool as the <disk type='network'> of its
 * source: rbd POOL/IMAGE, iscsi IQN/LUN (the volume unit:0:0:LUN), the pool's host, initiator and
 * <auth> (whose secret the start resolves as any network disk's). */
static int volume_as_network_disk(const StoragePoolDef *pd, DomainDiskDef *out, char **ret_error) {
        bool rbd = pd->type == STORAGE_POOL_RBD;
        const char *vol = strempty(out->source_volume);
        unsigned lun = 0;
        char tail;

        if (!rbd && sscanf(vol, "unit:0:0:%u%c", &lun, &tail) != 1) {
                *ret_error = g_strdup_printf("storage volume '%s' not found in pool '%s' (its LUNs are unit:0:0:N)",
                                             vol, pd->name);
                return -ENOENT;
        }
        out->type = DOMAIN_DISK_TYPE_NETWORK;
        g_clear_pointer(&out->source, g_free);
        out->net.protocol = rbd ? DOMAIN_DISK_PROTOCOL_RBD : DOMAIN_DISK_PROTOCOL_ISCSI;
        out->net.name = rbd ? g_strdup_printf("%s/%s", strempty(pd->source_name), vol)
                            : g_strdup_printf("%s/%u", strempty(pd->source_device), lun);
        out->net.hosts = g_new0(DomainDiskHost, 1);
        out->net.hosts[0] = (DomainDiskHost) { .name = g_strdup(pd->source_host), .port = pd->source_host_port };
        out->net.n_hosts = 1;
        if (!rbd)
                out->net.initiator_iqn = g_strdup(pd->initiator_iqn);
        if (pd->auth_username) {
                out->net.auth_username = g_strdup(pd->auth_username);
                out->net.secret_type = g_strdup(rbd ? "ceph" : "iscsi");
                out->net.secret_usage = g_strdup(pd->secret_usage);
                out->net.secret_uuid = g_strdup(pd->secret_uuid);
        }
        if (!out->driver_type)
                out->driver_type = g_strdup("raw");
        return 0;
}

int vm_storage_resolve_domain_disks(Manager *m, const DomainDef *def, DomainDef **ret, char **ret_error) {
        VmStorage *s = m->storage;
        _cleanup_free_ char *ignored = NULL;

        if (!ret_error)
                ret_error = &ignored;
        DomainDef *copy = NULL;
        int r;

        *ret = NULL;
        for (size_t i = 0; i < def->n_disks; i++) {
                const DomainDiskDef *disk = &def->disks[i];
                DomainDiskDef *out;
                StorageVolume *v;
                VmPool *p;
                const char *reason;
                char *path;

                if (disk->type != DOMAIN_DISK_TYPE_VOLUME)
                        continue;
                p = s ? object_store_lookup(&s->store, strempty(disk->source_pool)) : NULL;
                if (!p) {
                        *ret_error = g_strdup_printf("storage pool '%s' not found", strempty(disk->source_pool));
                        domain_def_free(copy);
                        return -ENOENT;
                }
                if (!vm_pool_is_active(p) && !p->starting) {
                        *ret_error = g_strdup_printf("storage pool '%s' is not active", p->name);
                        domain_def_free(copy);
                        return -ENOTCONN;
                }
                StoragePoolType ptype = storage_pool_get_def(p->sp)->type;
                if (storage_vol_name_validate(strempty(disk->source_volume), &reason) < 0) {
                        *ret_error = g_strdup_printf("invalid volume name '%s': %s", strempty(disk->source_volume),
                                                     reason);
                        domain_def_free(copy);
                        return -ENOENT;
                }
                v = storage_pool_find_volume(p->sp, disk->source_volume);
                /* an iscsi pool's LUN is a block device whose name only its listing knows */
                if (!v && (!p->starting || ptype == STORAGE_POOL_ISCSI)) {
                        *ret_error = g_strdup_printf("storage volume '%s' not found in pool '%s'",
                                                     disk->source_volume, p->name);
                        domain_def_free(copy);
                        return -ENOENT;
                }
                if (!copy) {
                        copy = domain_def_copy(def);
                        if (!copy)
                                return -ENOMEM;
                }
                out = &copy->disks[i];
                if (ptype == STORAGE_POOL_RBD || ptype == STORAGE_POOL_ISCSI_DIRECT) {
                        /* an rbd image or iSCSI LUN is no file: the disk becomes the network disk
                         * the pool's source describes, as libvirt does */
                        r = volume_as_network_disk(storage_pool_get_def(p->sp), out, ret_error);
                        if (r < 0) {
                                domain_def_free(copy);
                                return r;
                        }
                        continue;
                }
                path = v ? g_strdup(storage_volume_get_def(v)->path)
                         : g_build_filename(storage_pool_get_def(p->sp)->target_path, disk->source_volume, NULL);
                out->type = v && storage_volume_get_def(v)->type == STORAGE_VOL_BLOCK ? DOMAIN_DISK_TYPE_BLOCK
                                                                                      : DOMAIN_DISK_TYPE_FILE;
                g_free(out->source);
                out->source = path;
                if (!out->driver_type && v)
                        out->driver_type =
                                g_strdup(storage_vol_format_to_disk_driver_type(storage_volume_get_def(v)->format));
        }
        *ret = copy;
        return 0;
}
