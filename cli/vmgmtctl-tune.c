/* vmgmtctl-tune.c — setvcpus, vcpucount, setmem, setmaxmem, vcpupin, emulatorpin, schedinfo, memtune,
 * blkiotune: a domain's vCPUs, memory and resource limits, with virsh's flags and output. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vmgmtctl.h"

#define MEMTUNE_UNLIMITED 9007199254740991ULL

/* --live/--config/--current as the call's options: --current (or nothing) sends neither. */
static int append_scope(sd_bus_message *m, const VerbArgs *a, int maximum, int guest) {
        return ctl_append_flags(m, "live", verb_flag(a, "live"), "config", verb_flag(a, "config"), "maximum", maximum,
                                "guest", guest, NULL);
}

static int check_scope(const VerbArgs *a) {
        if (verb_flag(a, "current") && (verb_flag(a, "live") || verb_flag(a, "config")))
                return ctl_error(-EINVAL, "--current cannot be combined with --live or --config");
        return 0;
}

/* A size in KiB: a number with an optional unit (KiB when none, as virsh's setmem; k/KiB, M/MiB …
 * binary, KB/MB … decimal, b/bytes). */
static int parse_kib(const char *s, uint64_t *ret) {
        static const char powers[] = "kmgtpe";
        char *end = NULL;
        unsigned long long n;
        uint64_t bytes_per = 1024;

        if (!s || !*s || s[0] == '-')
                return -EINVAL;
        errno = 0;
        n = strtoull(s, &end, 10);
        if (errno || end == s)
                return -EINVAL;
        if (strcasecmp(end, "b") == 0 || strcasecmp(end, "bytes") == 0)
                bytes_per = 1;
        else if (*end) {
                const char *p = strchr(powers, tolower((unsigned char) end[0]));
                unsigned base;

                if (!p)
                        return -EINVAL;
                if (end[1] == 0 || strcasecmp(end + 1, "ib") == 0)
                        base = 1024;
                else if (strcasecmp(end + 1, "b") == 0)
                        base = 1000;
                else
                        return -EINVAL;
                bytes_per = 1;
                for (long i = 0; i <= p - powers; i++)
                        bytes_per *= base;
        }
        if (n > UINT64_MAX / bytes_per)
                return -ERANGE;
        *ret = (n * bytes_per + 1023) / 1024;
        return 0;
}

static int tune_call(Context *c, const VerbArgs *a, const char *member, char **ret_name, sd_bus_message **ret) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = check_scope(a);
        if (r < 0)
                return r;
        r = domain_resolve(c, a->args[0], &path, ret_name);
        if (r < 0)
                return r;
        return ctl_new_call(c, path, VMGMT_DOMAIN_IFACE, member, ret);
}

static int send_built(Context *c, sd_bus_message *m, int r) {
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        return ctl_call(c, m, NULL);
}

/* ---- vCPUs ---- */

/* An unplug answers when the guest released the vCPUs, or after the
 * service's own 60 s: longer than the bus default. */
#define SETVCPUS_TIMEOUT_USEC (180ULL * 1000000ULL)

static int call_setvcpus(Context *c, sd_bus_message *m) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        ctl_polkit_agent_open_for(c, m);
        r = sd_bus_call(c->bus, m, SETVCPUS_TIMEOUT_USEC, &error, NULL);
        return r < 0 ? ctl_bus_error(&error, r) : 0;
}

int verb_setvcpus(Context *c, VerbArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *name = NULL;
        char *end = NULL;
        unsigned long n;
        int r;

        errno = 0;
        n = strtoul(a->args[1], &end, 10);
        if (errno || !end || *end || n == 0 || n > UINT32_MAX)
                return ctl_error(-EINVAL, "Invalid vCPU count '%s'", a->args[1]);
        r = tune_call(c, a, "SetVCPUs", &name, &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "u", (uint32_t) n);
        if (r >= 0)
                r = append_scope(m, a, verb_flag(a, "maximum"), verb_flag(a, "guest"));
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        return call_setvcpus(c, m);
}

/* <vcpu current='C'>M</vcpu> of a domain XML. */
static void xml_vcpus(const char *xml, unsigned *ret_max, unsigned *ret_cur) {
        const char *v = xml ? strstr(xml, "<vcpu") : NULL;
        const char *gt = v ? strchr(v, '>') : NULL;
        const char *cur = v ? strstr(v, "current='") : NULL;

        *ret_max = gt ? (unsigned) strtoul(gt + 1, NULL, 10) : 0;
        *ret_cur = cur && cur < gt ? (unsigned) strtoul(cur + 9, NULL, 10) : *ret_max;
}

