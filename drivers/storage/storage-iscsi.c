/* storage-iscsi.c — iscsi-direct pools through libiscsi: log in to the target in user space (CHAP with
 * the secret's value as the password), REPORT LUNS, and each disk LUN's size (READ CAPACITY) as a
 * volume unit:0:0:N. Called in threads (storage-net.c), never on the loop. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage-internal.h"

#if HAVE_LIBISCSI
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#define ISCSI_TIMEOUT_SEC 60   /* bounds a target that never answers */

static uint64_t lun_capacity(struct iscsi_context *ctx, int lun) {
        struct scsi_task *t = iscsi_readcapacity16_sync(ctx, lun);
        uint64_t size = 0;

        if (t && t->status == SCSI_STATUS_GOOD) {
                struct scsi_readcapacity16 *rc = scsi_datain_unmarshall(t);
                if (rc)
                        size = (rc->returned_lba + 1) * rc->block_length;
        }
        if (t)
                scsi_free_scsi_task(t);
        if (size)
                return size;
        t = iscsi_readcapacity10_sync(ctx, lun, 0, 0);
        if (t && t->status == SCSI_STATUS_GOOD) {
                struct scsi_readcapacity10 *rc = scsi_datain_unmarshall(t);
                if (rc)
                        size = ((uint64_t) rc->lba + 1) * rc->block_size;
        }
        if (t)
                scsi_free_scsi_task(t);
        return size;
}

static bool lun_is_disk(struct iscsi_context *ctx, int lun) {
        struct scsi_task *t = iscsi_inquiry_sync(ctx, lun, 0, 0, 64);
        bool disk = false;

        if (t && t->status == SCSI_STATUS_GOOD) {
                struct scsi_inquiry_standard *inq = scsi_datain_unmarshall(t);
                disk = inq && inq->qualifier == SCSI_INQUIRY_PERIPHERAL_QUALIFIER_CONNECTED &&
                       inq->device_type == SCSI_INQUIRY_PERIPHERAL_DEVICE_TYPE_DIRECT_ACCESS;
        }
        if (t)
                scsi_free_scsi_task(t);
        return disk;
}

int storage_iscsi_direct_list(const StorageNetConn *c, StorageNetList *out, char **error) {
        char portal[300];
        struct iscsi_context *ctx;
        struct scsi_task *t = NULL;
        int r = 0;

        snprintf(portal, sizeof portal, "%s:%u", c->host, c->port ?: 3260);
        ctx = iscsi_create_context(c->initiator);
        if (!ctx) {
                *error = g_strdup("cannot create an iSCSI context");
                return -ENOMEM;
        }
        iscsi_set_timeout(ctx, ISCSI_TIMEOUT_SEC);
        if (iscsi_set_targetname(ctx, c->device) < 0 || iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL) < 0 ||
            iscsi_set_header_digest(ctx, ISCSI_HEADER_DIGEST_NONE_CRC32C) < 0) {
                *error = g_strdup_printf("cannot set up the iSCSI session: %s", iscsi_get_error(ctx));
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
                int q = iscsi_set_initiator_username_pwd(ctx, c->username, pw);
                explicit_bzero(pw, c->secret_len);
                free(pw);
                if (q < 0) {
                        *error = g_strdup_printf("cannot set up CHAP: %s", iscsi_get_error(ctx));
                        r = -EINVAL;
                        goto out;
                }
        }
        if (iscsi_connect_sync(ctx, portal) < 0) {
                *error = g_strdup_printf("cannot connect to the iSCSI portal %s: %s", portal, iscsi_get_error(ctx));
                r = -EHOSTUNREACH;
                goto out;
        }
        if (iscsi_login_sync(ctx) < 0) {
                *error = g_strdup_printf("cannot log in to iSCSI target %s at %s as %s: %s", c->device, portal,
                                         c->initiator, iscsi_get_error(ctx));
                r = -EACCES;
                goto out;
        }
        t = iscsi_reportluns_sync(ctx, 0, 16384);
        if (!t || t->status != SCSI_STATUS_GOOD) {
                *error = g_strdup_printf("REPORT LUNS on iSCSI target %s failed: %s", c->device, iscsi_get_error(ctx));
                r = -EIO;
                goto out;
        }
        struct scsi_reportluns_list *luns = scsi_datain_unmarshall(t);
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
        (void) iscsi_logout_sync(ctx);
out:
        if (t)
                scsi_free_scsi_task(t);
        iscsi_destroy_context(ctx);
        return r;
}

#else

int storage_iscsi_direct_list(const StorageNetConn *c, StorageNetList *out, char **error) {
        (void) c, (void) out;
        *error = g_strdup("vmgmt was built without libiscsi");
        return -EOPNOTSUPP;
}

#endif
