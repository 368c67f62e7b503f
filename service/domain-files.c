/* domain-files.c — opening a start's files as the caller could (a child with the caller's uid and gids), and the policy hook. */
#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "bus-util.h"
#include "domain-files.h"
#include "log.h"
#include "macro.h"
#include "path-policy.h"

struct VmDomainFilesJob {
        Manager *manager;
        DriverFileSet *set;
        bool root;
        uid_t uid;
        gid_t gid;
        GArray *groups;            /* gid_t */
        sd_bus_slot *creds_slot;   /* GetConnectionCredentials in flight */
        OpenFilesJob *open;
        VmPathCheck *check;        /* the path policy asking polkit */
        sd_bus_message *caller;    /* referenced: the policy's subject, verb and interaction flag */
        const char *sender;        /* caller's, while it is referenced */
        char *domain;
        VmDomainFilesDoneFn done;
        void *userdata;
        /* vm_caller_files_open(): plain requests instead of set */
        OpenFileRequest *requests;
        size_t n_requests;
        OpenFiles *opened;
        VmCallerFilesDoneFn caller_done;
        int error;                 /* the failure reported once the created files are gone */
        char *error_message;
        unsigned unlinking;        /* created files still being removed before caller_done */
        bool orphaned;             /* cancelled meanwhile: freed, unreported, once they are removed */
};

static OpenFileCreds job_creds(const VmDomainFilesJob *j) {
        return (OpenFileCreds) {
                .root = j->root,
                .uid = j->uid,
                .gid = j->gid,
                .groups = j->groups ? (const gid_t *) j->groups->data : NULL,
                .n_groups = j->groups ? j->groups->len : 0,
        };
}

static bool is_created(const OpenedFile *o, const OpenFileRequest *requests, size_t n) {
        return o->fd >= 0 && !o->error && o->request < n && requests[o->request].mode == OPEN_FILE_CREATE;
}

static void unlinked_logged(void *userdata, int r, const char *message) {
        if (r < 0)
                log_warning("Removing a file left by a failed operation: %s", strna(message));
}

/* Removes the created files of opened in the background. */
static void discard_created(Manager *m, const OpenFileCreds *creds, const OpenFiles *opened,
                            const OpenFileRequest *requests, size_t n) {
        for (size_t i = 0; opened && i < opened->n_files; i++)
                if (is_created(&opened->files[i], requests, n) &&
                    open_file_finish_start(m->event, creds, &opened->files[i], OPEN_FILE_FINISH_UNLINK, 0,
                                           unlinked_logged, NULL, NULL) < 0)
                        log_warning("Cannot remove %s", strna(opened->files[i].resolved));
}

static void requests_free(OpenFileRequest *requests, size_t n) {
        for (size_t i = 0; requests && i < n; i++)
                g_free((char *) requests[i].path), g_free((char *) requests[i].format);
        g_free(requests);
}

static void job_free(VmDomainFilesJob *j) {
        OpenFileCreds creds = job_creds(j);

        sd_bus_slot_unref(j->creds_slot);
        open_files_job_cancel(j->open);
        /* a caller's files dropped before done: what was created goes */
        if (j->opened)
                discard_created(j->manager, &creds, j->opened, j->requests, j->n_requests);
        open_files_free(j->opened);
        requests_free(j->requests, j->n_requests);
        g_free(j->error_message);
        vm_path_check_cancel(j->check);
        sd_bus_message_unref(j->caller);
        g_free(j->domain);
        driver_file_set_free(j->set);
        if (j->groups)
                g_array_free(j->groups, TRUE);
        g_free(j);
}

VmDomainFilesJob *vm_domain_files_job_cancel(VmDomainFilesJob *j) {
        if (j && j->unlinking > 0)
                j->orphaned = true;   /* the removals under way still need it (caller_unlinked) */
        else if (j)
                job_free(j);
        return NULL;
}

static void caller_job_finish(VmDomainFilesJob *j, int r, const char *message);

static void job_finish(VmDomainFilesJob *j, int r, const char *message) {
        if (j->caller_done) {
                caller_job_finish(j, r, message);
                return;
        }
        VmDomainFilesDoneFn done = j->done;
        void *userdata = j->userdata;
        DriverFileSet *set = r < 0 ? NULL : TAKE_PTR(j->set);
        g_autofree char *msg = g_strdup(message);

        job_free(j);
        done(userdata, r, set, msg);
}

