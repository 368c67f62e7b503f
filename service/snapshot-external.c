/* snapshot-external.c — external (disk-only) snapshots beyond their creation: a revert gives each disk a new
 * overlay on the image it had when the snapshot was taken (the snapshot's own overlay stays for the other
 * branch, as libvirt >= 9.7 does); a deletion merges each overlay the snapshot made into the image below it
 * and removes it (libvirt >= 9.0): live by BlockCommit's job (domain-blockjob.h), offline by the driver's
 * image changes on files opened as the caller. The definitions (the domain's, the other snapshots') then
 * name what remains. */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bus-util.h"
#include "domain-blockjob.h"
#include "log.h"
#include "snapshot-op.h"

/* The other snapshots of d that were taken on `was` (disk target's image in their definition) were taken on
 * `now` once it went (merged into it): their metadata says so, for their revert. */
static void snapshots_disk_replace(VmDomain *d, const char *except, const char *target, const char *was,
                                   const char *now, const char *format) {
        for (guint i = 0; i < d->snapshots->len; i++) {
                VmSnapshot *c = d->snapshots->pdata[i];
                DomainDef *def = NULL;
                ConfError err = {};
                bool changed = false;

                if (streq_ptr(c->def->name, except) || !c->def->domain_xml ||
                    domain_def_parse(c->def->domain_xml, strlen(c->def->domain_xml), &def, &err) < 0) {
                        conf_error_clear(&err);
                        continue;
                }
                for (size_t k = 0; k < def->n_disks; k++)
                        if (streq_ptr(def->disks[k].target_dev, target) && streq_ptr(def->disks[k].source, was)) {
                                free(def->disks[k].source);
                                def->disks[k].source = strdup(now);
                                if (format) {
                                        free(def->disks[k].driver_type);
                                        def->disks[k].driver_type = strdup(format);
                                }
                                changed = true;
                        }
                if (changed) {
                        char *xml = domain_def_format(def, DOMAIN_FORMAT_INACTIVE);

                        if (xml) {
                                free(c->def->domain_xml);
                                c->def->domain_xml = xml;
                                if (vm_snapshot_store_write(c) < 0)
                                        log_warning("Domain '%s': cannot save snapshot '%s'", d->name, c->def->name);
                        }
                }
                domain_def_free(def);
        }
}

/* Saves d's persistent definition (changed in place) with a new generation and signals what changed. */
void snap_op_save_persistent_def(VmDomain *d, DomainDef *def) {
        _cleanup_free_ char *file = NULL;
        VmDomainProps before;
        int r;

        vm_domain_props_get(d, &before);
        d->generation++;
        r = vm_domain_store_write(d->manager, def, d->generation, &file);
        if (r < 0)
                log_error_errno(r, "Domain '%s': cannot save the definition naming its new images: %m", d->name);
        else if (!streq_ptr(file, d->config_file)) {
                g_free(d->config_file);
                d->config_file = g_strdup(file);
        }
        vm_domain_props_emit_changes(d, &before);
}

/* The persistent definition's disk `target` names path (format) instead of `was`; nothing when it names
 * something else (an intermediate layer went). Returns whether it changed. */
static bool persistent_disk_replace(VmDomain *d, const char *target, const char *was, const char *path,
                                    const char *format) {
        DomainDef *def = d->persistent ? d->newdef ?: d->def : NULL;

        for (size_t i = 0; def && i < def->n_disks; i++) {
                DomainDiskDef *disk = &def->disks[i];

                if (!streq_ptr(disk->target_dev, target) || !streq_ptr(disk->source, was))
                        continue;
                free(disk->source);
                disk->source = strdup(path);
                free(disk->driver_type);
                disk->driver_type = strdup(format ?: "raw");
                snap_op_save_persistent_def(d, def);
                return true;
        }
        return false;
}

/* An offline deletion merged each overlay into its base: the definition names the base where it named
 * the overlay, and the overlay (vmgmt's, made by the snapshot) goes, removed as the caller. */
