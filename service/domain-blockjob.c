/* domain-blockjob.c — block jobs on a running domain's disks: BlockCommit, BlockPull and BlockCopy
 * as org.vmgmt.Job objects, BlockJobAbort (pivot or abort a job waiting in "ready") and BlockResize.
 *
 * A disk's chain is read from the files themselves, opened with the caller's
 * rights (domain-files.h) just before the job: the layers a caller names
 * (a path, or TARGET[N] with N the depth, 0 the active layer) are looked up
 * in it, a commit's base is then opened read-write the same way and a copy's
 * destination too, and the driver gets the fds.
 *
 * The driver keeps what a restarted vmgmtd needs with the job (owner data:
 * the Job's path, a new copy's temporary file and whose rights made it);
 * after a restart each such job is a Job again (vm_domain_block_jobs_adopt_all()). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "bus-util.h"
#include "domain-blockjob.h"
#include "domain-files.h"
#include "domain-lease.h"
#include "domain.h"
#include "log.h"

typedef enum BlockVerb {
        VERB_COMMIT,
        VERB_PULL,
        VERB_COPY,
} BlockVerb;

static const char *const verb_job_types[] = {
        [VERB_COMMIT] = "block-commit",
        [VERB_PULL] = "block-pull",
        [VERB_COPY] = "block-copy",
};

static const char *const verb_names[] = {
        [VERB_COMMIT] = "commit",
        [VERB_PULL] = "pull",
        [VERB_COPY] = "copy",
};

typedef struct BlockCall {
        VmDomain *domain;               /* a reference */
        sd_bus_message *message;        /* the call, until answered */
        BlockVerb verb;
        size_t disk;
        char *target;                   /* the disk's target ("vda"), for messages */
        char *source, *format;          /* the disk's image as the live definition has it */
        bool block;

        /* options */
        char *base_spec, *top_spec;
        bool active, pivot, keep_relative, delete_files;
        uint64_t bandwidth;
        char *dest, *dest_format;
        bool reuse_external, shallow, finish;
        uint32_t granularity;

        DomainDef *chain_def, *file_def; /* what the opener opens (the sets borrow from them) */
        DriverFileSet *chain;           /* the disk's layers */
        DriverFileSet *file;            /* the commit's base (read-write) or the copy's existing destination */
        VmCallerFiles *created;         /* a copy's new destination, at its temporary name until the end */
        VmCallerFiles *base_files;      /* a commit's base, read-write (and whose rights: delete) */
        OpenedFile *to_delete;          /* delete: the layers the commit drops (path, resolved, st) */
        size_t n_delete;
        VmDomainFilesJob *opening;
        size_t top, base, n_layers;

        /* copy: the destination's lease (domain-lease.h), taken before the copy starts */
        VmLeasesCall *leasing;
        VmLeases dest_lease;
        bool dest_leased;               /* taken (or none needed) */
        /* the end: the lease the hypervisor no longer needs let go before the Job ends (held) */
        VmLeasesCall *releasing;
        VmDomainJob *held;
        int end_r;
        char *end_message;

        VmDomainJob *job;               /* while it runs */
        sd_bus_message *abort_message;  /* a BlockJobAbort waiting for the end */

        /* for another operation (vm_domain_block_commit()): message is never answered, this is told */
        VmBlockCommitDoneFn done;
        void *done_userdata;
        bool base_below_top;            /* no base named: the layer right below top */
        char *base_path;                /* the commit's base, as the chain names it */

        /* adopted after a vmgmtd restart: a copy's new destination at its temporary name */
        OpenedFile *adopted_created;
        OpenFileCreds adopted_creds;
        gid_t *adopted_groups;
} BlockCall;

/* domain UUID → its BlockCall, while a block job runs */
static GHashTable *running_calls;

static void block_call_free(void *p) {
        BlockCall *c = p;

        if (!c)
                return;
        if (running_calls && c->domain && g_hash_table_lookup(running_calls, c->domain->uuid) == c)
                g_hash_table_remove(running_calls, c->domain->uuid);
        vm_domain_files_job_cancel(c->opening);
        vm_leases_call_cancel(c->leasing);
        vm_leases_call_cancel(c->releasing);
        vm_leases_release(&c->dest_lease);
        g_free(c->end_message);
        if (c->job)
                /* vmgmtd exits with the job running: the driver goes on writing the
                 * copy, the next vmgmtd gives it its name */
                vm_caller_files_free(c->created);
        else
                vm_caller_files_discard(c->domain->manager, c->created);
        vm_caller_files_free(c->base_files);
        for (size_t i = 0; i < c->n_delete; i++) {
                if (c->to_delete[i].fd >= 0)
                        close(c->to_delete[i].fd);
                g_free(c->to_delete[i].path);
                g_free(c->to_delete[i].resolved);
        }
        g_free(c->to_delete);
        if (c->abort_message)
                (void) sd_bus_reply_method_errorf(c->abort_message, VM_ERROR_OPERATION_FAILED,
                                                  "The block job of disk '%s' went away", strna(c->target));
        sd_bus_message_unref(c->abort_message);
        sd_bus_message_unref(c->message);
        driver_file_set_free(c->chain);
        driver_file_set_free(c->file);
        domain_def_free(c->chain_def);
        domain_def_free(c->file_def);
        vm_domain_unref(c->domain);
        g_free(c->target);
        g_free(c->source);
        g_free(c->format);
        g_free(c->base_spec);
        g_free(c->top_spec);
        g_free(c->dest);
        g_free(c->dest_format);
        g_free(c->base_path);
        if (c->adopted_created) {
                g_free(c->adopted_created->path);
                g_free(c->adopted_created->resolved);
                g_free(c->adopted_created);
        }
        g_free(c->adopted_groups);
        g_free(c);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(BlockCall *, block_call_free);

/* Tells the operation that asked for c (if one did) how it ended, once. */
static void call_tell(BlockCall *c, int r, const char *message) {
        VmBlockCommitDoneFn done = c->done;

        c->done = NULL;
        if (done)
                done(c->done_userdata, r, message, c->base_path);
}

/* Answers the call with an error and frees it. */
static void call_fail(BlockCall *c, int r, const char *message) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *what = g_strdup_printf("Failed to %s disk '%s' of domain '%s'", verb_names[c->verb],
                                                    c->target, c->domain->name);

        if (c->done) {
                call_tell(c, r, message);
                block_call_free(c);
                return;
        }
        bus_error_from_errno(&error, r, message, what);
        if (c->message)
                (void) sd_bus_reply_method_error(c->message, &error);
        block_call_free(c);
}

