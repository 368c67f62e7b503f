/* domain-save.c — Domain.Save, ManagedSave, ManagedSaveRemove, CoreDump, Start from a managed save image,
 * and Manager.RestoreDomain: files named by a caller are created or opened as that caller (domain-files.h)
 * and judged by the path policy; a result file appears under its name only when the job succeeded. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "bus-util.h"
#include "domain-files.h"
#include "domain.h"
#include "log.h"
#include "object-kind.h"
#include "path-policy.h"

/* ---- the managed save image ---- */

char *vm_domain_managed_save_path(const VmDomain *d) {
        return g_strdup_printf("%s/save/%s.save", d->manager->paths.state_dir, d->uuid);
}

bool vm_domain_has_managed_save(const VmDomain *d) {
        return d->has_managed_save;
}

void vm_domain_managed_save_refresh(VmDomain *d) {
        g_autofree char *p = NULL;

        if (d->manager->managed_saves_at_load) {
                d->has_managed_save = g_hash_table_contains(d->manager->managed_saves_at_load, d->uuid);
                return;
        }
        p = vm_domain_managed_save_path(d);
        d->has_managed_save = access(p, F_OK) == 0;
}

static void emit_has_managed_save(VmDomain *d) {
        vm_domain_managed_save_refresh(d);
        if (!d->hidden && d->manager->ready)
                (void) sd_bus_emit_properties_changed(d->manager->bus, d->path, VM_DOMAIN_INTERFACE, "HasManagedSave",
                                                      NULL);
}

int vm_domain_managed_save_remove(VmDomain *d) {
        g_autofree char *p = vm_domain_managed_save_path(d);

        if (unlink(p) < 0) {
                if (errno != ENOENT)
                        return -errno;
                d->has_managed_save = false;   /* someone else removed it */
                return 0;
        }
        emit_has_managed_save(d);
        return 0;
}

/* Start-up, before the domains are added: which have an image (one listing,
 * not a lookup per domain), into m->managed_saves_at_load. A managed save's
 * temporary (".UUID.save.XXXXXX.part", open-files.h) is vmgmtd's own: one
 * still there is what a vmgmtd that died during the save left (the image it
 * would have become never appeared), and is removed. */
void vm_managed_save_scan(Manager *m) {
        g_autofree char *dir = g_strdup_printf("%s/save", m->paths.state_dir);
        _cleanup_close_ int dfd = -1;
        struct dirent *de;
        DIR *dp;

        m->managed_saves_at_load = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dfd < 0) {
                if (errno != ENOENT)
                        log_warning("Cannot open %s: %m", dir);
                return;
        }
        dp = fdopendir(fcntl(dfd, F_DUPFD_CLOEXEC, 3));
        if (!dp) {
                log_warning("Cannot read %s: %m", dir);
                return;
        }
        while ((de = readdir(dp))) {
                size_t len = strlen(de->d_name);
                struct stat st;

                if (len == 36 + strlen(".save") && g_str_has_suffix(de->d_name, ".save") &&
                    fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) >= 0 && S_ISREG(st.st_mode)) {
                        g_hash_table_add(m->managed_saves_at_load, g_strndup(de->d_name, 36));
                        continue;
                }
                if (de->d_name[0] != '.' || !g_str_has_suffix(de->d_name, ".part") ||
                    fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                        continue;
                if (unlinkat(dfd, de->d_name, 0) < 0)
                        log_warning("Cannot remove the unfinished managed save image %s/%s: %m", dir, de->d_name);
                else
                        log_info("Removed the unfinished managed save image %s/%s", dir, de->d_name);
        }
        closedir(dp);
}

/* ---- Save, ManagedSave, CoreDump ---- */

typedef enum SaveKind {
        SAVE_FILE,
        SAVE_MANAGED,
        SAVE_DUMP,
} SaveKind;

typedef struct SaveCall {
        Manager *manager;
        VmDomain *domain;               /* a reference */
        sd_bus_message *message;        /* referenced */
        SaveKind kind;
        DriverSaveFlags flags;
        DriverDumpOptions dump;
        char *format;
        bool bypass_cache;              /* the file is opened O_DIRECT */
        VmDomainFilesJob *open;
        VmCallerFiles *files;
        VmDomainJob *dj;
        DriverJobCallbacks job_cb;      /* the Job's own */
        int result;
        char *result_message;
} SaveCall;

static void save_call_free(SaveCall *c) {
        vm_domain_files_job_cancel(c->open);
        if (c->files)
                vm_caller_files_discard(c->manager, c->files);
        sd_bus_message_unref(c->message);
        vm_domain_unref(c->domain);
        g_free(c->format);
        g_free(c->result_message);
        g_free(c);
}

static const char *save_verb(const SaveCall *c) {
        return c->kind == SAVE_DUMP ? "dump" : "save";
}

static void save_reply_error(SaveCall *c, int r, const char *message) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autofree char *what = g_strdup_printf("Failed to %s domain '%s'", save_verb(c), c->domain->name);

        bus_error_from_errno(&error, r, message, what);
        (void) sd_bus_reply_method_error(c->message, &error);
}

