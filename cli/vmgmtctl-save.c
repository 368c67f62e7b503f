/* vmgmtctl-save.c — save, restore, managedsave, managedsave-remove, dump, domjobinfo, domjobabort (virsh's names). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmgmtctl-job.h"
#include "vmgmtctl.h"

/* FILE as given, made absolute against the working directory (vmgmtd has its own). */
static char *absolute(const char *file) {
        char cwd[4096];
        char *p = NULL;

        if (file[0] == '/')
                return strdup(file);
        if (!getcwd(cwd, sizeof(cwd)))
                return NULL;
        if (asprintf(&p, "%s/%s", cwd, file) < 0)
                return NULL;
        return p;
}

/* One option of an a{sv}: a boolean when true, a string when not NULL. */
static int append_bool(sd_bus_message *m, const char *key, bool v) {
        return v ? sd_bus_message_append(m, "{sv}", key, "b", 1) : 0;
}

static int append_string(sd_bus_message *m, const char *key, const char *v) {
        return v ? sd_bus_message_append(m, "{sv}", key, "s", v) : 0;
}

/* virsh's --verbose labels */
static const char *progress_label(const char *what) {
        return streq(what, "save") ? "Save" : streq(what, "managedsave") ? "Managedsave"
               : streq(what, "dump")                                     ? "Dump"
                                                                         : "Restore";
}

/* Sends m (its options dict still open), reads the job path and follows it (--verbose: virsh's progress). */
static int call_and_follow(Context *c, VerbArgs *a, sd_bus_message *m, const char *what, const char *name,
                           const char *file) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *job;
        int r;

        r = sd_bus_message_close_container(m);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        r = ctl_call(c, m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "o", &job);
        if (r < 0)
                return ctl_error(r, "Failed to parse reply: %s", strerror(-r));
        r = ctl_follow_job_as(c, job, progress_label(what), verb_flag(a, "verbose"));
        if (r < 0)
                return r;
        if (c->json != JSON_FORMAT_OFF) {
                JsonWriter w;
                json_writer_init(&w, stdout, c->json);
                json_begin_object(&w);
                json_member_string(&w, "job", job);
                json_member_string(&w, "operation", what);
                if (name)
                        json_member_string(&w, "domain", name);
                if (file)
                        json_member_string(&w, "file", file);
                json_end_object(&w);
                return 0;
        }
        if (streq(what, "save"))
                ctl_info("Domain '%s' saved to %s", name, file);
        else if (streq(what, "managedsave"))
                ctl_info("Domain '%s' state saved by vmgmtd", name);
        else if (streq(what, "dump"))
                ctl_info("Domain '%s' dumped to %s", name, file);
        else
                ctl_info("Domain restored from %s", file);
        return 0;
}

static int save_like(Context *c, VerbArgs *a, const char *member) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *path = NULL, *name = NULL, *file = NULL;
        bool with_file = !streq(member, "ManagedSave");
        int r;

        if (verb_flag(a, "running") && verb_flag(a, "paused"))
                return ctl_error(-EINVAL, "--running and --paused exclude each other");
        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        if (with_file) {
                file = absolute(a->args[1]);
                if (!file)
                        return ctl_error(-ENOMEM, "Out of memory");
        }
        r = ctl_new_call(c, path, VMGMT_DOMAIN_IFACE, member, &m);
        if (r >= 0 && with_file)
                r = sd_bus_message_append(m, "s", file);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0)
                r = append_bool(m, "bypass_cache", verb_flag(a, "bypass-cache"));
        if (r >= 0)
                r = append_bool(m, "running", verb_flag(a, "running"));
        if (r >= 0)
                r = append_bool(m, "paused", verb_flag(a, "paused"));
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        return call_and_follow(c, a, m, with_file ? "save" : "managedsave", name, file);
}

int verb_save(Context *c, VerbArgs *a) {
        return save_like(c, a, "Save");
}

int verb_managedsave(Context *c, VerbArgs *a) {
        return save_like(c, a, "ManagedSave");
}

int verb_managedsave_remove(Context *c, VerbArgs *a) {
        _cleanup_free_ char *path = NULL, *name = NULL;
        int r;

        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        r = ctl_domain_call(c, path, "ManagedSaveRemove", NULL);
        if (r < 0)
                return r;
        if (c->json == JSON_FORMAT_OFF)
                ctl_info("Managed save image of domain '%s' removed", name);
        return 0;
}