static void call_failf(BlockCall *c, const char *name, const char *fmt, ...) _printf_(3, 4);
static void call_failf(BlockCall *c, const char *name, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        msg = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        if (c->done)
                call_tell(c, streq(name, VM_ERROR_BUSY) ? -EBUSY : streq(name, VM_ERROR_INVALID_STATE) ? -ESRCH : -EINVAL, msg);
        else if (c->message)
                (void) sd_bus_reply_method_errorf(c->message, name, "%s", msg);
        block_call_free(c);
}

/* ---- the disk ---- */

/* The disk of d's live definition that `name` means: its target ("vda") or its source path. */
static int find_disk(VmDomain *d, const char *name, size_t *ret, sd_bus_error *error) {
        const DomainDef *def = vm_domain_current_def(d);

        for (size_t i = 0; def && i < def->n_disks; i++)
                if (streq_ptr(def->disks[i].target_dev, name) || streq_ptr(def->disks[i].source, name)) {
                        *ret = i;
                        return 0;
                }
        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Domain '%s' has no disk '%s'", d->name, name);
}

/* Common checks of every block method; fills c's disk. */
static int block_call_prepare(BlockCall *c, const char *disk, bool needs_job_slot, sd_bus_error *error) {
        VmDomain *d = c->domain;
        const DomainDiskDef *dd;
        size_t i;
        int r;

        if (!vm_domain_is_active(d) || !d->rt)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Domain '%s' is not running", d->name);
        if (!d->drv->ops->block_job_start)
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED, "The %s driver has no block jobs",
                                         d->drv->ops->name);
        r = find_disk(d, disk, &i, error);
        if (r < 0)
                return r;
        dd = &vm_domain_current_def(d)->disks[i];
        c->disk = i;
        c->target = g_strdup(dd->target_dev ?: disk);
        if (dd->type == DOMAIN_DISK_TYPE_NETWORK)
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED,
                                         "Disk '%s' of domain '%s' is a network disk (%s): block jobs on network disks are "
                                         "not supported", c->target, d->name,
                                         strna(domain_disk_protocol_to_string(dd->net.protocol)));
        if (!dd->source)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Disk '%s' of domain '%s' has no image",
                                         c->target, d->name);
        if (dd->readonly || dd->device == DOMAIN_DISK_DEVICE_CDROM)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Disk '%s' of domain '%s' is read-only",
                                         c->target, d->name);
        c->source = g_strdup(dd->source);
        c->format = g_strdup(dd->driver_type ?: "raw");
        c->block = dd->type == DOMAIN_DISK_TYPE_BLOCK;
        if (needs_job_slot && vm_domain_running_job(d))
                return sd_bus_error_setf(error, VM_ERROR_BUSY, "Domain '%s' runs a job already", d->name);
        return 0;
}

static inline void domain_def_freep(DomainDef **p) {
        domain_def_free(*p);
}

/* A definition of one disk, for the opener. */
static DomainDef *one_disk_def(const char *name, const char *path, const char *format, bool block, bool writable) {
        DomainDef *def = domain_def_new();

        def->name = strdup(name);
        def->disks = calloc(1, sizeof(DomainDiskDef));
        def->n_disks = 1;
        def->disks[0].type = block ? DOMAIN_DISK_TYPE_BLOCK : DOMAIN_DISK_TYPE_FILE;
        def->disks[0].device = DOMAIN_DISK_DEVICE_DISK;
        def->disks[0].source = strdup(path);
        def->disks[0].driver_type = format ? strdup(format) : NULL;
        def->disks[0].readonly = !writable;
        return def;
}

/* The layers of the chain as opened (depth 0 first). */
static const OpenedFile *chain_layers(const BlockCall *c, size_t *ret_n) {
        return open_files_for_request(c->chain->opened, 0, ret_n);
}

static bool layer_is(const OpenedFile *o, const char *spec) {
        return streq_ptr(o->path, spec) || streq_ptr(o->resolved, spec);
}

/* The depth a caller's name of a layer means: a path in the chain or TARGET[N]; -1 when none. */
static ssize_t resolve_layer(const BlockCall *c, const char *spec) {
        size_t n, tl = strlen(c->target);
        const OpenedFile *l = chain_layers(c, &n);
        struct stat st;

        if (strncmp(spec, c->target, tl) == 0 && spec[tl] == '[') {
                char *end = NULL;
                unsigned long k = strtoul(spec + tl + 1, &end, 10);
                if (end && end != spec + tl + 1 && streq(end, "]") && k < n)
                        return (ssize_t) k;
                return -1;
        }
        for (size_t k = 0; k < n; k++)
                if (layer_is(&l[k], spec))
                        return (ssize_t) k;
        /* another spelling of the same file */
        if (spec[0] == '/' && stat(spec, &st) >= 0)
                for (size_t k = 0; k < n; k++)
                        if (l[k].st.st_dev == st.st_dev && l[k].st.st_ino == st.st_ino)
                                return (ssize_t) k;
        return -1;
}

/* ---- the job ---- */

static void deleted(void *userdata, int r, const char *message) {
        if (r < 0)
                log_warning("Cannot delete a committed image: %s", strna(message));
}

