/* node-info.c — host facts: capabilities XML (libvirt's format), node info and node statistics. */
#include <errno.h>
#include <glob.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "domain.h"
#include "fileio.h"
#include "log.h"

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

int node_capabilities_xml(Manager *m, char **ret) {
        static const char *const aliases[] = { "pc", "q35" };
        struct utsname u;
        GString *s;
        char *emulator = NULL;
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);

        if (m->capabilities_xml) {
                *ret = g_strdup(m->capabilities_xml);
                return 0;
        }
        if (uname(&u) < 0)
                return -errno;
        s = g_string_new("<capabilities>\n  <host>\n    <cpu>\n");
        g_string_append_printf(s, "      <arch>%s</arch>\n", u.machine);
        g_string_append_printf(s, "      <topology sockets='1' dies='1' cores='%ld' threads='1'/>\n", cpus);
        g_string_append(s, "    </cpu>\n    <power_management/>\n    <iommu support='no'/>\n");
        g_string_append_printf(s, "    <topology>\n      <cells num='1'>\n        <cell id='0'>\n"
                               "          <cpus num='%ld'>\n", cpus);
        for (long i = 0; i < cpus; i++)
                g_string_append_printf(s, "            <cpu id='%ld' socket_id='0' die_id='0' core_id='%ld' siblings='%ld'/>\n",
                                       i, i, i);
        g_string_append(s, "          </cpus>\n        </cell>\n      </cells>\n    </topology>\n  </host>\n");

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
        GHashTable *sockets;
        struct utsname u;
        glob_t g = {};
        uint32_t cpus = (uint32_t) sysconf(_SC_NPROCESSORS_ONLN), nodes = 1, n_sockets, cores, threads;
        int r;

        if (uname(&u) < 0)
                return -errno;
        r = read_full_file("/proc/cpuinfo", 16u << 20, &cpuinfo, NULL);
        if (r < 0)
                return r;
        r = read_full_file("/proc/meminfo", 1u << 20, &meminfo, NULL);
        if (r < 0)
                return r;
        if (glob("/sys/devices/system/node/node[0-9]*", GLOB_NOSORT, NULL, &g) == 0)
                nodes = (uint32_t) g.gl_pathc;
        globfree(&g);

        sockets = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        for (const char *p = strstr(cpuinfo, "physical id"); p; p = strstr(p + 1, "physical id")) {
                const char *end = strchrnul(p, '\n');
                g_hash_table_add(sockets, g_strndup(p, (gsize) (end - p)));
        }
        n_sockets = g_hash_table_size(sockets) ?: 1;
        g_hash_table_destroy(sockets);
        cores = (uint32_t) proc_field_u64(cpuinfo, "cpu cores") ?: cpus / n_sockets;
        threads = cores > 0 ? cpus / (cores * n_sockets) : 1;
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

int node_stats_append(sd_bus_message *reply) {
        _cleanup_free_ char *stat = NULL, *meminfo = NULL;
        unsigned long long user = 0, nice = 0, sys = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
        uint64_t ns_per_tick = 1000000000ull / (uint64_t) sysconf(_SC_CLK_TCK);
        int r;

        r = read_full_file("/proc/stat", 16u << 20, &stat, NULL);
        if (r < 0)
                return r;
        r = read_full_file("/proc/meminfo", 1u << 20, &meminfo, NULL);
        if (r < 0)
                return r;
        if (sscanf(stat, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &sys, &idle, &iowait, &irq,
                   &softirq, &steal) < 4)
                return -EIO;

        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        r = dict_u64(reply, "cpu_user_ns", (user + nice) * ns_per_tick);
        if (r >= 0)
                r = dict_u64(reply, "cpu_kernel_ns", (sys + irq + softirq) * ns_per_tick);
        if (r >= 0)
                r = dict_u64(reply, "cpu_idle_ns", idle * ns_per_tick);
        if (r >= 0)
                r = dict_u64(reply, "cpu_iowait_ns", iowait * ns_per_tick);
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
