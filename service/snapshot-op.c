/* snapshot-op.c — the snapshot operations: CreateSnapshot, Revert and Delete. The disks taking part are chosen
 * from the definition, opened (or, for overlays, created) as the caller, handed to the driver's job (an
 * org.vmgmt.Job "snapshot"), and the metadata follows what the job did (snapshot-store.c). What external
 * snapshots need for their revert and deletion is in snapshot-external.c. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "bus-util.h"
#include "domain-files.h"
#include "log.h"
#include "object-kind.h"
#include "path-policy.h"
#include "snapshot-op.h"
#include "snapshot.h"

#define NAMES(...) ((const char *const[]){ __VA_ARGS__, NULL })

static bool snapshot_has_memory(const VmSnapshot *s) {
        return s->def->memory == SNAPSHOT_LOCATION_INTERNAL;
}

/* ---- signals ---- */

static void emit_changed(VmSnapshot *s, const char *name) {
        if (s && s->on_bus)
                vm_object_kind_emit_changed(&vm_snapshot_kind, s->domain->manager, s, NAMES(name));
}

/* Makes s (NULL: none) d's current snapshot: IsCurrent of both, the Domain's CurrentSnapshot, the file. */
static void snapshot_set_current(VmDomain *d, VmSnapshot *s) {
        VmSnapshot *old = d->current_snapshot;

        if (old == s)
                return;
        d->current_snapshot = s;
        int r = vm_snapshot_store_write_current(d);
        if (r < 0)
                log_warning_errno(r, "Cannot record the current snapshot of domain '%s': %m", d->name);
        emit_changed(old, "IsCurrent");
        emit_changed(s, "IsCurrent");
        vm_object_kind_emit_changed(&vm_domain_kind, d->manager, d, NAMES("CurrentSnapshot"));
}

/* Adds s (taken) to d's snapshots, on the bus, durably. Returns 0 or a negative errno (s freed). */
static int snapshot_add(VmDomain *d, VmSnapshot *s) {
        int r = vm_snapshot_store_write(s);

        if (r < 0) {
                vm_snapshot_free(s);
                return r;
        }
        s->on_bus = true;
        g_ptr_array_add(d->snapshots, s);
        vm_object_kind_emit_added(&vm_snapshot_kind, d->manager, s->path);
        return 0;
}

/* Removes s's metadata: its children get its parent, the current one moves to its parent. */
static void snapshot_remove(VmSnapshot *s) {
        VmDomain *d = s->domain;
        VmSnapshot *parent = vm_snapshot_parent(s);
        int r;

        for (guint i = 0; i < d->snapshots->len; i++) {
                VmSnapshot *c = d->snapshots->pdata[i];

                if (vm_snapshot_parent(c) != s)
                        continue;
                free(c->def->parent);
                c->def->parent = parent ? strdup(parent->def->name) : NULL;
                r = vm_snapshot_store_write(c);
                if (r < 0)
                        log_warning_errno(r, "Cannot re-parent snapshot '%s' of domain '%s': %m", c->def->name, d->name);
                emit_changed(c, "Parent");
        }
        if (d->current_snapshot == s)
                snapshot_set_current(d, parent);
        r = vm_snapshot_store_remove(s);
        if (r < 0)
                log_warning_errno(r, "Cannot remove the metadata of snapshot '%s' of domain '%s': %m", s->def->name,
                                  d->name);
        if (s->on_bus)
                vm_object_kind_emit_removed(&vm_snapshot_kind, d->manager, s->path);
        g_ptr_array_remove(d->snapshots, s);   /* frees s */
}

/* ---- which disks take part ---- */

static bool disk_is_writable_image(const DomainDiskDef *disk) {
        return disk->device == DOMAIN_DISK_DEVICE_DISK && !disk->readonly &&
               (disk->source || disk->type == DOMAIN_DISK_TYPE_NETWORK);
}

/* Checks sdef's <disks> against the domain's disks and rewrites it to one
 * entry per writable disk (internal or no); the indexes of the internal ones
 * in *ret. InvalidArgs for a disk the domain lacks or a non-qcow2 one that
 * would take part; NotSupported for external disk snapshots. */
static int snapshot_choose_disks(VmDomain *d, const DomainDef *def, SnapshotDef *sdef, GArray **ret,
                                 sd_bus_error *error) {
        g_autoptr(GArray) disks = g_array_new(FALSE, FALSE, sizeof(size_t));
        SnapshotDiskDef *list = NULL;
        size_t n = 0;

        for (size_t k = 0; k < sdef->n_disks; k++) {
                const SnapshotDiskDef *sd = &sdef->disks[k];
                bool found = false;

                for (size_t i = 0; i < def->n_disks && !found; i++)
                        found = streq_ptr(def->disks[i].target_dev, sd->name) || streq_ptr(def->disks[i].source, sd->name);
                if (!found)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Domain '%s' has no disk '%s'", d->name,
                                                 sd->name);
                if (sd->snapshot == SNAPSHOT_LOCATION_EXTERNAL || sd->snapshot == SNAPSHOT_LOCATION_MANUAL)
                        return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED,
                                                 "Disk '%s': %s disk snapshots (overlays) are not supported yet; use internal snapshots of qcow2 disks",
                                                 sd->name, snapshot_location_to_string(sd->snapshot));
        }
        for (size_t i = 0; i < def->n_disks; i++) {
                const DomainDiskDef *disk = &def->disks[i];
                const SnapshotDiskDef *sd = snapshot_def_find_disk(sdef, disk->target_dev, disk->source);
                SnapshotLocation loc = sd ? sd->snapshot : SNAPSHOT_LOCATION_DEFAULT;
                SnapshotDiskDef *e;

                if (!disk_is_writable_image(disk))
                        continue;
                if (loc != SNAPSHOT_LOCATION_NO) {
                        if (disk->type == DOMAIN_DISK_TYPE_NETWORK)
                                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED,
                                                         "Disk '%s' of domain '%s' is a network disk (%s): snapshots of network "
                                                         "disks are not supported (leave it out with <disk name='%s' snapshot='no'/>)",
                                                         strempty(disk->target_dev), d->name,
                                                         strna(domain_disk_protocol_to_string(disk->net.protocol)),
                                                         strempty(disk->target_dev));
                        if (disk->type != DOMAIN_DISK_TYPE_FILE || !streq_ptr(disk->driver_type, "qcow2"))
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                         "Disk '%s' of domain '%s' is %s: an internal snapshot needs a qcow2 file "
                                                         "(leave it out with <disk name='%s' snapshot='no'/>)",
                                                         strempty(disk->target_dev), d->name, disk->driver_type ?: "raw",
                                                         strempty(disk->target_dev));
                        g_array_append_val(disks, i);
                }
                list = g_renew(SnapshotDiskDef, list, n + 1);
                e = &list[n++];
                *e = (SnapshotDiskDef) {};
                e->name = strdup(strempty(disk->target_dev));
                e->snapshot = loc == SNAPSHOT_LOCATION_NO ? SNAPSHOT_LOCATION_NO : SNAPSHOT_LOCATION_INTERNAL;
        }
        if (disks->len == 0) {
                snapshot_disks_free(list, n);
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Domain '%s' has no writable qcow2 disk to take a snapshot of", d->name);
        }
        snapshot_def_set_disks(sdef, list, n);
        *ret = g_steal_pointer(&disks);
        return 0;
}