/* The driver refused at once: the created file goes first, then the answer. */
static void refused_unlinked(void *userdata, int r, const char *message) {
        SaveCall *c = userdata;

        if (r < 0)
                log_warning("%s", strna(message));
        save_reply_error(c, c->result, c->result_message);
        save_call_free(c);
}

static void save_refused(SaveCall *c, int r, const char *message) {
        c->result = r;
        c->result_message = g_strdup(message);
        if (c->files && vm_caller_file_finish(c->manager, c->files, 0, OPEN_FILE_FINISH_UNLINK, refused_unlinked, c,
                                              NULL) >= 0)
                return;
        refused_unlinked(c, 0, NULL);
}

static void save_progress(void *userdata, uint64_t processed, uint64_t total) {
        SaveCall *c = userdata;

        if (c->job_cb.progress)
                c->job_cb.progress(c->job_cb.userdata, processed, total);
}

/* The file is where it belongs (or gone): the Job ends. */
static void save_file_finished(void *userdata, int r, const char *message) {
        SaveCall *c = userdata;
        int result = c->result;
        g_autofree char *msg = g_strdup(c->result_message);

        if (result >= 0 && r < 0) {
                /* the domain is off, its state is in the temporary: say where */
                result = r;
                g_free(msg);
                msg = g_strdup_printf("%s (the image stays at %s)", strna(message),
                                      strna(c->files->files->files[0].resolved));
        } else if (r < 0)
                log_warning("%s", strna(message));
        if (result >= 0 && c->kind == SAVE_MANAGED)
                emit_has_managed_save(c->domain);
        c->job_cb.done(c->job_cb.userdata, result, msg);
        save_call_free(c);
}

static void save_driver_done(void *userdata, int r, const char *message) {
        SaveCall *c = userdata;

        c->result = r;
        c->result_message = g_strdup(message);
        if (vm_caller_file_finish(c->manager, c->files, 0, r >= 0 ? OPEN_FILE_FINISH_RENAME : OPEN_FILE_FINISH_UNLINK,
                                  save_file_finished, c, NULL) < 0)
                save_file_finished(c, r >= 0 ? -EIO : 0, "cannot finish the file");
}

static int save_check(VmDomain *d, sd_bus_error *error) {
        if (!vm_domain_is_active(d) || !d->rt)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Domain '%s' is not running", d->name);
        if (d->state != DOMAIN_STATE_RUNNING && d->state != DOMAIN_STATE_PAUSED)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Domain '%s' is %s, not running or paused",
                                         d->name, domain_state_to_string(d->state));
        if (vm_domain_running_job(d))
                return sd_bus_error_setf(error, VM_ERROR_BUSY, "Domain '%s' has a job running", d->name);
        return 0;
}

static void save_files_opened(void *userdata, int r, VmCallerFiles *files, const char *message) {
        SaveCall *c = userdata;
        VmDomain *d = c->domain;
        const DomainDriverOps *ops = d->drv->ops;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        DriverJobCallbacks cb = { .progress = save_progress, .done = save_driver_done, .userdata = c };
        DriverJob *job = NULL;
        g_autofree char *xml = NULL;

        c->open = NULL;
        c->files = files;
        if (r < 0) {
                save_reply_error(c, r, message);
                save_call_free(c);
                return;
        }
        /* the domain may have changed while the file was made */
        if (save_check(d, &error) < 0) {
                c->result = -ENOTCONN;
                c->result_message = g_strdup(error.message);
                if (vm_caller_file_finish(c->manager, c->files, 0, OPEN_FILE_FINISH_UNLINK, NULL, NULL, NULL) >= 0) {
                        /* finished in the background; this answer needs no file */
                }
                (void) sd_bus_reply_method_error(c->message, &error);
                save_call_free(c);
                return;
        }
        c->dj = vm_domain_job_new(d, c->message, c->kind == SAVE_DUMP ? "dump" : "save", NULL, NULL, NULL);
        c->job_cb = vm_domain_job_callbacks(c->dj);
        if (c->kind == SAVE_DUMP)
                r = ops->core_dump(d->rt, files->files->files[0].fd, &c->dump, &cb, &job);
        else {
                xml = domain_def_format(d->def, DOMAIN_FORMAT_INACTIVE | DOMAIN_FORMAT_SECURE);
                r = xml ? ops->save(d->rt, files->files->files[0].fd, c->flags, xml, &cb, &job) : -ENOMEM;
        }
        if (r < 0) {
                vm_domain_job_discard(c->dj);
                c->dj = NULL;
                save_refused(c, r,
                             r == -EOPNOTSUPP && c->bypass_cache
                                     ? "the file's filesystem does not support O_DIRECT (bypass_cache)"
                             : r == -EBUSY   ? "another operation holds the domain"
                             : r == -ENOTCONN ? "the domain is not running or paused"
                                              : NULL);
                return;
        }
        (void) vm_domain_job_started(c->dj, job, c->message);
}