void snap_delete_offline_done(SnapOp *op) {
        VmDomain *d = op->domain;

        for (size_t i = 0; op->targets && op->targets[i]; i++) {
                size_t n = 0;
                const OpenedFile *l = open_files_for_request(op->chains->files, i, &n);

                if (!l || op->depths[i] != 0 || n < 2)
                        continue;   /* an intermediate layer went: the definition names the same top */
                (void) persistent_disk_replace(d, op->targets[i], l[0].path, l[op->depths[i] + 1].path,
                                               l[op->depths[i] + 1].format);
        }
        for (size_t i = 0; op->targets && op->targets[i]; i++) {
                size_t n = 0;
                const OpenedFile *l = open_files_for_request(op->chains->files, i, &n);

                if (l && op->depths[i] + 1 < n)
                        snapshots_disk_replace(d, op->name, op->targets[i], l[op->depths[i]].path,
                                               l[op->depths[i] + 1].path, l[op->depths[i] + 1].format);
        }
}

/* The virtual size of the image at fd (qcow2: its header; raw: the file's size). */
static int image_virtual_size(int fd, const char *format, uint64_t *ret) {
        uint8_t h[32];
        struct stat st;

        if (streq_ptr(format, "qcow2")) {
                uint64_t be;

                if (pread(fd, h, sizeof(h), 0) != (ssize_t) sizeof(h))
                        return -EIO;
                if (memcmp(h, "QFI\xfb", 4) != 0)
                        return -EMEDIUMTYPE;
                memcpy(&be, h + 24, sizeof(be));
                *ret = be64toh(be);
                return 0;
        }
        if (format && !streq(format, "raw"))
                return -EOPNOTSUPP;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EOPNOTSUPP;
        *ret = (uint64_t) st.st_size;
        return 0;
}

/* Offline overlays (create, revert): request i is overlay i, request n+i its backing (read). */
int snap_op_overlay_ops(SnapOp *op, const char **ret_message) {
        size_t n = op->disks->len;

        op->image_ops = g_new0(DriverImageOp, n);
        op->n_image_ops = n;
        for (size_t i = 0; i < n; i++) {
                size_t k = 0;
                const OpenedFile *ov = open_files_for_request(op->overlays->files, i, &k);
                const OpenedFile *b = open_files_for_request(op->overlays->files, n + i, &k);
                uint64_t size = 0;
                int r;

                if (!ov || !b)
                        return *ret_message = "an image was not opened", -EIO;
                r = image_virtual_size(b->fd, op->backing_formats[i], &size);
                if (r < 0)
                        return *ret_message = "cannot read the size of a disk image", r;
                op->image_ops[i] = (DriverImageOp) { .type = DRIVER_IMAGE_CREATE_OVERLAY, .fd = ov->fd,
                                                     .backing = op->backing_paths[i],
                                                     .backing_format = op->backing_formats[i], .size = size,
                                                     .base_fd = -1 };
        }
        return 0;
}

/* ---- external snapshots: revert (new overlays on the snapshot's images) and delete (merge) ---- */

/* The image (and format) disk `target` had when s was taken: its definition's source. */
static int snapshot_disk_source(const VmSnapshot *s, const char *target, char **ret_path, char **ret_format) {
        DomainDef *def = NULL;
        ConfError err = {};
        int r = -ENOENT;

        if (!s->def->domain_xml)
                return -ENOENT;
        if (domain_def_parse(s->def->domain_xml, strlen(s->def->domain_xml), &def, &err) < 0) {
                conf_error_clear(&err);
                return -EINVAL;
        }
        for (size_t i = 0; i < def->n_disks; i++)
                if (streq_ptr(def->disks[i].target_dev, target) && def->disks[i].source) {
                        *ret_path = strdup(def->disks[i].source);
                        *ret_format = strdup(def->disks[i].driver_type ?: "raw");
                        r = 0;
                        break;
                }
        domain_def_free(def);
        return r;
}

/* A name for a revert's new overlay on `backing`: its stem, the snapshot's name, a number not taken. */
static char *revert_overlay_name(const char *backing, const char *snap) {
        const char *dot = strrchr(backing, '.'), *slash = strrchr(backing, '/');
        size_t stem = dot && (!slash || dot > slash) ? (size_t) (dot - backing) : strlen(backing);
        uint64_t t = (uint64_t) time(NULL);

        for (unsigned k = 0;; k++) {
                char *p = k == 0 ? g_strdup_printf("%.*s.%s-%" PRIu64, (int) stem, backing, snap, t)
                                 : g_strdup_printf("%.*s.%s-%" PRIu64 "-%u", (int) stem, backing, snap, t, k);
                if (access(p, F_OK) < 0 || k > 1000)
                        return p;
                g_free(p);
        }
}

