/* vmgmtctl-stats.c — domstats, dommemstat, domblkstat, domifstat, vcpuinfo: GetStats and
 * GetAllDomainStats in virsh's formats. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "vmgmtctl-stats.h"

/* ---- reading the a{sv} ---- */

void stats_dict_done(StatsDict *d) {
        for (size_t i = 0; i < d->n; i++) {
                free(d->items[i].key);
                free(d->items[i].s);
        }
        free(d->items);
        *d = (StatsDict) {};
}

int stats_dict_read(sd_bus_message *m, StatsDict *ret) {
        StatsDict d = {};
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key, *type;
                StatsValue v = {};

                r = sd_bus_message_read_basic(m, 's', &key);
                if (r >= 0)
                        r = sd_bus_message_peek_type(m, NULL, &type);
                if (r < 0)
                        break;
                if (streq(type, "t") || streq(type, "u") || streq(type, "b")) {
                        uint64_t t = 0;
                        uint32_t u = 0;
                        int b = 0;

                        if (streq(type, "t"))
                                r = sd_bus_message_read(m, "v", "t", &t);
                        else if (streq(type, "u"))
                                r = sd_bus_message_read(m, "v", "u", &u), t = u;
                        else
                                r = sd_bus_message_read(m, "v", "b", &b), t = (uint64_t) b;
                        v.u = t;
                        v.is_bool = streq(type, "b");
                } else if (streq(type, "s")) {
                        const char *s;
                        r = sd_bus_message_read(m, "v", "s", &s);
                        if (r >= 0)
                                v.s = strdup(s);
                } else
                        r = sd_bus_message_skip(m, "v");
                if (r < 0)
                        break;
                v.key = strdup(key);
                d.items = realloc(d.items, (d.n + 1) * sizeof(StatsValue));
                if (!d.items || !v.key)
                        return -ENOMEM;
                d.items[d.n++] = v;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        break;
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r < 0) {
                stats_dict_done(&d);
                return r;
        }
        *ret = d;
        return 0;
}

const StatsValue *stats_dict_get(const StatsDict *d, const char *key) {
        for (size_t i = 0; i < d->n; i++)
                if (streq(d->items[i].key, key))
                        return &d->items[i];
        return NULL;
}

uint64_t stats_dict_u64(const StatsDict *d, const char *key, uint64_t def) {
        const StatsValue *v = stats_dict_get(d, key);
        return v && !v->s ? v->u : def;
}

const char *stats_dict_str(const StatsDict *d, const char *key) {
        const StatsValue *v = stats_dict_get(d, key);
        return v ? v->s : NULL;
}

static int append_groups(sd_bus_message *m, const char *const *groups) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "s");
        for (size_t i = 0; r >= 0 && groups && groups[i]; i++)
                r = sd_bus_message_append_basic(m, 's', groups[i]);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

int ctl_domain_stats(Context *c, const char *path, const char *const *groups, StatsDict *ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int r;

        r = ctl_new_call(c, path, VMGMT_DOMAIN_IFACE, "GetStats", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && groups && groups[0]) {
                r = sd_bus_message_open_container(m, 'e', "sv");
                if (r >= 0)
                        r = sd_bus_message_append_basic(m, 's', "groups");
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'v', "as");
                if (r >= 0)
                        r = append_groups(m, groups);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        r = ctl_call(c, m, &reply);
        if (r < 0)
                return r;
        r = stats_dict_read(reply, ret);
        if (r < 0)
                return ctl_error(r, "Failed to read GetStats reply: %s", strerror(-r));
        return 0;
}

void stats_all_done(StatsAll *a) {
        for (size_t i = 0; i < a->n; i++) {
                free(a->paths[i]);
                stats_dict_done(&a->dicts[i]);
        }
        free(a->paths);
        free(a->dicts);
        *a = (StatsAll) {};
}