/* A disk-only snapshot: one new overlay per writable disk not left out (snapshot='no'); its file is the
 * one <source file=> names, else the image's name with the snapshot's name for its extension (libvirt's).
 * Rewrites sdef's <disks> to what is done. */
static int snapshot_choose_overlays(VmDomain *d, const DomainDef *def, SnapshotDef *sdef, GArray **ret_disks,
                                    char ***ret_paths, sd_bus_error *error) {
        g_autoptr(GArray) disks = g_array_new(FALSE, FALSE, sizeof(size_t));
        g_autoptr(GStrvBuilder) paths = g_strv_builder_new();
        SnapshotDiskDef *list = NULL;
        size_t n = 0;
        int r = 0;

        for (size_t k = 0; k < sdef->n_disks && r >= 0; k++) {
                const SnapshotDiskDef *sd = &sdef->disks[k];
                bool found = false;

                for (size_t i = 0; i < def->n_disks && !found; i++)
                        found = streq_ptr(def->disks[i].target_dev, sd->name) || streq_ptr(def->disks[i].source, sd->name);
                if (!found)
                        r = sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Domain '%s' has no disk '%s'", d->name, sd->name);
                else if (sd->snapshot == SNAPSHOT_LOCATION_INTERNAL || sd->snapshot == SNAPSHOT_LOCATION_MANUAL)
                        r = sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED,
                                              "Disk '%s': a disk-only snapshot takes external overlays, not %s ones",
                                              sd->name, snapshot_location_to_string(sd->snapshot));
        }
        for (size_t i = 0; i < def->n_disks && r >= 0; i++) {
                const DomainDiskDef *disk = &def->disks[i];
                const SnapshotDiskDef *sd = snapshot_def_find_disk(sdef, disk->target_dev, disk->source);
                _cleanup_free_ char *file = NULL;
                SnapshotDiskDef *e;

                if (!disk_is_writable_image(disk))
                        continue;
                list = g_renew(SnapshotDiskDef, list, n + 1);
                e = &list[n++];
                *e = (SnapshotDiskDef) { .name = strdup(strempty(disk->target_dev)) };
                if (sd && sd->snapshot == SNAPSHOT_LOCATION_NO) {
                        e->snapshot = SNAPSHOT_LOCATION_NO;
                        continue;
                }
                if (disk->type == DOMAIN_DISK_TYPE_NETWORK) {
                        r = sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED,
                                              "Disk '%s' of domain '%s' is a network disk (%s): overlays of network disks are "
                                              "not supported (leave it out with <disk name='%s' snapshot='no'/>)",
                                              strempty(disk->target_dev), d->name,
                                              strna(domain_disk_protocol_to_string(disk->net.protocol)),
                                              strempty(disk->target_dev));
                        break;
                }
                if (disk->type != DOMAIN_DISK_TYPE_FILE) {
                        r = sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED,
                                              "Disk '%s' of domain '%s' is no file: only file disks take overlays",
                                              strempty(disk->target_dev), d->name);
                        break;
                }
                if (sd && sd->source_file)
                        file = strdup(sd->source_file);
                else {
                        const char *dot = strrchr(disk->source, '.'), *slash = strrchr(disk->source, '/');
                        size_t stem = dot && (!slash || dot > slash) ? (size_t) (dot - disk->source) : strlen(disk->source);
                        file = g_strdup_printf("%.*s.%s", (int) stem, disk->source, sdef->name);
                }
                if (access(file, F_OK) == 0) {
                        r = sd_bus_error_setf(error, VM_ERROR_ALREADY_EXISTS,
                                              "Overlay %s of disk '%s' exists already: name another file", file,
                                              strempty(disk->target_dev));
                        break;
                }
                e->snapshot = SNAPSHOT_LOCATION_EXTERNAL;
                e->source_file = strdup(file);
                e->driver_type = strdup("qcow2");
                g_array_append_val(disks, i);
                g_strv_builder_add(paths, file);
        }
        if (r >= 0 && disks->len == 0)
                r = sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Domain '%s' has no writable disk to take an overlay",
                                      d->name);
        if (r < 0) {
                snapshot_disks_free(list, n);
                return r;
        }
        snapshot_def_set_disks(sdef, list, n);
        *ret_disks = g_steal_pointer(&disks);
        *ret_paths = g_strv_builder_end(paths);
        return 0;
}

bool snapshot_is_external(const VmSnapshot *s) {
        for (size_t i = 0; i < s->def->n_disks; i++)
                if (s->def->disks[i].snapshot == SNAPSHOT_LOCATION_EXTERNAL)
                        return true;
        return false;
}

/* The indexes of def's disks that hold s's internal snapshot (by target). */
static GArray *snapshot_internal_disks(const VmSnapshot *s, const DomainDef *def) {
        GArray *disks = g_array_new(FALSE, FALSE, sizeof(size_t));

        for (size_t i = 0; i < def->n_disks; i++) {
                const SnapshotDiskDef *sd = snapshot_def_find_disk(s->def, def->disks[i].target_dev, NULL);

                if (sd && sd->snapshot == SNAPSHOT_LOCATION_INTERNAL && disk_is_writable_image(&def->disks[i]))
                        g_array_append_val(disks, i);
        }
        return disks;
}

/* ---- one operation: the disks opened as the caller (offline), the driver's job, the end (snapshot-op.h) ---- */

void snap_op_free(void *p) {
        SnapOp *op = p;

        if (!op)
                return;
        if (op->domain && op->domain->snapshot_op == op)
                op->domain->snapshot_op = NULL;
        vm_domain_files_job_cancel(op->files_job);
        sd_bus_message_unref(op->message);
        snapshot_def_free(op->def);
        free(op->name);
        g_strfreev(op->delete_names);
        if (op->disks)
                g_array_free(op->disks, TRUE);
        domain_def_free(op->files_def);
        if (op->overlays)   /* created and not finished: removed as the caller */
                vm_caller_files_discard(op->domain->manager, op->overlays);
        g_strfreev(op->overlay_paths);
        free(op->memory_file);
        vm_caller_files_free(op->memory);
        g_strfreev(op->backing_paths);
        g_strfreev(op->backing_formats);
        g_strfreev(op->targets);
        vm_caller_files_free(op->chains);
        vm_caller_files_free(op->writable);
        g_free(op->depths);
        g_free(op->writable_above);
        g_free(op->image_ops);
        if (op->image_layers)
                g_ptr_array_free(op->image_layers, TRUE);
        vm_domain_unref(op->domain);
        g_free(op);
}

static const char *snap_op_verb(const SnapOp *op) {
        return op->kind == SNAP_OP_CREATE ? "create snapshot" : op->kind == SNAP_OP_REVERT ? "revert to snapshot" : "delete snapshot";
}

void snap_op_reply_error(SnapOp *op, int r, const char *message) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *what = g_strdup_printf("Failed to %s '%s' of domain '%s'", snap_op_verb(op), op->name,
                                                    op->domain->name);

        if (!op->message)
                return;
        bus_error_from_errno(&error, r, message, what);
        (void) sd_bus_reply_method_error(op->message, &error);
        op->message = sd_bus_message_unref(op->message);
}

static int snap_op_start(struct SnapOp *op, const VmSnapshot *s, sd_bus_error *error);