static int save_begin(sd_bus_message *message, VmDomain *d, SaveCall *c, const char *path, sd_bus_error *error) {
        OpenFileRequest req = { .path = path, .mode = OPEN_FILE_CREATE,
                                .flags = c->bypass_cache ? OPEN_FILE_DIRECT : 0 };
        int r;

        c->manager = d->manager;
        c->domain = vm_domain_ref(d);
        c->message = sd_bus_message_ref(message);
        /* a managed image is vmgmtd's own: made as root in its state dir */
        r = vm_caller_files_open(d->manager, c->kind == SAVE_MANAGED ? NULL : message, d->name, &req, 1,
                                 save_files_opened, c, &c->open);
        if (r < 0) {
                save_call_free(c);
                return bus_error_from_errno(error, r, "cannot start the file opener", "Failed to save domain");
        }
        return 1;
}

static int check_path(const char *path, sd_bus_error *error) {
        if (isempty(path) || path[0] != '/')
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "'%s' is not an absolute path",
                                         strempty(path));
        if (g_str_has_suffix(path, "/"))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "'%s' names a directory, not a file", path);
        return 0;
}

static int save_method(sd_bus_message *message, VmDomain *d, SaveKind kind, const char *path, sd_bus_error *error) {
        bool bypass = false, running = false, paused = false;
        const BusOption options[] = {
                { "bypass_cache", "b", &bypass },
                { "running", "b", &running },
                { "paused", "b", &paused },
                {}
        };
        SaveCall *c;
        int r;

        r = vm_domain_method_prologue(message, d, VM_ACTION_DOMAIN_MANAGE, options, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (running && paused)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "Options running and paused exclude each other");
        if (!d->drv->ops->save)
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED, "The %s driver cannot save domains",
                                         d->drv->ops->name);
        if (kind == SAVE_FILE && check_path(path, error) < 0)
                return -EINVAL;
        r = save_check(d, error);
        if (r < 0)
                return r;
        c = g_new0(SaveCall, 1);
        c->kind = kind;
        c->bypass_cache = bypass;
        c->flags = (running ? DRIVER_SAVE_RUNNING : 0) | (paused ? DRIVER_SAVE_PAUSED : 0) |
                   (bypass ? DRIVER_SAVE_BYPASS_CACHE : 0);
        return save_begin(message, d, c, path, error);
}

int vm_domain_method_save(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        const char *path;
        int r;

        r = sd_bus_message_read(message, "s", &path);
        if (r < 0)
                return r;
        return save_method(message, userdata, SAVE_FILE, path, error);
}

int vm_domain_method_managed_save(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        g_autofree char *path = vm_domain_managed_save_path(d), *dir = g_path_get_dirname(path);

        if (!d->persistent && vm_domain_is_active(d)) {
                /* checked after the authorization in save_method as well; a transient domain has no next Start */
                int r = vm_domain_method_prologue(message, d, VM_ACTION_DOMAIN_MANAGE, NULL, error);
                if (r <= 0)
                        return r < 0 ? r : 1;
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE,
                                         "Domain '%s' is transient: a managed save image would have no next start",
                                         d->name);
        }
        if (g_mkdir_with_parents(dir, 0700) < 0)
                return sd_bus_error_setf(error, VM_ERROR_OPERATION_FAILED, "Cannot create %s: %s", dir,
                                         strerror(errno));
        return save_method(message, d, SAVE_MANAGED, path, error);
}

int vm_domain_method_managed_save_remove(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        int r;

        r = vm_domain_method_prologue(message, d, VM_ACTION_DOMAIN_MANAGE, NULL, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (d->starting)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Domain '%s' is starting", d->name);
        r = vm_domain_managed_save_remove(d);
        if (r < 0)
                return sd_bus_error_setf(error, VM_ERROR_OPERATION_FAILED,
                                         "Failed to remove the managed save image of domain '%s': %s", d->name,
                                         strerror(-r));
        return sd_bus_reply_method_return(message, NULL);
}

static const char *const dump_formats[] = { "elf", "kdump-zlib", "kdump-lzo", "kdump-snappy", NULL };

int vm_domain_method_core_dump(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        bool memory_only = false, live = false, crash = false, reset = false, bypass = false;
        const char *path, *format = NULL;
        const BusOption options[] = {
                { "memory_only", "b", &memory_only },
                { "format", "s", &format },
                { "live", "b", &live },
                { "crash", "b", &crash },
                { "reset", "b", &reset },
                { "bypass_cache", "b", &bypass },
                {}
        };
        SaveCall *c;
        int r;

        r = sd_bus_message_read(message, "s", &path);
        if (r < 0)
                return r;
        r = vm_domain_method_prologue(message, d, VM_ACTION_DOMAIN_MANAGE, options, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (format && !memory_only)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                                        "Option format is for memory_only dumps (the full dump is the hypervisor's migration stream)");
        if (format && !g_strv_contains(dump_formats, format))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Unknown dump format '%s' (elf, kdump-zlib, kdump-lzo, kdump-snappy)", format);
        if (crash && reset)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "Options crash and reset exclude each other");
        if (!d->drv->ops->core_dump)
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED, "The %s driver cannot dump domains",
                                         d->drv->ops->name);
        if (check_path(path, error) < 0)
                return -EINVAL;
        r = save_check(d, error);
        if (r < 0)
                return r;
        c = g_new0(SaveCall, 1);
        c->kind = SAVE_DUMP;
        c->bypass_cache = bypass;   /* the driver streams into an O_DIRECT file through a copier */
        c->format = g_strdup(format);
        c->dump = (DriverDumpOptions) { .memory_only = memory_only, .format = c->format, .live = live,
                                        .crash = crash, .reset = reset };
        return save_begin(message, d, c, path, error);
}

