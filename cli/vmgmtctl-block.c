/* vmgmtctl-block.c — virsh's block job verbs: blockcommit, blockpull, blockcopy, blockjob and blockresize. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmgmtctl-job.h"
#include "vmgmtctl.h"

/* Appends one a{sv} entry. */
static int append_b(sd_bus_message *m, const char *key, bool v) {
        return sd_bus_message_append(m, "{sv}", key, "b", (int) v);
}

static int append_s(sd_bus_message *m, const char *key, const char *v) {
        return sd_bus_message_append(m, "{sv}", key, "s", v);
}

static int append_t(sd_bus_message *m, const char *key, uint64_t v) {
        return sd_bus_message_append(m, "{sv}", key, "t", v);
}

int verb_bandwidth(const VerbArgs *a, uint64_t *ret) {
        const char *v = verb_value(a, "bandwidth");
        char *end = NULL;
        unsigned long long n;

        *ret = 0;
        if (!v)
                return 0;
        errno = 0;
        n = strtoull(v, &end, 10);
        if (errno != 0 || !end || end == v || *end || v[0] == '-')
                return ctl_error(-EINVAL, "Invalid bandwidth '%s': a number of MiB/s", v);
        *ret = n;
        return 0;
}

static void print_job(Context *c, const char *domain, const char *disk, const char *job, const char *state) {
        JsonWriter w;

        if (c->json == JSON_FORMAT_OFF)
                return;
        json_writer_init(&w, stdout, c->json);
        json_begin_object(&w);
        json_member_string(&w, "domain", domain);
        json_member_string(&w, "disk", disk);
        json_member_string(&w, "job", job);
        json_member_string(&w, "state", state);
        json_end_object(&w);
}

/* virsh's --verbose label of a block verb */
static const char *block_label(const VerbArgs *a) {
        return streq(a->verb, "blockcommit") ? "Block commit" : streq(a->verb, "blockpull") ? "Block Pull" : "Block Copy";
}

/* Waits until the job at path is ready (every byte done, still running) or ended: virsh's
 * "Now in mirroring phase". Returns 1 ready, 0 completed, else its error printed. */
static int wait_ready(Context *c, const VerbArgs *a, const char *path) {
        bool verbose = verb_flag(a, "verbose");

        for (;;) {
                _cleanup_free_ char *state = NULL;
                uint64_t done = 0, total = 0;
                int r;

                r = storage_get_string(c, path, VMGMT_JOB_IFACE, "State", &state);
                if (r < 0)
                        return r;
                if (!streq(state, "running"))
                        return ctl_follow_job_as(c, path, block_label(a), verbose);   /* over: its result */
                (void) storage_get_trivial(c, path, VMGMT_JOB_IFACE, "ProcessedBytes", 't', &done);
                (void) storage_get_trivial(c, path, VMGMT_JOB_IFACE, "TotalBytes", 't', &total);
                if (verbose && total > 0)
                        ctl_job_progress_line(block_label(a), (double) done / (double) total);
                if (total > 0 && done == total) {
                        if (verbose)
                                fputc('\n', stderr);
                        return 1;
                }
                (void) usleep(200 * 1000);
        }
}

/* Sends m (a block method returning a Job) and follows the job as the flags ask. */
static int run_job(Context *c, VerbArgs *a, sd_bus_message *m, const char *name, const char *disk, bool ends_ready,
                   const char *done_line) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *job;
        bool wait = verb_flag(a, "wait") || verb_flag(a, "pivot") || verb_flag(a, "finish") ||
                    verb_flag(a, "verbose");
        int r;

        r = ctl_call(c, m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "o", &job);
        if (r < 0)
                return ctl_error(r, "Failed to parse reply: %s", strerror(-r));
        if (!wait) {
                if (c->json != JSON_FORMAT_OFF)
                        print_job(c, name, disk, job, "running");
                else
                        ctl_info("Block %s started", a->verb + strlen("block"));
                return 0;
        }
        if (ends_ready && !verb_flag(a, "pivot") && !verb_flag(a, "finish")) {
                r = wait_ready(c, a, job);
                if (r < 0)
                        return r;
                if (c->json != JSON_FORMAT_OFF)
                        print_job(c, name, disk, job, r > 0 ? "ready" : "completed");
                else
                        printf(r > 0 ? "Now in mirroring phase\n" : "%s\n", done_line);
                return 0;
        }
        r = ctl_follow_job_as(c, job, block_label(a), verb_flag(a, "verbose"));
        if (r < 0)
                return r;
        if (c->json != JSON_FORMAT_OFF)
                print_job(c, name, disk, job, "completed");
        else
                ctl_info("%s", done_line);
        return 0;
}

static int block_call(Context *c, VerbArgs *a, const char *member, char **ret_name, sd_bus_message **ret) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = domain_resolve(c, a->args[0], &path, ret_name);
        if (r < 0)
                return r;
        return ctl_new_call(c, path, VMGMT_DOMAIN_IFACE, member, ret);
}