int verb_vcpucount(Context *c, VerbArgs *a) {
        _cleanup_free_ char *path = NULL, *name = NULL, *config_xml = NULL, *live_xml = NULL;
        bool want_max = verb_flag(a, "maximum"), want_cur = verb_flag(a, "active");
        bool want_live = verb_flag(a, "live"), want_config = verb_flag(a, "config"), running;
        unsigned cmax = 0, ccur = 0, lmax = 0, lcur = 0;
        JsonWriter w;
        int r;

        r = check_scope(a);
        if (r < 0)
                return r;
        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        r = ctl_get_xml(c, path, VMGMT_DOMAIN_IFACE, true, false, &config_xml);
        if (r < 0)
                return r;
        r = ctl_get_xml(c, path, VMGMT_DOMAIN_IFACE, false, false, &live_xml);
        if (r < 0)
                return r;
        running = strstr(live_xml, " id='") && strstr(live_xml, " id='") < strchr(live_xml, '>');
        xml_vcpus(config_xml, &cmax, &ccur);
        xml_vcpus(live_xml, &lmax, &lcur);
        if (!want_max && !want_cur)
                want_max = want_cur = true;
        if (verb_flag(a, "current")) {
                want_live = running;
                want_config = !running;
        } else if (!want_live && !want_config) {
                want_config = true;
                want_live = running;
        }
        if (want_live && !running)
                return ctl_error(-ESRCH, "Domain '%s' is not running", name);
        if (c->json != JSON_FORMAT_OFF) {
                json_writer_init(&w, stdout, c->json);
                json_begin_object(&w);
                if (want_max && want_config)
                        json_member_unsigned(&w, "maximum_config", cmax);
                if (want_max && want_live)
                        json_member_unsigned(&w, "maximum_live", lmax);
                if (want_cur && want_config)
                        json_member_unsigned(&w, "current_config", ccur);
                if (want_cur && want_live)
                        json_member_unsigned(&w, "current_live", lcur);
                json_end_object(&w);
                return 0;
        }
        if (want_max && want_config)
                printf("%-12s %-12s %3u\n", "maximum", "config", cmax);
        if (want_max && want_live)
                printf("%-12s %-12s %3u\n", "maximum", "live", lmax);
        if (want_cur && want_config)
                printf("%-12s %-12s %3u\n", "current", "config", ccur);
        if (want_cur && want_live)
                printf("%-12s %-12s %3u\n", "current", "live", lcur);
        return 0;
}

/* ---- memory ---- */

static int verb_set_size(Context *c, VerbArgs *a, const char *member) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *name = NULL;
        uint64_t kib;
        int r;

        if (parse_kib(a->args[1], &kib) < 0 || kib == 0)
                return ctl_error(-EINVAL, "Invalid memory size '%s' (KiB, or with a unit: 512M, 2G)", a->args[1]);
        r = tune_call(c, a, member, &name, &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "t", kib);
        if (r >= 0)
                r = append_scope(m, a, 0, 0);
        return send_built(c, m, r);
}

int verb_setmem(Context *c, VerbArgs *a) {
        return verb_set_size(c, a, "SetMemory");
}

int verb_setmaxmem(Context *c, VerbArgs *a) {
        return verb_set_size(c, a, "SetMaxMemory");
}

/* ---- pinning ---- */

/* What a getter answered: its keys in order, each value as text. */
typedef struct Params {
        char **keys, **values;
        size_t n;
} Params;

static void params_done(Params *p) {
        for (size_t i = 0; i < p->n; i++) {
                free(p->keys[i]);
                free(p->values[i]);
        }
        free(p->keys);
        free(p->values);
        *p = (Params) {};
}

static int params_add(Params *p, const char *key, char *value) {
        char **k = realloc(p->keys, (p->n + 1) * sizeof(char *)), **v;

        if (!k) {
                free(value);
                return -ENOMEM;
        }
        p->keys = k;
        v = realloc(p->values, (p->n + 1) * sizeof(char *));
        if (!v) {
                free(value);
                return -ENOMEM;
        }
        p->values = v;
        p->keys[p->n] = strdup(key);
        p->values[p->n] = value;
        if (!p->keys[p->n])
                return -ENOMEM;
        p->n++;
        return 0;
}