/* delete: the layers the commit dropped go, removed with the caller's rights
 * while their names still lead to the files that were in the chain. */
static void delete_committed(BlockCall *c) {
        const DomainDef *def = vm_domain_current_def(c->domain);
        size_t n;
        const OpenedFile *base;

        if (!c->base_files || c->n_delete == 0)
                return;
        base = open_files_for_request(c->base_files->files, 0, &n);
        /* an active commit dropped its layers only when it pivoted */
        if (c->top == 0 && (!def || c->disk >= def->n_disks || !base ||
                            !streq_ptr(def->disks[c->disk].source, base->path)))
                return;
        for (size_t i = 0; i < c->n_delete; i++)
                if (open_file_finish_start(c->domain->manager->event, &c->base_files->creds, &c->to_delete[i],
                                           OPEN_FILE_FINISH_UNLINK, 0, deleted, NULL, NULL) < 0)
                        log_warning("Cannot delete %s", c->to_delete[i].path);
}

/* An adopted copy's new file: renamed to its name (done) or removed, as
 * whoever created it; the finisher checks again that the name still leads
 * to the file that was created (the fd here only stands for it). */
static void adopted_created_finish(BlockCall *c, bool done) {
        OpenedFile *f = c->adopted_created;
        int fd = open(f->resolved, O_PATH | O_NOFOLLOW | O_CLOEXEC);

        f->fd = fd;
        if (fd < 0 || open_file_finish_start(c->domain->manager->event, &c->adopted_creds, f,
                                             done ? OPEN_FILE_FINISH_RENAME : OPEN_FILE_FINISH_UNLINK, 0, deleted,
                                             NULL, NULL) < 0)
                log_warning("Cannot %s %s", done ? "rename" : "remove", strna(f->resolved));
        f->fd = -1;
        if (fd >= 0)
                close(fd);
}

/* The job's end told: a BlockJobAbort waiting for it, the log, an operation that asked. */
static void job_answer(BlockCall *c, int r, const char *message) {
        VmDomain *d = c->domain;

        if (c->abort_message) {
                if (r < 0 && r != -ECANCELED)
                        (void) sd_bus_reply_method_errorf(c->abort_message, VM_ERROR_OPERATION_FAILED, "%s",
                                                          strna(message));
                else
                        (void) sd_bus_reply_method_return(c->abort_message, NULL);
                c->abort_message = sd_bus_message_unref(c->abort_message);
        }
        log_info("Domain '%s': block %s of disk '%s' %s%s%s", d->name, verb_names[c->verb], c->target,
                 r >= 0 ? "done" : "ended: ", r >= 0 ? "" : strna(message), "");
        call_tell(c, r, message);
}

static void copy_lease_released(void *userdata, int r, VmLeases *leases, const char *message) {
        BlockCall *c = userdata;
        VmDomainJob *held = TAKE_PTR(c->held);

        c->releasing = NULL;
        if (r < 0)
                log_warning("Domain '%s': %s", c->domain->name, strna(message));
        job_answer(c, c->end_r, c->end_message);
        vm_domain_job_release(held);   /* the Job ends: c may be gone */
}

/* A copy's end: the lease of the image the disk no longer uses (the old one after a pivot, else the
 * copy's) is let go in the hypervisor, which keeps a removed fd set's fds open while the guest is
 * paused; the Job (dj, in its finish) ends after. Returns whether that is under way. */
static bool copy_lease_release(BlockCall *c, VmDomainJob *dj, int r, const char *message) {
        VmDomain *d = c->domain;
        const DomainDef *def = vm_domain_current_def(d);
        bool pivoted = r >= 0 && def && c->disk < def->n_disks && streq_ptr(def->disks[c->disk].source, c->dest);
        const char *unused = pivoted ? c->source : c->dest;
        _cleanup_(domain_def_freep) DomainDef *one = NULL;

        if (c->verb != VERB_COPY || !unused || !d->rt || !d->drv->ops->pid || !def || c->disk >= def->n_disks)
                return false;
        one = one_disk_def(d->name, unused, NULL, pivoted && c->block, true);
        if (!one)
                return false;
        one->disks[0].shareable = def->disks[c->disk].shareable;
        one->disks[0].readonly = def->disks[c->disk].readonly;
        one->disks[0].device = def->disks[c->disk].device;
        c->held = vm_domain_job_hold(dj);
        if (!c->held)
                return false;
        if (vm_lease_disk_release_start(d->manager, one->disks, d->drv->ops->pid(d->rt), copy_lease_released, c,
                                        &c->releasing) < 0 || !c->releasing) {
                vm_domain_job_release(TAKE_PTR(c->held));   /* inside finish: the Job just goes on ending */
                return false;
        }
        c->end_r = r;
        c->end_message = g_strdup(message);
        return true;
}

static void job_finished(VmDomain *d, int r, const char *message, void *userdata) {
        BlockCall *c = userdata;
        VmDomainJob *dj = TAKE_PTR(c->job);

        if (running_calls)
                g_hash_table_remove(running_calls, d->uuid);
        /* a new copy gets its name when the job did its work, else goes */
        if (c->created && r >= 0) {
                (void) vm_caller_file_finish(d->manager, c->created, 0, OPEN_FILE_FINISH_RENAME, NULL, NULL, NULL);
                c->created = vm_caller_files_free(c->created);
        } else
                c->created = vm_caller_files_discard(d->manager, c->created);
        if (c->adopted_created)
                adopted_created_finish(c, r >= 0);
        if (r >= 0 && c->delete_files)
                delete_committed(c);
        if (copy_lease_release(c, dj, r, message))
                return;   /* copy_lease_released() answers */
        job_answer(c, r, message);
}

/* ---- what a restarted vmgmtd needs to take the job over (kept by the driver) ---- */

/* The Job's path, and a copy's new destination (at its temporary name) with
 * the rights it was created with, as GVariant text a{sv}. */