int ctl_all_domain_stats(Context *c, const char *const *groups, const char *const *domains, const char *const *flags,
                         StatsAll *ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        StatsAll all = {};
        int r;

        r = ctl_new_call(c, VMGMT_MANAGER_PATH, VMGMT_MANAGER_IFACE, "GetAllDomainStats", &m);
        if (r < 0)
                return r;
        r = append_groups(m, groups);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        for (size_t i = 0; r >= 0 && flags && flags[i]; i++)
                r = sd_bus_message_append(m, "{sv}", flags[i], "b", 1);
        if (r >= 0 && domains && domains[0]) {
                r = sd_bus_message_open_container(m, 'e', "sv");
                if (r >= 0)
                        r = sd_bus_message_append_basic(m, 's', "domains");
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'v', "as");
                if (r >= 0)
                        r = append_groups(m, domains);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        r = ctl_call(c, m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "(oa{sv})");
        while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'r', "oa{sv}")) > 0) {
                const char *path;

                r = sd_bus_message_read(reply, "o", &path);
                if (r < 0)
                        break;
                all.paths = realloc(all.paths, (all.n + 1) * sizeof(char *));
                all.dicts = realloc(all.dicts, (all.n + 1) * sizeof(StatsDict));
                if (!all.paths || !all.dicts) {
                        r = -ENOMEM;
                        break;
                }
                all.paths[all.n] = strdup(path);
                r = stats_dict_read(reply, &all.dicts[all.n]);
                if (r < 0)
                        break;
                all.n++;
                r = sd_bus_message_exit_container(reply);
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(reply);
        if (r < 0) {
                stats_all_done(&all);
                return ctl_error(r, "Failed to read GetAllDomainStats reply: %s", strerror(-r));
        }
        *ret = all;
        return 0;
}

static void print_dict_json(JsonWriter *w, const StatsDict *d) {
        json_begin_object(w);
        for (size_t i = 0; i < d->n; i++) {
                const StatsValue *v = &d->items[i];
                if (v->s)
                        json_member_string(w, v->key, v->s);
                else if (v->is_bool)
                        json_member_bool(w, v->key, v->u);
                else
                        json_member_unsigned(w, v->key, v->u);
        }
        json_end_object(w);
}

/* ---- domstats ---- */

int verb_domstats(Context *c, VerbArgs *a) {
        static const char *const group_flags[] = { "state", "cpu-total", "balloon", "vcpu", "interface", "block", "perf" };
        static const char *const list_flags[] = { "list-active", "list-inactive", "list-persistent", "list-transient",
                                                  "list-running", "list-paused", "list-shutoff", "list-other" };
        const char *groups[ELEMENTSOF(group_flags) + 1] = {}, *flags[ELEMENTSOF(list_flags) + 2] = {};
        size_t ng = 0, nf = 0;
        StatsAll all = {};
        int r;

        for (size_t i = 0; i < ELEMENTSOF(group_flags); i++)
                if (verb_flag(a, group_flags[i]))
                        groups[ng++] = group_flags[i];
        for (size_t i = 0; i < ELEMENTSOF(list_flags); i++)
                if (verb_flag(a, list_flags[i]))
                        flags[nf++] = list_flags[i] + strlen("list-");
        if (verb_flag(a, "enforce"))
                flags[nf++] = "enforce";
        if (a->n_args > 0 && nf > (verb_flag(a, "enforce") ? 1u : 0u))
                return ctl_error(-EINVAL, "--list-* cannot be combined with domain names");
        r = ctl_all_domain_stats(c, groups, (const char *const *) a->args, flags, &all);
        if (r < 0)
                return r;
        if (c->json != JSON_FORMAT_OFF) {
                JsonWriter w;

                json_writer_init(&w, stdout, c->json);
                json_begin_array(&w);
                for (size_t i = 0; i < all.n; i++) {
                        _cleanup_free_ char *name = NULL;

                        (void) domain_path_to_name(all.paths[i], &name);
                        json_begin_object(&w);
                        json_member_string(&w, "domain", strempty(name));
                        json_key(&w, "stats");
                        print_dict_json(&w, &all.dicts[i]);
                        json_end_object(&w);
                }
                json_end_array(&w);
        } else
                for (size_t i = 0; i < all.n; i++) {
                        _cleanup_free_ char *name = NULL;

                        (void) domain_path_to_name(all.paths[i], &name);
                        printf("Domain: '%s'\n", strempty(name));
                        for (size_t k = 0; k < all.dicts[i].n; k++) {
                                const StatsValue *v = &all.dicts[i].items[k];
                                if (v->s)
                                        printf("  %s=%s\n", v->key, v->s);
                                else
                                        printf("  %s=%" PRIu64 "\n", v->key, v->u);
                        }
                        printf("\n");
                }
        stats_all_done(&all);
        return 0;
}

