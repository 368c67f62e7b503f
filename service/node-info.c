/* node-info.c — host facts: capabilities XML (libvirt's format), node info and node statistics. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <glob.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "domain.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"

/* Asks the first driver what a machine alias resolves to, through the same
 * normalization a definition gets, so the service needs no hypervisor
 * knowledge. */
static int resolve_machine(Manager *m, const char *alias, char **ret_machine, char **ret_emulator) {
        _cleanup_free_ char *xml = NULL;
        DomainDef *def = NULL;
        ConfError err = {};
        int r;

        VmDriver *drv = &m->drivers[0];

        xml = g_strdup_printf("<domain type='%s'><name>capabilities-probe</name><memory>65536</memory>"
                              "<vcpu>1</vcpu><os><type arch='x86_64' machine='%s'>hvm</type></os></domain>",
                              drv->ops->domain_types[0], alias);
        r = domain_def_parse(xml, strlen(xml), &def, &err);
        if (r >= 0)
                r = drv->ops->normalize(drv->driver, def, &err);
        if (r < 0) {
                log_debug("Cannot resolve machine '%s': %s", alias, strna(err.message));
                conf_error_clear(&err);
                domain_def_free(def);
                return r;
        }
        *ret_machine = g_strdup(def->os_machine);
        if (ret_emulator)
                *ret_emulator = g_strdup(def->emulator);
        domain_def_free(def);
        return 0;
}

/* ---- the host's CPUs and NUMA cells, from sysfs ---- */

typedef struct HostCpu {
        int id, socket, die, core, node;
        char siblings[64];
} HostCpu;

typedef struct HostTopology {
        HostCpu *cpus;
        size_t n_cpus;
        int n_nodes;              /* NUMA cells (1 when sysfs has none) */
        int node_ids[64];         /* their ids, ascending */
        unsigned sockets, dies, cores, threads;   /* per host; per socket; per die... as libvirt counts */
} HostTopology;

static int sysfs_int(const char *fmt, int a, int fallback) {
        _cleanup_free_ char *path = g_strdup_printf(fmt, a), *text = NULL;

        if (read_full_file(path, 64, &text, NULL) < 0)
                return fallback;
        return (int) g_ascii_strtoll(text, NULL, 10);
}

/* Parses a sysfs CPU list ("0-3,8,10-11"); calls fn for each CPU. */
static void cpulist_foreach(const char *list, void (*fn)(int cpu, void *userdata), void *userdata) {
        char **parts = g_strsplit(list, ",", -1);

        for (char **p = parts; *p; p++) {
                char *end;
                long a = strtol(*p, &end, 10), b = a;

                if (end == *p)
                        continue;
                if (*end == '-')
                        b = strtol(end + 1, NULL, 10);
                for (long i = a; i <= b && i - a < 65536; i++)
                        fn((int) i, userdata);
        }
        g_strfreev(parts);
}

static void add_cpu(int cpu, void *userdata) {
        GArray *a = userdata;
        HostCpu c = { .id = cpu, .node = 0 };
        _cleanup_free_ char *path = g_strdup_printf("/sys/devices/system/cpu/cpu%d/topology/thread_siblings_list", cpu);
        _cleanup_free_ char *text = NULL;

        c.socket = sysfs_int("/sys/devices/system/cpu/cpu%d/topology/physical_package_id", cpu, 0);
        c.die = sysfs_int("/sys/devices/system/cpu/cpu%d/topology/die_id", cpu, 0);
        c.core = sysfs_int("/sys/devices/system/cpu/cpu%d/topology/core_id", cpu, cpu);
        if (read_full_file(path, 4096, &text, NULL) >= 0)
                g_strlcpy(c.siblings, g_strstrip(text), sizeof(c.siblings));
        else
                snprintf(c.siblings, sizeof(c.siblings), "%d", cpu);
        g_array_append_val(a, c);
}

typedef struct NodeMark {
        HostTopology *t;
        int node;
} NodeMark;

static void mark_node(int cpu, void *userdata) {
        NodeMark *m = userdata;

        for (size_t i = 0; i < m->t->n_cpus; i++)
                if (m->t->cpus[i].id == cpu)
                        m->t->cpus[i].node = m->node;
}

static void host_topology_done(HostTopology *t) {
        g_free(t->cpus);
        *t = (HostTopology) {};
}