static char *owner_data_format(BlockCall *c) {
        GVariantBuilder b;
        g_autoptr(GVariant) v = NULL;

        g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
        g_variant_builder_add(&b, "{sv}", "job", g_variant_new_string(vm_domain_job_path(c->job)));
        if (c->created) {
                const OpenedFile *f = &c->created->files->files[0];
                const OpenFileCreds *cr = &c->created->creds;

                g_variant_builder_add(&b, "{sv}", "created", g_variant_new_string(f->path));
                g_variant_builder_add(&b, "{sv}", "created_at", g_variant_new_string(f->resolved));
                g_variant_builder_add(&b, "{sv}", "dev", g_variant_new_uint64((uint64_t) f->st.st_dev));
                g_variant_builder_add(&b, "{sv}", "ino", g_variant_new_uint64((uint64_t) f->st.st_ino));
                g_variant_builder_add(&b, "{sv}", "root", g_variant_new_boolean(cr->root));
                g_variant_builder_add(&b, "{sv}", "uid", g_variant_new_uint32((uint32_t) cr->uid));
                g_variant_builder_add(&b, "{sv}", "gid", g_variant_new_uint32((uint32_t) cr->gid));
                g_variant_builder_add(&b, "{sv}", "groups",
                                      g_variant_new_fixed_array(G_VARIANT_TYPE_UINT32, cr->groups, cr->n_groups,
                                                                sizeof(gid_t)));
        }
        v = g_variant_ref_sink(g_variant_builder_end(&b));
        return g_variant_print(v, TRUE);
}

static void owner_data_parse(BlockCall *c, const char *text, char **ret_old_job) {
        g_autoptr(GVariant) v = NULL;
        g_autoptr(GVariant) groups = NULL;
        const char *path = NULL, *at = NULL, *job = NULL;
        uint64_t dev = 0, ino = 0;
        uint32_t uid = 0, gid = 0;
        gboolean root = FALSE;

        if (!text)
                return;
        v = g_variant_parse(G_VARIANT_TYPE_VARDICT, text, NULL, NULL, NULL);
        if (!v)
                return;
        if (g_variant_lookup(v, "job", "&s", &job))
                *ret_old_job = g_strdup(job);
        if (!g_variant_lookup(v, "created", "&s", &path) || !g_variant_lookup(v, "created_at", "&s", &at) ||
            !g_variant_lookup(v, "dev", "t", &dev) || !g_variant_lookup(v, "ino", "t", &ino) ||
            !g_variant_lookup(v, "root", "b", &root) || !g_variant_lookup(v, "uid", "u", &uid) ||
            !g_variant_lookup(v, "gid", "u", &gid))
                return;
        c->adopted_created = g_new0(OpenedFile, 1);
        c->adopted_created->path = g_strdup(path);
        c->adopted_created->resolved = g_strdup(at);
        c->adopted_created->fd = -1;
        c->adopted_created->st.st_dev = (dev_t) dev;
        c->adopted_created->st.st_ino = (ino_t) ino;
        c->adopted_creds = (OpenFileCreds) { .root = root, .uid = (uid_t) uid, .gid = (gid_t) gid };
        groups = g_variant_lookup_value(v, "groups", G_VARIANT_TYPE("au"));
        if (groups) {
                gsize n = 0;
                const uint32_t *g = g_variant_get_fixed_array(groups, &n, sizeof(uint32_t));
                c->adopted_groups = g_new0(gid_t, n + 1);
                for (gsize i = 0; i < n; i++)
                        c->adopted_groups[i] = (gid_t) g[i];
                c->adopted_creds.groups = c->adopted_groups;
                c->adopted_creds.n_groups = n;
        }
}

static void start_job(BlockCall *c);

static void dest_lease_done(void *userdata, int r, VmLeases *leases, const char *message) {
        BlockCall *c = userdata;

        c->leasing = NULL;
        if (r < 0) {
                call_fail(c, r, message);
                return;
        }
        c->dest_lease = *leases;
        *leases = (VmLeases) {};
        c->dest_leased = true;
        start_job(c);
}

/* A copy's destination is leased as the disk is (domain-lease.h): before the copy starts, off the
 * loop; Busy naming the holder when another domain has it. The hypervisor keeps it with the copy's
 * image: after a pivot it is the disk's, and the old image's goes with that image's nodes. Returns
 * 0 when it is being taken (start_job() follows), 1 when none is needed, or a negative errno. */
static int dest_lease_take(BlockCall *c) {
        VmDomain *d = c->domain;
        const DomainDef *live = vm_domain_current_def(d);
        const DriverFile *file = c->file ? driver_files_find(&c->file->view, DOMAIN_PATH_DISK, 0, 0) : NULL;
        _cleanup_(domain_def_freep) DomainDef *one = one_disk_def(d->name, c->dest, c->dest_format, false, true);

        if (!one || !live || c->disk >= live->n_disks)
                return -ENOMEM;
        /* exempt as the disk is: shareable, read-only */
        one->disks[0].shareable = live->disks[c->disk].shareable;
        one->disks[0].readonly = live->disks[c->disk].readonly;
        one->disks[0].device = live->disks[c->disk].device;
        if (!vm_leases_needed(one))
                return 1;
        /* an existing destination by the path it resolved to; a new one (at its temporary name until
         * the end) by the path it will have */
        return vm_leases_take_start(d->manager, live, one, file ? &c->file->view : NULL, true,
                                    dest_lease_done, c, &c->leasing);
}