/* ---- dommemstat ---- */

int verb_dommemstat(Context *c, VerbArgs *a) {
        /* virsh's order and names; balloon.current is the balloon's "actual" */
        static const struct {
                const char *key, *label;
        } rows[] = {
                { "balloon.current", "actual" },       { "balloon.swap_in", "swap_in" },
                { "balloon.swap_out", "swap_out" },    { "balloon.major_fault", "major_fault" },
                { "balloon.minor_fault", "minor_fault" }, { "balloon.unused", "unused" },
                { "balloon.available", "available" },  { "balloon.usable", "usable" },
                { "balloon.last-update", "last_update" }, { "balloon.disk_caches", "disk_caches" },
                { "balloon.hugetlb_pgalloc", "hugetlb_pgalloc" }, { "balloon.hugetlb_pgfail", "hugetlb_pgfail" },
                { "balloon.rss", "rss" },
        };
        static const char *const groups[] = { "balloon", NULL };
        _cleanup_free_ char *path = NULL, *name = NULL;
        StatsDict d = {};
        int r;

        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        r = ctl_domain_stats(c, path, groups, &d);
        if (r < 0)
                return r;
        if (!stats_dict_get(&d, "balloon.current")) {
                stats_dict_done(&d);
                return ctl_error(-EINVAL, "Domain '%s' is not running: no memory statistics", name);
        }
        if (c->json != JSON_FORMAT_OFF) {
                JsonWriter w;

                json_writer_init(&w, stdout, c->json);
                json_begin_object(&w);
                for (size_t i = 0; i < ELEMENTSOF(rows); i++)
                        if (stats_dict_get(&d, rows[i].key))
                                json_member_unsigned(&w, rows[i].label, stats_dict_u64(&d, rows[i].key, 0));
                json_end_object(&w);
        } else
                for (size_t i = 0; i < ELEMENTSOF(rows); i++)
                        if (stats_dict_get(&d, rows[i].key))
                                printf("%s %" PRIu64 "\n", rows[i].label, stats_dict_u64(&d, rows[i].key, 0));
        stats_dict_done(&d);
        return 0;
}

/* ---- domblkstat ---- */