/* One a{sv} value (s, t, x or u) as text (malloc'd); other types are skipped (*ret NULL). */
static int read_value_text(sd_bus_message *reply, char **ret) {
        const char *contents, *s;
        char type;
        uint64_t t;
        int64_t x;
        uint32_t u;
        int r;

        *ret = NULL;
        r = sd_bus_message_peek_type(reply, &type, &contents);
        if (r < 0)
                return r;
        if (streq(contents, "s") && (r = sd_bus_message_read(reply, "v", "s", &s)) >= 0)
                *ret = strdup(s);
        else if (streq(contents, "t") && (r = sd_bus_message_read(reply, "v", "t", &t)) >= 0)
                r = asprintf(ret, "%" PRIu64, t);
        else if (streq(contents, "x") && (r = sd_bus_message_read(reply, "v", "x", &x)) >= 0)
                r = asprintf(ret, "%" PRId64, x);
        else if (streq(contents, "u") && (r = sd_bus_message_read(reply, "v", "u", &u)) >= 0)
                r = asprintf(ret, "%" PRIu32, u);
        else if (r >= 0)
                return sd_bus_message_skip(reply, "v");
        if (r < 0)
                return r;
        return *ret ? 0 : -ENOMEM;
}

/* Calls getter(scope) and reads its a{sv} into *ret. */
static int get_params(Context *c, const VerbArgs *a, const char *path, const char *getter, Params *ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int r;

        *ret = (Params) {};
        r = ctl_new_call(c, path, VMGMT_DOMAIN_IFACE, getter, &m);
        if (r < 0)
                return r;
        r = append_scope(m, a, 0, 0);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        r = ctl_call(c, m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                const char *key;
                char *text = NULL;

                r = sd_bus_message_read(reply, "s", &key);
                if (r >= 0)
                        r = read_value_text(reply, &text);
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
                if (r >= 0 && text)
                        r = params_add(ret, key, text);
                else
                        free(text);
        }
        if (r < 0) {
                params_done(ret);
                return ctl_error(r, "Failed to read the reply of %s: %s", getter, strerror(-r));
        }
        return 0;
}

static const char *param_text(const char *v) {
        return streq(v, "9007199254740991") ? "unlimited" : v;   /* MEMTUNE_UNLIMITED */
}

static void print_params(Context *c, const Params *p, const char *first_key, const char *first) {
        JsonWriter w;

        if (c->json != JSON_FORMAT_OFF) {
                json_writer_init(&w, stdout, c->json);
                json_begin_object(&w);
                if (first_key)
                        json_member_string(&w, first_key, first);
                for (size_t i = 0; i < p->n; i++)
                        json_member_string(&w, p->keys[i], param_text(p->values[i]));
                json_end_object(&w);
                return;
        }
        if (first_key)
                printf("%-15s: %s\n", first_key, first);
        for (size_t i = 0; i < p->n; i++)
                printf("%-15s: %s\n", p->keys[i], param_text(p->values[i]));
}

static int show_pins(Context *c, const VerbArgs *a, const char *path, int only_vcpu, bool emulator) {
        Params p;
        JsonWriter w;
        int r;

        r = get_params(c, a, path, "GetVCPUPinInfo", &p);
        if (r < 0)
                return r;
        if (c->json != JSON_FORMAT_OFF) {
                json_writer_init(&w, stdout, c->json);
                json_begin_object(&w);
        } else if (ctl_quiet)
                ;   /* -q: the rows without their header */
        else if (emulator)
                printf("emulator: CPU Affinity\n----------------------------------\n");
        else
                printf("VCPU   CPU Affinity\n----------------------\n");
        for (size_t i = 0; i < p.n; i++) {
                const char *k = p.keys[i], *v = p.values[i];
                bool is_emulator = streq(k, "emulator");

                if (is_emulator != emulator ||
                    (only_vcpu >= 0 && (strncmp(k, "vcpu.", 5) != 0 || atoi(k + 5) != only_vcpu)))
                        continue;
                if (c->json != JSON_FORMAT_OFF)
                        json_member_string(&w, k, v);
                else if (emulator)
                        printf("       *: %s\n", v);
                else
                        printf("%4s   %s\n", k + 5, v);
        }
        if (c->json != JSON_FORMAT_OFF)
                json_end_object(&w);
        params_done(&p);
        return 0;
}

int verb_vcpupin(Context *c, VerbArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *path = NULL, *name = NULL;
        char *end = NULL;
        long vcpu = -1;
        int r;

        r = check_scope(a);
        if (r < 0)
                return r;
        if (a->n_args >= 2) {
                errno = 0;
                vcpu = strtol(a->args[1], &end, 10);
                if (errno || !end || *end || vcpu < 0 || vcpu > 4095)
                        return ctl_error(-EINVAL, "Invalid vCPU number '%s'", a->args[1]);
        }
        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        if (a->n_args < 3)
                return show_pins(c, a, path, (int) vcpu, false);
        r = ctl_new_call(c, path, VMGMT_DOMAIN_IFACE, "PinVCPU", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "us", (uint32_t) vcpu, streq(a->args[2], "r") ? "" : a->args[2]);
        if (r >= 0)
                r = append_scope(m, a, 0, 0);
        return send_built(c, m, r);
}