static void start_job(BlockCall *c) {
        VmDomain *d = c->domain;
        const DriverFile *chain = driver_files_find(&c->chain->view, DOMAIN_PATH_DISK, 0, 0);
        const DriverFile *file = c->file ? driver_files_find(&c->file->view, DOMAIN_PATH_DISK, 0, 0) : NULL;
        _cleanup_free_ char *err = NULL, *base_name = NULL, *owner_data = NULL;
        DriverBlockJob p = {
                .disk = c->disk,
                .chain = chain,
                .top = c->top,
                .base = c->base,
                .base_fd = -1,
                .dest_fd = -1,
                .dest_lease_fd = -1,
                .bandwidth = c->bandwidth,
                .pivot = c->pivot,
                .finish = c->finish,
                .shallow = c->shallow,
                .granularity = c->granularity,
        };
        size_t n;
        const OpenedFile *l = chain_layers(c, &n);
        DriverJobCallbacks cb;
        DriverJob *dj = NULL;
        int r;

        if (!d->rt || !vm_domain_is_active(d)) {
                call_failf(c, VM_ERROR_INVALID_STATE, "Domain '%s' is not running", d->name);
                return;
        }
        if (vm_domain_running_job(d)) {
                call_failf(c, VM_ERROR_BUSY, "Domain '%s' runs a job already", d->name);
                return;
        }
        switch (c->verb) {
        case VERB_COMMIT:
                p.type = DRIVER_BLOCK_JOB_COMMIT;
                p.base_fd = c->base_files ? c->base_files->files->files[0].fd : -1;
                /* the name the header above top gets: as the layer above base names it, or absolute */
                if (c->keep_relative && c->base > 0 && l[c->base - 1].backing)
                        base_name = g_strdup(l[c->base - 1].backing);
                else
                        base_name = g_strdup(l[c->base].path);
                break;
        case VERB_PULL:
                p.type = DRIVER_BLOCK_JOB_PULL;
                if (c->base < n)
                        base_name = g_strdup(c->keep_relative && l[c->base - 1].backing ? l[c->base - 1].backing
                                                                                        : l[c->base].path);
                break;
        case VERB_COPY:
                if (!c->dest_leased) {
                        r = dest_lease_take(c);
                        if (r < 0) {
                                call_fail(c, r, "cannot take the lease of the destination");
                                return;
                        }
                        if (r == 0)
                                return;   /* dest_lease_done() comes back */
                        c->dest_leased = true;
                }
                if (c->dest_lease.n > 0 && d->drv->ops->pid)
                        vm_leases_set_pid(&c->dest_lease, d->drv->ops->pid(d->rt));
                p.dest_lease_fd = c->dest_lease.n > 0 ? c->dest_lease.by_disk[0] : -1;
                p.type = DRIVER_BLOCK_JOB_COPY;
                p.dest_fd = c->created ? c->created->files->files[0].fd : file ? file->fd : -1;
                p.dest_path = c->dest;
                p.dest_format = c->dest_format;
                p.dest_format_it = !c->reuse_external;
                break;
        }
        p.base_name = base_name;

        c->job = vm_domain_job_new(d, c->message, verb_job_types[c->verb], job_finished, c, block_call_free);
        owner_data = owner_data_format(c);
        p.owner_data = owner_data;
        cb = vm_domain_job_callbacks(c->job);
        r = d->drv->ops->block_job_start(d->rt, &p, &cb, &dj, &err);
        if (r < 0) {
                VmDomainJob *job = TAKE_PTR(c->job);
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                _cleanup_free_ char *what = g_strdup_printf("Failed to %s disk '%s' of domain '%s'",
                                                            verb_names[c->verb], c->target, d->name);
                sd_bus_message *m = sd_bus_message_ref(c->message);

                bool internal = c->done;

                bus_error_from_errno(&error, r, err, what);
                call_tell(c, r, err);
                if (m && !internal)
                        (void) sd_bus_reply_method_error(m, &error);
                vm_domain_job_discard(job);   /* frees c */
                sd_bus_message_unref(m);
                return;
        }
        if (!running_calls)
                running_calls = g_hash_table_new(g_str_hash, g_str_equal);
        g_hash_table_replace(running_calls, d->uuid, c);
        /* the driver has its own fds: the caller's files need not stay open, nor our copy of the lease */
        c->chain = driver_file_set_free(c->chain);
        c->file = driver_file_set_free(c->file);
        vm_leases_release(&c->dest_lease);
        (void) vm_domain_job_started(c->job, dj, c->done ? NULL : c->message);
        c->message = sd_bus_message_unref(c->message);
}

/* The commit's base or the copy's destination is open. */
static void file_opened(void *userdata, int r, DriverFileSet *set, const char *message) {
        BlockCall *c = userdata;

        c->opening = NULL;
        if (r < 0) {
                call_fail(c, r, message);
                return;
        }
        c->file = set;
        start_job(c);
}

static int open_file(BlockCall *c, const char *path, const char *format) {
        DriverFileSet *set = NULL;
        int r;

        c->file_def = one_disk_def(c->domain->name, path, format, false, true);
        r = driver_file_set_new(c->file_def, &set);
        if (r < 0)
                return r;
        return vm_domain_files_open(c->domain->manager, c->message, c->domain->name, set, file_opened, c,
                                    &c->opening);
}

/* The commit's base is open read-write. */
static void base_opened(void *userdata, int r, VmCallerFiles *files, const char *message) {
        BlockCall *c = userdata;

        c->opening = NULL;
        if (r < 0) {
                call_fail(c, r, message);
                return;
        }
        c->base_files = files;
        start_job(c);
}

/* The copy's new destination is created. */
static void created_opened(void *userdata, int r, VmCallerFiles *files, const char *message) {
        BlockCall *c = userdata;

        c->opening = NULL;
        if (r < 0) {
                call_fail(c, r, message);
                return;
        }
        c->created = files;
        start_job(c);
}