int verb_domblkstat(Context *c, VerbArgs *a) {
        static const struct {
                const char *key, *field, *human;
        } rows[] = {
                { "rd.reqs", "rd_req", "number of read operations:" },
                { "rd.bytes", "rd_bytes", "number of bytes read:" },
                { "wr.reqs", "wr_req", "number of write operations:" },
                { "wr.bytes", "wr_bytes", "number of bytes written:" },
                { "fl.reqs", "flush_operations", "number of flush operations:" },
                { "rd.times", "rd_total_times", "total duration of reads (ns):" },
                { "wr.times", "wr_total_times", "total duration of writes (ns):" },
                { "fl.times", "flush_total_times", "total duration of flushes (ns):" },
        };
        static const char *const groups[] = { "block", NULL };
        _cleanup_free_ char *path = NULL, *name = NULL;
        const char *device = a->n_args > 1 ? a->args[1] : NULL;
        bool human = verb_flag(a, "human"), found = false;
        uint64_t sums[ELEMENTSOF(rows)] = {};
        bool have[ELEMENTSOF(rows)] = {};
        StatsDict d = {};
        uint64_t n;
        int r;

        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        r = ctl_domain_stats(c, path, groups, &d);
        if (r < 0)
                return r;
        n = stats_dict_u64(&d, "block.count", 0);
        for (uint64_t i = 0; i < n; i++) {
                char key[64];
                const char *target, *src;

                snprintf(key, sizeof(key), "block.%" PRIu64 ".name", i);
                target = stats_dict_str(&d, key);
                snprintf(key, sizeof(key), "block.%" PRIu64 ".path", i);
                src = stats_dict_str(&d, key);
                if (device && !streq_ptr(target, device) && !streq_ptr(src, device))
                        continue;
                found = true;
                for (size_t k = 0; k < ELEMENTSOF(rows); k++) {
                        snprintf(key, sizeof(key), "block.%" PRIu64 ".%s", i, rows[k].key);
                        if (stats_dict_get(&d, key)) {
                                sums[k] += stats_dict_u64(&d, key, 0);
                                have[k] = true;
                        }
                }
        }
        stats_dict_done(&d);
        if (device && !found)
                return ctl_error(-ENODEV, "Domain '%s' has no disk '%s'", name, device);
        if (c->json != JSON_FORMAT_OFF) {
                JsonWriter w;

                json_writer_init(&w, stdout, c->json);
                json_begin_object(&w);
                if (device)
                        json_member_string(&w, "device", device);
                for (size_t k = 0; k < ELEMENTSOF(rows); k++)
                        if (have[k])
                                json_member_unsigned(&w, rows[k].field, sums[k]);
                json_end_object(&w);
                return 0;
        }
        if (human)
                printf("Device: %s\n", device ?: "(all)");
        for (size_t k = 0; k < ELEMENTSOF(rows); k++) {
                if (!have[k])
                        continue;
                if (human)
                        printf(" %-31s %" PRIu64 "\n", rows[k].human, sums[k]);
                else
                        printf("%s %s %" PRIu64 "\n", device ?: "-", rows[k].field, sums[k]);
        }
        return 0;
}

/* ---- domifstat ---- */

int verb_domifstat(Context *c, VerbArgs *a) {
        static const struct {
                const char *key, *field;
        } rows[] = {
                { "rx.bytes", "rx_bytes" }, { "rx.pkts", "rx_packets" }, { "rx.errs", "rx_errs" }, { "rx.drop", "rx_drop" },
                { "tx.bytes", "tx_bytes" }, { "tx.pkts", "tx_packets" }, { "tx.errs", "tx_errs" }, { "tx.drop", "tx_drop" },
        };
        static const char *const groups[] = { "interface", NULL };
        _cleanup_free_ char *path = NULL, *name = NULL;
        const char *iface = a->args[1];
        StatsDict d = {};
        uint64_t n, index = UINT64_MAX;
        JsonWriter w;
        int r;

        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        r = ctl_domain_stats(c, path, groups, &d);
        if (r < 0)
                return r;
        n = stats_dict_u64(&d, "net.count", 0);
        for (uint64_t i = 0; i < n && index == UINT64_MAX; i++) {
                char key[64];

                snprintf(key, sizeof(key), "net.%" PRIu64 ".name", i);
                if (streq_ptr(stats_dict_str(&d, key), iface))
                        index = i;
        }
        if (index == UINT64_MAX) {
                stats_dict_done(&d);
                return ctl_error(-ENODEV, "Domain '%s' has no interface '%s'", name, iface);
        }
        if (c->json != JSON_FORMAT_OFF) {
                json_writer_init(&w, stdout, c->json);
                json_begin_object(&w);
                json_member_string(&w, "interface", iface);
        }
        for (size_t k = 0; k < ELEMENTSOF(rows); k++) {
                char key[64];

                snprintf(key, sizeof(key), "net.%" PRIu64 ".%s", index, rows[k].key);
                if (!stats_dict_get(&d, key))
                        continue;
                if (c->json != JSON_FORMAT_OFF)
                        json_member_unsigned(&w, rows[k].field, stats_dict_u64(&d, key, 0));
                else
                        printf("%s %s %" PRIu64 "\n", iface, rows[k].field, stats_dict_u64(&d, key, 0));
        }
        if (c->json != JSON_FORMAT_OFF)
                json_end_object(&w);
        stats_dict_done(&d);
        return 0;
}