int verb_emulatorpin(Context *c, VerbArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *path = NULL, *name = NULL;
        int r;

        r = check_scope(a);
        if (r < 0)
                return r;
        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        if (a->n_args < 2)
                return show_pins(c, a, path, -1, true);
        r = ctl_new_call(c, path, VMGMT_DOMAIN_IFACE, "PinEmulator", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", streq(a->args[1], "r") ? "" : a->args[1]);
        if (r >= 0)
                r = append_scope(m, a, 0, 0);
        return send_built(c, m, r);
}

/* iothreadinfo DOMAIN; iothreadpin DOMAIN IOTHREAD CPULIST|r */
int verb_iothreadinfo(Context *c, VerbArgs *a) {
        _cleanup_free_ char *path = NULL, *name = NULL;
        Params p;
        JsonWriter w;
        int r;

        r = check_scope(a);
        if (r < 0)
                return r;
        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        r = get_params(c, a, path, "GetIOThreadInfo", &p);
        if (r < 0)
                return r;
        if (c->json != JSON_FORMAT_OFF) {
                json_writer_init(&w, stdout, c->json);
                json_begin_object(&w);
        } else if (!ctl_quiet)
                printf(" IOThread ID   CPU Affinity\n-----------------------------\n");
        for (size_t i = 0; i < p.n; i++) {
                if (strncmp(p.keys[i], "iothread.", 9) != 0)
                        continue;
                if (c->json != JSON_FORMAT_OFF)
                        json_member_string(&w, p.keys[i], p.values[i]);
                else
                        printf(" %-13s %s\n", p.keys[i] + 9, p.values[i]);
        }
        if (c->json != JSON_FORMAT_OFF)
                json_end_object(&w);
        params_done(&p);
        return 0;
}

int verb_iothreadpin(Context *c, VerbArgs *a) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *path = NULL, *name = NULL;
        char *end = NULL;
        unsigned long id;
        int r;

        r = check_scope(a);
        if (r < 0)
                return r;
        errno = 0;
        id = strtoul(a->args[1], &end, 10);
        if (errno || !end || *end || id == 0 || id > UINT32_MAX)
                return ctl_error(-EINVAL, "Invalid iothread id '%s'", a->args[1]);
        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        r = ctl_new_call(c, path, VMGMT_DOMAIN_IFACE, "PinIOThread", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "us", (uint32_t) id, streq(a->args[2], "r") ? "" : a->args[2]);
        if (r >= 0)
                r = append_scope(m, a, 0, 0);
        return send_built(c, m, r);
}

/* ---- typed parameters: schedinfo, memtune, blkiotune ---- */

typedef enum ParamType { PARAM_T, PARAM_X, PARAM_U, PARAM_S, PARAM_KIB } ParamType;

typedef struct ParamSpec {
        const char *option;             /* the verb's option, or the schedinfo --set key */
        const char *key;                /* the bus parameter */
        ParamType type;
} ParamSpec;

/* Appends key=value to the open a{sv}; PARAM_KIB: a size, -1 for unlimited. */
static int append_param(sd_bus_message *m, const ParamSpec *p, const char *value) {
        char *end = NULL;
        int r = -EINVAL;

        errno = 0;
        switch (p->type) {
        case PARAM_T: {
                unsigned long long v = strtoull(value, &end, 10);
                if (!errno && end && !*end && value[0] != '-')
                        r = sd_bus_message_append(m, "{sv}", p->key, "t", (uint64_t) v);
                break;
        }
        case PARAM_X: {
                long long v = strtoll(value, &end, 10);
                if (!errno && end && !*end)
                        r = sd_bus_message_append(m, "{sv}", p->key, "x", (int64_t) v);
                break;
        }
        case PARAM_U: {
                unsigned long v = strtoul(value, &end, 10);
                if (!errno && end && !*end && value[0] != '-' && v <= UINT32_MAX)
                        r = sd_bus_message_append(m, "{sv}", p->key, "u", (uint32_t) v);
                break;
        }
        case PARAM_S:
                r = sd_bus_message_append(m, "{sv}", p->key, "s", value);
                break;
        case PARAM_KIB: {
                uint64_t kib;
                if (streq(value, "-1"))
                        r = sd_bus_message_append(m, "{sv}", p->key, "t", (uint64_t) MEMTUNE_UNLIMITED);
                else if (parse_kib(value, &kib) >= 0)
                        r = sd_bus_message_append(m, "{sv}", p->key, "t", kib);
                break;
        }
        }
        return r == -EINVAL ? ctl_error(r, "Invalid value '%s' for %s", value, p->option) : r;
}