/* Revert to external s of shut-off d: each disk of s gets a new overlay on the image it had when s was
 * taken (the snapshot's own overlay stays, with what was written after it, for the other branch). */
int snap_op_revert_external(SnapOp *op, const VmSnapshot *s, sd_bus_error *error) {
        VmDomain *d = op->domain;
        g_autoptr(GStrvBuilder) paths = g_strv_builder_new(), backings = g_strv_builder_new(),
                                formats = g_strv_builder_new();

        op->disks = g_array_new(FALSE, FALSE, sizeof(size_t));
        for (size_t k = 0; k < s->def->n_disks; k++) {
                const SnapshotDiskDef *sd = &s->def->disks[k];
                _cleanup_free_ char *bp = NULL, *bf = NULL;
                g_autofree char *ov = NULL;
                size_t i;

                if (sd->snapshot != SNAPSHOT_LOCATION_EXTERNAL)
                        continue;
                for (i = 0; i < d->def->n_disks; i++)
                        if (streq_ptr(d->def->disks[i].target_dev, sd->name))
                                break;
                if (i >= d->def->n_disks || snapshot_disk_source(s, sd->name, &bp, &bf) < 0) {
                        snap_op_free(op);
                        return sd_bus_error_setf(error, VM_ERROR_OPERATION_FAILED,
                                                 "Domain '%s' has no disk '%s' (or snapshot '%s' does not say what "
                                                 "image it had) to revert", d->name, sd->name, s->def->name);
                }
                ov = revert_overlay_name(bp, s->def->name);
                g_array_append_val(op->disks, i);
                g_strv_builder_add(paths, ov);
                g_strv_builder_add(backings, bp);
                g_strv_builder_add(formats, bf);
        }
        if (op->disks->len == 0) {
                snap_op_free(op);
                return sd_bus_error_setf(error, VM_ERROR_OPERATION_FAILED, "Snapshot '%s' has no external disk",
                                         s->def->name);
        }
        op->overlay_paths = g_strv_builder_end(paths);
        op->backing_paths = g_strv_builder_end(backings);
        op->backing_formats = g_strv_builder_end(formats);
        op->external = true;
        return snap_op_create_overlays(op, error);
}

static int delete_live_next(SnapOp *op, sd_bus_error *error);

static int on_delete_live_next(sd_event_source *src, void *userdata) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        SnapOp *op = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = sd_bus_message_ref(op->message);
        int r;

        sd_event_source_disable_unref(src);
        r = delete_live_next(op, &error);   /* takes op */
        if (r < 0 && m) {
                if (!sd_bus_error_is_set(&error))
                        sd_bus_error_set_errnof(&error, r, "Failed to delete a snapshot: %m");
                (void) sd_bus_reply_method_error(m, &error);
        }
        return 0;
}

/* One disk's commit of a live deletion ended: the next one once its Job is over (one job at a time). */
static void delete_live_done(void *userdata, int r, const char *message, const char *base) {
        SnapOp *op = userdata;
        VmDomain *d = op->domain;
        const DomainDef *live = vm_domain_current_def(d);
        sd_event_source *src = NULL;
        size_t i = op->ext_next;

        if (r < 0) {
                snap_op_finish(d, r, message, op);
                snap_op_free(op);
                return;
        }
        /* after an active commit the live definition names the base, with its format */
        for (size_t k = 0; live && k < live->n_disks; k++)
                if (streq_ptr(live->disks[k].target_dev, op->targets[i]) && !streq_ptr(live->disks[k].source,
                                                                                       op->overlay_paths[i])) {
                        (void) persistent_disk_replace(d, op->targets[i], op->overlay_paths[i], live->disks[k].source,
                                                       live->disks[k].driver_type);
                        break;
                }
        if (base)
                snapshots_disk_replace(d, op->name, op->targets[i], op->overlay_paths[i], base, NULL);
        op->ext_next++;
        if (sd_event_add_defer(d->manager->event, &src, on_delete_live_next, op) < 0 ||
            sd_event_source_set_enabled(src, SD_EVENT_ONESHOT) < 0) {
                sd_event_source_disable_unref(src);
                snap_op_finish(d, -ENOMEM, NULL, op);
                snap_op_free(op);
        }
}

/* The commit of the next disk's overlay into its backing (BlockCommit's job: active with pivot when the
 * overlay is the active layer, else intermediate), or the end. Takes op. */