/* ---- vcpuinfo ---- */

/* "0-1,3" as virsh's affinity map over ncpus host CPUs ("yy-y"). */
static char *affinity_map(const char *list, long ncpus) {
        char *map;
        const char *p = list;

        if (ncpus <= 0 || ncpus > 4096)
                ncpus = 1;
        map = malloc((size_t) ncpus + 1);
        if (!map)
                return NULL;
        memset(map, '-', (size_t) ncpus);
        map[ncpus] = 0;
        while (p && *p) {
                unsigned long lo, hi;
                char *end;

                lo = strtoul(p, &end, 10);
                hi = lo;
                if (end == p)
                        break;
                if (*end == '-')
                        hi = strtoul(end + 1, &end, 10);
                for (unsigned long i = lo; i <= hi && i < (unsigned long) ncpus; i++)
                        map[i] = 'y';
                p = *end == ',' ? end + 1 : NULL;
        }
        return map;
}

int verb_vcpuinfo(Context *c, VerbArgs *a) {
        static const char *const groups[] = { "vcpu", NULL };
        _cleanup_free_ char *path = NULL, *name = NULL;
        long ncpus = sysconf(_SC_NPROCESSORS_CONF);
        StatsDict d = {};
        JsonWriter w;
        uint64_t n;
        int r;

        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        r = ctl_domain_stats(c, path, groups, &d);
        if (r < 0)
                return r;
        if (!stats_dict_get(&d, "vcpu.current")) {
                stats_dict_done(&d);
                return ctl_error(-EINVAL, "Domain '%s' is not running: no vCPU information", name);
        }
        n = stats_dict_u64(&d, "vcpu.maximum", 0);
        if (c->json != JSON_FORMAT_OFF) {
                json_writer_init(&w, stdout, c->json);
                json_begin_array(&w);
        }
        for (uint64_t i = 0; i < n; i++) {
                char key[64];
                const char *aff;
                _cleanup_free_ char *map = NULL;
                uint64_t cpu, time_ns;
                bool online;

                snprintf(key, sizeof(key), "vcpu.%" PRIu64 ".state", i);
                online = stats_dict_get(&d, key);
                snprintf(key, sizeof(key), "vcpu.%" PRIu64 ".cpu", i);
                cpu = stats_dict_u64(&d, key, UINT64_MAX);
                snprintf(key, sizeof(key), "vcpu.%" PRIu64 ".time", i);
                time_ns = stats_dict_u64(&d, key, 0);
                snprintf(key, sizeof(key), "vcpu.%" PRIu64 ".affinity", i);
                aff = stats_dict_str(&d, key);
                map = affinity_map(aff, ncpus);
                if (c->json != JSON_FORMAT_OFF) {
                        json_begin_object(&w);
                        json_member_unsigned(&w, "vcpu", i);
                        if (cpu != UINT64_MAX)
                                json_member_unsigned(&w, "cpu", cpu);
                        json_member_string(&w, "state", online ? "running" : "offline");
                        json_member_unsigned(&w, "cpu_time_ns", time_ns);
                        if (aff)
                                json_member_string(&w, "affinity", map ? map : aff);
                        json_end_object(&w);
                        continue;
                }
                if (i > 0)
                        printf("\n");
                printf("%-15s %" PRIu64 "\n", "VCPU:", i);
                if (cpu != UINT64_MAX)
                        printf("%-15s %" PRIu64 "\n", "CPU:", cpu);
                else
                        printf("%-15s %s\n", "CPU:", "N/A");
                printf("%-15s %s\n", "State:", online ? "running" : "offline");
                if (online)
                        printf("%-15s %.1fs\n", "CPU time:", (double) time_ns / 1e9);
                printf("%-15s %s\n", "CPU Affinity:", map && aff ? map : "N/A");
        }
        if (c->json != JSON_FORMAT_OFF)
                json_end_array(&w);
        stats_dict_done(&d);
        return 0;
}

