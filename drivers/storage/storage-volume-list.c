/* storage-volume-list.c — a pool's volumes: the objects, their lookup table and the added/changed/removed events. */
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "storage-internal.h"

StorageVolume *storage_volume_new(StoragePool *p, StorageVolDef *def, char **chain) {
        StorageVolume *v = calloc(1, sizeof(*v));
        if (!v)
                return NULL;
        v->pool = p;
        v->def = def;
        v->chain = chain;
        v->n_chain = chain ? g_strv_length(chain) : 0;
        return v;
}

void storage_volume_free(StorageVolume *v) {
        if (!v)
                return;
        storage_vol_def_free(v->def);
        g_strfreev(v->chain);
        free(v);
}

static bool defs_equal(const StorageVolDef *a, const StorageVolDef *b) {
        _cleanup_free_ char *x = storage_vol_def_format(a), *y = storage_vol_def_format(b);
        return x && y && streq(x, y);
}

StorageVolume *storage_pool_put_volume(StoragePool *p, StorageVolDef *def, char **chain) {
        const StorageDriverEvents *ev = &p->driver->events;
        StorageVolume *v = g_hash_table_lookup(p->volumes, def->name);

        if (v) {
                bool same = defs_equal(v->def, def);
                g_hash_table_steal(p->volumes, def->name);   /* its key is the old def's name */
                storage_vol_def_free(v->def);
                g_strfreev(v->chain);
                v->def = def;
                v->chain = chain;
                v->n_chain = chain ? g_strv_length(chain) : 0;
                g_hash_table_insert(p->volumes, v->def->name, v);
                if (!same && ev->volume_changed)
                        ev->volume_changed(ev->userdata, v);
                return v;
        }
        v = storage_volume_new(p, def, chain);
        if (!v) {
                storage_vol_def_free(def);
                g_strfreev(chain);
                return NULL;
        }
        g_hash_table_insert(p->volumes, v->def->name, v);
        if (ev->volume_added)
                ev->volume_added(ev->userdata, v);
        return v;
}

void storage_pool_drop_volume(StoragePool *p, StorageVolume *v) {
        const StorageDriverEvents *ev = &p->driver->events;

        g_hash_table_remove(p->volumes, v->def->name);
        if (ev->volume_removed)
                ev->volume_removed(ev->userdata, v);
        storage_volume_free(v);
}

const StorageVolDef *storage_volume_get_def(StorageVolume *v) {
        return v->def;
}

StoragePool *storage_volume_get_pool(StorageVolume *v) {
        return v->pool;
}

void storage_volume_set_owner(StorageVolume *v, void *owner) {
        v->owner = owner;
}

void *storage_volume_get_owner(StorageVolume *v) {
        return v->owner;
}

const char *const *storage_volume_get_backing_chain(StorageVolume *v, size_t *ret_n) {
        if (ret_n)
                *ret_n = v->n_chain;
        return (const char *const *) v->chain;
}

bool storage_volume_is_busy(StorageVolume *v) {
        return v->busy > 0;
}