static int on_delete_next(sd_event_source *src, void *userdata) {
        SnapOp *op = userdata;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = sd_bus_message_ref(op->message);
        VmSnapshot *s = vm_snapshot_find(op->domain, op->name);
        int r;

        sd_event_source_disable_unref(src);
        if (!s) {
                /* gone meanwhile (its metadata was deleted by another call): the next one */
                snap_op_finish(op->domain, 0, NULL, op);
                snap_op_free(op);
                return 0;
        }
        r = snap_op_start(op, s, &error);   /* takes op */
        if (r < 0 && m) {
                if (!sd_bus_error_is_set(&error))
                        sd_bus_error_set_errnof(&error, r, "Failed to delete a snapshot: %m");
                (void) sd_bus_reply_method_error(m, &error);
        }
        return 0;
}

/* Queues the deletion of the next name of op->delete_names (the call moves to it). */
static void snap_delete_next(SnapOp *op) {
        SnapOp *next = g_new0(SnapOp, 1);

        next->kind = SNAP_OP_DELETE;
        next->domain = vm_domain_ref(op->domain);
        next->message = TAKE_PTR(op->message);
        next->name = strdup(op->delete_names[1]);
        next->delete_names = g_strdupv(op->delete_names + 1);
        sd_event_source *src = NULL;

        op->domain->snapshot_op = next;
        if (sd_event_add_defer(op->domain->manager->event, &src, on_delete_next, next) < 0 ||
            sd_event_source_set_enabled(src, SD_EVENT_ONESHOT) < 0) {
                sd_event_source_disable_unref(src);
                snap_op_reply_error(next, -ENOMEM, NULL);
                snap_op_free(next);
        }
}

static void destroy_done_ignored(void *userdata, int r, const char *message) {
}






static void renamed(void *userdata, int r, const char *message) {
        if (r < 0)
                log_error("Cannot give a snapshot's file its name: %s", strna(message));
        vm_domain_job_release(userdata);
}

/* Renames file i of op->overlays; the Job completes once it is done. */
static int snap_file_rename(SnapOp *op, size_t i) {
        VmDomainJob *held = vm_domain_job_hold(op->dj);
        int r = vm_caller_file_finish(op->domain->manager, op->overlays, i, OPEN_FILE_FINISH_RENAME,
                                      held ? renamed : NULL, held, NULL);

        if (r < 0)
                vm_domain_job_release(held);
        return r;
}

/* The overlays are the disks now: their files get their names, the persistent definition names them. */
static void snap_external_done(SnapOp *op) {
        VmDomain *d = op->domain;
        DomainDef *def;
        int r;

        for (guint i = 0; !op->files_finished && i < op->disks->len; i++) {
                r = snap_file_rename(op, i);
                if (r < 0)
                        log_error_errno(r, "Domain '%s': cannot give overlay %s its name: %m", d->name, op->overlay_paths[i]);
        }
        if (op->memory_file && op->kind == SNAP_OP_CREATE) {
                r = snap_file_rename(op, op->disks->len);
                if (r < 0)
                        log_error_errno(r, "Domain '%s': cannot give memory file %s its name: %m", d->name, op->memory_file);
        }
        op->overlays = vm_caller_files_free(op->overlays);
        if (!d->persistent)
                return;
        def = d->newdef ?: d->def;
        for (guint i = 0; i < op->disks->len; i++) {
                DomainDiskDef *disk = &def->disks[g_array_index(op->disks, size_t, i)];

                free(disk->source);
                disk->source = strdup(op->overlay_paths[i]);
                free(disk->driver_type);
                disk->driver_type = strdup("qcow2");
        }
        snap_op_save_persistent_def(d, def);
}

static void revert_start_reply_error(sd_bus_message *m, int r, const char *message, const char *name) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *what = g_strdup_printf("The disks of domain '%s' were reverted, but it did not start", name);

        bus_error_from_errno(&error, r, message, what);
        (void) sd_bus_reply_method_error(m, &error);
}

/* A revert with running/paused to an offline snapshot: the start after it. */
static void revert_started(void *userdata, int r, const char *message) {
        VmOp *vop = userdata;

        vm_domain_clear_cause(vop->domain);
        if (r < 0) {
                vm_domain_start_failed(vop->domain);   /* the driver tore its runtime down */
                revert_start_reply_error(vop->message, r, message, vop->domain->name);
        } else
                (void) sd_bus_reply_method_return(vop->message, NULL);
        vm_op_free(vop);
}

typedef struct MemoryRemoval {
        Manager *manager;
        char *path;
        VmCallerFiles *files;
} MemoryRemoval;

static void memory_removed(void *userdata, int r, const char *message) {
        MemoryRemoval *m = userdata;

        if (r < 0)
                log_warning("Cannot remove %s: %s", m->path, strna(message));
        vm_caller_files_free(m->files);
        g_free(m->path);
        g_free(m);
}

static void memory_opened(void *userdata, int r, VmCallerFiles *files, const char *message) {
        MemoryRemoval *m = userdata;
        const OpenedFile *f;
        size_t n = 0;

        m->files = files;
        f = r >= 0 ? open_files_for_request(files->files, 0, &n) : NULL;
        if (!f || open_file_finish_start(m->manager->event, &files->creds, f, OPEN_FILE_FINISH_UNLINK, 0,
                                         memory_removed, m, NULL) < 0)
                memory_removed(m, r < 0 ? r : -EIO, message ?: "cannot start the removal");
}

/* A file vmgmt made goes, removed as the caller (in the background): a deleted external memory snapshot's
 * memory file, a revert's overlay left behind. */
static void snapshot_file_remove(VmDomain *d, sd_bus_message *caller, const char *path) {
        OpenFileRequest req = { .path = path, .mode = OPEN_FILE_READ };
        MemoryRemoval *m = g_new0(MemoryRemoval, 1);
        VmDomainFilesJob *job = NULL;

        m->manager = d->manager;
        m->path = g_strdup(path);
        if (vm_caller_files_open(d->manager, caller, d->name, &req, 1, memory_opened, m, &job) < 0)
                memory_removed(m, -EIO, "cannot start the file opener");
}

/* Whether a snapshot of d names `path`: an overlay it made, or an image a disk had when it was taken. */
static bool snapshots_name_image(VmDomain *d, const char *path) {
        for (guint i = 0; i < d->snapshots->len; i++) {
                const VmSnapshot *c = d->snapshots->pdata[i];
                DomainDef *def = NULL;
                ConfError err = {};
                bool named = false;

                for (size_t k = 0; k < c->def->n_disks && !named; k++)
                        named = streq_ptr(c->def->disks[k].source_file, path);
                if (!named && c->def->domain_xml &&
                    domain_def_parse(c->def->domain_xml, strlen(c->def->domain_xml), &def, &err) >= 0)
                        for (size_t k = 0; k < def->n_disks && !named; k++)
                                named = streq_ptr(def->disks[k].source, path);
                conf_error_clear(&err);
                domain_def_free(def);
                if (named)
                        return true;
        }
        return false;
}

/* An external revert's disks are on their new overlays: those are noted as vmgmt's, and the overlays it
 * leaves (was[], one per disk) go when vmgmt made them for an earlier revert and no snapshot names them
 * (as libvirt), so that reverts do not pile them up. */