/* ---- restoring: the image's header, a start with the driver's restore ---- */

/* The driver whose image fd is: 1 with it, the XML and its running flag; 0 none; < 0 damaged. */
static int read_image(Manager *m, int fd, VmDriver **ret_drv, char **ret_xml, bool *ret_running, char **ret_error) {
        for (size_t i = 0; i < m->n_drivers; i++) {
                VmDriver *drv = &m->drivers[i];
                int r;

                if (!drv->driver || !drv->ops->read_save_image || !drv->ops->restore)
                        continue;
                r = drv->ops->read_save_image(fd, ret_xml, ret_running, ret_error);
                if (r != 0) {
                        *ret_drv = drv;
                        return r;
                }
        }
        return 0;
}

typedef struct RestoreCall {
        Manager *manager;
        sd_bus_message *message;        /* referenced; NULL for a managed image's Start */
        VmDomain *domain;               /* a reference */
        bool created;                   /* a transient domain made for it, hidden until it runs */
        int image_fd;                   /* borrowed from files, or owned (managed) */
        VmCallerFiles *files;
        VmDomainFilesJob *open;
        char *xml_override;
        bool paused, running;
        VmDomainJob *dj;
        DriverJobCallbacks job_cb;
        DriverJob *driver_job;
        bool launched;
        /* a managed image's Start */
        char *managed_path;
        bool snapshot_image;            /* managed_path is an external memory snapshot's file, kept */
        DriverDoneFn start_done;
        void *start_userdata;
        /* waiting for polkit (m->restores_waiting): the image read, the call dispatched again */
        VmDriver *image_drv;
        char *image_xml;
        bool image_running;
        sd_event_source *expire;
} RestoreCall;

static void restore_call_free(RestoreCall *c) {
        sd_event_source_disable_unref(c->expire);
        g_free(c->image_xml);
        vm_domain_files_job_cancel(c->open);
        vm_caller_files_free(c->files);
        if (c->managed_path && c->image_fd >= 0)
                close(c->image_fd);
        sd_bus_message_unref(c->message);
        vm_domain_unref(c->domain);
        g_free(c->xml_override);
        g_free(c->managed_path);
        g_free(c);
}

static void restore_progress(void *userdata, uint64_t processed, uint64_t total) {
        RestoreCall *c = userdata;

        if (c->job_cb.progress)
                c->job_cb.progress(c->job_cb.userdata, processed, total);
}

static int restore_launch(void *launch_data, VmDriver *drv, VmDomain *d, const DomainDef *def, int id,
                          DriverStartFlags flags, const DriverFiles *files, struct VmLeases *leases,
                          DriverRuntime **ret_rt, DriverDoneFn done, void *userdata) {
        RestoreCall *c = launch_data;
        DriverJobCallbacks cb = { .progress = restore_progress, .done = done, .userdata = userdata };
        int r;

        r = drv->ops->restore(drv->driver, d, def, id, flags, files, c->image_fd, &cb, ret_rt, &c->driver_job);
        if (r < 0)
                return r;
        c->launched = true;
        if (c->dj)
                (void) vm_domain_job_started(c->dj, c->driver_job, c->message);
        return 0;
}

/* The start did not happen: the domain as a failed start leaves it. */
static void restore_start_failed(VmDomain *d) {
        VmDomainProps before;
        bool was_active = d->state != DOMAIN_STATE_SHUTOFF;

        d->rt = NULL;
        vm_domain_props_get(d, &before);
        d->start_time = 0;
        if (was_active) {
                d->state = DOMAIN_STATE_SHUTOFF;
                g_free(d->reason);
                d->reason = g_strdup("failed");
        }
        vm_domain_props_emit_changes(d, &before);
        if (was_active)
                vm_domain_emit_event(d, "stopped", "failed");
}

static void restore_done(void *userdata, int r, const char *message) {
        RestoreCall *c = userdata;
        VmDomain *d = c->domain;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        if (r < 0 && d->rt)
                restore_start_failed(d);
        if (c->created) {
                if (r >= 0 && d->rt)
                        vm_domain_unhide(d);
                else
                        vm_domain_remove(d);
        }
        if (c->launched && c->dj)
                c->job_cb.done(c->job_cb.userdata, r, message);
        else if (c->dj) {
                g_autofree char *what = g_strdup_printf("Failed to restore domain '%s'", d->name);
                vm_domain_job_discard(c->dj);
                vm_domain_clear_cause(d);
                bus_error_from_errno(&error, r, message, what);
                (void) sd_bus_reply_method_error(c->message, &error);
        }
        restore_call_free(c);
}

