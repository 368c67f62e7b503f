/* storage-net.c — pools without a target directory: rbd (librbd), iscsi-direct (libiscsi) and iscsi
 * (the kernel's initiator through iscsiadm, storage-iscsiadm.c). Every library call or iscsiadm run
 * (connect, log in, list, create, remove, log out) happens in a detached thread of its own with a copy
 * of what it needs (the secret's value too, wiped when the call is freed); rbd and iscsi-direct make a
 * fresh connection each time, as the loop keeps none; an iscsi pool's session lives while it is active. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "storage-job.h"

bool storage_pool_is_network(const StoragePool *p) {
        StoragePoolType t = p->def->type;
        return t == STORAGE_POOL_RBD || t == STORAGE_POOL_ISCSI_DIRECT || t == STORAGE_POOL_ISCSI;
}

bool storage_pool_type_built_in(StoragePoolType t) {
        switch (t) {
        case STORAGE_POOL_RBD:
#if HAVE_LIBRBD
                return true;
#else
                return false;
#endif
        case STORAGE_POOL_ISCSI_DIRECT:
#if HAVE_LIBISCSI
                return true;
#else
                return false;
#endif
        default:
                return true;
        }
}

bool storage_driver_pool_type_supported(StoragePoolType t) {
        return storage_pool_type_built_in(t);
}

typedef enum NetOp {
        NET_LOGIN,                    /* a start: rbd, iscsi-direct list; iscsi logs in first */
        NET_LIST,                     /* a refresh */
        NET_CREATE,
        NET_REMOVE,
        NET_LOGOUT,                   /* iscsi: a stop */
} NetOp;

typedef struct NetCall {
        StorageNetConn conn;
        NetOp op;
        char *name;                   /* create, remove: the image */
        uint64_t size;                /* create */
        StorageNetList list;          /* out: list */
        bool node_created;            /* iscsi: out of a login, in of a logout */
        bool iface_created;
        char *error;                  /* out */
} NetCall;

static void vol_def_free(void *def) {
        storage_vol_def_free(def);
}

static void net_call_free(void *arg) {
        NetCall *c = arg;

        if (!c)
                return;
        free(c->conn.pool);
        free(c->conn.host);
        free(c->conn.source_name);
        free(c->conn.device);
        free(c->conn.initiator);
        free(c->conn.iface);
        free(c->conn.target_path);
        free(c->conn.username);
        if (c->conn.secret) {
                explicit_bzero(c->conn.secret, c->conn.secret_len);
                free(c->conn.secret);
        }
        free(c->name);
        if (c->list.vols)
                g_ptr_array_free(c->list.vols, true);
        free(c->error);
        free(c);
}

static int net_call_run(void *arg) {
        NetCall *c = arg;

        switch (c->conn.type) {
        case STORAGE_POOL_RBD:
                if (c->op == NET_CREATE)
                        return storage_rbd_create(&c->conn, c->name, c->size, &c->error);
                if (c->op == NET_REMOVE)
                        return storage_rbd_remove(&c->conn, c->name, &c->error);
                return storage_rbd_list(&c->conn, &c->list, &c->error);
        case STORAGE_POOL_ISCSI_DIRECT:
                if (c->op == NET_LIST || c->op == NET_LOGIN)
                        return storage_iscsi_direct_list(&c->conn, &c->list, &c->error);
                return -EOPNOTSUPP;
        case STORAGE_POOL_ISCSI:
                if (c->op == NET_LOGIN)
                        return storage_iscsi_kernel_login(&c->conn, &c->list, &c->node_created, &c->iface_created,
                                                          &c->error);
                if (c->op == NET_LIST)
                        return storage_iscsi_kernel_list(&c->conn, &c->list, &c->error);
                if (c->op == NET_LOGOUT)
                        return storage_iscsi_kernel_logout(&c->conn, c->node_created, c->iface_created, &c->error);
                return -EOPNOTSUPP;
        default:
                return -EOPNOTSUPP;
        }
}