/* Sets what the options (or schedinfo's --set list) give, then prints what the getter reports. */
static int params_verb(Context *c, VerbArgs *a, const ParamSpec *specs, size_t n_specs, const char *setter,
                       const char *getter, const char *first_key, const char *first) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_free_ char *path = NULL, *name = NULL;
        _cleanup_free_ char *set = verb_value(a, "set") ? strdup(verb_value(a, "set")) : NULL;
        Params p;
        bool any = false;
        int r;

        r = check_scope(a);
        if (r < 0)
                return r;
        r = domain_resolve(c, a->args[0], &path, &name);
        if (r < 0)
                return r;
        r = ctl_new_call(c, path, VMGMT_DOMAIN_IFACE, setter, &m);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(m, 'a', "{sv}");
        for (size_t i = 0; r >= 0 && i < n_specs; i++) {
                const char *v = verb_value(a, specs[i].option);
                if (v) {
                        r = append_param(m, &specs[i], v);
                        any = true;
                }
        }
        if (r >= 0 && set) {
                char *save = NULL;
                for (char *it = strtok_r(set, ",", &save); r >= 0 && it; it = strtok_r(NULL, ",", &save)) {
                        char *eq = strchr(it, '=');
                        const ParamSpec *spec = NULL;
                        if (eq)
                                *eq = 0;
                        for (size_t i = 0; eq && i < n_specs; i++)
                                if (streq(specs[i].key, it))
                                        spec = &specs[i];
                        if (!spec)
                                return ctl_error(-EINVAL, "Invalid --set '%s' (KEY=VALUE, KEY one of the parameters shown)", it);
                        r = append_param(m, spec, eq + 1);
                        any = true;
                }
        }
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = append_scope(m, a, 0, 0);
        if (r < 0)
                return ctl_error(r, "Failed to build bus message: %s", strerror(-r));
        if (any) {
                r = ctl_call(c, m, NULL);
                if (r < 0)
                        return r;
        }
        r = get_params(c, a, path, getter, &p);
        if (r < 0)
                return r;
        print_params(c, &p, first_key, first);
        params_done(&p);
        return 0;
}

int verb_schedinfo(Context *c, VerbArgs *a) {
        static const ParamSpec specs[] = {
                { "cpu_shares", "cpu_shares", PARAM_T },
                { "vcpu_period", "vcpu_period", PARAM_T },
                { "vcpu_quota", "vcpu_quota", PARAM_X },
                { "emulator_period", "emulator_period", PARAM_T },
                { "emulator_quota", "emulator_quota", PARAM_X },
                { "global_period", "global_period", PARAM_T },
                { "global_quota", "global_quota", PARAM_X },
        };

        /* only --set: the specs' option names are not options of the verb */
        return params_verb(c, a, specs, ELEMENTSOF(specs), "SetSchedulerParameters", "GetSchedulerParameters",
                           "Scheduler", "posix");
}

int verb_memtune(Context *c, VerbArgs *a) {
        static const ParamSpec specs[] = {
                { "hard-limit", "hard_limit", PARAM_KIB },
                { "soft-limit", "soft_limit", PARAM_KIB },
                { "swap-hard-limit", "swap_hard_limit", PARAM_KIB },
        };

        return params_verb(c, a, specs, ELEMENTSOF(specs), "SetMemoryParameters", "GetMemoryParameters", NULL, NULL);
}

int verb_blkiotune(Context *c, VerbArgs *a) {
        static const ParamSpec specs[] = {
                { "weight", "weight", PARAM_U },
                { "device-weights", "device_weight", PARAM_S },
                { "device-read-bytes-sec", "device_read_bytes_sec", PARAM_S },
                { "device-write-bytes-sec", "device_write_bytes_sec", PARAM_S },
                { "device-read-iops-sec", "device_read_iops_sec", PARAM_S },
                { "device-write-iops-sec", "device_write_iops_sec", PARAM_S },
        };

        return params_verb(c, a, specs, ELEMENTSOF(specs), "SetBlkioParameters", "GetBlkioParameters", NULL, NULL);
}