/* What libvirt's --xml may change: nothing the guest's state depends on. */
static int check_compatible(const DomainDef *image, const DomainDef *repl, sd_bus_error *error) {
        const char *what = NULL;

        if (memcmp(image->uuid, repl->uuid, sizeof(image->uuid)) != 0)
                what = "UUID";
        else if (!streq_ptr(image->name, repl->name))
                what = "name";
        else if (image->memory_kib != repl->memory_kib)
                what = "memory size";
        else if (image->vcpus != repl->vcpus)
                what = "number of vCPUs";
        else if (image->n_disks != repl->n_disks)
                what = "number of disks";
        else if (image->n_nets != repl->n_nets)
                what = "number of interfaces";
        else if (image->n_serials != repl->n_serials || image->n_consoles != repl->n_consoles ||
                 image->n_channels != repl->n_channels)
                what = "character devices";
        else if (image->n_graphics != repl->n_graphics)
                what = "graphics devices";
        else if (image->virt_type != repl->virt_type || !streq_ptr(image->os_arch, repl->os_arch) ||
                 !streq_ptr(image->os_machine, repl->os_machine))
                what = "machine";
        if (what)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "The replacement definition is not compatible with the saved one: its %s differs",
                                         what);
        for (size_t i = 0; i < image->n_disks; i++)
                if (!streq_ptr(image->disks[i].target_dev, repl->disks[i].target_dev) ||
                    image->disks[i].device != repl->disks[i].device)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "The replacement definition is not compatible with the saved one: "
                                                 "disk %zu differs (target or device)", i);
        return 0;
}

static void def_freep(DomainDef **p) {
        domain_def_free(*p);
}

static int parse_def(const char *xml, DomainDef **ret, sd_bus_error *error) {
        ConfError err = {};
        int r = domain_def_parse(xml, strlen(xml), ret, &err);

        if (r < 0) {
                sd_bus_error_setf(error, VM_ERROR_INVALID_XML, "%s", err.message ?: "invalid definition");
                conf_error_clear(&err);
                return -EINVAL;
        }
        return 0;
}

static int normalize(Manager *m, VmDriver *drv, DomainDef *def, sd_bus_error *error) {
        ConfError err = {};

        if (drv->ops->normalize(drv->driver, def, &err) < 0) {
                sd_bus_error_setf(error, VM_ERROR_INVALID_XML, "%s", err.message ?: "invalid definition");
                conf_error_clear(&err);
                return -EINVAL;
        }
        return 0;
}

/* The image is open and read: which domain, authorized, then the start. Returns as a handler. */
static int restore_continue(RestoreCall *c, VmDriver *drv, const char *image_xml, bool image_running,
                            sd_bus_error *error) {
        Manager *m = c->manager;
        _cleanup_(def_freep) DomainDef *def = NULL;
        DomainDef *image_def = NULL, *parsed = NULL;
        _cleanup_free_ char *msg = NULL;
        char uuid[37];
        VmDomain *d;
        int r;

        /* what the caller may do is decided on the definition that will run */
        r = vm_object_kind_parse_authorized(&vm_domain_kind, m, c->message, c->xml_override ?: image_xml, NULL,
                                            (void **) &parsed, error);
        if (r <= 0)
                return r;   /* 0: polkit is asked; the call is dispatched again and starts over */
        def = parsed;
        if (c->xml_override) {
                r = parse_def(image_xml, &image_def, error);
                if (r >= 0)
                        r = check_compatible(image_def, def, error);
                domain_def_free(image_def);
                if (r < 0)
                        return r;
        }
        if (!def->has_uuid)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "The saved definition has no UUID");
        r = normalize(m, drv, def, error);
        if (r < 0)
                return r;
        r = vm_emulator_policy_check_normalized(m, c->message, def, error);
        if (r < 0)
                return r;
        conf_uuid_format(def->uuid, uuid);
        d = vm_domain_find_by_uuid(m, uuid);
        if (d && !streq(d->name, def->name))
                return sd_bus_error_setf(error, VM_ERROR_ALREADY_EXISTS, "Domain '%s' already has UUID %s", d->name,
                                         uuid);
        if (!d && vm_domain_find_by_name(m, def->name))
                return sd_bus_error_setf(error, VM_ERROR_ALREADY_EXISTS, "Domain '%s' already exists with another UUID",
                                         def->name);
        if (d && (d->hidden || vm_domain_is_busy(d)))
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Domain '%s' is already running", d->name);
        if (!d) {
                DomainDef *copy = domain_def_copy(def);
                if (!copy)
                        return -ENOMEM;
                r = vm_domain_new(m, copy, false, &d);
                if (r < 0)
                        return bus_error_from_errno(error, r, NULL, "Failed to restore the domain");
                d->hidden = true;
                c->created = true;
        }
        c->domain = vm_domain_ref(d);
        c->dj = vm_domain_job_new(d, c->message, "restore", NULL, NULL, NULL);
        c->job_cb = vm_domain_job_callbacks(c->dj);
        bool paused = c->paused || (!c->running && !image_running);
        r = vm_domain_start_with(d, c->message, paused ? DRIVER_START_PAUSED : 0, def, restore_launch, c, restore_done,
                                 c, &msg);
        if (r < 0) {
                g_autofree char *what = g_strdup_printf("Failed to restore domain '%s'", d->name);
                vm_domain_job_discard(c->dj);
                c->dj = NULL;
                if (c->created)
                        vm_domain_remove(d);
                c->created = false;
                return bus_error_from_errno(error, r, msg, what);
        }
        return 2;   /* the call is the start's now */
}