/* The policy's answer: ENOKEY stands for "polkit would ask a password the call
 * did not allow to ask for" (InteractiveAuthorizationRequired on the bus). */
static void job_finish_error(VmDomainFilesJob *j, int r, const sd_bus_error *error) {
        if (sd_bus_error_has_name(error, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED))
                r = -ENOKEY;
        else if (sd_bus_error_has_name(error, SD_BUS_ERROR_ACCESS_DENIED))
                r = -EACCES;
        job_finish(j, r < 0 ? r : -EACCES, error && error->message ? error->message : strerror(r < 0 ? -r : EACCES));
}

static void files_checked(void *userdata, int r, const sd_bus_error *error) {
        VmDomainFilesJob *j = userdata;

        j->check = NULL;   /* over */
        if (r < 0)
                job_finish_error(j, r, error);
        else
                job_finish(j, 0, NULL);
}

/* Every opened file, backing layers included, for the path policy (borrowed from
 * opened; a created file is judged as what it becomes: its name in its real
 * directory, kept in *targets). */
static GArray *policy_files(const OpenFiles *opened, const OpenFileRequest *requests, size_t n, GPtrArray *targets) {
        GArray *a = g_array_new(FALSE, FALSE, sizeof(VmPathFile));

        for (size_t i = 0; opened && i < opened->n_files; i++) {
                const OpenedFile *o = &opened->files[i];
                VmPathFile f = { .path = o->path, .resolved = o->resolved, .st = o->st };

                if (o->fd < 0)
                        continue;
                if (is_created(o, requests, n)) {
                        char *t = open_file_create_target(o);
                        if (t) {
                                g_ptr_array_add(targets, t);
                                f.resolved = t;
                        }
                }
                g_array_append_val(a, f);
        }
        return a;
}

static void files_opened(void *userdata, int r, OpenFiles *opened, const char *message) {
        VmDomainFilesJob *j = userdata;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *bad = NULL;
        g_autofree char *msg = NULL;

        j->open = NULL;   /* freed after this call */
        if (r < 0) {
                job_finish(j, r, message);
                return;
        }
        if (j->caller_done) {
                const OpenedFile *o = open_files_first_error(opened);
                j->opened = opened;
                if (o) {
                        msg = j->root ? g_strdup(o->message)
                                      : g_strdup_printf("%s (opened with the rights of uid %u)", strna(o->message),
                                                        (unsigned) j->uid);
                        job_finish(j, -o->error, msg);
                        return;
                }
        } else
                r = driver_file_set_take(j->set, opened, &bad);
        if (!j->caller_done && r < 0) {
                /* "cannot open /path: Permission denied", and whose rights those were */
                msg = j->root ? g_strdup(bad) : g_strdup_printf("%s (opened with the rights of uid %u)", strna(bad),
                                                                (unsigned) j->uid);
                job_finish(j, r, msg);
                return;
        }
        if (j->root || !j->caller || !vm_path_policy_applies(j->uid)) {
                job_finish(j, 0, NULL);
                return;
        }
        /* what the caller could open is judged further: devices, /proc, /sys,
         * /dev, and the storage pools polkit lets the caller use */
        g_autoptr(GPtrArray) targets = g_ptr_array_new_with_free_func(free);
        g_autoptr(GArray) files = j->caller_done ? policy_files(j->opened, j->requests, j->n_requests, targets)
                                                 : policy_files(j->set->opened, NULL, 0, targets);
        r = vm_path_check_start(j->manager, j->caller, j->uid, j->domain, (const VmPathFile *) files->data, files->len,
                                files_checked, j, &j->check, &error);
        if (r < 0)
                job_finish_error(j, r, &error);
        else if (r > 0)
                job_finish(j, 0, NULL);
        /* else polkit is asked: files_checked() follows */
}

static int job_open(VmDomainFilesJob *j) {
        OpenFileCreds creds = job_creds(j);

        if (j->caller_done)
                return open_files_start(j->manager->event, &creds, j->requests, j->n_requests, 0, files_opened, j,
                                        &j->open);
        return open_files_start(j->manager->event, &creds, j->set->requests, j->set->n_paths, 0, files_opened, j,
                                &j->open);
}

