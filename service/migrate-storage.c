/* migrate-storage.c — a copy_storage migration's destination images: a disk whose image this host's
 * storage pool (dir, fs, netfs) does not have gets a volume of its format and virtual size (the source
 * says it) before the incoming hypervisor starts, as libvirt pre-creates them; an incoming migration
 * that does not end with the guest running here removes what was made for it. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "log.h"
#include "migrate.h"
#include "pool.h"

typedef struct Made {
        char *pool, *volume;
} Made;

typedef struct VmPrecreate {
        Manager *manager;
        GPtrArray *todo;             /* Made* with def: what is still to be made */
        GPtrArray *defs;             /* StorageVolDef*, per todo entry */
        guint next;
        GPtrArray *made;             /* Made*: what was made */
        VmPrecreateDoneFn done;
        void *userdata;
} VmPrecreate;

static void made_free(void *p) {
        Made *m = p;

        g_free(m->pool);
        g_free(m->volume);
        g_free(m);
}

static void vol_def_free(void *p) {
        storage_vol_def_free(p);
}

/* The active pool with a target directory whose target is dir. */
static VmPool *pool_of_dir(Manager *m, const char *dir) {
        GHashTableIter it;
        gpointer value;

        g_hash_table_iter_init(&it, m->storage->pools);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                VmPool *p = value;
                const StoragePoolDef *def = storage_pool_get_def(p->sp);

                if ((def->type == STORAGE_POOL_DIR || def->type == STORAGE_POOL_FS || def->type == STORAGE_POOL_NETFS) &&
                    vm_pool_is_active(p) && def->target_path && streq(def->target_path, dir))
                        return p;
        }
        return NULL;
}

/* "vda=BYTES,vdb=BYTES": target's size, 0 when not there. */
static uint64_t size_of(const char *sizes, const char *target) {
        g_auto(GStrv) items = g_strsplit(strempty(sizes), ",", -1);
        size_t n = strlen(strempty(target));

        for (char **i = items; *i; i++)
                if (n > 0 && strncmp(*i, target, n) == 0 && (*i)[n] == '=')
                        return g_ascii_strtoull(*i + n + 1, NULL, 10);
        return 0;
}

static void precreate_free(VmPrecreate *c) {
        g_ptr_array_unref(c->todo);
        g_ptr_array_unref(c->defs);
        if (c->made)
                g_ptr_array_unref(c->made);
        g_free(c);
}

static void removed(void *userdata, int r, const char *message) {
        char *what = userdata;

        if (r < 0)
                log_warning("Cannot remove %s, made for an incoming migration: %s", what, strna(message));
        g_free(what);
}

void vm_precreated_remove(Manager *m, GPtrArray *made) {
        if (!made)
                return;
        for (guint i = 0; i < made->len; i++) {
                Made *x = made->pdata[i];
                VmPool *p = vm_pool_find(m->storage, x->pool);
                StorageVolume *v = p ? storage_pool_find_volume(p->sp, x->volume) : NULL;
                char *what = g_strdup_printf("volume '%s' of pool '%s'", x->volume, x->pool);

                if (!v || storage_volume_delete_async(v, 0, removed, what) < 0) {
                        log_warning("Cannot remove %s, made for an incoming migration", what);
                        g_free(what);
                        continue;
                }
                log_info("Removed %s, made for an incoming migration that did not finish", what);
        }
        g_ptr_array_unref(made);
}

static void precreate_next(VmPrecreate *c);

static void precreate_end(VmPrecreate *c, int r, const char *message) {
        GPtrArray *made = TAKE_PTR(c->made);
        VmPrecreateDoneFn done = c->done;
        void *userdata = c->userdata;
        Manager *m = c->manager;

        precreate_free(c);
        if (r < 0) {
                vm_precreated_remove(m, made);
                made = NULL;
        }
        done(userdata, r, message, made);
}

static void on_made(void *userdata, int r, const char *message, StorageVolume *vol) {
        VmPrecreate *c = userdata;
        Made *x = c->todo->pdata[c->next];

        if (r == -EEXIST)
                r = 0;   /* there after all (the pool's listing had not seen it): used as it is */
        else if (r >= 0) {
                log_info("Made volume '%s' of pool '%s' for an incoming migration", x->volume, x->pool);
                Made *copy = g_new0(Made, 1);
                copy->pool = g_strdup(x->pool);
                copy->volume = g_strdup(x->volume);
                g_ptr_array_add(c->made, copy);
        }
        if (r < 0) {
                g_autofree char *m = g_strdup_printf("cannot make volume '%s' of pool '%s' for the copied disk: %s",
                                                     x->volume, x->pool, message ?: strerror(-r));
                precreate_end(c, r, m);
                return;
        }
        c->next++;
        precreate_next(c);
}

static void precreate_next(VmPrecreate *c) {
        const StorageJobCallbacks cb = { .done = on_made, .userdata = c };

        while (c->next < c->todo->len) {
                Made *x = c->todo->pdata[c->next];
                VmPool *p = vm_pool_find(c->manager->storage, x->pool);
                int r = p ? storage_volume_create(p->sp, c->defs->pdata[c->next], &cb, NULL) : -ENOENT;

                if (r >= 0)
                        return;   /* on_made() */
                g_autofree char *m = g_strdup_printf("cannot make volume '%s' of pool '%s' for the copied disk: %s",
                                                     x->volume, x->pool, strerror(-r));
                precreate_end(c, r, m);
                return;
        }
        precreate_end(c, 0, NULL);
}

int vm_migration_precreate(Manager *m, const DomainDef *def, const size_t *disks, size_t n_disks, const char *sizes,
                           VmPrecreateDoneFn done, void *userdata) {
        VmPrecreate *c = g_new0(VmPrecreate, 1);

        c->manager = m;
        c->todo = g_ptr_array_new_with_free_func(made_free);
        c->defs = g_ptr_array_new_with_free_func(vol_def_free);
        c->made = g_ptr_array_new_with_free_func(made_free);
        c->done = done;
        c->userdata = userdata;
        for (size_t k = 0; k < n_disks; k++) {
                const DomainDiskDef *disk = &def->disks[disks[k]];
                g_autofree char *dir = NULL, *name = NULL;
                uint64_t size = size_of(sizes, disk->target_dev);
                StorageVolDef *vd;
                VmPool *p;
                int format;

                if (disk->type != DOMAIN_DISK_TYPE_FILE || !disk->source || size == 0)
                        continue;   /* nothing to make, or nothing known to make it of */
                dir = g_path_get_dirname(disk->source);
                name = g_path_get_basename(disk->source);
                p = pool_of_dir(m, dir);
                if (!p || storage_pool_find_volume(p->sp, name))
                        continue;   /* outside the pools (it must be there), or there */
                vd = storage_vol_def_new();
                if (!vd) {
                        precreate_free(c);
                        return -ENOMEM;
                }
                format = disk->driver_type ? storage_vol_format_from_string(disk->driver_type) : -1;
                vd->name = g_strdup(name);
                vd->format = format >= 0 ? (StorageVolFormat) format : STORAGE_VOL_FORMAT_RAW;
                vd->has_format = true;
                vd->capacity = size;
                vd->has_capacity = true;
                Made *x = g_new0(Made, 1);
                x->pool = g_strdup(p->name);
                x->volume = g_strdup(name);
                g_ptr_array_add(c->todo, x);
                g_ptr_array_add(c->defs, vd);
        }
        precreate_next(c);
        return 0;
}
