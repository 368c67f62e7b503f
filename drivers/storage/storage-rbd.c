/* storage-rbd.c — rbd pools through librados/librbd: connect (cephx with the secret's key), list images
 * with their sizes, create and remove one. Called in threads (storage-net.c), never on the loop. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlopen-util.h"
#include "storage-internal.h"

#if HAVE_LIBRBD
#include <rados/librados.h>
#include <rbd/librbd.h>

DL_POINTER(rados_cluster_stat);
DL_POINTER(rados_conf_set);
DL_POINTER(rados_connect);
DL_POINTER(rados_create);
DL_POINTER(rados_ioctx_create);
DL_POINTER(rados_ioctx_destroy);
DL_POINTER(rados_ioctx_pool_stat);
DL_POINTER(rados_shutdown);
DL_POINTER(rbd_close);
DL_POINTER(rbd_create);
DL_POINTER(rbd_image_spec_list_cleanup);
DL_POINTER(rbd_list2);
DL_POINTER(rbd_open_read_only);
DL_POINTER(rbd_remove);
DL_POINTER(rbd_stat);

static const DlSymbol rados_symbols[] = {
        DL_SYMBOL(rados_cluster_stat),
        DL_SYMBOL(rados_conf_set),
        DL_SYMBOL(rados_connect),
        DL_SYMBOL(rados_create),
        DL_SYMBOL(rados_ioctx_create),
        DL_SYMBOL(rados_ioctx_destroy),
        DL_SYMBOL(rados_ioctx_pool_stat),
        DL_SYMBOL(rados_shutdown),
        {}
};
static const DlSymbol rbd_symbols[] = {
        DL_SYMBOL(rbd_close),
        DL_SYMBOL(rbd_create),
        DL_SYMBOL(rbd_image_spec_list_cleanup),
        DL_SYMBOL(rbd_list2),
        DL_SYMBOL(rbd_open_read_only),
        DL_SYMBOL(rbd_remove),
        DL_SYMBOL(rbd_stat),
        {}
};
static DlLibrary rados_library = { "librados.so.2", "librados2", rados_symbols };
static DlLibrary rbd_library = { "librbd.so.1", "librbd1", rbd_symbols };
static DlLibrary *const rbd_libraries[] = { &rados_library, &rbd_library, NULL };

/* Bounds against a cluster that never answers (a wrong key also ends as a timeout). */
#define RBD_TIMEOUT_SEC "60"

static int rbd_connect(const StorageNetConn *c, rados_t *ret_cluster, rados_ioctx_t *ret_io, char **error) {
        char mon[300], *key = NULL;
        rados_t cl;
        int r;

        r = dl_library_open(rbd_libraries, error);
        if (r < 0)
                return r;
        r = sym_rados_create(&cl, c->username);   /* NULL: client.admin, as libvirt without <auth> */
        if (r < 0) {
                *error = g_strdup_printf("cannot create a RADOS client: %s", strerror(-r));
                return r;
        }
        if (c->port)
                snprintf(mon, sizeof mon, "%s:%u", c->host, c->port);
        else
                snprintf(mon, sizeof mon, "%s", c->host);
        if (c->secret)
                key = g_base64_encode(c->secret, c->secret_len);
        if ((r = sym_rados_conf_set(cl, "mon_host", mon)) < 0 ||
            (r = sym_rados_conf_set(cl, "auth_supported", c->username ? "cephx" : "none")) < 0 ||
            (key && (r = sym_rados_conf_set(cl, "key", key)) < 0) ||
            (r = sym_rados_conf_set(cl, "client_mount_timeout", RBD_TIMEOUT_SEC)) < 0 ||
            (r = sym_rados_conf_set(cl, "rados_mon_op_timeout", RBD_TIMEOUT_SEC)) < 0 ||
            (r = sym_rados_conf_set(cl, "rados_osd_op_timeout", RBD_TIMEOUT_SEC)) < 0 ||
            (r = sym_rados_conf_set(cl, "log_to_stderr", "false")) < 0 ||
            (r = sym_rados_conf_set(cl, "err_to_stderr", "false")) < 0 ||
            (r = sym_rados_conf_set(cl, "log_file", "")) < 0) {
                if (key) {
                        explicit_bzero(key, strlen(key));
                        g_free(key);
                }
                sym_rados_shutdown(cl);
                *error = g_strdup_printf("cannot configure the RADOS client: %s", strerror(-r));
                return r;
        }
        if (key) {
                explicit_bzero(key, strlen(key));
                g_free(key);
        }
        r = sym_rados_connect(cl);
        if (r < 0) {
                *error = g_strdup_printf("cannot connect to the Ceph monitor %s as client.%s: %s", mon,
                                         c->username ?: "admin", strerror(-r));
                sym_rados_shutdown(cl);
                return r;
        }
        r = sym_rados_ioctx_create(cl, c->source_name, ret_io);
        if (r < 0) {
                *error = r == -ENOENT ? g_strdup_printf("the Ceph cluster at %s has no RADOS pool '%s'", mon, c->source_name)
                                      : g_strdup_printf("cannot open RADOS pool '%s': %s", c->source_name, strerror(-r));
                sym_rados_shutdown(cl);
                return r;
        }
        *ret_cluster = cl;
        return 0;
}