/* With the chain known: the caller's layers, then what else must be opened. */
static void resolve_and_go(BlockCall *c) {
        size_t n;
        const OpenedFile *l = chain_layers(c, &n);
        ssize_t k;
        int r;

        c->n_layers = n;
        if (c->verb != VERB_COPY && n < 2) {
                call_failf(c, SD_BUS_ERROR_INVALID_ARGS, "Disk '%s' of domain '%s' has no backing chain (%s is %s)",
                           c->target, c->domain->name, c->source, c->format);
                return;
        }
        switch (c->verb) {
        case VERB_COMMIT:
                c->top = 0;
                if (c->top_spec) {
                        k = resolve_layer(c, c->top_spec);
                        if (k < 0) {
                                call_failf(c, SD_BUS_ERROR_INVALID_ARGS, "'%s' is not in the backing chain of disk '%s'",
                                           c->top_spec, c->target);
                                return;
                        }
                        c->top = (size_t) k;
                }
                if (c->top == 0 && !c->active) {
                        call_failf(c, SD_BUS_ERROR_INVALID_ARGS,
                                   "The top of the commit is the active layer of disk '%s' (%s): set option active",
                                   c->target, l[0].path);
                        return;
                }
                if (c->top > 0 && c->active) {
                        call_failf(c, SD_BUS_ERROR_INVALID_ARGS,
                                   "Option active commits the active layer of disk '%s', not '%s'", c->target,
                                   c->top_spec);
                        return;
                }
                c->base = c->base_below_top ? c->top + 1 : n - 1;
                if (c->base_spec) {
                        k = resolve_layer(c, c->base_spec);
                        if (k < 0) {
                                call_failf(c, SD_BUS_ERROR_INVALID_ARGS, "'%s' is not in the backing chain of disk '%s'",
                                           c->base_spec, c->target);
                                return;
                        }
                        c->base = (size_t) k;
                }
                if (c->base <= c->top) {
                        call_failf(c, SD_BUS_ERROR_INVALID_ARGS, "Base '%s' is not below top '%s' in disk '%s'",
                                   l[c->base].path, l[c->top].path, c->target);
                        return;
                }
                c->base_path = g_strdup(l[c->base].path);
                if (c->delete_files) {
                        /* what leaves the chain: top…base-1 */
                        c->n_delete = c->base - c->top;
                        c->to_delete = g_new0(OpenedFile, c->n_delete);
                        for (size_t i = 0; i < c->n_delete; i++) {
                                const OpenedFile *o = &l[c->top + i];
                                c->to_delete[i] = (OpenedFile) { .path = g_strdup(o->path),
                                                                 .resolved = g_strdup(o->resolved), .st = o->st,
                                                                 .fd = fcntl(o->fd, F_DUPFD_CLOEXEC, 3) };
                        }
                }
                /* the base is written: opened read-write as the caller could */
                {
                        OpenFileRequest req = { .path = l[c->base].path, .mode = OPEN_FILE_READ_WRITE };

                        r = vm_caller_files_open(c->domain->manager, c->message, c->domain->name, &req, 1,
                                                 base_opened, c, &c->opening);
                }
                if (r < 0)
                        call_fail(c, r, "cannot open the base image");
                return;
        case VERB_PULL:
                c->base = n;
                if (c->base_spec) {
                        k = resolve_layer(c, c->base_spec);
                        if (k < 0) {
                                call_failf(c, SD_BUS_ERROR_INVALID_ARGS, "'%s' is not in the backing chain of disk '%s'",
                                           c->base_spec, c->target);
                                return;
                        }
                        if (k == 0) {
                                call_failf(c, SD_BUS_ERROR_INVALID_ARGS,
                                           "Base '%s' is the active layer of disk '%s'", c->base_spec, c->target);
                                return;
                        }
                        c->base = (size_t) k;
                }
                start_job(c);
                return;
        case VERB_COPY:
                if (c->shallow && n < 2)
                        c->shallow = false;   /* nothing below the top: the same as a full copy */
                for (size_t i = 0; i < n; i++)
                        if (layer_is(&l[i], c->dest)) {
                                call_failf(c, SD_BUS_ERROR_INVALID_ARGS, "'%s' is in the backing chain of disk '%s'",
                                           c->dest, c->target);
                                return;
                        }
                if (!c->reuse_external) {
                        /* created as the caller, at a temporary name until the copy is done */
                        OpenFileRequest req = { .path = c->dest, .mode = OPEN_FILE_CREATE };

                        r = vm_caller_files_open(c->domain->manager, c->message, c->domain->name, &req, 1,
                                                 created_opened, c, &c->opening);
                        if (r < 0)
                                call_fail(c, r, "cannot create the destination");
                        return;
                }
                r = open_file(c, c->dest, c->dest_format);
                if (r < 0)
                        call_fail(c, r, "cannot open the destination");
                return;
        }
}

static void chain_opened(void *userdata, int r, DriverFileSet *set, const char *message) {
        BlockCall *c = userdata;

        c->opening = NULL;
        if (r < 0) {
                call_fail(c, r, message);
                return;
        }
        c->chain = set;
        resolve_and_go(c);
}

/* Opens the disk's chain (read-only, as the caller) and goes on in chain_opened(). */
static int open_chain(BlockCall *c, sd_bus_error *error) {
        DriverFileSet *set = NULL;
        int r;

        c->chain_def = one_disk_def(c->domain->name, c->source, c->format, c->block, false);
        r = driver_file_set_new(c->chain_def, &set);
        if (r >= 0)
                r = vm_domain_files_open(c->domain->manager, c->message, c->domain->name, set, chain_opened, c,
                                         &c->opening);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Failed to open the image of disk '%s': %m", c->target);
        return 0;
}

static BlockCall *block_call_new(VmDomain *d, sd_bus_message *message, BlockVerb verb) {
        BlockCall *c = g_new0(BlockCall, 1);

        c->domain = vm_domain_ref(d);
        c->message = sd_bus_message_ref(message);
        c->verb = verb;
        return c;
}

static uint64_t mib_to_bytes(uint64_t mib) {
        return mib > UINT64_MAX / (1024u * 1024u) ? UINT64_MAX : mib * 1024u * 1024u;
}