/* ---- a restore waiting for polkit's answer on its image's domain ---- */

#define RESTORE_WAIT_MAX_USEC (10 * 60 * 1000000ULL)   /* longer than any polkit timeout: its caller went away */

static int restore_wait_expired(sd_event_source *s, uint64_t usec, void *userdata) {
        RestoreCall *c = userdata;

        g_hash_table_remove(c->manager->restores_waiting, c->message);
        restore_call_free(c);
        return 0;
}

static void restore_wait(RestoreCall *c) {
        Manager *m = c->manager;

        if (!m->restores_waiting)
                m->restores_waiting = g_hash_table_new(g_direct_hash, g_direct_equal);
        (void) sd_event_add_time_relative(m->event, &c->expire, CLOCK_MONOTONIC, RESTORE_WAIT_MAX_USEC, 0,
                                          restore_wait_expired, c);
        g_hash_table_insert(m->restores_waiting, c->message, c);
}

void vm_restores_waiting_free(Manager *m) {
        GHashTableIter it;
        gpointer value;

        if (!m->restores_waiting)
                return;
        g_hash_table_iter_init(&it, m->restores_waiting);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                g_hash_table_iter_steal(&it);
                restore_call_free(value);
        }
        g_hash_table_destroy(m->restores_waiting);
        m->restores_waiting = NULL;
}

static void restore_files_opened(void *userdata, int r, VmCallerFiles *files, const char *message) {
        RestoreCall *c = userdata;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        g_autofree char *xml = NULL, *err = NULL;
        VmDriver *drv = NULL;
        bool running = true;
        const char *path = NULL;

        c->open = NULL;
        c->files = files;
        if (r < 0) {
                bus_error_from_errno(&error, r, message, "Failed to restore the domain");
                goto fail;
        }
        c->image_fd = files->files->files[0].fd;
        path = files->files->files[0].path;
        if (!S_ISREG(files->files->files[0].st.st_mode)) {
                sd_bus_error_setf(&error, SD_BUS_ERROR_INVALID_ARGS, "'%s' is not a regular file", path);
                goto fail;
        }
        r = read_image(c->manager, c->image_fd, &drv, &xml, &running, &err);
        if (r == 0) {
                sd_bus_error_setf(&error, SD_BUS_ERROR_INVALID_ARGS, "'%s' is not a save image", path);
                goto fail;
        }
        if (r < 0) {
                sd_bus_error_setf(&error, SD_BUS_ERROR_INVALID_ARGS, "'%s': %s", path, strna(err));
                goto fail;
        }
        r = restore_continue(c, drv, xml, running, &error);
        if (r == 2)
                return;   /* restore_done follows */
        if (r < 0)
                goto fail;
        if (r == 0) {
                /* polkit is asked about the image's domain; the call comes again
                 * when it answered, and goes on from here (the answer is kept
                 * only for the dispatch it comes with: no second opening) */
                c->image_drv = drv;
                c->image_xml = TAKE_PTR(xml);
                c->image_running = running;
                restore_wait(c);
                return;
        }
        restore_call_free(c);
        return;
fail:
        (void) sd_bus_reply_method_error(c->message, &error);
        restore_call_free(c);
}

int vm_manager_method_restore_domain(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        bool paused = false, running = false, bypass = false;
        const char *path, *xml = NULL;
        const BusOption options[] = {
                { "paused", "b", &paused },
                { "running", "b", &running },
                { "xml", "s", &xml },
                { "bypass_cache", "b", &bypass },
                {}
        };
        OpenFileRequest req = { .mode = OPEN_FILE_READ };
        RestoreCall *c = m->restores_waiting ? g_hash_table_lookup(m->restores_waiting, message) : NULL;
        int r;

        if (c) {
                /* dispatched again with polkit's answer: on from where it waited */
                g_hash_table_remove(m->restores_waiting, message);
                c->expire = sd_event_source_disable_unref(c->expire);
                r = restore_continue(c, c->image_drv, c->image_xml, c->image_running, error);
                if (r == 2)
                        return 1;   /* restore_done answers */
                restore_call_free(c);
                return r < 0 ? r : 1;
        }
        r = sd_bus_message_read(message, "s", &path);
        if (r < 0)
                return r;
        r = bus_options_parse(message, options, error);
        if (r < 0)
                return r;
        if (check_path(path, error) < 0)
                return -EINVAL;
        if (paused && running)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "Options running and paused exclude each other");
        c = g_new0(RestoreCall, 1);
        c->manager = m;
        c->message = sd_bus_message_ref(message);
        c->image_fd = -1;
        c->paused = paused;
        c->running = running;
        c->xml_override = g_strdup(xml);
        req.path = path;
        req.flags = bypass ? OPEN_FILE_DIRECT : 0;
        /* read-only as the caller, judged by the path policy; who may restore is decided on the image's domain */
        r = vm_caller_files_open(m, message, NULL, &req, 1, restore_files_opened, c, &c->open);
        if (r < 0) {
                restore_call_free(c);
                return bus_error_from_errno(error, r, "cannot start the file opener", "Failed to restore the domain");
        }
        return 1;
}

/* ---- Start with a managed save image ---- */