static void rbd_disconnect(rados_t cl, rados_ioctx_t io) {
        sym_rados_ioctx_destroy(io);
        sym_rados_shutdown(cl);
}

static StorageVolDef *image_def(const StorageNetConn *c, const char *name, uint64_t size) {
        StorageVolDef *def = storage_vol_def_new();

        if (!def || !(def->name = strdup(name)) || !(def->key = g_strdup_printf("%s/%s", c->source_name, name)) ||
            !(def->path = strdup(def->key)))
                return storage_vol_def_free(def);
        def->type = STORAGE_VOL_NETWORK;
        def->format = STORAGE_VOL_FORMAT_RAW;
        def->has_format = true;
        def->capacity = def->allocation = size;
        def->has_capacity = def->has_allocation = true;
        return def;
}

int storage_rbd_list(const StorageNetConn *c, StorageNetList *out, char **error) {
        struct rados_cluster_stat_t cst;
        struct rados_pool_stat_t pst;
        rbd_image_spec_t *images = NULL;
        rados_ioctx_t io;
        rados_t cl;
        size_t max = 64, n = 0;
        int r;

        r = rbd_connect(c, &cl, &io, error);
        if (r < 0)
                return r;
        for (;;) {
                rbd_image_spec_t *more = realloc(images, max * sizeof(*images));
                if (!more) {
                        r = -ENOMEM;
                        goto out;
                }
                images = more;
                n = max;
                r = sym_rbd_list2(io, images, &n);
                if (r != -ERANGE)
                        break;
                max = n > max ? n : max * 2;
        }
        if (r < 0) {
                n = 0;
                *error = g_strdup_printf("cannot list the images of RADOS pool '%s': %s", c->source_name, strerror(-r));
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                rbd_image_info_t info;
                rbd_image_t img;

                if (sym_rbd_open_read_only(io, images[i].name, &img, NULL) < 0)
                        continue;   /* removed meanwhile */
                int q = sym_rbd_stat(img, &info, sizeof info);
                sym_rbd_close(img);
                if (q < 0)
                        continue;
                StorageVolDef *def = image_def(c, images[i].name, info.size);
                if (!def) {
                        r = -ENOMEM;
                        goto out;
                }
                g_ptr_array_add(out->vols, def);
        }
        r = 0;
        if (sym_rados_cluster_stat(cl, &cst) >= 0) {
                out->capacity = cst.kb * 1024;
                out->available = cst.kb_avail * 1024;
        }
        if (sym_rados_ioctx_pool_stat(io, &pst) >= 0)
                out->allocation = pst.num_bytes;
out:
        if (images) {
                sym_rbd_image_spec_list_cleanup(images, n);
                free(images);
        }
        rbd_disconnect(cl, io);
        return r;
}

int storage_rbd_create(const StorageNetConn *c, const char *name, uint64_t size, char **error) {
        rados_ioctx_t io;
        rados_t cl;
        int order = 0, r;

        r = rbd_connect(c, &cl, &io, error);
        if (r < 0)
                return r;
        r = sym_rbd_create(io, name, size, &order);
        if (r < 0)
                *error = r == -EEXIST ? g_strdup_printf("RADOS pool '%s' already has an image '%s'", c->source_name, name)
                                      : g_strdup_printf("cannot create image '%s' in RADOS pool '%s': %s", name,
                                                        c->source_name, strerror(-r));
        rbd_disconnect(cl, io);
        return r;
}

int storage_rbd_remove(const StorageNetConn *c, const char *name, char **error) {
        rados_ioctx_t io;
        rados_t cl;
        int r;

        r = rbd_connect(c, &cl, &io, error);
        if (r < 0)
                return r;
        r = sym_rbd_remove(io, name);
        if (r < 0 && r != -ENOENT)
                *error = g_strdup_printf("cannot remove image '%s' of RADOS pool '%s': %s", name, c->source_name,
                                         r == -EBUSY ? "it is in use (watched by a client)" : strerror(-r));
        rbd_disconnect(cl, io);
        return r;
}

#else

int storage_rbd_list(const StorageNetConn *c, StorageNetList *out, char **error) {
        (void) c, (void) out;
        *error = g_strdup("vmgmt was built without librbd");
        return -EOPNOTSUPP;
}

int storage_rbd_create(const StorageNetConn *c, const char *name, uint64_t size, char **error) {
        (void) name, (void) size;
        return storage_rbd_list(c, NULL, error);
}

int storage_rbd_remove(const StorageNetConn *c, const char *name, char **error) {
        (void) name;
        return storage_rbd_list(c, NULL, error);
}

#endif