/* A call for op on p with its connection settings and the secret's value; NULL with *ret_r and *message. */
static NetCall *net_call_new(StoragePool *p, NetOp op, int *ret_r, char **message) {
        const StoragePoolDef *def = p->def;
        NetCall *c = calloc(1, sizeof(*c));
        int r;

        if (!c) {
                *ret_r = -ENOMEM;
                return NULL;
        }
        c->op = op;
        c->conn.type = def->type;
        c->conn.port = def->source_host_port;
        c->conn.pool = strdup(def->name);
        c->conn.host = strdup(def->source_host);
        c->list.vols = g_ptr_array_new_with_free_func(vol_def_free);
        if (!c->conn.pool || !c->conn.host || (def->source_name && !(c->conn.source_name = strdup(def->source_name))) ||
            (def->source_device && !(c->conn.device = strdup(def->source_device))) ||
            (def->initiator_iqn && !(c->conn.initiator = strdup(def->initiator_iqn))) ||
            (def->target_path && !(c->conn.target_path = strdup(def->target_path))) ||
            !(c->conn.iface = def->initiator_iqn ? storage_iscsi_iface_name(def->uuid) : strdup("default"))) {
                net_call_free(c);
                *ret_r = -ENOMEM;
                return NULL;
        }
        if (def->auth_type && op != NET_LOGOUT) {   /* logging out needs no password */
                const char *id = def->secret_uuid ?: def->secret_usage;
                const char *usage_type = def->type == STORAGE_POOL_RBD ? "ceph" : "iscsi";

                c->conn.username = strdup(def->auth_username);
                r = !c->conn.username ? -ENOMEM
                        : p->driver->events.lookup_secret
                        ? p->driver->events.lookup_secret(p->driver->events.userdata, usage_type, id, &c->conn.secret,
                                                          &c->conn.secret_len)
                        : -ENOENT;
                if (r < 0) {
                        if (r == -ENOENT || r == -ENODATA) {
                                *message = g_strdup_printf(r == -ENOENT
                                                           ? "pool '%s': no %s secret '%s' (its <auth> names it): define it first"
                                                           : "pool '%s': the %s secret '%s' (its <auth> names it) has no value",
                                                           def->name, usage_type, id);
                                r = -EIO;   /* OperationFailed, naming the secret */
                        }
                        net_call_free(c);
                        *ret_r = r;
                        return NULL;
                }
        }
        return c;
}

/* The pool's volumes become what the listing found (busy ones stay); its sizes too. */
static void net_apply_list(StoragePool *p, NetCall *c) {
        StorageVolume **vols = NULL;
        size_t n = 0;
        GHashTable *found = g_hash_table_new(g_str_hash, g_str_equal);

        for (guint i = 0; i < c->list.vols->len; i++)
                g_hash_table_add(found, ((StorageVolDef *) c->list.vols->pdata[i])->name);
        if (storage_pool_list_volumes(p, &vols, &n) >= 0)
                for (size_t i = 0; i < n; i++)
                        if (!g_hash_table_contains(found, vols[i]->def->name) && !vols[i]->busy &&
                            !g_hash_table_contains(p->reserved, vols[i]->def->name))
                                storage_pool_drop_volume(p, vols[i]);
        free(vols);
        g_hash_table_destroy(found);
        while (c->list.vols->len > 0) {
                StorageVolDef *def = g_ptr_array_steal_index(c->list.vols, 0);
                StorageVolume *v = storage_pool_find_volume(p, def->name);
                if (v && v->busy)
                        storage_vol_def_free(def);
                else
                        storage_pool_put_volume(p, def, NULL);
        }
        p->def->capacity = c->list.capacity;
        p->def->allocation = c->list.allocation;
        p->def->available = c->list.available;
        if (p->driver->events.pool_changed)
                p->driver->events.pool_changed(p->driver->events.userdata, p);
}