/* With the caller's uid, pid and groups known: its gid, then the
 * opener. Returns 0, or a negative errno with *ret_message (done not called). */
static int job_open_as(VmDomainFilesJob *j, uint32_t uid, uint32_t pid, const char **ret_message) {
        int r;

        j->uid = (uid_t) uid;
        if (uid == 0)
                j->root = true;
        else if (bus_creds_pick_gid(j->groups, (uid_t) uid, (pid_t) pid, &j->gid) < 0) {
                *ret_message = "cannot learn the caller's group: the bus told none";
                return -EACCES;
        }
        r = job_open(j);
        if (r < 0)
                *ret_message = "cannot start the file opener";
        return r;
}

static int on_creds(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        VmDomainFilesJob *j = userdata;
        const char *message = NULL;
        uint32_t uid, pid;
        bool have_groups;
        int r;

        j->creds_slot = sd_bus_slot_unref(j->creds_slot);
        if (sd_bus_message_is_method_error(reply, NULL)) {
                job_finish(j, -EACCES, "cannot learn the caller's credentials");
                return 0;
        }
        r = bus_connection_credentials_read(reply, &uid, &pid, j->groups, &have_groups);
        if (r < 0 || uid == UINT32_MAX || !have_groups) {
                job_finish(j, -EACCES, "cannot learn the caller's uid and groups from the bus");
                return 0;
        }
        bus_creds_cache_put(j->manager->creds, j->sender, (uid_t) uid, (pid_t) pid, j->groups);
        r = job_open_as(j, uid, pid, &message);
        if (r < 0)
                job_finish(j, r, message);
        return 0;
}

static int job_begin(VmDomainFilesJob *j, Manager *m, sd_bus_message *caller, const char *domain,
                     VmDomainFilesJob **ret);

int vm_domain_files_open(Manager *m, sd_bus_message *caller, const char *domain, DriverFileSet *set,
                         VmDomainFilesDoneFn done, void *userdata, VmDomainFilesJob **ret) {
        VmDomainFilesJob *j = g_new0(VmDomainFilesJob, 1);

        j->set = set;
        j->done = done;
        j->userdata = userdata;
        return job_begin(j, m, caller, domain, ret);
}

/* Takes j (freed on failure). */
static int job_begin(VmDomainFilesJob *j, Manager *m, sd_bus_message *caller, const char *domain,
                     VmDomainFilesJob **ret) {
        const char *sender = caller ? sd_bus_message_get_sender(caller) : NULL;
        uid_t uid;
        pid_t pid;
        int r;

        j->manager = m;
        j->caller = sd_bus_message_ref(caller);
        j->domain = g_strdup(domain);
        j->groups = g_array_new(FALSE, FALSE, sizeof(gid_t));
        j->sender = sender;
        j->root = !sender || (bus_creds_cache_lookup(m->creds, sender, &uid, NULL) > 0 && uid == 0);
        if (j->root)
                r = job_open(j);
        else if (bus_creds_cache_lookup_groups(m->creds, sender, &uid, &pid, j->groups) > 0) {
                /* the authorization asked the bus already: its answer holds the groups */
                const char *message = NULL;
                r = job_open_as(j, (uint32_t) uid, (uint32_t) pid, &message);
                if (r < 0)
                        log_debug("Opening the files of '%s': %s", strna(domain), strna(message));
        } else
                r = sd_bus_call_method_async(m->bus, &j->creds_slot, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                             "org.freedesktop.DBus", "GetConnectionCredentials", on_creds, j, "s",
                                             sender);
        if (r < 0) {
                job_free(j);
                return r;
        }
        *ret = j;
        return 0;
}

/* ---- a caller's files for one operation ---- */

VmCallerFiles *vm_caller_files_free(VmCallerFiles *f) {
        if (!f)
                return NULL;
        open_files_free(f->files);
        g_free(f->groups);
        g_free(f->created);
        g_free(f);
        return NULL;
}