/* The online CPUs with socket/die/core ids and their NUMA node; counts as libvirt's <topology>. */
static void host_topology_read(HostTopology *t) {
        _cleanup_free_ char *online = NULL;
        GArray *a = g_array_new(FALSE, TRUE, sizeof(HostCpu));
        GHashTable *sockets = g_hash_table_new(g_direct_hash, g_direct_equal);
        GHashTable *cores = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        glob_t g = {};

        *t = (HostTopology) {};
        if (read_full_file("/sys/devices/system/cpu/online", 4096, &online, NULL) >= 0)
                cpulist_foreach(g_strstrip(online), add_cpu, a);
        if (a->len == 0)
                for (long i = 0, n = sysconf(_SC_NPROCESSORS_ONLN); i < n; i++)
                        add_cpu((int) i, a);
        t->n_cpus = a->len;
        t->cpus = (HostCpu *) g_array_free(a, FALSE);

        t->n_nodes = 1;
        t->node_ids[0] = 0;
        if (glob("/sys/devices/system/node/node[0-9]*", 0, NULL, &g) == 0 && g.gl_pathc > 0) {
                t->n_nodes = 0;
                for (size_t i = 0; i < g.gl_pathc && t->n_nodes < (int) ELEMENTSOF(t->node_ids); i++) {
                        _cleanup_free_ char *path = g_build_filename(g.gl_pathv[i], "cpulist", NULL), *list = NULL;
                        NodeMark mark = { t, (int) g_ascii_strtoll(strrchr(g.gl_pathv[i], 'e') + 1, NULL, 10) };

                        t->node_ids[t->n_nodes++] = mark.node;
                        if (read_full_file(path, 4096, &list, NULL) >= 0)
                                cpulist_foreach(g_strstrip(list), mark_node, &mark);
                }
                /* glob sorts by name: node10 before node2 */
                for (int i = 1; i < t->n_nodes; i++)
                        for (int j = i; j > 0 && t->node_ids[j - 1] > t->node_ids[j]; j--) {
                                int x = t->node_ids[j];
                                t->node_ids[j] = t->node_ids[j - 1];
                                t->node_ids[j - 1] = x;
                        }
        }
        globfree(&g);

        for (size_t i = 0; i < t->n_cpus; i++) {
                g_hash_table_add(sockets, GINT_TO_POINTER(t->cpus[i].socket + 1));
                g_hash_table_add(cores, g_strdup_printf("%d/%d/%d", t->cpus[i].socket, t->cpus[i].die, t->cpus[i].core));
        }
        t->sockets = MAX(g_hash_table_size(sockets), 1u);
        t->dies = 1;
        t->cores = MAX(g_hash_table_size(cores) / t->sockets, 1u);
        t->threads = MAX((unsigned) t->n_cpus / (t->cores * t->sockets), 1u);
        g_hash_table_destroy(sockets);
        g_hash_table_destroy(cores);
}

/* MemTotal of NUMA node `node` in KiB (the host's when sysfs has no node). */
static uint64_t node_memory_kib(int node) {
        _cleanup_free_ char *path = g_strdup_printf("/sys/devices/system/node/node%d/meminfo", node), *text = NULL;
        const char *p;

        if (read_full_file(path, 1u << 16, &text, NULL) < 0 &&
            read_full_file("/proc/meminfo", 1u << 20, &text, NULL) < 0)
                return 0;
        p = strstr(text, "MemTotal:");
        return p ? g_ascii_strtoull(p + strlen("MemTotal:"), NULL, 10) : 0;
}

/* /etc/machine-id as a UUID, or NULL. */
static char *host_uuid(void) {
        _cleanup_free_ char *text = NULL;
        char *id;

        if (read_full_file("/etc/machine-id", 64, &text, NULL) < 0)
                return NULL;
        id = g_strstrip(text);
        if (strlen(id) != 32)
                return NULL;
        return g_strdup_printf("%.8s-%.4s-%.4s-%.4s-%.12s", id, id + 8, id + 12, id + 16, id + 20);
}