/* Reports a failed call of the pool: done gets OperationFailed (NotSupported stays) naming the pool. */
static void net_call_failed(StoragePool *p, NetCall *c, int r, StorageDoneFn done) {
        _cleanup_free_ char *m = g_strdup_printf("pool '%s': %s", p->def->name, c->error ?: strerror(-r));

        log_warning("Pool %s: %s", p->def->name, c->error ?: strerror(-r));
        if (done)
                done(p->net_userdata, r == -EOPNOTSUPP ? r : -EIO, m);
}

static void on_net_listed(void *userdata, void *arg, int r) {
        StoragePool *p = userdata;
        NetCall *c = arg;
        StorageDoneFn done = TAKE_PTR(p->net_done);
        bool starting = !p->active;

        p->net_call = NULL;
        if (starting)
                p->transition = false;
        if (r < 0) {
                net_call_failed(p, c, r, done);
                return;
        }
        if (starting) {
                p->active = true;
                p->iscsi_node_created = c->node_created;
                p->iscsi_iface_created = c->iface_created;
        }
        net_apply_list(p, c);
        if (done)
                done(p->net_userdata, 0, NULL);
}

static int net_list_begin(StoragePool *p, NetOp op, StorageDoneFn done, void *userdata) {
        _cleanup_free_ char *m = NULL;
        NetCall *c;
        int r;

        if (!storage_pool_type_built_in(p->def->type))
                return storage_defer_done(p->driver, done, userdata, -EOPNOTSUPP,
                                          p->def->type == STORAGE_POOL_RBD
                                          ? "rbd pools are not supported: vmgmt was built without librbd/librados"
                                          : "iscsi-direct pools are not supported: vmgmt was built without libiscsi");
        c = net_call_new(p, op, &r, &m);
        if (!c) {
                if (!m)
                        return r;
                return storage_defer_done(p->driver, done, userdata, r, m);
        }
        r = storage_call_start(p->driver, net_call_run, c, net_call_free, on_net_listed, p, &p->net_call);
        if (r < 0)
                return r;
        p->net_done = done;
        p->net_userdata = userdata;
        return 0;
}

/* The kernel initiator (open-iscsi's iscsiadm and the iscsi_tcp module) is what an iscsi pool needs. */
static char *iscsi_kernel_missing(void) {
        _cleanup_free_ char *iscsiadm = storage_find_program("iscsiadm");
        if (!iscsiadm)
                return g_strdup("iscsiadm (package open-iscsi) is not installed");
        if (access("/sys/module/iscsi_tcp", F_OK) < 0 && access("/sys/class/iscsi_transport/tcp", F_OK) < 0)
                return g_strdup("the kernel's iSCSI initiator (module iscsi_tcp) is not loaded");
        return NULL;
}

int storage_net_start(StoragePool *p, StorageDoneFn done, void *userdata) {
        int r;

        if (p->def->type == STORAGE_POOL_ISCSI) {
                _cleanup_free_ char *missing = iscsi_kernel_missing();
                if (missing) {
                        _cleanup_free_ char *m = g_strdup_printf(
                                "pool '%s': iscsi pools need the kernel's iSCSI initiator: %s (a pool of type "
                                "'iscsi-direct' logs in with libiscsi instead)", p->def->name, missing);
                        return storage_defer_done(p->driver, done, userdata, -EOPNOTSUPP, m);
                }
        }
        r = net_list_begin(p, NET_LOGIN, done, userdata);
        if (r >= 0 && p->net_call)
                p->transition = true;
        return r;
}

int storage_net_refresh(StoragePool *p, StorageDoneFn done, void *userdata) {
        if (!p->active)
                return -ENOTCONN;
        if (p->net_call)
                return -EBUSY;
        return net_list_begin(p, NET_LIST, done, userdata);
}

/* ---- stop: an iscsi pool logs out ---- */

static void on_net_logged_out(void *userdata, void *arg, int r) {
        StoragePool *p = userdata;
        NetCall *c = arg;
        StorageDoneFn done = TAKE_PTR(p->net_done);

        p->net_call = NULL;
        p->transition = false;
        if (r < 0) {
                net_call_failed(p, c, r, done);   /* still logged in: still active */
                return;
        }
        p->iscsi_node_created = p->iscsi_iface_created = false;
        storage_pool_deactivate(p);
        if (done)
                done(p->net_userdata, 0, NULL);
}

