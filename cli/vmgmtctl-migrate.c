/* vmgmtctl-migrate.c — migrate, migrate-setmaxdowntime, migrate-getmaxdowntime, migrate-setspeed,
 * migrate-getspeed (virsh's names and flags) over Domain.Migrate and Set/GetMigrationParameters. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmgmtctl-job.h"
#include "vmgmtctl.h"

/* What Domain.Migrate takes for DESTURI: qemu+ssh://[user@]host[:port]/system and vmgmt+ssh://… become
 * [user@]host[:port] (vmgmtd reaches it over ssh), a bus address (unix:path=…) stays, a bare host too. */
static int destination_of(const char *uri, char **ret) {
        static const char *const schemes[] = { "qemu+ssh://", "vmgmt+ssh://", NULL };

        if (strchr(uri, '=')) {
                *ret = strdup(uri);
                return *ret ? 0 : -ENOMEM;
        }
        for (const char *const *s = schemes; *s; s++)
                if (strncmp(uri, *s, strlen(*s)) == 0) {
                        const char *host = uri + strlen(*s);
                        const char *slash = strchr(host, '/');
                        if (slash && strcmp(slash, "/system") != 0 && strcmp(slash, "/") != 0)
                                return -EINVAL;   /* /session: vmgmtd migrates system domains */
                        *ret = slash ? strndup(host, (size_t) (slash - host)) : strdup(host);
                        if (!*ret)
                                return -ENOMEM;
                        return **ret ? 0 : -EINVAL;
                }
        if (strstr(uri, "://"))
                return -EINVAL;
        *ret = strdup(uri);
        return *ret ? 0 : -ENOMEM;
}

static int parse_u64(const char *s, uint64_t *ret) {
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || end == s || *end || s[0] == '-')
                return -EINVAL;
        *ret = v;
        return 0;
}

int verb_migrate(Context *c, VerbArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_free_ char *path = NULL, *name = NULL, *dest = NULL;
        static const char *const flags[][2] = {
                { "live", "live" }, { "persistent", "persistent" }, { "undefinesource", "undefine_source" },
                { "offline", "offline" }, { "copy-storage-all", "copy_storage" }, { "auto-converge", "auto_converge" },
                { "postcopy", "postcopy" }, { "compressed", "compressed" }, { "tls", "tls" },
        };
        uint64_t bandwidth = 0, channels = 0, downtime = 0;
        const char *v, *job;
        int r;

        r = destination_of(a->args[1], &dest);
        if (r < 0)
                return ctl_error(r, "Unsupported destination URI '%s' (qemu+ssh://[USER@]HOST/system, vmgmt+ssh://…, [USER@]HOST or a bus address)",
                                 a->args[1]);
        if ((v = verb_value(a, "bandwidth")) && parse_u64(v, &bandwidth) < 0)
                return ctl_error(-EINVAL, "Invalid --bandwidth '%s' (MiB/s)", v);
        if ((v = verb_value(a, "parallel-connections")) && (parse_u64(v, &channels) < 0 || channels < 1 || channels > 255))
                return ctl_error(-EINVAL, "Invalid --parallel-connections '%s' (1-255)", v);
        if ((v = verb_value(a, "max-downtime")) && (parse_u64(v, &downtime) < 0 || downtime > UINT32_MAX))
                return ctl_error(-EINVAL, "Invalid --max-downtime '%s' (ms)", v);
        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        r = ctl_new_call(c, path, VMGMT_DOMAIN_IFACE, "Migrate", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", dest);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        for (size_t i = 0; r >= 0 && i < sizeof(flags) / sizeof(flags[0]); i++)
                if (verb_flag(a, flags[i][0]))
                        r = sd_bus_message_append(m, "{sv}", flags[i][1], "b", 1);
        if (r >= 0 && bandwidth)
                r = sd_bus_message_append(m, "{sv}", "bandwidth_mib", "t", bandwidth);
        if (r >= 0 && channels) {
                r = sd_bus_message_append(m, "{sv}", "parallel_connections", "u", (uint32_t) channels);
        }
        if (r >= 0 && downtime)
                r = sd_bus_message_append(m, "{sv}", "max_downtime_ms", "u", (uint32_t) downtime);
        if (r >= 0 && (v = verb_value(a, "listen-address")))
                r = sd_bus_message_append(m, "{sv}", "listen_address", "s", v);
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
        r = ctl_follow_job_as(c, job, "Migration", verb_flag(a, "verbose"));
        if (r < 0)
                return r;
        if (c->json != JSON_FORMAT_OFF) {
                JsonWriter w;
                json_writer_init(&w, stdout, c->json);
                json_begin_object(&w);
                json_member_string(&w, "job", job);
                json_member_string(&w, "operation", "migrate");
                json_member_string(&w, "domain", name);
                json_member_string(&w, "destination", dest);
                json_end_object(&w);
        }
        return 0;
}

/* Set/GetMigrationParameters with one key. */
static int set_param(Context *c, VerbArgs *a, const char *flag, const char *key, const char *what) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_free_ char *path = NULL, *name = NULL;
        const char *v = verb_value(a, flag);
        uint64_t n;
        int r;

        if (!v && a->n_args > 1)
                v = a->args[1];   /* virsh also takes it positionally */
        if (!v || parse_u64(v, &n) < 0)
                return ctl_error(-EINVAL, "Invalid or missing --%s (%s)", flag, what);
        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        r = ctl_new_call(c, path, VMGMT_DOMAIN_IFACE, "SetMigrationParameters", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "a{sv}", 1, key, "t", n);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        return ctl_call(c, m, &reply);
}

static int get_param(Context *c, VerbArgs *a, const char *key) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_free_ char *path = NULL, *name = NULL;
        uint64_t value = 0;
        bool found = false;
        int r;

        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        r = ctl_new_call(c, path, VMGMT_DOMAIN_IFACE, "GetMigrationParameters", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "a{sv}", 0);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        r = ctl_call(c, m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                const char *k;
                r = sd_bus_message_read(reply, "s", &k);
                if (r >= 0 && streq(k, key)) {
                        r = sd_bus_message_read(reply, "v", "t", &value);
                        found = true;
                } else if (r >= 0)
                        r = sd_bus_message_skip(reply, "v");
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
        }
        if (r < 0)
                return ctl_error(r, "Failed to parse reply: %s", strerror(-r));
        if (!found)
                return ctl_error(-EIO, "vmgmtd did not say %s", key);
        if (c->json != JSON_FORMAT_OFF) {
                JsonWriter w;
                json_writer_init(&w, stdout, c->json);
                json_begin_object(&w);
                json_member_string(&w, "domain", name);
                json_member_unsigned(&w, key, value);
                json_end_object(&w);
        } else
                printf("%" PRIu64 "\n", value);
        return 0;
}

int verb_migrate_setmaxdowntime(Context *c, VerbArgs *a) {
        return set_param(c, a, "downtime", "max_downtime_ms", "milliseconds");
}

int verb_migrate_getmaxdowntime(Context *c, VerbArgs *a) {
        return get_param(c, a, "max_downtime_ms");
}

int verb_migrate_setspeed(Context *c, VerbArgs *a) {
        return set_param(c, a, "bandwidth", "bandwidth_mib", "MiB/s");
}

int verb_migrate_getspeed(Context *c, VerbArgs *a) {
        return get_param(c, a, "bandwidth_mib");
}