static int delete_live_next(SnapOp *op, sd_bus_error *error) {
        VmDomain *d = op->domain;
        size_t i = op->ext_next;
        int r;

        if (!op->targets[i]) {
                snap_op_finish(d, 0, NULL, op);
                snap_op_free(op);
                return 1;
        }
        if (!vm_domain_is_active(d) || !d->rt) {
                snap_op_free(op);
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Domain '%s' stopped during the deletion", d->name);
        }
        d->snapshot_op = op;
        r = vm_domain_block_commit(d, op->message, op->targets[i], op->overlay_paths[i], NULL, delete_live_done, op,
                                   error);
        if (r < 0) {
                snap_op_free(op);
                return r;
        }
        return 1;
}

/* Offline: the bases (and the layers above the overlays) are open read-write: the driver's commits. */
static void delete_writable_opened(void *userdata, int r, VmCallerFiles *files, const char *message) {
        SnapOp *op = userdata;
        size_t n_ops = 0, w = 0;

        op->files_job = NULL;
        if (r < 0) {
                snap_op_reply_error(op, r, message);
                snap_op_free(op);
                return;
        }
        op->writable = files;
        op->image_layers = g_ptr_array_new_with_free_func(g_free);
        op->image_ops = g_new0(DriverImageOp, 2 * g_strv_length(op->targets) + 1);
        for (size_t i = 0; op->targets[i]; i++) {
                size_t n = 0, k = op->depths[i], nb = 0;
                const OpenedFile *l = open_files_for_request(op->chains->files, i, &n);
                const OpenedFile *base = open_files_for_request(files->files, w++, &nb);
                DriverFileLayer *below = g_new0(DriverFileLayer, n + 1);

                g_ptr_array_add(op->image_layers, below);
                for (size_t b = k + 2; b < n; b++)
                        below[b - k - 2] = (DriverFileLayer) { .fd = l[b].fd, .path = l[b].path, .format = l[b].format };
                op->image_ops[n_ops++] = (DriverImageOp) {
                        .type = DRIVER_IMAGE_COMMIT, .fd = l[k].fd, .base_fd = base ? base->fd : -1,
                        .backing_format = l[k + 1].format, .below = below, .n_below = n - k - 2 };
                if (op->writable_above[i] != SIZE_MAX) {
                        const OpenedFile *above = open_files_for_request(files->files, w++, &nb);

                        op->image_ops[n_ops++] = (DriverImageOp) {
                                .type = DRIVER_IMAGE_REBASE, .fd = above ? above->fd : -1, .base_fd = -1,
                                .backing = l[k + 1].path, .backing_format = l[k + 1].format };
                }
        }
        op->n_image_ops = n_ops;
        snap_op_run(op, NULL);
}

/* Whether layer l is the file `path` names. */
static bool layer_is_file(const OpenedFile *l, const char *path) {
        struct stat st;

        if (streq_ptr(l->path, path) || streq_ptr(l->resolved, path))
                return true;
        return stat(path, &st) >= 0 && st.st_dev == l->st.st_dev && st.st_ino == l->st.st_ino;
}

/* Offline: each disk's chain is open: where the overlay is in it, then its base (and the layer above) read-write. */
static void delete_chains_opened(void *userdata, int r, VmCallerFiles *files, const char *message) {
        SnapOp *op = userdata;
        VmDomain *d = op->domain;
        size_t n_disks = g_strv_length(op->targets), n_req = 0;
        g_autofree OpenFileRequest *req = g_new0(OpenFileRequest, 2 * n_disks + 1);

        op->files_job = NULL;
        if (r < 0) {
                snap_op_reply_error(op, r, message);
                snap_op_free(op);
                return;
        }
        op->chains = files;
        op->depths = g_new0(size_t, n_disks + 1);
        op->writable_above = g_new0(size_t, n_disks + 1);
        for (size_t i = 0; i < n_disks; i++) {
                size_t n = 0, k;
                const OpenedFile *l = open_files_for_request(files->files, i, &n);

                for (k = 0; l && k < n; k++)
                        if (layer_is_file(&l[k], op->overlay_paths[i]))
                                break;
                if (!l || k + 1 >= n) {
                        _cleanup_free_ char *m = g_strdup_printf(
                                "overlay %s of disk '%s' is not in the disk's image chain (%s) above an image: the "
                                "domain is on another branch (reverted elsewhere); delete it with metadata_only",
                                op->overlay_paths[i], op->targets[i], l ? l[0].path : "-");
                        snap_op_reply_error(op, -ENOTSUP, m);
                        snap_op_free(op);
                        return;
                }
                op->depths[i] = k;
                req[n_req++] = (OpenFileRequest) { .path = l[k + 1].path, .mode = OPEN_FILE_READ_WRITE,
                                                   .format = l[k + 1].format };
                op->writable_above[i] = SIZE_MAX;
                if (k > 0) {
                        op->writable_above[i] = n_req;
                        req[n_req++] = (OpenFileRequest) { .path = l[k - 1].path, .mode = OPEN_FILE_READ_WRITE,
                                                           .format = l[k - 1].format };
                }
        }
        r = vm_caller_files_open(d->manager, op->message, d->name, req, n_req, delete_writable_opened, op,
                                 &op->files_job);
        if (r < 0) {
                snap_op_reply_error(op, r, "cannot open the images read-write");
                snap_op_free(op);
        }
}

