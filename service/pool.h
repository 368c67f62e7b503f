/* pool.h — storage on the bus: pools, volumes and jobs of vmgmtd, wrapping drivers/storage. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>
#include <systemd/sd-bus.h>

#include "job.h"
#include "manager.h"
#include "object-store.h"
#include "startup-gate.h"
#include "storage-driver.h"

#define VM_POOL_PREFIX "/org/vmgmt/pool"
#define VM_POOL_INTERFACE "org.vmgmt.StoragePool"
#define VM_VOLUME_INTERFACE "org.vmgmt.StorageVolume"

#define VM_ERROR_NO_SUCH_POOL "org.vmgmt.Error.NoSuchPool"
#define VM_ERROR_NO_SUCH_VOLUME "org.vmgmt.Error.NoSuchVolume"

typedef struct VmPool VmPool;

/* The values of a pool's changing properties, as last signalled. */
typedef struct VmPoolProps {
        bool active, persistent, autostart;
        uint64_t capacity, allocation, available;
        char *type, *target;
} VmPoolProps;

struct VmPool {
        VmStorage *storage;
        char *name;
        char uuid[37];
        char *path;                /* /org/vmgmt/pool/ENCODED */
        StoragePool *sp;           /* the driver's pool; owns the definition */
        bool persistent;
        bool autostart;
        bool starting;             /* a start is under way */
        bool on_bus;               /* InterfacesAdded sent */
        StoragePoolDef *next_def;  /* persistent definition changed while active: applied at the next start */
        VmPoolProps last;          /* the values last signalled */
};

struct VmStorage {
        Manager *manager;
        StorageDriver *driver;
        ObjectStore store;         /* CONFIG/storage: NAME.xml, autostart links; name → VmPool*, owned */
        GHashTable *pools;         /* store.objects, borrowed (volume-dbus.c looks pools up in it) */
        char *run_dir;             /* RUN/storage: NAME.xml of active pools (restart recovery) */
        GHashTable *ops;           /* PoolOp* waiting for the driver */
        StartupGate startup;       /* start-up starts under way; vm_storage_when_started() */
};

/* ---- pool.c: registry, persistence, start-up, driver events ---- */

/* Creates the driver, loads CONFIG/storage, defines the `default` pool the
 * first time, and starts pools that were active (restart) or autostart.
 * Called before the bus exists; signals are sent only once m->ready. */
int vm_storage_startup(Manager *m);
/* Frees the driver (jobs cancelled without callbacks) and answers every call
 * still waiting with an error. Idempotent. */
void vm_storage_shutdown(Manager *m);
void vm_storage_free(Manager *m);
/* Calls fn once the pools vm_storage_startup() started are up (or failed): at once when none is pending. */
void vm_storage_when_started(Manager *m, void (*fn)(Manager *m));

VmPool *vm_pool_find(VmStorage *s, const char *name_or_uuid);
VmPool *vm_pool_find_by_path(VmStorage *s, const char *path);
VmPool *vm_pool_of(StoragePool *sp);
/* Adds a pool for def (copied) to the registry; not yet on the bus. */
int vm_pool_new(VmStorage *s, const StoragePoolDef *def, bool persistent, VmPool **ret);
/* Removes p from the registry (InterfacesRemoved when on the bus) and frees it. */
void vm_pool_remove(VmPool *p);
bool vm_pool_is_active(VmPool *p);
/* Signals every property that changed since last time. */
void vm_pool_emit_changes(VmPool *p);
void vm_pool_emit_event(VmPool *p, const char *event);
void vm_pool_add_to_bus(VmPool *p);
/* Equal definitions but for the sizes. */
bool vm_pool_def_equal(const StoragePoolDef *a, const StoragePoolDef *b);
/* The persistent definition from now on: at once while inactive, else at
 * the next start (the running one stays; GetXML `inactive` shows the new one). */
int vm_pool_set_next_def(VmPool *p, const StoragePoolDef *def);
/* Applies a waiting definition when the pool is inactive. */
void vm_pool_apply_next_def(VmPool *p);

int vm_pool_store_write(VmStorage *s, const StoragePoolDef *def);
int vm_pool_store_remove(VmStorage *s, const char *name);
int vm_pool_store_set_autostart(VmStorage *s, const char *name, bool autostart);
/* RUN/storage/NAME.xml: the pool is active (kept over restarts). */
int vm_pool_run_state_set(VmStorage *s, VmPool *p, bool active);

/* Object path of a volume. malloc'd. */
char *vm_volume_path(StorageVolume *v);
/* The volume at an object path, or NULL. */
StorageVolume *vm_volume_find_by_path(VmStorage *s, const char *path);

/* The running domain using the volume (by its path or pool/volume), or NULL. */
const char *vm_storage_volume_user(Manager *m, StorageVolume *v);

/* The running domain with a disk in the pool (a volume of it, a file under
 * its target, or a backing chain reaching into it), or NULL. */
const char *vm_storage_pool_user(Manager *m, VmPool *p);

/* A copy of def whose type='volume' disks are resolved to their files
 * (*ret = NULL when def has none). 0, or a negative errno with *ret_error. */
int vm_storage_resolve_domain_disks(Manager *m, const DomainDef *def, DomainDef **ret, char **ret_error);


/* A call waiting for the driver; answered with an error when the daemon exits first. */
typedef struct PoolOp {
        VmStorage *storage;
        sd_bus_message *message;
        char *pool;                /* names, looked up again on completion */
        char *volume;
        const char *verb;
        VmJob *job;                /* Upload/Download/Clone: the job */
} PoolOp;

PoolOp *pool_op_new(VmStorage *s, sd_bus_message *message, const char *verb, const char *pool, const char *volume);
void pool_op_free(PoolOp *op);

/* ---- pool-dbus.c: org.vmgmt.StoragePool, the kind vm_pool_kind (object-kind.h) ---- */
int vm_pool_method_prologue(sd_bus_message *message, VmPool *p, const char *volume, const BusOption *options,
                            sd_bus_error *error);
extern const sd_bus_vtable pool_vtable[];

/* ---- pool-manager.c: DefinePool, CreatePool, GetPool, ListPools, GetVolumeByPath, PoolEvent ---- */
int vm_manager_pool_register(Manager *m);

/* ---- volume-dbus.c: org.vmgmt.StorageVolume, the kind vm_volume_kind ---- */
extern const sd_bus_vtable volume_vtable[];
/* Emits InterfacesAdded / PropertiesChanged / InterfacesRemoved for a volume. */
void vm_volume_emit_added(VmStorage *s, StorageVolume *v);
void vm_volume_emit_changed(VmStorage *s, StorageVolume *v);
void vm_volume_emit_removed(VmStorage *s, StorageVolume *v);

/* ---- storage jobs (pool.c): a VmJob fed by a StorageJob ---- */
/* A job of `type` on volume path `object`; Cancel is authorized as storage.manage of pool/volume. */
VmJob *vm_storage_job_new(VmStorage *s, const char *type, const char *object, const char *pool, const char *volume);
/* The storage callbacks that feed the job (userdata = job). */
StorageJobCallbacks vm_storage_job_callbacks(VmJob *j);
/* The driver's job has started: Cancel cancels it. */
void vm_storage_job_started(VmJob *j, StorageJob *sj);