int node_capabilities_xml(Manager *m, char **ret) {
        static const char *const aliases[] = { "pc", "q35" };
        _cleanup_free_ char *uuid = NULL;
        HostTopology t;
        struct utsname u;
        GString *s;
        char *emulator = NULL;

        if (m->capabilities_xml) {
                *ret = g_strdup(m->capabilities_xml);
                return 0;
        }
        if (uname(&u) < 0)
                return -errno;
        host_topology_read(&t);
        uuid = host_uuid();
        s = g_string_new("<capabilities>\n  <host>\n");
        if (uuid)
                g_string_append_printf(s, "    <uuid>%s</uuid>\n", uuid);
        g_string_append(s, "    <cpu>\n");
        g_string_append_printf(s, "      <arch>%s</arch>\n", u.machine);
        g_string_append_printf(s, "      <topology sockets='%u' dies='%u' cores='%u' threads='%u'/>\n", t.sockets,
                               t.dies, t.cores, t.threads);
        g_string_append(s, "    </cpu>\n    <power_management/>\n    <iommu support='no'/>\n");
        g_string_append_printf(s, "    <topology>\n      <cells num='%d'>\n", t.n_nodes);
        for (int k = 0; k < t.n_nodes; k++) {
                int node = t.node_ids[k];
                size_t n = 0;

                for (size_t i = 0; i < t.n_cpus; i++)
                        n += t.cpus[i].node == node;
                g_string_append_printf(s, "        <cell id='%d'>\n          <memory unit='KiB'>%" PRIu64 "</memory>\n"
                                       "          <cpus num='%zu'>\n", node, node_memory_kib(node), n);
                for (size_t i = 0; i < t.n_cpus; i++)
                        if (t.cpus[i].node == node)
                                g_string_append_printf(s, "            <cpu id='%d' socket_id='%d' die_id='%d' "
                                                       "core_id='%d' siblings='%s'/>\n", t.cpus[i].id,
                                                       t.cpus[i].socket, t.cpus[i].die, t.cpus[i].core,
                                                       t.cpus[i].siblings);
                g_string_append(s, "          </cpus>\n        </cell>\n");
        }
        g_string_append(s, "      </cells>\n    </topology>\n  </host>\n");
        host_topology_done(&t);

        g_string_append(s, "  <guest>\n    <os_type>hvm</os_type>\n    <arch name='x86_64'>\n"
                           "      <wordsize>64</wordsize>\n");
        for (size_t i = 0; i < ELEMENTSOF(aliases); i++) {
                _cleanup_free_ char *machine = NULL;
                if (resolve_machine(m, aliases[i], &machine, emulator ? NULL : &emulator) < 0 || !machine)
                        continue;
                if (i == 0 && emulator)
                        g_string_append_printf(s, "      <emulator>%s</emulator>\n", emulator);
                g_string_append_printf(s, "      <machine maxCpus='255'>%s</machine>\n", machine);
                if (!streq(machine, aliases[i]))
                        g_string_append_printf(s, "      <machine canonical='%s' maxCpus='255'>%s</machine>\n",
                                               machine, aliases[i]);
        }
        g_free(emulator);
        for (size_t i = 0; i < m->n_drivers; i++)
                for (const char *const *t = m->drivers[i].ops->domain_types; m->drivers[i].usable && t && *t; t++) {
                        if (streq(*t, "kvm") && access("/dev/kvm", R_OK | W_OK) < 0)
                                continue;   /* accelerated only where the kernel offers it */
                        g_string_append_printf(s, "      <domain type='%s'/>\n", *t);
                }
        g_string_append(s, "    </arch>\n    <features>\n      <acpi default='on' toggle='yes'/>\n"
                           "      <apic default='on' toggle='no'/>\n      <pae/>\n      <nonpae/>\n"
                           "    </features>\n  </guest>\n</capabilities>\n");
        m->capabilities_xml = g_string_free(s, FALSE);
        *ret = g_strdup(m->capabilities_xml);
        return 0;
}

/* Value of "key:" in a /proc file of "key: value" lines, or NULL. */
static char *proc_field(const char *text, const char *key) {
        size_t n = strlen(key);

        for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
                if (strncmp(p, key, n) == 0 && (p[n] == ':' || p[n] == ' ' || p[n] == '\t')) {
                        const char *v = p + n;
                        const char *end;
                        while (*v == ' ' || *v == '\t' || *v == ':')
                                v++;
                        end = strchrnul(v, '\n');
                        return g_strndup(v, (gsize) (end - v));
                }
        }
        return NULL;
}

static uint64_t proc_field_u64(const char *text, const char *key) {
        _cleanup_free_ char *v = proc_field(text, key);
        return v ? g_ascii_strtoull(v, NULL, 10) : 0;
}

static int dict_u32(sd_bus_message *reply, const char *key, uint32_t v) {
        return sd_bus_message_append(reply, "{sv}", key, "u", v);
}

static int dict_u64(sd_bus_message *reply, const char *key, uint64_t v) {
        return sd_bus_message_append(reply, "{sv}", key, "t", v);
}