static void revert_overlays_settle(SnapOp *op, char **was) {
        VmDomain *d = op->domain;

        for (guint i = 0; i < op->disks->len; i++)
                if (vm_snapshot_store_revert_overlay(d, op->overlay_paths[i], true) < 0)
                        log_warning("Domain '%s': cannot note revert overlay %s", d->name, op->overlay_paths[i]);
        for (size_t i = 0; was && was[i]; i++) {
                if (!*was[i] || !vm_snapshot_store_is_revert_overlay(d, was[i]) || snapshots_name_image(d, was[i]))
                        continue;
                log_info("Domain '%s': removing %s, an earlier revert's overlay no snapshot names", d->name, was[i]);
                (void) vm_snapshot_store_revert_overlay(d, was[i], false);
                if (op->message)
                        snapshot_file_remove(d, op->message, was[i]);
        }
}

/* The driver's job ended: the metadata follows what happened to the disks. */
void snap_op_finish(VmDomain *d, int r, const char *message, void *userdata) {
        SnapOp *op = userdata;
        VmSnapshot *s;

        if (d->snapshot_op == op)
                d->snapshot_op = NULL;
        if (r < 0) {
                if (op->started && d->rt && d->drv->ops->destroy)
                        /* started for a memory it could not load: not left running something else */
                        (void) d->drv->ops->destroy(d->rt, false, destroy_done_ignored, NULL);
                if (op->kind != SNAP_OP_CREATE)
                        snap_op_reply_error(op, r, message);
                return;
        }
        switch (op->kind) {
        case SNAP_OP_CREATE:
                if (op->external)
                        snap_external_done(op);
                if (op->no_metadata)
                        break;
                s = vm_snapshot_new(d, TAKE_PTR(op->def));
                if (!s || snapshot_add(d, s) < 0) {
                        log_error("Domain '%s': snapshot '%s' was taken but its metadata could not be saved", d->name, op->name);
                        break;
                }
                snapshot_set_current(d, s);
                if (op->memory_file && vm_snapshot_store_mark_memory_made(s) < 0)
                        log_warning("Domain '%s': snapshot '%s': cannot note that vmgmt made its memory file %s",
                                    d->name, op->name, op->memory_file);
                break;
        case SNAP_OP_REVERT:
                if (op->external && d->persistent) {
                        /* the new overlays on the snapshot's images; the ones left may go */
                        const DomainDef *def = d->newdef ?: d->def;
                        g_auto(GStrv) was = g_new0(char *, op->disks->len + 1);

                        for (guint i = 0; i < op->disks->len; i++) {
                                size_t k = g_array_index(op->disks, size_t, i);
                                was[i] = g_strdup(k < def->n_disks && def->disks[k].source ? def->disks[k].source : "");
                        }
                        snap_external_done(op);
                        revert_overlays_settle(op, was);
                } else if (op->external)
                        snap_external_done(op);
                s = vm_snapshot_find(d, op->name);
                if (s)
                        snapshot_set_current(d, s);
                if (op->start_after && op->message) {
                        /* the call is answered by the start */
                        _cleanup_free_ char *msg = NULL;
                        VmOp *vop = vm_op_new(d, op->message, "start");
                        int k;

                        op->message = sd_bus_message_unref(op->message);
                        vm_domain_set_cause(d, vop->message);
                        if (op->memory) {
                                size_t n = 0;
                                const OpenedFile *f = open_files_for_request(op->memory->files, 0, &n);

                                k = f ? vm_domain_start_from_snapshot_image(d, vop->message, f->fd, op->memory_file,
                                                                            d->newdef ?: d->def, op->start_flags,
                                                                            revert_started, vop, &msg)
                                      : -EIO;
                        } else
                                k = vm_domain_start(d, vop->message, op->start_flags, revert_started, vop, &msg);
                        if (k < 0) {
                                vm_domain_clear_cause(d);
                                revert_start_reply_error(vop->message, k, msg, d->name);
                                vm_op_free(vop);
                        }
                        return;
                }
                break;
        case SNAP_OP_DELETE:
                if (op->chains)
                        snap_delete_offline_done(op);
                s = vm_snapshot_find(d, op->name);
                /* its memory file goes if vmgmt made it (a redefined snapshot's is kept) */
                if (s && s->def->memory == SNAPSHOT_LOCATION_EXTERNAL && s->def->memory_file && op->message &&
                    vm_snapshot_store_memory_made(s))
                        snapshot_file_remove(d, op->message, s->def->memory_file);
                if (s)
                        snapshot_remove(s);
                if (op->delete_names && op->delete_names[0] && op->delete_names[1]) {
                        /* the next one (children first) once this job is over; it answers the call */
                        snap_delete_next(op);
                        return;
                }
                break;
        }
        if (op->message && op->kind != SNAP_OP_CREATE) {
                (void) sd_bus_reply_method_return(op->message, NULL);
                op->message = sd_bus_message_unref(op->message);
        }
}

static DriverSnapshotAction snap_op_action(const SnapOp *op) {
        return op->kind == SNAP_OP_CREATE ? DRIVER_SNAPSHOT_CREATE :
               op->kind == SNAP_OP_REVERT ? DRIVER_SNAPSHOT_REVERT : DRIVER_SNAPSHOT_DELETE;
}

/* ---- offline image changes: the driver's job, then the files' names, then the Job's end ---- */

static void snap_files_step_done(void *userdata, int r, const char *message) {
        SnapOp *op = userdata;

        if (r < 0)
                log_warning("Domain '%s': %s", op->domain->name, strna(message));
        if (--op->files_pending == 0)
                op->job_cb.done(op->job_cb.userdata, 0, NULL);
}

/* The images are changed: a new overlay gets its name (a start right after the end opens it by name), a
 * merged one goes (removed as the caller), and only then does the Job end. */
static void snap_images_done(void *userdata, int r, const char *message) {
        SnapOp *op = userdata;
        VmDomain *d = op->domain;

        op->image_job = NULL;
        if (r < 0) {
                op->job_cb.done(op->job_cb.userdata, r, message);
                return;
        }
        op->files_pending = 1;
        if (op->overlays && op->backing_paths && op->kind != SNAP_OP_DELETE) {
                op->files_finished = true;
                for (guint i = 0; i < op->disks->len; i++)
                        if (vm_caller_file_finish(d->manager, op->overlays, i, OPEN_FILE_FINISH_RENAME,
                                                  snap_files_step_done, op, NULL) >= 0)
                                op->files_pending++;
                        else
                                log_error("Domain '%s': cannot give overlay %s its name", d->name, op->overlay_paths[i]);
        }
        for (size_t i = 0; op->chains && op->targets[i]; i++) {
                size_t n = 0;
                const OpenedFile *l = open_files_for_request(op->chains->files, i, &n);

                if (l && op->depths[i] < n && open_file_finish_start(d->manager->event, &op->writable->creds,
                                                                     &l[op->depths[i]], OPEN_FILE_FINISH_UNLINK, 0,
                                                                     snap_files_step_done, op, NULL) >= 0)
                        op->files_pending++;
                else
                        log_warning("Domain '%s': cannot remove merged overlay %s", d->name, op->overlay_paths[i]);
        }
        snap_files_step_done(op, 0, NULL);
}