int storage_net_stop(StoragePool *p, StorageDoneFn done, void *userdata) {
        _cleanup_free_ char *m = NULL;
        NetCall *c;
        int r;

        if (p->net_call)
                return -EBUSY;   /* a refresh is under way */
        c = net_call_new(p, NET_LOGOUT, &r, &m);
        if (!c) {
                if (!m)
                        return r;
                return storage_defer_done(p->driver, done, userdata, r, m);
        }
        c->node_created = p->iscsi_node_created;
        c->iface_created = p->iscsi_iface_created;
        r = storage_call_start(p->driver, net_call_run, c, net_call_free, on_net_logged_out, p, &p->net_call);
        if (r < 0)
                return r;
        p->transition = true;
        p->net_done = done;
        p->net_userdata = userdata;
        return 0;
}

void storage_net_abandon(StoragePool *p) {
        p->net_call = storage_call_abandon(p->net_call);
        p->net_done = NULL;
}

/* ---- volumes: rbd images ---- */

static void net_job_call(StorageJob *j, NetOp op, void (*done)(StorageJob *j, void *arg, int r)) {
        _cleanup_free_ char *m = NULL;
        NetCall *c;
        int r;

        c = net_call_new(j->pool, op, &r, &m);
        if (!c) {
                job_finish(j, r, m ?: NULL);
                return;
        }
        c->name = strdup(j->name);
        c->size = j->def ? j->def->capacity : 0;
        if (!c->name) {
                net_call_free(c);
                job_fail(j, -ENOMEM, NULL);
                return;
        }
        r = job_call(j, net_call_run, c, net_call_free, done);
        if (r < 0)
                job_fail(j, r, NULL);
}

static void on_net_created(StorageJob *j, void *arg, int r) {
        NetCall *c = arg;
        StorageVolDef *def;

        if (r < 0) {
                job_fail(j, r == -EEXIST ? r : -EIO, c->error);
                return;
        }
        def = storage_vol_def_new();
        if (!def || !(def->name = strdup(j->name)) ||
            !(def->key = g_strdup_printf("%s/%s", j->pool->def->source_name, j->name)) || !(def->path = strdup(def->key))) {
                storage_vol_def_free(def);
                job_fail(j, -ENOMEM, NULL);
                return;
        }
        def->type = STORAGE_VOL_NETWORK;
        def->format = STORAGE_VOL_FORMAT_RAW;
        def->has_format = true;
        def->capacity = def->allocation = j->def->capacity;
        def->has_capacity = def->has_allocation = true;
        storage_pool_put_volume(j->pool, def, NULL);
        job_finish(j, 0, NULL);
}

void storage_net_run_create(StorageJob *j) {
        const StorageVolDef *def = j->def;

        if (g_hash_table_contains(j->pool->volumes, j->name)) {
                job_fail(j, -EEXIST, "an image of that name exists");
                return;
        }
        if (def->has_format && def->format != STORAGE_VOL_FORMAT_RAW) {
                job_fail(j, -EOPNOTSUPP, "rbd images are raw: no other format can be created");
                return;
        }
        if (def->backing_path) {
                job_fail(j, -EOPNOTSUPP, "rbd images have no backing store");
                return;
        }
        if (!def->has_capacity || def->capacity == 0) {
                job_fail(j, -EINVAL, "no capacity given");
                return;
        }
        net_job_call(j, NET_CREATE, on_net_created);
}

static void on_net_removed(StorageJob *j, void *arg, int r) {
        NetCall *c = arg;
        StorageVolume *v = j->vol;

        if (r < 0 && r != -ENOENT) {
                job_fail(j, -EIO, c->error);
                return;
        }
        v->busy--;
        j->vol = NULL;
        storage_pool_drop_volume(j->pool, v);
        job_finish(j, 0, NULL);
}

void storage_net_run_delete(StorageJob *j) {
        net_job_call(j, NET_REMOVE, on_net_removed);
}
