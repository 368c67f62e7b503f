/* vmgmtctl-node.c — vmgmtctl's host verbs: nodeinfo, nodecpustats, nodememstats, capabilities. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmgmtctl.h"

#define NODE_KEYS_MAX 256

/* The numbers and strings of an a{sv} reply (GetNodeInfo, GetNodeStats). */
typedef struct NodeDict {
        size_t n;
        char *keys[NODE_KEYS_MAX];
        uint64_t values[NODE_KEYS_MAX];
        char *strings[NODE_KEYS_MAX];   /* for 's' values */
} NodeDict;

static void node_dict_done(NodeDict *d) {
        for (size_t i = 0; i < d->n; i++) {
                free(d->keys[i]);
                free(d->strings[i]);
        }
        d->n = 0;
}

static const uint64_t *node_dict_get(const NodeDict *d, const char *key) {
        for (size_t i = 0; i < d->n; i++)
                if (streq(d->keys[i], key))
                        return &d->values[i];
        return NULL;
}

static const char *node_dict_string(const NodeDict *d, const char *key) {
        for (size_t i = 0; i < d->n; i++)
                if (streq(d->keys[i], key))
                        return d->strings[i];
        return NULL;
}

static int node_dict_call(Context *c, const char *member, NodeDict *ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int r;

        *ret = (NodeDict) {};
        r = ctl_new_call(c, VMGMT_MANAGER_PATH, VMGMT_MANAGER_IFACE, member, &m);
        if (r < 0)
                return r;
        r = ctl_call(c, m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                const char *key, *contents;
                char type;

                r = sd_bus_message_read(reply, "s", &key);
                if (r >= 0)
                        r = sd_bus_message_peek_type(reply, &type, &contents);
                if (r < 0)
                        break;
                if (ret->n < NODE_KEYS_MAX && contents && strchr("ut", contents[0])) {
                        uint32_t u = 0;
                        uint64_t t = 0;
                        r = contents[0] == 'u' ? sd_bus_message_read(reply, "v", "u", &u)
                                               : sd_bus_message_read(reply, "v", "t", &t);
                        ret->keys[ret->n] = strdup(key);
                        ret->values[ret->n++] = contents[0] == 'u' ? u : t;
                } else if (ret->n < NODE_KEYS_MAX && contents && contents[0] == 's') {
                        const char *s;
                        r = sd_bus_message_read(reply, "v", "s", &s);
                        if (r >= 0) {
                                ret->keys[ret->n] = strdup(key);
                                ret->strings[ret->n++] = strdup(s);
                        }
                } else
                        r = sd_bus_message_skip(reply, "v");
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
        }
        if (r < 0) {
                node_dict_done(ret);
                return ctl_error(r, "Failed to read the reply of %s: %s", member, strerror(-r));
        }
        return 0;
}

static uint64_t node_value(const NodeDict *d, const char *key) {
        const uint64_t *v = node_dict_get(d, key);
        return v ? *v : 0;
}

int verb_nodeinfo(Context *c, VerbArgs *a) {
        static const struct {
                const char *label, *key, *unit;
        } rows[] = {
                { "CPU(s):", "cpus", "" },
                { "CPU frequency:", "mhz", " MHz" },
                { "CPU socket(s):", "sockets", "" },
                { "Core(s) per socket:", "cores", "" },
                { "Thread(s) per core:", "threads", "" },
                { "NUMA cell(s):", "nodes", "" },
                { "Memory size:", "memory_kib", " KiB" },
        };
        NodeDict d;
        int r;

        r = node_dict_call(c, "GetNodeInfo", &d);
        if (r < 0)
                return r;
        if (c->json != JSON_FORMAT_OFF) {
                JsonWriter w;

                json_writer_init(&w, stdout, c->json);
                json_begin_object(&w);
                json_member_string(&w, "model", strempty(node_dict_string(&d, "model")));
                for (size_t i = 0; i < ELEMENTSOF(rows); i++)
                        json_member_unsigned(&w, rows[i].key, node_value(&d, rows[i].key));
                json_end_object(&w);
        } else {
                printf("%-20s %s\n", "CPU model:", strempty(node_dict_string(&d, "model")));
                for (size_t i = 0; i < ELEMENTSOF(rows); i++)
                        printf("%-20s %" PRIu64 "%s\n", rows[i].label, node_value(&d, rows[i].key), rows[i].unit);
        }
        node_dict_done(&d);
        return 0;
}

/* The four times of one CPU (cpu < 0: the host's total), in ns. */
static int cpu_times(const NodeDict *d, int cpu, uint64_t ret[4]) {
        static const char *const names[4] = { "user_ns", "kernel_ns", "idle_ns", "iowait_ns" };

        for (size_t i = 0; i < 4; i++) {
                char key[64];
                const uint64_t *v;

                if (cpu < 0)
                        snprintf(key, sizeof key, "cpu_%s", names[i]);
                else
                        snprintf(key, sizeof key, "cpu.%d.%s", cpu, names[i]);
                v = node_dict_get(d, key);
                if (!v)
                        return -ENOENT;
                ret[i] = *v;
        }
        return 0;
}