static void snap_images_progress(void *userdata, uint64_t processed, uint64_t total) {
        SnapOp *op = userdata;

        if (op->job_cb.progress)
                op->job_cb.progress(op->job_cb.userdata, processed, total);
}

static void snap_images_cancel(DriverJob *j) {
        SnapOp *op = (SnapOp *) j;

        driver_job_cancel(op->image_job);   /* once the images are done, the names follow regardless */
}

/* Hands op to the driver (fds: the opened images, offline). Takes op: on
 * failure the call is answered and op freed. */
void snap_op_run(SnapOp *op, const DriverFiles *files) {
        VmDomain *d = op->domain;
        const DomainDriverOps *ops = d->drv->ops;
        _cleanup_free_ char *msg = NULL;
        DriverJobCallbacks cb;
        DriverJob *job = NULL;
        int r;

        op->dj = vm_domain_job_new(d, op->message, "snapshot", snap_op_finish, op, snap_op_free);
        cb = vm_domain_job_callbacks(op->dj);
        if (op->image_ops) {
                DriverJobCallbacks mine = { .progress = snap_images_progress, .done = snap_images_done, .userdata = op };

                op->job_cb = cb;
                op->proxy.cancel = snap_images_cancel;
                r = ops->image_offline ? ops->image_offline(d->drv->driver, op->image_ops, op->n_image_ops, &mine,
                                                            &op->image_job, &msg)
                                       : -EOPNOTSUPP;
                job = &op->proxy;
        }
        else if (op->external) {
                g_autofree DriverSnapshotOverlay *o = g_new0(DriverSnapshotOverlay, op->disks->len + 1);

                for (guint i = 0; i < op->disks->len; i++) {
                        size_t n = 0;
                        const OpenedFile *f = open_files_for_request(op->overlays->files, i, &n);

                        o[i] = (DriverSnapshotOverlay) { .disk = g_array_index(op->disks, size_t, i), .fd = f ? f->fd : -1,
                                                         .path = op->overlay_paths[i] };
                }
                if (op->memory_file && op->kind == SNAP_OP_CREATE) {
                        size_t n = 0;
                        const OpenedFile *f = open_files_for_request(op->overlays->files, op->disks->len, &n);
                        g_autofree char *xml = domain_def_format(vm_domain_current_def(d), DOMAIN_FORMAT_INACTIVE |
                                                                                             DOMAIN_FORMAT_SECURE);

                        r = !f || !xml ? -EIO
                            : ops->snapshot_memory ? ops->snapshot_memory(d->rt, f->fd, xml, o, op->disks->len,
                                                                          op->memory_flags, &cb, &job, &msg)
                                                   : -EOPNOTSUPP;
                } else
                        r = ops->snapshot_external ? ops->snapshot_external(d->rt, o, op->disks->len, op->flags, &cb, &job, &msg) : -EOPNOTSUPP;
        } else if (op->live)
                r = ops->snapshot_live ? ops->snapshot_live(d->rt, snap_op_action(op), op->name,
                                                            (const size_t *) op->disks->data, op->disks->len,
                                                            op->flags, &cb, &job, &msg)
                                       : -EOPNOTSUPP;
        else {
                g_autofree int *fds = g_new0(int, files ? files->n_files + 1 : 1);
                size_t n = 0;

                for (size_t i = 0; files && i < files->n_files; i++)
                        fds[n++] = files->files[i].fd;
                r = ops->snapshot_offline ? ops->snapshot_offline(d->drv->driver, snap_op_action(op), op->name, fds, n,
                                                                  &cb, &job, &msg)
                                          : -EOPNOTSUPP;
        }
        if (r < 0) {
                snap_op_reply_error(op, r, msg ?: (r == -EOPNOTSUPP ? "the driver takes no snapshots" : NULL));
                vm_domain_job_discard(op->dj);   /* frees op */
                return;
        }
        /* a create answers with its Job; a revert or delete when it is done */
        (void) vm_domain_job_started(op->dj, job, op->kind == SNAP_OP_CREATE ? op->message : NULL);
        if (op->kind == SNAP_OP_CREATE)
                op->message = sd_bus_message_unref(op->message);
}

static void snap_files_done(void *userdata, int r, DriverFileSet *set, const char *message) {
        SnapOp *op = userdata;

        op->files_job = NULL;
        if (r < 0) {
                snap_op_reply_error(op, r, message);
                snap_op_free(op);
                return;
        }
        snap_op_run(op, &set->view);
        driver_file_set_free(set);   /* the driver dup()ed what it keeps */
}



static void overlays_open_done(void *userdata, int r, VmCallerFiles *files, const char *message) {
        SnapOp *op = userdata;

        op->files_job = NULL;
        if (r < 0) {
                snap_op_reply_error(op, r, message);
                snap_op_free(op);
                return;
        }
        op->overlays = files;
        if (op->backing_paths) {
                /* offline: the driver makes the files overlays of their backings */
                if (vm_domain_is_active(op->domain) || op->domain->rt) {
                        snap_op_reply_error(op, -EBUSY, "the domain started meanwhile");
                        snap_op_free(op);
                        return;
                }
                r = snap_op_overlay_ops(op, &message);
                if (r < 0) {
                        snap_op_reply_error(op, r, message);
                        snap_op_free(op);
                        return;
                }
                snap_op_run(op, NULL);
                return;
        }
        if (!vm_domain_is_active(op->domain) || !op->domain->rt) {
                snap_op_reply_error(op, -ESRCH, "the domain stopped meanwhile");
                snap_op_free(op);   /* removes the overlays */
                return;
        }
        snap_op_run(op, NULL);
}

/* Creates op's overlay files as the caller (the path policy judging them), then runs op. Takes op. */
int snap_op_create_overlays(SnapOp *op, sd_bus_error *error) {
        VmDomain *d = op->domain;
        size_t n = op->disks->len, n_req = op->backing_paths ? 2 * n : op->memory_file ? n + 1 : n;
        g_autofree OpenFileRequest *req = g_new0(OpenFileRequest, 2 * n + 2);
        int r;

        for (guint i = 0; i < n; i++)
                req[i] = (OpenFileRequest) { .path = op->overlay_paths[i], .mode = OPEN_FILE_CREATE };
        /* offline: each backing too, to learn its size as the caller can read it */
        for (guint i = 0; op->backing_paths && i < n; i++)
                req[n + i] = (OpenFileRequest) { .path = op->backing_paths[i], .mode = OPEN_FILE_READ,
                                                 .format = op->backing_formats[i] };
        /* live with memory: its file, created as the caller as Save's image is */
        if (op->memory_file && !op->backing_paths)
                req[n] = (OpenFileRequest) { .path = op->memory_file, .mode = OPEN_FILE_CREATE };
        d->snapshot_op = op;
        r = vm_caller_files_open(d->manager, op->message, d->name, req, n_req, overlays_open_done, op,
                                 &op->files_job);
        if (r < 0) {
                snap_op_free(op);
                return sd_bus_error_set_errnof(error, r, "Cannot create the overlays of domain '%s': %m", d->name);
        }
        return 1;
}

