/* storage-iscsi.c — iscsi-direct pools through libiscsi: log in to the target in user space (CHAP with
 * the secret's value as the password), REPORT LUNS, and each disk LUN's size (READ CAPACITY) as a
 * volume unit:0:0:N. Called in threads (storage-net.c), never on the loop. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlopen-util.h"
#include "storage-internal.h"

#if HAVE_LIBISCSI
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

DL_POINTER(iscsi_connect_sync);
DL_POINTER(iscsi_create_context);
DL_POINTER(iscsi_destroy_context);
DL_POINTER(iscsi_get_error);
DL_POINTER(iscsi_inquiry_sync);
DL_POINTER(iscsi_login_sync);
DL_POINTER(iscsi_logout_sync);
DL_POINTER(iscsi_readcapacity10_sync);
DL_POINTER(iscsi_readcapacity16_sync);
DL_POINTER(iscsi_reportluns_sync);
DL_POINTER(iscsi_set_header_digest);
DL_POINTER(iscsi_set_initiator_username_pwd);
DL_POINTER(iscsi_set_session_type);
DL_POINTER(iscsi_set_targetname);
DL_POINTER(iscsi_set_timeout);
DL_POINTER(scsi_datain_unmarshall);
DL_POINTER(scsi_free_scsi_task);

static const DlSymbol iscsi_symbols[] = {
        DL_SYMBOL(iscsi_connect_sync),
        DL_SYMBOL(iscsi_create_context),
        DL_SYMBOL(iscsi_destroy_context),
        DL_SYMBOL(iscsi_get_error),
        DL_SYMBOL(iscsi_inquiry_sync),
        DL_SYMBOL(iscsi_login_sync),
        DL_SYMBOL(iscsi_logout_sync),
        DL_SYMBOL(iscsi_readcapacity10_sync),
        DL_SYMBOL(iscsi_readcapacity16_sync),
        DL_SYMBOL(iscsi_reportluns_sync),
        DL_SYMBOL(iscsi_set_header_digest),
        DL_SYMBOL(iscsi_set_initiator_username_pwd),
        DL_SYMBOL(iscsi_set_session_type),
        DL_SYMBOL(iscsi_set_targetname),
        DL_SYMBOL(iscsi_set_timeout),
        DL_SYMBOL(scsi_datain_unmarshall),
        DL_SYMBOL(scsi_free_scsi_task),
        {}
};
static DlLibrary iscsi_library = { "libiscsi.so.7", "libiscsi7", iscsi_symbols };
static DlLibrary *const iscsi_libraries[] = { &iscsi_library, NULL };

#define ISCSI_TIMEOUT_SEC 60   /* bounds a target that never answers */

static uint64_t lun_capacity(struct iscsi_context *ctx, int lun) {
        struct scsi_task *t = sym_iscsi_readcapacity16_sync(ctx, lun);
        uint64_t size = 0;

        if (t && t->status == SCSI_STATUS_GOOD) {
                struct scsi_readcapacity16 *rc = sym_scsi_datain_unmarshall(t);
                if (rc)
                        size = (rc->returned_lba + 1) * rc->block_length;
        }
        if (t)
                sym_scsi_free_scsi_task(t);
        if (size)
                return size;
        t = sym_iscsi_readcapacity10_sync(ctx, lun, 0, 0);
        if (t && t->status == SCSI_STATUS_GOOD) {
                struct scsi_readcapacity10 *rc = sym_scsi_datain_unmarshall(t);
                if (rc)
                        size = ((uint64_t) rc->lba + 1) * rc->block_size;
        }
        if (t)
                sym_scsi_free_scsi_task(t);
        return size;
}

static bool lun_is_disk(struct iscsi_context *ctx, int lun) {
        struct scsi_task *t = sym_iscsi_inquiry_sync(ctx, lun, 0, 0, 64);
        bool disk = false;

        if (t && t->status == SCSI_STATUS_GOOD) {
                struct scsi_inquiry_standard *inq = sym_scsi_datain_unmarshall(t);
                disk = inq && inq->qualifier == SCSI_INQUIRY_PERIPHERAL_QUALIFIER_CONNECTED &&
                       inq->device_type == SCSI_INQUIRY_PERIPHERAL_DEVICE_TYPE_DIRECT_ACCESS;
        }
        if (t)
                sym_scsi_free_scsi_task(t);
        return disk;
}