int verb_blockcommit(Context *c, VerbArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *name = NULL;
        uint64_t bw;
        int r;

        r = verb_bandwidth(a, &bw);
        if (r < 0)
                return r;
        r = block_call(c, a, "BlockCommit", &name, &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", a->args[1]);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && verb_value(a, "base"))
                r = append_s(m, "base", verb_value(a, "base"));
        if (r >= 0 && verb_value(a, "top"))
                r = append_s(m, "top", verb_value(a, "top"));
        if (r >= 0 && (verb_flag(a, "active") || verb_flag(a, "keep-overlay")))
                r = append_b(m, "active", true);
        if (r >= 0 && verb_flag(a, "pivot"))
                r = append_b(m, "pivot", true);
        if (r >= 0 && verb_flag(a, "keep-relative"))
                r = append_b(m, "keep_relative", true);
        if (r >= 0 && verb_flag(a, "delete"))
                r = append_b(m, "delete", true);
        if (r >= 0 && bw > 0)
                r = append_t(m, "bandwidth_mib", bw);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        if (verb_flag(a, "keep-overlay")) {
                /* virsh: an active commit that ends once ready, the disk staying on its overlay */
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL, *ab = NULL;
                _cleanup_free_ char *path = NULL;
                const char *job;

                if (verb_flag(a, "pivot"))
                        return ctl_error(-EINVAL, "--keep-overlay and --pivot exclude each other");
                r = ctl_call(c, m, &reply);
                if (r >= 0)
                        r = sd_bus_message_read(reply, "o", &job);
                if (r < 0)
                        return r;
                r = wait_ready(c, a, job);
                if (r <= 0)
                        return r;
                r = domain_resolve(c, a->args[0], &path, NULL);
                if (r >= 0)
                        r = ctl_new_call(c, path, VMGMT_DOMAIN_IFACE, "BlockJobAbort", &ab);
                if (r >= 0 && (r = sd_bus_message_append(ab, "sa{sv}", a->args[1], 0)) < 0)
                        return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
                if (r >= 0)
                        r = ctl_call(c, ab, NULL);
                if (r < 0)
                        return r;
                if (c->json != JSON_FORMAT_OFF)
                        print_job(c, name, a->args[1], job, "completed");
                else
                        ctl_info("Commit complete, overlay kept");
                return 0;
        }
        return run_job(c, a, m, name, a->args[1], verb_flag(a, "active"),
                       verb_flag(a, "pivot") ? "Successfully pivoted" : "Commit complete");
}

int verb_blockpull(Context *c, VerbArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *name = NULL;
        uint64_t bw;
        int r;

        r = verb_bandwidth(a, &bw);
        if (r < 0)
                return r;
        r = block_call(c, a, "BlockPull", &name, &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", a->args[1]);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && verb_value(a, "base"))
                r = append_s(m, "base", verb_value(a, "base"));
        if (r >= 0 && verb_flag(a, "keep-relative"))
                r = append_b(m, "keep_relative", true);
        if (r >= 0 && bw > 0)
                r = append_t(m, "bandwidth_mib", bw);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        return run_job(c, a, m, name, a->args[1], false, "Pull complete");
}

int verb_blockcopy(Context *c, VerbArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *name = NULL;
        uint64_t bw, granularity = 0;
        int r;

        r = verb_bandwidth(a, &bw);
        if (r < 0)
                return r;
        if (verb_value(a, "granularity") && (storage_parse_scaled(verb_value(a, "granularity"), &granularity) < 0 ||
                                             granularity > UINT32_MAX))
                return ctl_error(-EINVAL, "Invalid granularity '%s'", verb_value(a, "granularity"));
        r = block_call(c, a, "BlockCopy", &name, &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "ss", a->args[1], a->args[2]);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && verb_value(a, "format"))
                r = append_s(m, "format", verb_value(a, "format"));
        if (r >= 0 && verb_flag(a, "reuse-external"))
                r = append_b(m, "reuse_external", true);
        if (r >= 0 && verb_flag(a, "shallow"))
                r = append_b(m, "shallow", true);
        if (r >= 0 && verb_flag(a, "pivot"))
                r = append_b(m, "pivot", true);
        if (r >= 0 && verb_flag(a, "finish"))
                r = append_b(m, "finish", true);
        if (r >= 0 && verb_flag(a, "transient-job"))
                r = append_b(m, "transient_job", true);
        if (r >= 0 && bw > 0)
                r = append_t(m, "bandwidth_mib", bw);
        if (r >= 0 && granularity > 0)
                r = sd_bus_message_append(m, "{sv}", "granularity", "u", (uint32_t) granularity);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        return run_job(c, a, m, name, a->args[1], true,
                       verb_flag(a, "pivot") ? "Successfully pivoted" : verb_flag(a, "finish") ? "Successfully copied"
                                                                                                 : "Copy complete");
}

int verb_blockjob(Context *c, VerbArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *path = NULL, *name = NULL, *job = NULL, *type = NULL;
        bool pivot = verb_flag(a, "pivot"), abort_ = verb_flag(a, "abort");
        CtlJobInfo j = {};
        uint64_t done = 0, total = 0;
        int r;

        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        if (pivot || abort_) {
                r = ctl_new_call(c, path, VMGMT_DOMAIN_IFACE, "BlockJobAbort", &m);
                if (r >= 0)
                        r = sd_bus_message_append(m, "s", a->args[1]);
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'a', "{sv}");
                if (r >= 0 && pivot)
                        r = append_b(m, "pivot", true);
                if (r >= 0 && verb_flag(a, "async"))
                        r = append_b(m, "async", true);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                if (r < 0)
                        return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
                r = ctl_call(c, m, NULL);
                if (r < 0)
                        return r;
                if (c->json == JSON_FORMAT_OFF)
                        printf(pivot ? "Successfully pivoted\n" : "Block job aborted\n");
                else
                        print_job(c, name, a->args[1], "", pivot ? "pivoted" : "aborted");
                return 0;
        }
        /* --info (the default) */
        /* the domain's running job, when it is a block job (the Manager's job list has none by disk) */
        r = ctl_find_domain_job(c, path, &j);
        if (r < 0)
                return r;
        if (r > 0 && strncmp(strempty(j.type), "block-", 6) != 0) {
                ctl_job_info_clear(&j);
                r = 0;
        }
        if (r == 0) {
                if (c->json != JSON_FORMAT_OFF)
                        printf("null\n");
                else
                        ctl_info("No current block job for %s", a->args[1]);
                return 0;
        }
        job = TAKE_PTR(j.path);
        type = TAKE_PTR(j.type);
        done = j.processed;
        total = j.total;
        ctl_job_info_clear(&j);
        if (c->json != JSON_FORMAT_OFF) {
                JsonWriter w;

                json_writer_init(&w, stdout, c->json);
                json_begin_object(&w);
                json_member_string(&w, "job", job);
                json_member_string(&w, "type", type);
                json_member_unsigned(&w, "processed", done);
                json_member_unsigned(&w, "total", total);
                json_member_bool(&w, "ready", total > 0 && done == total);
                json_end_object(&w);
                return 0;
        }
        printf("%s: [%3d %%]%s\n", streq_ptr(type, "block-commit") ? "Block Commit" :
                                   streq_ptr(type, "block-copy")   ? "Block Copy"
                                                                   : "Block Pull",
               total > 0 ? (int) (done * 100 / total) : 0, total > 0 && done == total ? " (ready)" : "");
        return 0;
}