int verb_nodecpustats(Context *c, VerbArgs *a) {
        static const char *const labels[4] = { "user:", "system:", "idle:", "iowait:" };
        static const char *const keys[4] = { "user", "system", "idle", "iowait" };
        const char *cpu_s = verb_value(a, "cpu");
        bool percent = verb_flag(a, "percent");
        uint64_t t0[4], t1[4];
        int cpu = -1, r;
        NodeDict d;

        if (cpu_s) {
                char *end;
                long v = strtol(cpu_s, &end, 10);
                if (*cpu_s == 0 || *end || v < 0 || v > 65535)
                        return ctl_error(-EINVAL, "Invalid CPU number '%s'.", cpu_s);
                cpu = (int) v;
        }
        r = node_dict_call(c, "GetNodeStats", &d);
        if (r < 0)
                return r;
        r = cpu_times(&d, cpu, t0);
        node_dict_done(&d);
        if (r < 0)
                return ctl_error(-EINVAL, "No CPU %d on this host.", cpu);
        if (percent) {
                /* as virsh: the share of each over one second */
                sleep(1);
                r = node_dict_call(c, "GetNodeStats", &d);
                if (r < 0)
                        return r;
                r = cpu_times(&d, cpu, t1);
                node_dict_done(&d);
                if (r < 0)
                        return ctl_error(-EIO, "CPU %d went away.", cpu);
        }
        if (!percent) {
                if (c->json != JSON_FORMAT_OFF) {
                        JsonWriter w;

                        json_writer_init(&w, stdout, c->json);
                        json_begin_object(&w);
                        for (size_t i = 0; i < 4; i++)
                                json_member_unsigned(&w, keys[i], t0[i]);
                        json_end_object(&w);
                } else
                        for (size_t i = 0; i < 4; i++)
                                printf("%-15s %20" PRIu64 "\n", labels[i], t0[i]);
                return 0;
        }

        double delta[4], total = 0;
        for (size_t i = 0; i < 4; i++) {
                delta[i] = t1[i] >= t0[i] ? (double) (t1[i] - t0[i]) : 0.0;
                total += delta[i];
        }
        if (total <= 0)
                total = 1;
        if (c->json != JSON_FORMAT_OFF) {
                JsonWriter w;
                char buf[32];

                json_writer_init(&w, stdout, c->json);
                json_begin_object(&w);
                snprintf(buf, sizeof buf, "%.1f", 100.0 * (total - delta[2]) / total);
                json_member_string(&w, "usage", buf);
                for (size_t i = 0; i < 4; i++) {
                        snprintf(buf, sizeof buf, "%.1f", 100.0 * delta[i] / total);
                        json_member_string(&w, keys[i], buf);
                }
                json_end_object(&w);
        } else {
                printf("%-15s %5.1f%%\n", "usage:", 100.0 * (total - delta[2]) / total);
                for (size_t i = 0; i < 4; i++)
                        printf("%-15s %5.1f%%\n", labels[i], 100.0 * delta[i] / total);
        }
        return 0;
}

int verb_nodememstats(Context *c, VerbArgs *a) {
        static const struct {
                const char *label, *key, *json;
        } rows[] = {
                { "total  :", "memory_total_kib", "total" },
                { "free   :", "memory_free_kib", "free" },
                { "buffers:", "memory_buffers_kib", "buffers" },
                { "cached :", "memory_cached_kib", "cached" },
        };
        NodeDict d;
        int r;

        r = node_dict_call(c, "GetNodeStats", &d);
        if (r < 0)
                return r;
        if (c->json != JSON_FORMAT_OFF) {
                JsonWriter w;

                json_writer_init(&w, stdout, c->json);
                json_begin_object(&w);
                for (size_t i = 0; i < ELEMENTSOF(rows); i++)
                        json_member_unsigned(&w, rows[i].json, node_value(&d, rows[i].key));
                json_end_object(&w);
        } else
                for (size_t i = 0; i < ELEMENTSOF(rows); i++)
                        printf("%-8s %20" PRIu64 " KiB\n", rows[i].label, node_value(&d, rows[i].key));
        node_dict_done(&d);
        return 0;
}

int verb_capabilities(Context *c, VerbArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        const char *xml;
        int r;

        r = ctl_new_call(c, VMGMT_MANAGER_PATH, VMGMT_MANAGER_IFACE, "GetCapabilities", &m);
        if (r < 0)
                return r;
        r = ctl_call(c, m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "s", &xml);
        if (r < 0)
                return ctl_error(r, "Failed to read the capabilities: %s", strerror(-r));
        fputs(xml, stdout);
        return 0;
}