/* Opens op's disks of def (the images, read-write, as the caller) and then runs op. Takes op. */
static int snap_op_open_and_run(SnapOp *op, const DomainDef *def, sd_bus_error *error) {
        VmDomain *d = op->domain;
        DriverFileSet *set = NULL;
        size_t n = 0;
        int r;

        op->files_def = domain_def_copy(def);
        if (!op->files_def) {
                snap_op_free(op);
                return -ENOMEM;
        }
        r = driver_file_set_new(op->files_def, &set);
        if (r < 0) {
                snap_op_free(op);
                return r;
        }
        /* only the images taking part, and only their top (the snapshot table is there) */
        for (size_t i = 0; i < set->n_paths; i++) {
                bool take = false;

                if (set->paths[i].purpose == DOMAIN_PATH_DISK)
                        for (guint k = 0; k < op->disks->len && !take; k++)
                                take = set->paths[i].index == g_array_index(op->disks, size_t, k);
                if (!take)
                        continue;
                set->paths[n] = set->paths[i];
                set->requests[n] = set->requests[i];
                set->requests[n].mode = OPEN_FILE_READ_WRITE;
                set->requests[n].flags = 0;
                n++;
        }
        set->n_paths = n;
        if (n != op->disks->len) {
                driver_file_set_free(set);
                snap_op_free(op);
                return sd_bus_error_setf(error, VM_ERROR_OPERATION_FAILED, "Cannot find the images of domain '%s'", d->name);
        }
        d->snapshot_op = op;
        r = vm_domain_files_open(d->manager, op->message, d->name, set, snap_files_done, op, &op->files_job);
        if (r < 0) {
                snap_op_free(op);
                return sd_bus_error_set_errnof(error, r, "Cannot open the disks of domain '%s': %m", d->name);
        }
        return 1;
}

static SnapOp *snap_op_new(VmDomain *d, sd_bus_message *message, SnapOpKind kind, const char *name) {
        SnapOp *op = g_new0(SnapOp, 1);

        op->kind = kind;
        op->domain = vm_domain_ref(d);
        op->message = sd_bus_message_ref(message);
        op->name = strdup(name);
        return op;
}



/* Runs op on d as it is now: live on a running domain, else offline on its disks. Takes op. */
static int snap_op_start(struct SnapOp *op, const VmSnapshot *s, sd_bus_error *error) {
        VmDomain *d = op->domain;

        if (op->kind == SNAP_OP_DELETE && snapshot_is_external(s))
                return snap_op_delete_external(op, s, error);
        if (op->kind == SNAP_OP_REVERT && snapshot_is_external(s))
                return snap_op_revert_external(op, s, error);

        if (vm_domain_is_active(d) && d->rt) {
                op->live = true;
                if (!op->disks)
                        op->disks = snapshot_internal_disks(s, vm_domain_current_def(d));
                d->snapshot_op = op;
                snap_op_run(op, NULL);
                return 1;
        }
        if (!op->disks)
                op->disks = snapshot_internal_disks(s, d->def);
        if (op->disks->len == 0) {
                /* nothing on disk (its disks are gone): only the metadata changes */
                snap_op_finish(d, 0, NULL, op);
                snap_op_free(op);
                return 1;
        }
        return snap_op_open_and_run(op, d->def, error);
}

static int snap_check_idle(VmDomain *d, sd_bus_error *error) {
        if (d->snapshot_op || vm_domain_running_job(d))
                return sd_bus_error_setf(error, VM_ERROR_BUSY, "Domain '%s' has a job running", d->name);
        if (d->starting || (d->rt && !vm_domain_is_active(d)))
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Domain '%s' is starting or stopping", d->name);
        return 0;
}

/* ---- Domain.CreateSnapshot and ListSnapshots ---- */

static int create_redefine(VmDomain *d, sd_bus_message *message, SnapshotDef *def, sd_bus_error *error) {
        VmSnapshot *s;
        int r;

        if (!def->name) {
                snapshot_def_free(def);
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "A redefined snapshot needs a <name>");
        }
        if (def->parent && !vm_snapshot_find(d, def->parent)) {
                _cleanup_free_ char *p = strdup(def->parent);
                snapshot_def_free(def);
                return sd_bus_error_setf(error, VM_ERROR_NO_SUCH_SNAPSHOT, "Domain '%s' has no snapshot '%s' (the parent)", d->name, p);
        }
        if (!def->state)
                def->state = strdup("shutoff");
        if (!def->creation_time)
                def->creation_time = (uint64_t) time(NULL);
        s = vm_snapshot_new(d, def);
        if (!s)
                return -ENOMEM;
        r = snapshot_add(d, s);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot save the snapshot metadata: %m");
        if (!d->current_snapshot)
                snapshot_set_current(d, s);
        return sd_bus_reply_method_return(message, "o", s->path);
}