static void managed_start_done(void *userdata, int r, const char *message) {
        RestoreCall *c = userdata;

        if (c->snapshot_image) {
                c->start_done(c->start_userdata, r, message);
                restore_call_free(c);
                return;
        }
        if (r >= 0 && unlink(c->managed_path) >= 0)
                emit_has_managed_save(c->domain);
        /* a failed restore keeps the image (libvirt too): the next Start tries again, ManagedSaveRemove discards it */
        c->start_done(c->start_userdata, r, message);
        restore_call_free(c);
}

static int start_from_image(VmDomain *d, sd_bus_message *message, int image_fd, const char *image,
                            const DomainDef *disks_from, DriverStartFlags flags, bool bypass_cache, DriverDoneFn done,
                            void *userdata, char **ret_error);

int vm_domain_start_managed(VmDomain *d, sd_bus_message *message, bool paused, bool bypass_cache, DriverDoneFn done,
                            void *userdata, char **ret_error) {
        return start_from_image(d, message, -1, NULL, NULL, paused ? DRIVER_START_PAUSED : 0, bypass_cache, done,
                                userdata, ret_error);
}

int vm_domain_start_from_snapshot_image(VmDomain *d, sd_bus_message *message, int image_fd, const char *image,
                                        const DomainDef *disks_from, DriverStartFlags flags, DriverDoneFn done,
                                        void *userdata, char **ret_error) {
        if (image_fd < 0 || !image)
                return -EINVAL;
        return start_from_image(d, message, image_fd, image, disks_from, flags, false, done, userdata, ret_error);
}

static int start_from_image(VmDomain *d, sd_bus_message *message, int image_fd, const char *image,
                            const DomainDef *disks_from, DriverStartFlags flags, bool bypass_cache, DriverDoneFn done,
                            void *userdata, char **ret_error) {
        g_autofree char *xml = NULL, *err = NULL;
        _cleanup_(def_freep) DomainDef *def = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        VmDriver *drv = NULL;
        bool running = true;
        RestoreCall *c;
        DomainDef *parsed = NULL;
        int r;

        c = g_new0(RestoreCall, 1);
        c->manager = d->manager;
        c->managed_path = image ? g_strdup(image) : vm_domain_managed_save_path(d);
        c->snapshot_image = image;
        /* a snapshot's memory file was opened as the caller (a copy of the fd is ours); a managed image is vmgmtd's */
        c->image_fd = image ? fcntl(image_fd, F_DUPFD_CLOEXEC, 3)
                            : open(c->managed_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | (bypass_cache ? O_DIRECT : 0));
        if (c->image_fd < 0 && image) {
                r = -errno;
                *ret_error = g_strdup_printf("cannot use the memory file %s: %s", image, strerror(-r));
                restore_call_free(c);
                return r;
        }
        if (c->image_fd < 0) {
                r = -errno;
                *ret_error = g_strdup_printf("cannot open the managed save image %s%s: %s", c->managed_path,
                                             bypass_cache ? " with O_DIRECT (bypass_cache)" : "",
                                             bypass_cache && r == -EINVAL ? "its filesystem does not support O_DIRECT"
                                                                          : strerror(-r));
                if (bypass_cache && r == -EINVAL)
                        r = -EOPNOTSUPP;
                restore_call_free(c);
                return r;
        }
        r = read_image(d->manager, c->image_fd, &drv, &xml, &running, &err);
        if (r <= 0) {
                *ret_error = g_strdup_printf("%s %s: %s", image ? "the memory file" : "the managed save image",
                                             c->managed_path, r == 0 ? "is no save image" : strna(err));
                restore_call_free(c);
                return -EINVAL;
        }
        r = parse_def(xml, &parsed, &error);
        def = parsed;
        if (r >= 0)
                r = normalize(d->manager, drv, def, &error);
        if (r >= 0 && memcmp(def->uuid, d->def->uuid, sizeof(def->uuid)) != 0) {
                sd_bus_error_set(&error, SD_BUS_ERROR_INVALID_ARGS, "it belongs to another domain (UUID)");
                r = -EINVAL;
        }
        if (r < 0) {
                *ret_error = g_strdup_printf("%s %s: %s", image ? "the memory file" : "the managed save image",
                                             c->managed_path, strna(error.message));
                restore_call_free(c);
                return r;
        }
        /* a snapshot's memory: its disks are the revert's new overlays */
        for (size_t i = 0; disks_from && i < def->n_disks; i++)
                for (size_t k = 0; k < disks_from->n_disks; k++)
                        if (streq_ptr(def->disks[i].target_dev, disks_from->disks[k].target_dev)) {
                                free(def->disks[i].source);
                                def->disks[i].source = g_strdup(disks_from->disks[k].source);
                                free(def->disks[i].driver_type);
                                def->disks[i].driver_type = g_strdup(disks_from->disks[k].driver_type);
                        }
        c->domain = vm_domain_ref(d);
        c->start_done = done;
        c->start_userdata = userdata;
        /* managed saves restore running unless the Start asks for paused (libvirt) */
        r = vm_domain_start_with(d, message, flags, def, restore_launch, c,
                                 managed_start_done, c, ret_error);
        if (r < 0)
                restore_call_free(c);
        return r;
}