/* Deletes external s: each overlay it made is merged into the image below it (the data stays, the chain
 * gets shorter) and removed; live with block commits, offline with the driver's commits. Takes op. */
int snap_op_delete_external(SnapOp *op, const VmSnapshot *s, sd_bus_error *error) {
        VmDomain *d = op->domain;
        g_autoptr(GStrvBuilder) targets = g_strv_builder_new(), paths = g_strv_builder_new(),
                                backings = g_strv_builder_new(), formats = g_strv_builder_new();
        const DomainDef *def;
        size_t n = 0;
        int r;

        for (size_t k = 0; k < s->def->n_disks; k++) {
                const SnapshotDiskDef *sd = &s->def->disks[k];
                _cleanup_free_ char *bp = NULL, *bf = NULL;

                if (sd->snapshot != SNAPSHOT_LOCATION_EXTERNAL || !sd->source_file)
                        continue;
                if (snapshot_disk_source(s, sd->name, &bp, &bf) < 0) {
                        snap_op_free(op);
                        return sd_bus_error_setf(error, VM_ERROR_OPERATION_FAILED,
                                                 "Snapshot '%s' does not say what image disk '%s' had", s->def->name,
                                                 sd->name);
                }
                g_strv_builder_add(targets, sd->name);
                g_strv_builder_add(paths, sd->source_file);
                g_strv_builder_add(backings, bp);
                g_strv_builder_add(formats, bf);
                n++;
        }
        op->targets = g_strv_builder_end(targets);
        op->overlay_paths = g_strv_builder_end(paths);
        op->backing_paths = g_strv_builder_end(backings);
        op->backing_formats = g_strv_builder_end(formats);
        if (n == 0) {
                snap_op_finish(d, 0, NULL, op);   /* nothing on disk */
                snap_op_free(op);
                return 1;
        }
        if (vm_domain_is_active(d) && d->rt) {
                op->live = true;
                op->ext_next = 0;
                return delete_live_next(op, error);
        }
        /* offline: the chains as the caller sees them (read-only) */
        def = d->def;
        {
                g_autofree OpenFileRequest *req = g_new0(OpenFileRequest, n + 1);

                for (size_t i = 0; i < n; i++) {
                        const DomainDiskDef *disk = NULL;

                        for (size_t k = 0; k < def->n_disks && !disk; k++)
                                if (streq_ptr(def->disks[k].target_dev, op->targets[i]))
                                        disk = &def->disks[k];
                        if (!disk || !disk->source || disk->type != DOMAIN_DISK_TYPE_FILE) {
                                r = sd_bus_error_setf(error, VM_ERROR_OPERATION_FAILED,
                                                      "Domain '%s' has no file disk '%s' any more", d->name,
                                                      op->targets[i]);
                                snap_op_free(op);
                                return r;
                        }
                        req[i] = (OpenFileRequest) { .path = disk->source, .mode = OPEN_FILE_READ,
                                                     .flags = OPEN_FILE_BACKING_CHAIN, .format = disk->driver_type };
                }
                d->snapshot_op = op;
                r = vm_caller_files_open(d->manager, op->message, d->name, req, n, delete_chains_opened, op,
                                         &op->files_job);
        }
        if (r < 0) {
                snap_op_free(op);
                return sd_bus_error_set_errnof(error, r, "Cannot open the disks of domain '%s': %m", d->name);
        }
        return 1;
}