int vm_domain_method_create_snapshot(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_(vm_domain_unrefp) VmDomain *d = vm_domain_ref(userdata);
        bool disk_only = false, quiesce = false, atomic = false, no_metadata = false, redefine = false, live = false;
        const BusOption options[] = {
                { "disk_only", "b", &disk_only }, { "quiesce", "b", &quiesce }, { "atomic", "b", &atomic },
                { "no_metadata", "b", &no_metadata }, { "redefine", "b", &redefine }, { "live", "b", &live }, {}
        };
        SnapshotDef *def = NULL;
        ConfError err = {};
        const DomainDef *ddef;
        SnapOp *op;
        const char *xml;
        bool active, external = false, memory_external;
        int r;

        r = sd_bus_message_read(message, "s", &xml);
        if (r < 0)
                return r;
        r = vm_domain_method_prologue(message, d, VM_ACTION_DOMAIN_MANAGE, options, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        r = snapshot_def_parse(xml, strlen(xml), &def, &err);
        if (r < 0) {
                r = r == -ENOMEM ? r : sd_bus_error_setf(error, VM_ERROR_INVALID_XML, "Invalid snapshot XML: %s", strempty(err.message));
                conf_error_clear(&err);
                return r;
        }
        if (!def->name)
                def->name = g_strdup_printf("%lld", (long long) time(NULL));   /* as libvirt: the Unix time */
        if (vm_snapshot_find(d, def->name)) {
                r = sd_bus_error_setf(error, VM_ERROR_ALREADY_EXISTS, "Domain '%s' already has a snapshot '%s'", d->name, def->name);
                snapshot_def_free(def);
                return r;
        }
        if (redefine)
                return create_redefine(d, message, def, error);
        r = snap_check_idle(d, error);
        active = vm_domain_is_active(d) && d->rt;
        /* quiesce as libvirt: a disk-only snapshot of a running domain with a guest agent channel */
        if (r >= 0 && quiesce && !disk_only)
                r = sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "quiesce requires disk_only");
        if (r >= 0 && quiesce && !active)
                r = sd_bus_error_setf(error, VM_ERROR_INVALID_STATE,
                                      "Domain '%s' is not running: quiesce needs its guest agent", d->name);
        if (r >= 0 && quiesce && !domain_def_agent_channel(vm_domain_current_def(d)))
                r = sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED,
                                      "The guest agent is not configured (domain '%s' has no <channel> with target "
                                      "name='%s')", d->name, DOMAIN_GUEST_AGENT_CHANNEL);
        memory_external = def->memory == SNAPSHOT_LOCATION_EXTERNAL || def->memory_file;
        if (r >= 0 && memory_external && disk_only)
                r = sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "disk_only excludes <memory snapshot='external'>");
        if (r >= 0 && memory_external && !def->memory_file)
                r = sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "<memory snapshot='external'> needs file=");
        if (r >= 0 && memory_external && !active)
                r = sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                      "Domain '%s' is not running: there is no memory to snapshot", d->name);
        for (size_t k = 0; k < def->n_disks; k++) {
                external = external || def->disks[k].snapshot == SNAPSHOT_LOCATION_EXTERNAL;
                if (r >= 0 && memory_external && def->disks[k].snapshot == SNAPSHOT_LOCATION_INTERNAL)
                        r = sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED,
                                              "mixing internal and external targets for a snapshot is not supported "
                                              "(as libvirt): external memory needs external disks");
        }
        external = external || disk_only || memory_external || (active && def->memory == SNAPSHOT_LOCATION_NO);
        if (r >= 0 && external && def->memory == SNAPSHOT_LOCATION_INTERNAL)
                r = sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED,
                                      "mixing internal and external targets for a snapshot is not supported (as libvirt): "
                                      "internal memory needs internal disks; use disk_only for external ones");
        if (r < 0) {
                snapshot_def_free(def);
                return r;
        }
        ddef = active ? vm_domain_current_def(d) : d->def;
        if (external) {
                op = snap_op_new(d, message, SNAP_OP_CREATE, def->name);
                op->external = true;
                r = snapshot_choose_overlays(d, ddef, def, &op->disks, &op->overlay_paths, error);
                if (r < 0) {
                        snapshot_def_free(def);
                        snap_op_free(op);
                        return r;
                }
                free(def->state);
                def->state = strdup(memory_external ? domain_state_to_string(d->state) : "disk-snapshot");
                def->memory = memory_external ? SNAPSHOT_LOCATION_EXTERNAL : SNAPSHOT_LOCATION_NO;
                if (memory_external) {
                        op->memory_file = strdup(def->memory_file);
                        op->memory_flags = live ? DRIVER_SNAPSHOT_LIVE : 0;
                }
                def->creation_time = (uint64_t) time(NULL);
                free(def->parent);
                def->parent = d->current_snapshot ? strdup(d->current_snapshot->def->name) : NULL;
                free(def->domain_xml);
                def->domain_xml = domain_def_format(ddef, DOMAIN_FORMAT_INACTIVE);
                op->def = def;
                op->no_metadata = no_metadata;
                op->flags = quiesce ? DRIVER_SNAPSHOT_QUIESCE : 0;
                if (!active) {
                        /* offline: the driver makes them, each on the image its disk names now */
                        g_autoptr(GStrvBuilder) backings = g_strv_builder_new(), formats = g_strv_builder_new();

                        for (guint i = 0; i < op->disks->len; i++) {
                                const DomainDiskDef *disk = &ddef->disks[g_array_index(op->disks, size_t, i)];
                                g_strv_builder_add(backings, disk->source);
                                g_strv_builder_add(formats, disk->driver_type ?: "raw");
                        }
                        op->backing_paths = g_strv_builder_end(backings);
                        op->backing_formats = g_strv_builder_end(formats);
                }
                return snap_op_create_overlays(op, error);
        }
        if (!active && def->memory == SNAPSHOT_LOCATION_INTERNAL) {
                snapshot_def_free(def);
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Domain '%s' is not running: there is no memory to snapshot", d->name);
        }
        op = snap_op_new(d, message, SNAP_OP_CREATE, def->name);
        r = snapshot_choose_disks(d, ddef, def, &op->disks, error);
        if (r < 0) {
                snapshot_def_free(def);
                snap_op_free(op);
                return r;
        }
        free(def->state);
        def->state = strdup(domain_state_to_string(d->state));
        def->memory = active ? SNAPSHOT_LOCATION_INTERNAL : SNAPSHOT_LOCATION_NO;
        def->creation_time = (uint64_t) time(NULL);
        free(def->parent);
        def->parent = d->current_snapshot ? strdup(d->current_snapshot->def->name) : NULL;
        free(def->domain_xml);
        def->domain_xml = domain_def_format(ddef, DOMAIN_FORMAT_INACTIVE);
        op->def = def;
        op->no_metadata = no_metadata;
        if (active) {
                op->live = true;
                d->snapshot_op = op;
                snap_op_run(op, NULL);
                return 1;
        }
        return snap_op_open_and_run(op, ddef, error);
}

static void revert_start_done(void *userdata, int r, const char *message) {
        SnapOp *op = userdata;
        VmDomain *d = op->domain;
        VmSnapshot *s = vm_snapshot_find(d, op->name);

        vm_domain_clear_cause(d);
        if (r < 0) {
                vm_domain_start_failed(d);
                snap_op_reply_error(op, r, message);
                snap_op_free(op);
                return;
        }
        if (!s || !d->rt) {
                snap_op_reply_error(op, -ESRCH, s ? "the domain stopped meanwhile" : "the snapshot was deleted meanwhile");
                snap_op_free(op);
                return;
        }
        op->live = true;
        op->disks = snapshot_internal_disks(s, vm_domain_current_def(d));
        snap_op_run(op, NULL);
}

/* The domain was stopped for a revert to a snapshot of its disks alone: now the disks go back. */
static void revert_stop_done(void *userdata, int r, const char *message) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        SnapOp *op = userdata;
        VmDomain *d = op->domain;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = sd_bus_message_ref(op->message);
        VmSnapshot *s = vm_snapshot_find(d, op->name);

        vm_domain_clear_cause(d);
        if (r >= 0 && (d->rt || !s))
                r = -ESRCH, message = s ? "the domain did not stop" : "the snapshot was deleted meanwhile";
        if (r < 0) {
                snap_op_reply_error(op, r, message);
                snap_op_free(op);
                return;
        }
        if (d->snapshot_op == op)
                d->snapshot_op = NULL;
        r = snap_op_start(op, s, &error);   /* takes op */
        if (r < 0 && m) {
                if (!sd_bus_error_is_set(&error))
                        sd_bus_error_set_errnof(&error, r, "Failed to revert: %m");
                (void) sd_bus_reply_method_error(m, &error);
        }
}

/* Stops running d (stopped/from-snapshot, as libvirt), then reverts its disks. Takes op. */
static int revert_by_stopping(SnapOp *op, sd_bus_error *error) {
        VmDomain *d = op->domain;
        int r;

        if (!d->rt || !d->drv->ops->destroy) {
                snap_op_free(op);
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Domain '%s' cannot be stopped now", d->name);
        }
        d->snapshot_op = op;
        vm_domain_set_cause(d, op->message);
        r = d->drv->ops->snapshot_stop ? d->drv->ops->snapshot_stop(d->rt, revert_stop_done, op)
                                       : d->drv->ops->destroy(d->rt, false, revert_stop_done, op);
        if (r < 0) {
                vm_domain_clear_cause(d);
                snap_op_free(op);
                return sd_bus_error_set_errnof(error, r, "Failed to stop domain '%s' for the revert: %m", d->name);
        }
        return 1;
}