/* ---- domifaddr ---- */

int verb_domifaddr(Context *c, VerbArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_free_ char *path = NULL, *name = NULL;
        const char *source = verb_value(a, "source") ?: "lease", *only = verb_value(a, "interface");
        bool full = verb_flag(a, "full");
        _cleanup_free_ char *last = NULL;
        JsonWriter w;
        int r;

        if (!STR_IN_SET(source, "lease", "arp", "agent"))
                return ctl_error(-EINVAL, "Invalid source '%s' (lease, arp, agent)", source);
        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        r = ctl_new_call(c, path, VMGMT_DOMAIN_IFACE, "GetInterfaceAddresses", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "a{sv}", 1, "source", "s", source);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        r = ctl_call(c, m, &reply);
        if (r < 0)
                return r;
        if (c->json != JSON_FORMAT_OFF) {
                json_writer_init(&w, stdout, c->json);
                json_begin_array(&w);
        } else {
                printf(" %-10s %-17s    %-12s %s\n", "Name", "MAC address", "Protocol", "Address");
                printf("-------------------------------------------------------------------------------\n");
        }
        r = sd_bus_message_enter_container(reply, 'a', "a{sv}");
        while (r >= 0 && (r = sd_bus_message_peek_type(reply, NULL, NULL)) > 0) {
                StatsDict d = {};
                const char *ifname, *hw, *type, *addr;

                r = stats_dict_read(reply, &d);
                if (r < 0)
                        break;
                ifname = stats_dict_str(&d, "name");
                hw = stats_dict_str(&d, "hwaddr");
                type = stats_dict_str(&d, "type");
                addr = stats_dict_str(&d, "address");
                if (only && !streq_ptr(ifname, only) && !(hw && strcasecmp(hw, only) == 0)) {
                        stats_dict_done(&d);
                        continue;
                }
                if (c->json != JSON_FORMAT_OFF) {
                        json_begin_object(&w);
                        json_member_string(&w, "name", strempty(ifname));
                        if (hw)
                                json_member_string(&w, "hwaddr", hw);
                        if (type) {
                                json_member_string(&w, "type", type);
                                json_member_string(&w, "address", strempty(addr));
                                json_member_unsigned(&w, "prefix", stats_dict_u64(&d, "prefix", 0));
                        }
                        json_end_object(&w);
                } else {
                        /* virsh names an interface once, on its first address (unless --full) */
                        bool again = !full && last && streq_ptr(last, ifname);
                        _cleanup_free_ char *a_text = NULL;

                        if (addr && asprintf(&a_text, "%s/%" PRIu64, addr, stats_dict_u64(&d, "prefix", 0)) < 0)
                                a_text = NULL;
                        printf(" %-10s %-17s    %-12s %s\n", again ? "-" : strempty(ifname),
                               again ? "-" : (hw ?: "N/A"), type ?: "N/A", a_text ?: "N/A");
                        free(last);
                        last = ifname ? strdup(ifname) : NULL;
                }
                stats_dict_done(&d);
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(reply);
        if (r < 0)
                return ctl_error(r, "Failed to read GetInterfaceAddresses reply: %s", strerror(-r));
        if (c->json != JSON_FORMAT_OFF)
                json_end_array(&w);
        else
                printf("\n");
        return 0;
}
