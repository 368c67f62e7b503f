/* vmgmtctl-clone.c — clone: virt-clone's command line on Domain.Clone (a job with a progress bar). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmgmtctl-format.h"
#include "vmgmtctl-job.h"
#include "vmgmtctl-json.h"
#include "vmgmtctl.h"

/* PATH as given, made absolute against the working directory (vmgmtd has its own). */
static char *absolute_path(const char *file) {
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

static int append_flag(sd_bus_message *m, const char *key, bool v) {
        return v ? sd_bus_message_append(m, "{sv}", key, "b", 1) : 0;
}

int verb_clone(Context *c, VerbArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_free_ char *path = NULL, *orig = NULL, *auto_name = NULL;
        const char *original = verb_value(a, "original"), *new_name = verb_value(a, "name"), *job;
        const char *mac = verb_value(a, "mac"), *pool = verb_value(a, "pool");
        uint64_t bandwidth_mib = 0;
        bool auto_clone = verb_flag(a, "auto-clone");
        size_t n_files = 0;
        int r;

        if (!original)
                return ctl_error(-EINVAL, "--original DOMAIN is required");
        while (verb_value_n(a, "file", n_files))
                n_files++;
        if (verb_flag(a, "preserve-data") && n_files == 0)
                return ctl_error(-EINVAL, "--preserve-data needs a --file for each disk: the files the clone uses");
        if (verb_flag(a, "preserve-data") && verb_flag(a, "linked"))
                return ctl_error(-EINVAL, "--preserve-data and --linked exclude each other");
        if (verb_flag(a, "live") && verb_flag(a, "linked"))
                return ctl_error(-EINVAL, "--live and --linked exclude each other: a linked clone's backing files "
                                 "would keep changing");
        r = verb_bandwidth(a, &bandwidth_mib);
        if (r < 0)
                return r;
        r = domain_resolve(c, original, &path, &orig);
        if (r < 0)
                return r;
        if (!new_name) {
                if (!auto_clone)
                        return ctl_error(-EINVAL, "--name NEW_NAME is required (or --auto-clone: %s-clone)", orig);
                if (asprintf(&auto_name, "%s-clone", orig) < 0)
                        return ctl_error(-ENOMEM, "Out of memory");
                new_name = auto_name;
        }

        r = ctl_new_call(c, path, VMGMT_DOMAIN_IFACE, "Clone", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", new_name);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && n_files > 0) {
                r = sd_bus_message_open_container(m, 'e', "sv");
                if (r >= 0)
                        r = sd_bus_message_append(m, "s", "files");
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'v', "as");
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'a', "s");
                for (size_t i = 0; r >= 0 && i < n_files; i++) {
                        _cleanup_free_ char *f = absolute_path(verb_value_n(a, "file", i));

                        r = f ? sd_bus_message_append(m, "s", f) : -ENOMEM;
                }
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
        }
        if (r >= 0 && mac)
                r = sd_bus_message_append(m, "{sv}", "mac", "s", mac);
        if (r >= 0 && pool)
                r = sd_bus_message_append(m, "{sv}", "pool", "s", pool);
        if (r >= 0)
                r = append_flag(m, "linked", verb_flag(a, "linked"));
        if (r >= 0)
                r = append_flag(m, "preserve_data", verb_flag(a, "preserve-data"));
        if (r >= 0)
                r = append_flag(m, "start", verb_flag(a, "start"));
        if (r >= 0)
                r = append_flag(m, "live", verb_flag(a, "live"));
        if (r >= 0 && bandwidth_mib > 0)
                r = sd_bus_message_append(m, "{sv}", "bandwidth_mib", "t", bandwidth_mib);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        r = ctl_call(c, m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "o", &job);
        if (r < 0)
                return ctl_error(r, "Failed to parse reply: %s", strerror(-r));
        r = ctl_follow_job_as(c, job, "Clone", verb_flag(a, "verbose"));
        if (r < 0)
                return r;
        if (c->json != JSON_FORMAT_OFF) {
                JsonWriter w;
                json_writer_init(&w, stdout, c->json);
                json_begin_object(&w);
                json_member_string(&w, "job", job);
                json_member_string(&w, "operation", "clone");
                json_member_string(&w, "domain", orig);
                json_member_string(&w, "clone", new_name);
                json_end_object(&w);
                return 0;
        }
        ctl_info("Clone '%s' created successfully.", new_name);
        return 0;
}