int node_info_append(sd_bus_message *reply) {
        _cleanup_free_ char *cpuinfo = NULL, *meminfo = NULL, *mhz = NULL;
        HostTopology t;
        struct utsname u;
        uint32_t cpus, nodes, n_sockets, cores, threads;
        int r;

        if (uname(&u) < 0)
                return -errno;
        r = read_full_file("/proc/cpuinfo", 16u << 20, &cpuinfo, NULL);
        if (r < 0)
                return r;
        r = read_full_file("/proc/meminfo", 1u << 20, &meminfo, NULL);
        if (r < 0)
                return r;
        host_topology_read(&t);
        cpus = (uint32_t) t.n_cpus;
        nodes = (uint32_t) t.n_nodes;
        /* as virsh nodeinfo: sockets per NUMA node, cores per socket, threads per core */
        n_sockets = MAX(t.sockets / nodes, 1u);
        cores = t.cores;
        threads = t.threads;
        host_topology_done(&t);
        mhz = proc_field(cpuinfo, "cpu MHz");

        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "{sv}", "model", "s", u.machine);
        if (r >= 0)
                r = dict_u32(reply, "cpus", cpus);
        if (r >= 0)
                r = dict_u32(reply, "mhz", mhz ? (uint32_t) g_ascii_strtod(mhz, NULL) : 0);
        if (r >= 0)
                r = dict_u32(reply, "nodes", nodes);
        if (r >= 0)
                r = dict_u32(reply, "sockets", n_sockets);
        if (r >= 0)
                r = dict_u32(reply, "cores", cores);
        if (r >= 0)
                r = dict_u32(reply, "threads", threads ?: 1);
        if (r >= 0)
                r = dict_u64(reply, "memory_kib", proc_field_u64(meminfo, "MemTotal"));
        if (r < 0)
                return r;
        return sd_bus_message_close_container(reply);
}

/* One "cpuN ..." or "cpu ..." line of /proc/stat as the {sv} keys PREFIX_user_ns, … */
static int append_cpu_times(sd_bus_message *reply, const char *prefix, const char *line) {
        unsigned long long user = 0, nice = 0, sys = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
        uint64_t ns_per_tick = 1000000000ull / (uint64_t) sysconf(_SC_CLK_TCK);
        const char *p = strchr(line, ' ');
        int r;

        if (!p || sscanf(p, " %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &sys, &idle, &iowait, &irq,
                         &softirq, &steal) < 4)
                return -EIO;
#define KEY(k) g_strdup_printf("%s%s", prefix, k)
        _cleanup_free_ char *k1 = KEY("user_ns"), *k2 = KEY("kernel_ns"), *k3 = KEY("idle_ns"), *k4 = KEY("iowait_ns");
#undef KEY
        r = dict_u64(reply, k1, (user + nice) * ns_per_tick);
        if (r >= 0)
                r = dict_u64(reply, k2, (sys + irq + softirq) * ns_per_tick);
        if (r >= 0)
                r = dict_u64(reply, k3, idle * ns_per_tick);
        if (r >= 0)
                r = dict_u64(reply, k4, iowait * ns_per_tick);
        return r;
}

int node_stats_append(sd_bus_message *reply) {
        _cleanup_free_ char *stat = NULL, *meminfo = NULL;
        char **lines;
        uint32_t n_cpus = 0;
        int r;

        r = read_full_file("/proc/stat", 16u << 20, &stat, NULL);
        if (r < 0)
                return r;
        r = read_full_file("/proc/meminfo", 1u << 20, &meminfo, NULL);
        if (r < 0)
                return r;
        if (!g_str_has_prefix(stat, "cpu "))
                return -EIO;

        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        /* the host's totals as cpu_*_ns, each online CPU's as cpu.N.*_ns (virsh nodecpustats [--cpu N]) */
        lines = g_strsplit(stat, "\n", -1);
        for (char **l = lines; r >= 0 && *l; l++) {
                if (g_str_has_prefix(*l, "cpu "))
                        r = append_cpu_times(reply, "cpu_", *l);
                else if (g_str_has_prefix(*l, "cpu") && g_ascii_isdigit((*l)[3])) {
                        _cleanup_free_ char *prefix = g_strdup_printf("cpu.%d.", atoi(*l + 3));
                        r = append_cpu_times(reply, prefix, *l);
                        n_cpus++;
                }
        }
        g_strfreev(lines);
        if (r >= 0)
                r = dict_u32(reply, "cpus", n_cpus);
        if (r >= 0)
                r = dict_u64(reply, "memory_total_kib", proc_field_u64(meminfo, "MemTotal"));
        if (r >= 0)
                r = dict_u64(reply, "memory_free_kib", proc_field_u64(meminfo, "MemFree"));
        if (r >= 0)
                r = dict_u64(reply, "memory_available_kib", proc_field_u64(meminfo, "MemAvailable"));
        if (r >= 0)
                r = dict_u64(reply, "memory_buffers_kib", proc_field_u64(meminfo, "Buffers"));
        if (r >= 0)
                r = dict_u64(reply, "memory_cached_kib", proc_field_u64(meminfo, "Cached"));
        if (r < 0)
                return r;
        return sd_bus_message_close_container(reply);
}