int storage_iscsi_direct_list(const StorageNetConn *c, StorageNetList *out, char **error) {
        char portal[300];
        struct iscsi_context *ctx;
        struct scsi_task *t = NULL;
        int r;

        r = dl_library_open(iscsi_libraries, error);
        if (r < 0)
                return r;
        snprintf(portal, sizeof portal, "%s:%u", c->host, c->port ?: 3260);
        ctx = sym_iscsi_create_context(c->initiator);
        if (!ctx) {
                *error = g_strdup("cannot create an iSCSI context");
                return -ENOMEM;
        }
        sym_iscsi_set_timeout(ctx, ISCSI_TIMEOUT_SEC);
        if (sym_iscsi_set_targetname(ctx, c->device) < 0 || sym_iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL) < 0 ||
            sym_iscsi_set_header_digest(ctx, ISCSI_HEADER_DIGEST_NONE_CRC32C) < 0) {
                *error = g_strdup_printf("cannot set up the iSCSI session: %s", sym_iscsi_get_error(ctx));
                r = -EINVAL;
                goto out;
        }
        if (c->username) {
                char *pw = calloc(1, c->secret_len + 1);
                if (!pw) {
                        r = -ENOMEM;
                        goto out;
                }
                memcpy(pw, c->secret, c->secret_len);
                int q = sym_iscsi_set_initiator_username_pwd(ctx, c->username, pw);
                explicit_bzero(pw, c->secret_len);
                free(pw);
                if (q < 0) {
                        *error = g_strdup_printf("cannot set up CHAP: %s", sym_iscsi_get_error(ctx));
                        r = -EINVAL;
                        goto out;
                }
        }
        if (sym_iscsi_connect_sync(ctx, portal) < 0) {
                *error = g_strdup_printf("cannot connect to the iSCSI portal %s: %s", portal, sym_iscsi_get_error(ctx));
                r = -EHOSTUNREACH;
                goto out;
        }
        if (sym_iscsi_login_sync(ctx) < 0) {
                *error = g_strdup_printf("cannot log in to iSCSI target %s at %s as %s: %s", c->device, portal,
                                         c->initiator, sym_iscsi_get_error(ctx));
                r = -EACCES;
                goto out;
        }
        t = sym_iscsi_reportluns_sync(ctx, 0, 16384);
        if (!t || t->status != SCSI_STATUS_GOOD) {
                *error = g_strdup_printf("REPORT LUNS on iSCSI target %s failed: %s", c->device, sym_iscsi_get_error(ctx));
                r = -EIO;
                goto out;
        }
        struct scsi_reportluns_list *luns = sym_scsi_datain_unmarshall(t);
        if (!luns) {
                *error = g_strdup_printf("cannot read the LUN list of iSCSI target %s", c->device);
                r = -EIO;
                goto out;
        }
        for (uint32_t i = 0; i < luns->num; i++) {
                int lun = luns->luns[i];
                uint64_t size;

                if (!lun_is_disk(ctx, lun) || !(size = lun_capacity(ctx, lun)))
                        continue;
                StorageVolDef *def = storage_vol_def_new();
                if (!def || !(def->name = g_strdup_printf("unit:0:0:%d", lun)) ||
                    !(def->key = g_strdup_printf("iscsi://%s/%s/%d", portal, c->device, lun)) ||
                    !(def->path = strdup(def->key))) {
                        storage_vol_def_free(def);
                        r = -ENOMEM;
                        goto out;
                }
                def->type = STORAGE_VOL_NETWORK;
                def->format = STORAGE_VOL_FORMAT_RAW;
                def->has_format = true;
                def->capacity = def->allocation = size;
                def->has_capacity = def->has_allocation = true;
                g_ptr_array_add(out->vols, def);
                out->capacity += size;
                out->allocation += size;
        }
        (void) sym_iscsi_logout_sync(ctx);
out:
        if (t)
                sym_scsi_free_scsi_task(t);
        sym_iscsi_destroy_context(ctx);
        return r;
}

#else

int storage_iscsi_direct_list(const StorageNetConn *c, StorageNetList *out, char **error) {
        (void) c, (void) out;
        *error = g_strdup("vmgmt was built without libiscsi");
        return -EOPNOTSUPP;
}

#endif