int verb_restore(Context *c, VerbArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *file = NULL, *xml = NULL;
        int r;

        if (verb_flag(a, "running") && verb_flag(a, "paused"))
                return ctl_error(-EINVAL, "--running and --paused exclude each other");
        file = absolute(a->args[0]);
        if (!file)
                return ctl_error(-ENOMEM, "Out of memory");
        if (verb_value(a, "xml")) {
                r = ctl_read_file(verb_value(a, "xml"), &xml);
                if (r < 0)
                        return r;
        }
        r = ctl_new_call(c, VMGMT_MANAGER_PATH, VMGMT_MANAGER_IFACE, "RestoreDomain", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", file);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0)
                r = append_bool(m, "paused", verb_flag(a, "paused"));
        if (r >= 0)
                r = append_bool(m, "running", verb_flag(a, "running"));
        if (r >= 0)
                r = append_bool(m, "bypass_cache", verb_flag(a, "bypass-cache"));
        if (r >= 0)
                r = append_string(m, "xml", xml);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        return call_and_follow(c, a, m, "restore", NULL, file);
}

int verb_dump(Context *c, VerbArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *path = NULL, *name = NULL, *file = NULL;
        int r;

        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        file = absolute(a->args[1]);
        if (!file)
                return ctl_error(-ENOMEM, "Out of memory");
        r = ctl_new_call(c, path, VMGMT_DOMAIN_IFACE, "CoreDump", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", file);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0)
                r = append_bool(m, "memory_only", verb_flag(a, "memory-only") || verb_value(a, "format"));
        if (r >= 0)
                r = append_string(m, "format", verb_value(a, "format"));
        if (r >= 0)
                r = append_bool(m, "live", verb_flag(a, "live"));
        if (r >= 0)
                r = append_bool(m, "crash", verb_flag(a, "crash"));
        if (r >= 0)
                r = append_bool(m, "reset", verb_flag(a, "reset"));
        if (r >= 0)
                r = append_bool(m, "bypass_cache", verb_flag(a, "bypass-cache"));
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        return call_and_follow(c, a, m, "dump", name, file);
}

/* ---- the domain's running job ---- */

int verb_domjobinfo(Context *c, VerbArgs *a) {
        _cleanup_free_ char *path = NULL, *name = NULL;
        CtlJobInfo j = {};
        int r;

        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        r = ctl_find_domain_job(c, path, &j);
        if (r < 0)
                return r;
        if (c->json != JSON_FORMAT_OFF) {
                JsonWriter w;
                json_writer_init(&w, stdout, c->json);
                json_begin_object(&w);
                json_member_string(&w, "domain", name);
                if (r > 0) {
                        json_member_string(&w, "job", j.path);
                        json_member_string(&w, "type", j.type);
                        json_member_string(&w, "state", j.state);
                        json_member_unsigned(&w, "progress_percent", (uint64_t) (j.progress * 100.0 + 0.5));
                        json_member_unsigned(&w, "processed_bytes", j.processed);
                        json_member_unsigned(&w, "total_bytes", j.total);
                } else {
                        json_key(&w, "job");
                        json_null(&w);
                }
                json_end_object(&w);
        } else if (r == 0)
                printf("%-16s %s\n", "Job type:", "None");
        else {
                printf("%-16s %s\n", "Job type:", "Unbounded");
                printf("%-16s %s\n", "Operation:", strna(j.type));
                printf("%-16s %s\n", "Job:", j.path);
                printf("%-16s %.1f %%\n", "Progress:", j.progress * 100.0);
                printf("%-16s %.3f MiB\n", "Data processed:", (double) j.processed / (1024.0 * 1024.0));
                printf("%-16s %.3f MiB\n", "Data total:", (double) j.total / (1024.0 * 1024.0));
                printf("%-16s %.3f MiB\n", "Data remaining:",
                       (double) (j.total > j.processed ? j.total - j.processed : 0) / (1024.0 * 1024.0));
        }
        ctl_job_info_clear(&j);
        return 0;
}

int verb_domjobabort(Context *c, VerbArgs *a) {
        _cleanup_free_ char *path = NULL, *name = NULL;
        CtlJobInfo j = {};
        int r;

        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        r = ctl_find_domain_job(c, path, &j);
        if (r < 0)
                return r;
        if (r == 0)
                return ctl_error(-ENOENT, "Domain '%s' has no job running", name);
        r = ctl_object_call(c, j.path, VMGMT_JOB_IFACE, "Cancel", NULL);
        ctl_job_info_clear(&j);
        return r;
}
