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
};

static void job_free(VmDomainFilesJob *j) {
        sd_bus_slot_unref(j->creds_slot);
        open_files_job_cancel(j->open);
        vm_path_check_cancel(j->check);
        sd_bus_message_unref(j->caller);
        g_free(j->domain);
        driver_file_set_free(j->set);
        if (j->groups)
                g_array_free(j->groups, TRUE);
        g_free(j);
}

VmDomainFilesJob *vm_domain_files_job_cancel(VmDomainFilesJob *j) {
        if (j)
                job_free(j);
        return NULL;
}

static void job_finish(VmDomainFilesJob *j, int r, const char *message) {
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

/* Every opened file, backing layers included, for the path policy (borrowed from the set). */
static GArray *policy_files(const DriverFileSet *set) {
        GArray *a = g_array_new(FALSE, FALSE, sizeof(VmPathFile));

        for (size_t i = 0; set->opened && i < set->opened->n_files; i++) {
                const OpenedFile *o = &set->opened->files[i];
                VmPathFile f = { .path = o->path, .resolved = o->resolved, .st = o->st };

                if (o->fd >= 0)
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
        r = driver_file_set_take(j->set, opened, &bad);
        if (r < 0) {
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
        g_autoptr(GArray) files = policy_files(j->set);
        r = vm_path_check_start(j->manager, j->caller, j->uid, j->domain, (const VmPathFile *) files->data, files->len,
                                files_checked, j, &j->check, &error);
        if (r < 0)
                job_finish_error(j, r, &error);
        else if (r > 0)
                job_finish(j, 0, NULL);
        /* else polkit is asked: files_checked() follows */
}

static int job_open(VmDomainFilesJob *j) {
        OpenFileCreds creds = {
                .root = j->root,
                .uid = j->uid,
                .gid = j->gid,
                .groups = j->groups ? (const gid_t *) j->groups->data : NULL,
                .n_groups = j->groups ? j->groups->len : 0,
        };

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

int vm_domain_files_open(Manager *m, sd_bus_message *caller, const char *domain, DriverFileSet *set,
                         VmDomainFilesDoneFn done, void *userdata, VmDomainFilesJob **ret) {
        VmDomainFilesJob *j = g_new0(VmDomainFilesJob, 1);
        const char *sender = caller ? sd_bus_message_get_sender(caller) : NULL;
        uid_t uid;
        pid_t pid;
        int r;

        j->manager = m;
        j->caller = sd_bus_message_ref(caller);
        j->domain = g_strdup(domain);
        j->set = set;
        j->done = done;
        j->userdata = userdata;
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