int domain_method_block_commit(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        const char *disk, *base = NULL, *top = NULL;
        bool active = false, pivot = false, keep_relative = false, delete_files = false;
        uint64_t bandwidth = 0;
        const BusOption options[] = {
                { "base", "s", &base }, { "top", "s", &top }, { "active", "b", &active }, { "pivot", "b", &pivot },
                { "keep_relative", "b", &keep_relative }, { "bandwidth_mib", "t", &bandwidth },
                { "delete", "b", &delete_files }, {},
        };
        _cleanup_(block_call_freep) BlockCall *c = NULL;
        int r;

        r = sd_bus_message_read(message, "s", &disk);
        if (r < 0)
                return r;
        r = vm_domain_method_prologue(message, d, VM_ACTION_DOMAIN_MANAGE, options, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        c = block_call_new(d, message, VERB_COMMIT);
        r = block_call_prepare(c, disk, true, error);
        if (r < 0)
                return r;
        if (pivot && !active)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Option pivot needs option active (only the active layer's commit can pivot)");
        c->base_spec = base && *base ? g_strdup(base) : NULL;
        c->top_spec = top && *top ? g_strdup(top) : NULL;
        c->active = active;
        c->pivot = pivot;
        c->keep_relative = keep_relative;
        c->delete_files = delete_files;
        c->bandwidth = mib_to_bytes(bandwidth);
        r = open_chain(c, error);
        if (r < 0)
                return r;
        TAKE_PTR(c);
        return 1;
}

int vm_domain_block_commit(VmDomain *d, sd_bus_message *message, const char *disk, const char *top,
                           const char *base, VmBlockCommitDoneFn done, void *userdata, sd_bus_error *error) {
        _cleanup_(block_call_freep) BlockCall *c = NULL;
        int r;

        c = block_call_new(d, message, VERB_COMMIT);
        r = block_call_prepare(c, disk, true, error);
        if (r < 0)
                return r;
        c->top_spec = g_strdup(top);
        c->base_spec = g_strdup(base);
        c->base_below_top = !base;
        c->active = c->pivot = streq_ptr(top, c->source);
        c->delete_files = true;
        c->done = done;
        c->done_userdata = userdata;
        r = open_chain(c, error);
        if (r < 0) {
                c->done = NULL;
                return r;
        }
        TAKE_PTR(c);
        return 0;
}

int domain_method_block_pull(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        const char *disk, *base = NULL;
        bool keep_relative = false;
        uint64_t bandwidth = 0;
        const BusOption options[] = {
                { "base", "s", &base }, { "bandwidth_mib", "t", &bandwidth }, { "keep_relative", "b", &keep_relative },
                {},
        };
        _cleanup_(block_call_freep) BlockCall *c = NULL;
        int r;

        r = sd_bus_message_read(message, "s", &disk);
        if (r < 0)
                return r;
        r = vm_domain_method_prologue(message, d, VM_ACTION_DOMAIN_MANAGE, options, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        c = block_call_new(d, message, VERB_PULL);
        r = block_call_prepare(c, disk, true, error);
        if (r < 0)
                return r;
        c->base_spec = base && *base ? g_strdup(base) : NULL;
        c->keep_relative = keep_relative;
        c->bandwidth = mib_to_bytes(bandwidth);
        r = open_chain(c, error);
        if (r < 0)
                return r;
        TAKE_PTR(c);
        return 1;
}

int domain_method_block_copy(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        const char *disk, *dest, *format = NULL;
        bool reuse_external = false, shallow = false, pivot = false, finish = false, transient_job = false;
        uint64_t bandwidth = 0;
        uint32_t granularity = 0;
        const BusOption options[] = {
                { "format", "s", &format }, { "reuse_external", "b", &reuse_external }, { "shallow", "b", &shallow },
                { "pivot", "b", &pivot }, { "finish", "b", &finish }, { "bandwidth_mib", "t", &bandwidth },
                { "granularity", "u", &granularity }, { "transient_job", "b", &transient_job }, {},
        };
        _cleanup_(block_call_freep) BlockCall *c = NULL;
        int r;

        r = sd_bus_message_read(message, "ss", &disk, &dest);
        if (r < 0)
                return r;
        r = vm_domain_method_prologue(message, d, VM_ACTION_DOMAIN_MANAGE, options, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        c = block_call_new(d, message, VERB_COPY);
        r = block_call_prepare(c, disk, true, error);
        if (r < 0)
                return r;
        if (dest[0] == '<')
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED,
                                         "A destination given as disk XML is not supported: name a file");
        if (dest[0] != '/')
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Destination '%s' is not an absolute path",
                                         dest);
        if (pivot && finish)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Options pivot and finish exclude each other");
        if (format && *format && !STR_IN_SET(format, "raw", "qcow2"))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Format '%s' is not supported for a copy (raw, qcow2)", format);
        if (granularity != 0 && (granularity < 512 || granularity > 64u * 1024u * 1024u ||
                                 (granularity & (granularity - 1)) != 0))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Granularity %u is not a power of 2 between 512 bytes and 64 MiB", granularity);
        c->dest = g_strdup(dest);
        c->dest_format = g_strdup(format && *format ? format : streq(c->format, "qcow2") ? "qcow2" : "raw");
        if (shallow && !streq(c->dest_format, "qcow2"))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "A shallow copy must be qcow2");
        c->reuse_external = reuse_external;
        c->shallow = shallow;
        c->pivot = pivot;
        c->finish = finish;
        c->granularity = granularity;
        c->bandwidth = mib_to_bytes(bandwidth);
        r = open_chain(c, error);
        if (r < 0)
                return r;
        TAKE_PTR(c);
        return 1;
}

int domain_method_block_job_abort(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        const char *disk;
        bool pivot = false, async = false;
        const BusOption options[] = { { "pivot", "b", &pivot }, { "async", "b", &async }, {} };
        _cleanup_free_ char *err = NULL;
        BlockCall *c;
        size_t i;
        int r;

        r = sd_bus_message_read(message, "s", &disk);
        if (r < 0)
                return r;
        r = vm_domain_method_prologue(message, d, VM_ACTION_DOMAIN_MANAGE, options, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (!vm_domain_is_active(d) || !d->rt)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Domain '%s' is not running", d->name);
        r = find_disk(d, disk, &i, error);
        if (r < 0)
                return r;
        c = running_calls ? g_hash_table_lookup(running_calls, d->uuid) : NULL;
        if (!c || c->disk != i || !c->job)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "No block job runs on disk '%s' of domain '%s'",
                                         disk, d->name);
        if (c->abort_message)
                return sd_bus_error_setf(error, VM_ERROR_BUSY, "The block job of disk '%s' is being ended already",
                                         disk);
        r = d->drv->ops->block_job_abort(d->rt, (unsigned) i, pivot, &err);
        if (r == -EAGAIN)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Cannot pivot disk '%s' of domain '%s': %s",
                                         disk, d->name, strna(err));
        if (r < 0) {
                _cleanup_free_ char *what = g_strdup_printf("Failed to end the block job of disk '%s'", disk);
                return bus_error_from_errno(error, r == -ENOENT ? -ESRCH : r, err, what);
        }
        if (async)
                return sd_bus_reply_method_return(message, NULL);
        c->abort_message = sd_bus_message_ref(message);   /* answered when the job ended */
        return 1;
}