/* virsh's blockresize sizes: a number with a suffix of 1024s (K, M, G, T; KiB…), or B for bytes; no suffix is KiB. */
static int parse_resize(const char *s, uint64_t *ret) {
        static const struct { const char *suffix; uint64_t mul; } units[] = {
                { "", 1024 }, { "b", 1 }, { "k", 1024 }, { "kib", 1024 }, { "m", 1024 * 1024 }, { "mib", 1024 * 1024 },
                { "g", 1024ull * 1024 * 1024 }, { "gib", 1024ull * 1024 * 1024 },
                { "t", 1024ull * 1024 * 1024 * 1024 }, { "tib", 1024ull * 1024 * 1024 * 1024 },
                { "kb", 1000 }, { "mb", 1000 * 1000 }, { "gb", 1000ull * 1000 * 1000 },
                { "tb", 1000ull * 1000 * 1000 * 1000 },
        };
        char *end = NULL;
        unsigned long long n;

        if (!s || !*s || s[0] == '-')
                return -EINVAL;
        errno = 0;
        n = strtoull(s, &end, 10);
        if (errno != 0 || end == s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (strcasecmp(end, units[i].suffix) == 0) {
                        if (n > UINT64_MAX / units[i].mul)
                                return -ERANGE;
                        *ret = n * units[i].mul;
                        return 0;
                }
        return -EINVAL;
}

int verb_blockresize(Context *c, VerbArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *name = NULL;
        uint64_t size;
        int r;

        if (parse_resize(a->args[2], &size) < 0 || size == 0)
                return ctl_error(-EINVAL, "Invalid size '%s' (e.g. 10G, 512M, 1048576B)", a->args[2]);
        r = block_call(c, a, "BlockResize", &name, &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "sta{sv}", a->args[1], size, 0);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        r = ctl_call(c, m, NULL);
        if (r < 0)
                return r;
        if (c->json != JSON_FORMAT_OFF) {
                JsonWriter w;

                json_writer_init(&w, stdout, c->json);
                json_begin_object(&w);
                json_member_string(&w, "domain", name);
                json_member_string(&w, "disk", a->args[1]);
                json_member_unsigned(&w, "size", size);
                json_end_object(&w);
        } else
                ctl_info("Block device '%s' is resized", a->args[1]);
        return 0;
}