static void caller_report(VmDomainFilesJob *j) {
        VmCallerFilesDoneFn done = j->caller_done;
        void *userdata = j->userdata;
        int r = j->error;
        g_autofree char *msg = TAKE_PTR(j->error_message);
        VmCallerFiles *f = NULL;

        if (r >= 0) {
                f = g_new0(VmCallerFiles, 1);
                f->files = TAKE_PTR(j->opened);
                f->creds = job_creds(j);
                if (f->creds.n_groups)
                        f->groups = g_memdup2(f->creds.groups, f->creds.n_groups * sizeof(gid_t));
                f->creds.groups = f->groups;
                f->created = g_new0(bool, f->files->n_files + 1);
                for (size_t i = 0; i < f->files->n_files; i++)
                        f->created[i] = is_created(&f->files->files[i], j->requests, j->n_requests);
        }
        job_free(j);
        done(userdata, r, f, msg);
}

static void caller_unlinked(void *userdata, int r, const char *message) {
        VmDomainFilesJob *j = userdata;

        if (r < 0)
                log_warning("Removing a file of a failed operation: %s", strna(message));
        if (--j->unlinking > 0)
                return;
        if (j->orphaned)
                job_free(j);
        else
                caller_report(j);
}

/* Success: reported now. Failure: the created files are removed first (as the caller). */
static void caller_job_finish(VmDomainFilesJob *j, int r, const char *message) {
        OpenFileCreds creds = job_creds(j);

        j->error = r < 0 ? r : 0;
        g_free(j->error_message);
        j->error_message = g_strdup(message);
        if (r >= 0) {
                caller_report(j);
                return;
        }
        for (size_t i = 0; j->opened && i < j->opened->n_files; i++)
                if (is_created(&j->opened->files[i], j->requests, j->n_requests) &&
                    open_file_finish_start(j->manager->event, &creds, &j->opened->files[i], OPEN_FILE_FINISH_UNLINK, 0,
                                           caller_unlinked, j, NULL) >= 0) {
                        /* this one is being removed: not again by job_free() */
                        close(j->opened->files[i].fd);
                        j->opened->files[i].fd = -1;
                        j->unlinking++;
                }
        if (j->unlinking == 0)
                caller_report(j);
}

int vm_caller_files_open(Manager *m, sd_bus_message *caller, const char *domain, const OpenFileRequest *requests,
                         size_t n_requests, VmCallerFilesDoneFn done, void *userdata, VmDomainFilesJob **ret) {
        VmDomainFilesJob *j;

        if (n_requests == 0 || !done)
                return -EINVAL;
        j = g_new0(VmDomainFilesJob, 1);
        j->requests = g_new0(OpenFileRequest, n_requests);
        j->n_requests = n_requests;
        for (size_t i = 0; i < n_requests; i++) {
                j->requests[i] = requests[i];
                j->requests[i].path = g_strdup(requests[i].path);
                j->requests[i].format = g_strdup(requests[i].format);
        }
        j->caller_done = done;
        j->userdata = userdata;
        return job_begin(j, m, caller, domain, ret);
}

int vm_caller_file_finish(Manager *m, VmCallerFiles *f, size_t i, OpenFileFinish action,
                          OpenFileFinishDoneFn done, void *userdata, OpenFilesJob **ret) {
        size_t n = 0;
        const OpenedFile *o = f ? open_files_for_request(f->files, i, &n) : NULL;
        int r;

        if (!o || n != 1 || !f->created[o - f->files->files])
                return -EINVAL;
        r = open_file_finish_start(m->event, &f->creds, o, action, 0, done ?: unlinked_logged, userdata, ret);
        if (r >= 0)
                f->created[o - f->files->files] = false;   /* its finishing is under way */
        return r;
}

VmCallerFiles *vm_caller_files_discard(Manager *m, VmCallerFiles *f) {
        if (!f)
                return NULL;
        for (size_t i = 0; f->files && i < f->files->n_files; i++) {
                const OpenedFile *o = &f->files->files[i];
                if (f->created[i] &&
                    open_file_finish_start(m->event, &f->creds, o, OPEN_FILE_FINISH_UNLINK, 0, unlinked_logged, NULL,
                                           NULL) < 0)
                        log_warning("Cannot remove %s", o->resolved);
        }
        return vm_caller_files_free(f);
}