/* ---- vmgmtd's SIGTERM with [daemon] on_host_shutdown=save ---- */

typedef struct SaveAll {
        Manager *manager;
        unsigned pending;
        bool reported;
        sd_event_source *timer;
        void (*done)(Manager *m);
} SaveAll;

typedef struct SaveOne {
        SaveAll *all;
        VmDomain *domain;
        VmCallerFiles *files;
} SaveOne;

/* Everything saved (or the time is up): done once; the SaveAll stays while saves are still out. */
static void save_all_report(SaveAll *all) {
        if (all->reported)
                return;
        all->reported = true;
        all->timer = sd_event_source_disable_unref(all->timer);
        all->done(all->manager);
}

static int save_all_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        SaveAll *all = userdata;

        log_warning("%u managed saves did not finish in time; exiting anyway (the domains keep running)",
                    all->pending);
        save_all_report(all);
        return 0;
}

static void save_one_finished(void *userdata, int r, const char *message) {
        SaveOne *o = userdata;
        SaveAll *all = o->all;

        if (r < 0)
                log_warning("Managed save of domain '%s' failed: %s", o->domain->name, strna(message));
        else
                log_info("Domain '%s' saved to its managed save image", o->domain->name);
        vm_caller_files_free(o->files);
        vm_domain_unref(o->domain);
        g_free(o);
        if (--all->pending == 0) {
                save_all_report(all);
                g_free(all);
        }
}

static void save_one_driver_done(void *userdata, int r, const char *message) {
        SaveOne *o = userdata;

        if (r < 0 || !o->files) {
                /* the image goes, the domain runs on */
                if (o->files && vm_caller_file_finish(o->domain->manager, o->files, 0, OPEN_FILE_FINISH_UNLINK, NULL,
                                                      NULL, NULL) < 0)
                        log_warning("Cannot remove the unfinished image of domain '%s'", o->domain->name);
                save_one_finished(o, r < 0 ? r : -EIO, message);
                return;
        }
        if (vm_caller_file_finish(o->domain->manager, o->files, 0, OPEN_FILE_FINISH_RENAME, save_one_finished, o,
                                  NULL) < 0)
                save_one_finished(o, -EIO, "cannot rename the image into place");
}

static void save_one_opened(void *userdata, int r, VmCallerFiles *files, const char *message) {
        SaveOne *o = userdata;
        VmDomain *d = o->domain;
        DriverJobCallbacks cb = { .done = save_one_driver_done, .userdata = o };
        g_autofree char *xml = NULL;
        DriverJob *job;

        o->files = files;
        if (r >= 0 && d->rt && (d->state == DOMAIN_STATE_RUNNING || d->state == DOMAIN_STATE_PAUSED)) {
                xml = domain_def_format(d->def, DOMAIN_FORMAT_INACTIVE | DOMAIN_FORMAT_SECURE);
                r = xml ? d->drv->ops->save(d->rt, files->files->files[0].fd, 0, xml, &cb, &job) : -ENOMEM;
                if (r >= 0)
                        return;
        } else if (r >= 0)
                r = -ESRCH;
        save_one_driver_done(o, r, message ?: strerror(-r));
}

unsigned vm_domains_save_all(Manager *m, uint64_t timeout_usec, void (*done)(Manager *m)) {
        SaveAll *all = g_new0(SaveAll, 1);
        GHashTableIter it;
        gpointer value;

        all->manager = m;
        all->done = done;
        all->pending = 1;   /* this function's own, dropped below */
        g_hash_table_iter_init(&it, m->domains_by_name);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                VmDomain *d = value;
                g_autofree char *path = NULL, *dir = NULL;
                OpenFileRequest req = { .mode = OPEN_FILE_CREATE };
                VmDomainFilesJob *job;
                SaveOne *o;

                /* a transient domain would have nothing to start from again */
                if (!d->persistent || !d->rt || !d->drv->ops->save || vm_domain_running_job(d) ||
                    (d->state != DOMAIN_STATE_RUNNING && d->state != DOMAIN_STATE_PAUSED))
                        continue;
                path = vm_domain_managed_save_path(d);
                dir = g_path_get_dirname(path);
                if (g_mkdir_with_parents(dir, 0700) < 0) {
                        log_warning("Cannot create %s: %m", dir);
                        continue;
                }
                req.path = path;
                o = g_new0(SaveOne, 1);
                o->all = all;
                o->domain = vm_domain_ref(d);
                /* vmgmtd's own file: as root */
                if (vm_caller_files_open(m, NULL, d->name, &req, 1, save_one_opened, o, &job) < 0) {
                        vm_domain_unref(o->domain);
                        g_free(o);
                        continue;
                }
                all->pending++;
                log_info("Saving domain '%s' (on_host_shutdown=save)", d->name);
        }
        unsigned n = all->pending - 1;
        if (n > 0 && sd_event_add_time_relative(m->event, &all->timer, CLOCK_MONOTONIC, timeout_usec, 0,
                                                save_all_timeout, all) < 0)
                log_warning("No deadline for the managed saves");
        if (--all->pending == 0) {
                /* nothing to save: the caller goes on itself */
                g_free(all);
                return 0;
        }
        return n;
}