/* Starts shut-off d paused, then reverts it to s's memory. Takes op. */
static int revert_by_starting(SnapOp *op, sd_bus_message *message, sd_bus_error *error) {
        VmDomain *d = op->domain;
        _cleanup_free_ char *msg = NULL;
        int r;

        r = vm_emulator_policy_check_normalized(d->manager, message, d->def, error);
        if (r < 0) {
                snap_op_free(op);
                return r;
        }
        op->started = true;
        d->snapshot_op = op;
        vm_domain_set_cause(d, message);
        r = vm_domain_start(d, message, DRIVER_START_PAUSED | DRIVER_START_FROM_SNAPSHOT, revert_start_done, op, &msg);
        if (r < 0) {
                _cleanup_free_ char *what = g_strdup_printf("Failed to start domain '%s' for snapshot '%s'", d->name, op->name);
                vm_domain_clear_cause(d);
                snap_op_free(op);
                return bus_error_from_errno(error, r, msg, what);
        }
        return 1;
}

/* A revert to an external memory snapshot: its memory file is open (as the caller); now the domain stops,
 * gets new overlays on the snapshot's images and is restored from the file. */
static void revert_memory_opened(void *userdata, int r, VmCallerFiles *files, const char *message) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        SnapOp *op = userdata;
        VmDomain *d = op->domain;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = sd_bus_message_ref(op->message);
        VmSnapshot *s = vm_snapshot_find(d, op->name);
        _cleanup_free_ char *msg = NULL;
        const OpenedFile *f = NULL;
        size_t n = 0;

        op->files_job = NULL;
        op->memory = files;
        if (r >= 0)
                f = open_files_for_request(files->files, 0, &n);
        if (r >= 0 && (!f || !S_ISREG(f->st.st_mode)))
                r = -EINVAL, message = msg = g_strdup_printf("memory file %s is not a regular file", op->memory_file);
        if (r >= 0 && !s)
                r = -ESRCH, message = "the snapshot was deleted meanwhile";
        if (r < 0) {
                snap_op_reply_error(op, r, message);
                snap_op_free(op);
                return;
        }
        if (d->snapshot_op == op)
                d->snapshot_op = NULL;
        r = vm_domain_is_active(d) ? revert_by_stopping(op, &error) : snap_op_start(op, s, &error);   /* take op */
        if (r < 0 && m) {
                if (!sd_bus_error_is_set(&error))
                        sd_bus_error_set_errnof(&error, r, "Failed to revert: %m");
                (void) sd_bus_reply_method_error(m, &error);
        }
}

/* Opens the memory file of op's snapshot to read as the caller (the path policy judging it; a file she may
 * not read is refused before the domain is touched), then reverts. Takes op. */
static int revert_memory_open(SnapOp *op, sd_bus_error *error) {
        VmDomain *d = op->domain;
        OpenFileRequest req = { .path = op->memory_file, .mode = OPEN_FILE_READ };
        int r;

        d->snapshot_op = op;
        r = vm_caller_files_open(d->manager, op->message, d->name, &req, 1, revert_memory_opened, op, &op->files_job);
        if (r < 0) {
                snap_op_free(op);
                return sd_bus_error_set_errnof(error, r, "Cannot open the memory file of the snapshot: %m");
        }
        return 1;
}

int vm_snapshot_method_revert(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmSnapshot *s = userdata;
        _cleanup_(vm_domain_unrefp) VmDomain *d = vm_domain_ref(s->domain);
        bool running = false, paused = false, force = false;
        const BusOption options[] = { { "running", "b", &running }, { "paused", "b", &paused }, { "force", "b", &force }, {} };
        SnapOp *op;
        int r;

        r = vm_domain_method_prologue(message, d, VM_ACTION_DOMAIN_MANAGE, options, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (running && paused)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "running and paused exclude each other");
        r = snap_check_idle(d, error);
        if (r < 0)
                return r;

        if (s->def->memory == SNAPSHOT_LOCATION_EXTERNAL && s->def->memory_file) {
                /* as libvirt: stopped (from-snapshot), new overlays on the snapshot's images, then restored from
                 * its memory file (started/from-snapshot), running or paused as it was or as asked */
                if (!running && !paused)
                        paused = streq_ptr(s->def->state, "paused");
                r = vm_emulator_policy_check_normalized(d->manager, message, d->def, error);
                if (r < 0)
                        return r;
                op = snap_op_new(d, message, SNAP_OP_REVERT, s->def->name);
                op->start_after = true;
                op->memory_file = strdup(s->def->memory_file);
                op->start_flags = (paused ? DRIVER_START_PAUSED : 0) | DRIVER_START_FROM_SNAPSHOT;
                return revert_memory_open(op, error);
        }
        if (!running && !paused && snapshot_has_memory(s))
                paused = streq_ptr(s->def->state, "paused");
        if ((running || paused) && !snapshot_has_memory(s)) {
                /* as libvirt: the disks go back, then the domain starts (paused with paused) */
                r = vm_emulator_policy_check_normalized(d->manager, message, d->def, error);
                if (r < 0)
                        return r;
        }
        op = snap_op_new(d, message, SNAP_OP_REVERT, s->def->name);
        op->flags = paused ? DRIVER_SNAPSHOT_PAUSED : 0;
        if ((running || paused) && !snapshot_has_memory(s)) {
                op->start_after = true;
                op->start_flags = (paused ? DRIVER_START_PAUSED : 0) | DRIVER_START_FROM_SNAPSHOT;
        }
        if (snapshot_has_memory(s) && !vm_domain_is_active(d))
                return revert_by_starting(op, message, error);
        if (!snapshot_has_memory(s) && vm_domain_is_active(d))
                return revert_by_stopping(op, error);
        return snap_op_start(op, s, error);
}

static void collect_descendants(VmSnapshot *s, GPtrArray *out) {
        VmDomain *d = s->domain;

        /* children before their parents: each deletion sees its children already gone */
        for (guint i = 0; i < d->snapshots->len; i++)
                if (vm_snapshot_parent(d->snapshots->pdata[i]) == s)
                        collect_descendants(d->snapshots->pdata[i], out);
        g_ptr_array_add(out, s);
}

int vm_snapshot_method_delete(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmSnapshot *s = userdata;
        _cleanup_(vm_domain_unrefp) VmDomain *d = vm_domain_ref(s->domain);
        bool children = false, children_only = false, metadata_only = false;
        const BusOption options[] = { { "children", "b", &children }, { "children_only", "b", &children_only },
                                      { "metadata_only", "b", &metadata_only }, {} };
        g_autoptr(GPtrArray) victims = g_ptr_array_new();
        g_autoptr(GStrvBuilder) names = g_strv_builder_new();
        SnapOp *op;
        int r;

        r = vm_domain_method_prologue(message, d, VM_ACTION_DOMAIN_MANAGE, options, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        r = snap_check_idle(d, error);
        if (r < 0)
                return r;
        if (children || children_only) {
                collect_descendants(s, victims);
                if (children_only)
                        g_ptr_array_remove(victims, s);
        } else
                g_ptr_array_add(victims, s);
        if (metadata_only || victims->len == 0) {
                for (guint i = 0; i < victims->len; i++)
                        snapshot_remove(victims->pdata[i]);
                return sd_bus_reply_method_return(message, NULL);
        }
        for (guint i = 0; i < victims->len; i++)
                g_strv_builder_add(names, ((VmSnapshot *) victims->pdata[i])->def->name);
        op = snap_op_new(d, message, SNAP_OP_DELETE, ((VmSnapshot *) victims->pdata[0])->def->name);
        op->delete_names = g_strv_builder_end(names);
        return snap_op_start(op, victims->pdata[0], error);
}