/* ---- BlockResize ---- */

static void resize_done(void *userdata, int r, const char *message) {
        VmOp *op = userdata;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        if (r < 0) {
                _cleanup_free_ char *what = g_strdup_printf("Failed to resize a disk of domain '%s'", op->domain->name);
                bus_error_from_errno(&error, r, message, what);
                (void) sd_bus_reply_method_error(op->message, &error);
        } else
                (void) sd_bus_reply_method_return(op->message, NULL);
        vm_op_free(op);
}

int domain_method_block_resize(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        const char *disk;
        uint64_t size;
        _cleanup_(block_call_freep) BlockCall *c = NULL;
        VmOp *op;
        int r;

        r = sd_bus_message_read(message, "st", &disk, &size);
        if (r < 0)
                return r;
        r = vm_domain_method_prologue(message, d, VM_ACTION_DOMAIN_MANAGE, NULL, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        c = block_call_new(d, message, VERB_COMMIT);
        r = block_call_prepare(c, disk, false, error);
        if (r < 0)
                return r;
        if (!d->drv->ops->block_resize)
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED, "The %s driver cannot resize disks",
                                         d->drv->ops->name);
        if (size == 0 || size > (uint64_t) INT64_MAX)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Size %" PRIu64 " is out of range", size);
        op = vm_op_new(d, message, "resize");
        r = d->drv->ops->block_resize(d->rt, (unsigned) c->disk, size, resize_done, op);
        if (r < 0) {
                _cleanup_free_ char *what = g_strdup_printf("Failed to resize disk '%s' of domain '%s'", c->target,
                                                            d->name);
                vm_op_free(op);
                return bus_error_from_errno(error, r, r == -EBUSY ? "a block job runs on the disk" : NULL, what);
        }
        return 1;
}

/* ---- block jobs a restarted vmgmtd found running ---- */

static void adopt_one(void *userdata, DriverJob *job, const DriverBlockJobInfo *info, DriverJobCallbacks *ret_cb) {
        VmDomain *d = userdata;
        const DomainDef *def = vm_domain_current_def(d);
        _cleanup_free_ char *old_job = NULL;
        BlockVerb verb = info->type == DRIVER_BLOCK_JOB_COMMIT ? VERB_COMMIT :
                         info->type == DRIVER_BLOCK_JOB_PULL ? VERB_PULL : VERB_COPY;
        BlockCall *c;

        if (running_calls && g_hash_table_lookup(running_calls, d->uuid)) {
                log_warning("Domain '%s': a second block job found after the restart; it runs unwatched", d->name);
                return;
        }
        c = block_call_new(d, NULL, verb);
        c->disk = info->disk;
        c->target = g_strdup(def && info->disk < def->n_disks && def->disks[info->disk].target_dev
                                     ? def->disks[info->disk].target_dev : "?");
        c->top = info->top;
        c->base = info->base;
        c->pivot = info->pivot;
        c->finish = info->finish;
        c->dest = g_strdup(info->dest_path);
        c->dest_format = g_strdup(info->dest_format);
        owner_data_parse(c, info->owner_data, &old_job);
        c->job = vm_domain_job_new(d, NULL, verb_job_types[verb], job_finished, c, block_call_free);
        *ret_cb = vm_domain_job_callbacks(c->job);
        if (!running_calls)
                running_calls = g_hash_table_new(g_str_hash, g_str_equal);
        g_hash_table_replace(running_calls, d->uuid, c);
        (void) vm_domain_job_started(c->job, job, NULL);
        log_info("Domain '%s': block %s of disk '%s' taken over after the restart (job %s, was %s)", d->name,
                 verb_names[verb], c->target, vm_domain_job_path(c->job), strna(old_job));
}

static void block_jobs_adopt(VmDomain *d) {
        int r;

        if (!d->rt || !d->drv->ops->block_jobs_adopt)
                return;
        r = d->drv->ops->block_jobs_adopt(d->rt, adopt_one, d);
        if (r < 0)
                log_warning("Domain '%s': cannot take over its block jobs: %s", d->name, strerror(-r));
}

void vm_domain_block_jobs_adopt_all(Manager *m) {
        g_autoptr(GPtrArray) domains = g_ptr_array_new();
        GHashTableIter it;
        gpointer value;

        g_hash_table_iter_init(&it, m->domains_by_name);
        while (g_hash_table_iter_next(&it, NULL, &value))
                g_ptr_array_add(domains, value);
        for (guint i = 0; i < domains->len; i++)
                block_jobs_adopt(domains->pdata[i]);
}
