/* domain-stats.c — Domain.GetStats and Manager.GetAllDomainStats: a domain's counters with libvirt's
 * typed-parameter names (virsh domstats), collected from the drivers without waiting on any one of them
 * longer than the caller's timeout. Reads: no polkit (as GetXML without secrets). */
#include <errno.h>
#include <string.h>

#include "bus-util.h"
#include "domain-stats.h"
#include "domain.h"
#include "log.h"

#define STATS_GROUP_STATE (1u << 16)     /* answered by the service itself */
#define STATS_GROUPS_ALL                                                                                      \
        (STATS_GROUP_STATE | DRIVER_STATS_CPU | DRIVER_STATS_BALLOON | DRIVER_STATS_VCPU | DRIVER_STATS_INTERFACE | \
         DRIVER_STATS_BLOCK | DRIVER_STATS_PERF)
#define STATS_TIMEOUT_MS_DEFAULT 5000u

/* virsh domstats' group names (and the short ones of the flags) */
static const struct {
        const char *name;
        unsigned group;
} stats_groups[] = {
        { "state", STATS_GROUP_STATE },        { "cpu-total", DRIVER_STATS_CPU },
        { "cpu", DRIVER_STATS_CPU },           { "balloon", DRIVER_STATS_BALLOON },
        { "vcpu", DRIVER_STATS_VCPU },         { "interface", DRIVER_STATS_INTERFACE },
        { "net", DRIVER_STATS_INTERFACE },     { "block", DRIVER_STATS_BLOCK },
        { "perf", DRIVER_STATS_PERF },
};

typedef struct StatsOptions {
        unsigned groups;
        uint32_t timeout_ms;
        bool enforce;
        /* GetAllDomainStats: which domains (virsh domstats --list-*); none set: all */
        bool active, inactive, persistent, transient, running, paused, shutoff, other;
        char **domains;            /* names or UUIDs; NULL: by the flags */
} StatsOptions;

static void stats_options_clear(StatsOptions *o) {
        g_strfreev(o->domains);
        o->domains = NULL;
}

static int parse_groups(sd_bus_message *m, unsigned *ret, sd_bus_error *error) {
        const char *name;
        unsigned groups = 0;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "s");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read_basic(m, 's', &name)) > 0) {
                size_t i;

                for (i = 0; i < ELEMENTSOF(stats_groups); i++)
                        if (streq(stats_groups[i].name, name))
                                break;
                if (i == ELEMENTSOF(stats_groups))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Unknown statistics group '%s' (state, cpu-total, balloon, vcpu, "
                                                 "interface, block, perf)", name);
                groups |= stats_groups[i].group;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        *ret = groups;
        return 0;
}

static int read_strv(sd_bus_message *m, char ***ret) {
        GPtrArray *a = g_ptr_array_new();
        const char *s;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "s");
        while (r >= 0 && (r = sd_bus_message_read_basic(m, 's', &s)) > 0)
                g_ptr_array_add(a, g_strdup(s));
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        g_ptr_array_add(a, NULL);
        if (r < 0) {
                g_strfreev((char **) g_ptr_array_free(a, FALSE));
                return r;
        }
        *ret = (char **) g_ptr_array_free(a, FALSE);
        return 0;
}

/* The options dict: groups (as, GetStats only), timeout_ms (u), enforce (b) and, for GetAllDomainStats,
 * domains (as) and the list flags. */
static int parse_options(sd_bus_message *m, bool all, StatsOptions *o, sd_bus_error *error) {
        const struct {
                const char *key;
                bool *ret;
        } flags[] = {
                { "active", &o->active },       { "inactive", &o->inactive }, { "persistent", &o->persistent },
                { "transient", &o->transient }, { "running", &o->running },   { "paused", &o->paused },
                { "shutoff", &o->shutoff },     { "other", &o->other },       { "enforce", &o->enforce },
        };
        int r;

        o->timeout_ms = STATS_TIMEOUT_MS_DEFAULT;
        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key, *type;
                size_t i;

                r = sd_bus_message_read_basic(m, 's', &key);
                if (r < 0)
                        return r;
                r = sd_bus_message_peek_type(m, NULL, &type);
                if (r < 0)
                        return r;
                for (i = 0; i < ELEMENTSOF(flags); i++)
                        if ((all || streq(flags[i].key, "enforce")) && streq(key, flags[i].key))
                                break;
                if (i < ELEMENTSOF(flags) && streq(type, "b")) {
                        int b;
                        r = sd_bus_message_read(m, "v", "b", &b);
                        *flags[i].ret = b;
                } else if (streq(key, "timeout_ms") && streq(type, "u"))
                        r = sd_bus_message_read(m, "v", "u", &o->timeout_ms);
                else if (!all && streq(key, "groups") && streq(type, "as")) {
                        r = sd_bus_message_enter_container(m, 'v', "as");
                        if (r >= 0)
                                r = parse_groups(m, &o->groups, error);
                        if (r >= 0)
                                r = sd_bus_message_exit_container(m);
                } else if (all && streq(key, "domains") && streq(type, "as") && !o->domains) {
                        r = sd_bus_message_enter_container(m, 'v', "as");
                        if (r >= 0)
                                r = read_strv(m, &o->domains);
                        if (r >= 0)
                                r = sd_bus_message_exit_container(m);
                } else
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Unknown option '%s' or wrong type '%s'", key, type);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        return 0;
}

/* enforce: a group asked for by name that this host cannot give is an error (else it is left out) */
static int check_enforce(const StatsOptions *o, bool named, sd_bus_error *error) {
        if (o->enforce && named && (o->groups & DRIVER_STATS_PERF))
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED,
                                         "perf statistics are not available on this host");
        return 0;
}

/* ---- state, as libvirt's numbers (virDomainState and its reasons) ---- */

static uint32_t libvirt_state(DomainState s) {
        static const uint32_t map[_DOMAIN_STATE_MAX] = {
                [DOMAIN_STATE_RUNNING] = 1, [DOMAIN_STATE_PAUSED] = 3,  [DOMAIN_STATE_SHUTDOWN] = 4,
                [DOMAIN_STATE_SHUTOFF] = 5, [DOMAIN_STATE_CRASHED] = 6, [DOMAIN_STATE_PMSUSPENDED] = 7,
        };
        return (unsigned) s < _DOMAIN_STATE_MAX ? map[s] : 0;
}

static uint32_t libvirt_reason(DomainState s, const char *reason) {
        static const char *const running[] = { "unknown", "booted", "migrated", "restored", "from-snapshot",
                                               "unpaused", "migration-canceled", "save-canceled", "wakeup",
                                               "crashed", "postcopy", "postcopy-failed", NULL };
        static const char *const paused[] = { "unknown", "user", "migration", "saving", "dumping", "io-error",
                                              "watchdog", "from-snapshot", "shutting-down", "snapshot", "crashed",
                                              "starting-up", "postcopy", "postcopy-failed", "api-error", NULL };
        static const char *const shutdown[] = { "unknown", "user", NULL };
        static const char *const shutoff[] = { "unknown", "shutdown", "destroyed", "crashed", "migrated", "saved",
                                               "failed", "from-snapshot", "daemon", NULL };
        static const char *const crashed[] = { "unknown", "panicked", NULL };
        const char *const *l = s == DOMAIN_STATE_RUNNING ? running : s == DOMAIN_STATE_PAUSED ? paused :
                               s == DOMAIN_STATE_SHUTDOWN ? shutdown : s == DOMAIN_STATE_SHUTOFF ? shutoff :
                               s == DOMAIN_STATE_CRASHED ? crashed : NULL;

        if (s == DOMAIN_STATE_PAUSED && streq_ptr(reason, "save"))
                return 3;
        if (s == DOMAIN_STATE_PAUSED && streq_ptr(reason, "dump"))
                return 4;
        for (uint32_t i = 0; l && reason && l[i]; i++)
                if (streq(l[i], reason))
                        return i;
        return 0;
}

/* ---- replies ---- */

static int append_u(sd_bus_message *m, const char *key, uint32_t v) {
        return sd_bus_message_append(m, "{sv}", key, "u", v);
}

/* One domain's a{sv}: the state group, the driver's stats (NULL: none), the legacy names of API.md. */
static int append_domain_stats(sd_bus_message *m, const VmDomain *d, unsigned groups, const DriverStats *st,
                               bool legacy) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        if (groups & STATS_GROUP_STATE) {
                r = append_u(m, "state.state", libvirt_state(d->state));
                if (r >= 0)
                        r = append_u(m, "state.reason", libvirt_reason(d->state, d->reason));
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; st && i < st->n; i++) {
                const DriverStat *e = &st->items[i];

                if (e->type == DRIVER_STAT_STRING)
                        r = sd_bus_message_append(m, "{sv}", e->key, "s", strempty(e->s));
                else
                        r = sd_bus_message_append(m, "{sv}", e->key, "t", e->u);
                if (r >= 0 && legacy && streq(e->key, "cpu.time"))
                        r = sd_bus_message_append(m, "{sv}", "cpu_time_ns", "t", e->u);
                if (r >= 0 && legacy && streq(e->key, "balloon.current"))
                        r = sd_bus_message_append(m, "{sv}", "balloon_current_kib", "t", e->u);
                if (r < 0)
                        return r;
        }
        if (st && st->incomplete) {
                r = sd_bus_message_append(m, "{sv}", "incomplete", "b", 1);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(m);
}

static void stats_copy(DriverStats *dst, const DriverStats *src) {
        dst->n = dst->n_allocated = src->n;
        dst->items = g_new0(DriverStat, src->n ?: 1);
        dst->incomplete = src->incomplete;
        for (size_t i = 0; i < src->n; i++) {
                dst->items[i] = src->items[i];
                dst->items[i].key = g_strdup(src->items[i].key);
                dst->items[i].s = g_strdup(src->items[i].s);
        }
}

static void stats_clear(DriverStats *st) {
        for (size_t i = 0; i < st->n; i++) {
                g_free(st->items[i].key);
                g_free(st->items[i].s);
        }
        g_free(st->items);
        *st = (DriverStats) {};
}

/* Asks d's driver for the groups it answers; 1 when fn will be called, 0 when the driver has nothing
 * to say (not running, still starting, no statistics), negative errno. */
static int domain_stats_ask(VmDomain *d, unsigned groups, uint32_t timeout_ms, DriverStatsFn fn, void *userdata) {
        unsigned driver_groups = groups & ~STATS_GROUP_STATE;
        int r;

        if (!vm_domain_is_active(d) || !d->drv->ops->get_stats || !driver_groups)
                return 0;
        r = d->drv->ops->get_stats(d->rt, driver_groups, (uint64_t) timeout_ms * 1000u, fn, userdata);
        if (r == -EBUSY || r == -ESRCH)
                return 0;
        return r < 0 ? r : 1;
}

/* ---- Domain.GetStats ---- */

typedef struct DomainStatsCall {
        sd_bus_message *message;
        VmDomain *domain;
        unsigned groups;
        bool asked;                 /* get_stats returned: the answer may be sent from the callback */
        bool answered;
} DomainStatsCall;

static void domain_stats_call_free(DomainStatsCall *c) {
        sd_bus_message_unref(c->message);
        vm_domain_unref(c->domain);
        g_free(c);
}

static int domain_stats_reply(sd_bus_message *message, const VmDomain *d, unsigned groups, const DriverStats *st) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(message, &reply);
        if (r >= 0)
                r = append_domain_stats(reply, d, groups, st, true);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        return r;
}

static void on_domain_stats(void *userdata, const DriverStats *st) {
        DomainStatsCall *c = userdata;
        int r;

        r = domain_stats_reply(c->message, c->domain, c->groups, st);
        if (r < 0) {
                log_warning_errno(r, "Failed to answer GetStats of domain '%s': %m", c->domain->name);
                (void) sd_bus_reply_method_errorf(c->message, VM_ERROR_OPERATION_FAILED,
                                                  "Failed to collect statistics of domain '%s'", c->domain->name);
        }
        c->answered = true;
        if (c->asked)
                domain_stats_call_free(c);
}

int vm_domain_method_get_stats(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        StatsOptions o = {};
        DomainStatsCall *c;
        int r;

        r = parse_options(message, false, &o, error);
        stats_options_clear(&o);
        if (r >= 0)
                r = check_enforce(&o, o.groups != 0, error);
        if (r < 0)
                return r;
        o.groups = o.groups ?: STATS_GROUPS_ALL;
        c = g_new0(DomainStatsCall, 1);
        c->message = sd_bus_message_ref(message);
        c->domain = vm_domain_ref(d);
        c->groups = o.groups;
        r = domain_stats_ask(d, o.groups, o.timeout_ms, on_domain_stats, c);
        if (r <= 0) {
                domain_stats_call_free(c);
                if (r < 0)
                        return bus_error_from_errno(error, r, NULL, "Failed to collect statistics");
                return domain_stats_reply(message, d, o.groups, NULL);
        }
        c->asked = true;
        if (c->answered)   /* the driver knew it all at once */
                domain_stats_call_free(c);
        return 1;
}

/* ---- Manager.GetAllDomainStats ---- */

typedef struct AllStatsCall AllStatsCall;

typedef struct AllStatsEntry {
        AllStatsCall *call;
        VmDomain *domain;
        DriverStats stats;
        bool have;
} AllStatsEntry;

struct AllStatsCall {
        sd_bus_message *message;
        unsigned groups;
        AllStatsEntry *entries;
        size_t n;
        unsigned pending;           /* answers still to come, + 1 while asking */
};

static void all_stats_free(AllStatsCall *c) {
        for (size_t i = 0; i < c->n; i++) {
                vm_domain_unref(c->entries[i].domain);
                stats_clear(&c->entries[i].stats);
        }
        g_free(c->entries);
        sd_bus_message_unref(c->message);
        g_free(c);
}

static int all_stats_reply(AllStatsCall *c) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(c->message, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(oa{sv})");
        for (size_t i = 0; r >= 0 && i < c->n; i++) {
                const AllStatsEntry *e = &c->entries[i];

                r = sd_bus_message_open_container(reply, 'r', "oa{sv}");
                if (r >= 0)
                        r = sd_bus_message_append_basic(reply, 'o', e->domain->path);
                if (r >= 0)
                        r = append_domain_stats(reply, e->domain, c->groups, e->have ? &e->stats : NULL, false);
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        return r;
}

static void all_stats_release(AllStatsCall *c) {
        int r;

        if (--c->pending > 0)
                return;
        r = all_stats_reply(c);
        if (r < 0) {
                log_warning_errno(r, "Failed to answer GetAllDomainStats: %m");
                (void) sd_bus_reply_method_errorf(c->message, VM_ERROR_OPERATION_FAILED,
                                                  "Failed to collect domain statistics");
        }
        all_stats_free(c);
}

static void on_entry_stats(void *userdata, const DriverStats *st) {
        AllStatsEntry *e = userdata;

        stats_copy(&e->stats, st);
        e->have = true;
        all_stats_release(e->call);
}

static bool domain_selected(const VmDomain *d, const StatsOptions *o) {
        bool active = vm_domain_is_active(d);

        if ((o->active || o->inactive) && !(active ? o->active : o->inactive))
                return false;
        if ((o->persistent || o->transient) && !(d->persistent ? o->persistent : o->transient))
                return false;
        if (o->running || o->paused || o->shutoff || o->other) {
                bool running = d->state == DOMAIN_STATE_RUNNING, paused = d->state == DOMAIN_STATE_PAUSED;
                bool shutoff = d->state == DOMAIN_STATE_SHUTOFF;
                if (!((o->running && running) || (o->paused && paused) || (o->shutoff && shutoff) ||
                      (o->other && !running && !paused && !shutoff)))
                        return false;
        }
        return true;
}

static gint compare_entries(gconstpointer a, gconstpointer b) {
        return strcmp(((const AllStatsEntry *) a)->domain->name, ((const AllStatsEntry *) b)->domain->name);
}

/* The domains the call names (each once), or those the flags select, sorted by name. */
static int all_stats_select(Manager *m, const StatsOptions *o, AllStatsCall *c, sd_bus_error *error) {
        GHashTableIter it;
        gpointer value;

        c->entries = g_new0(AllStatsEntry, g_hash_table_size(m->domains_by_name) + (o->domains ? g_strv_length(o->domains) : 0) + 1);
        if (o->domains) {
                for (char **n = o->domains; *n; n++) {
                        VmDomain *d = vm_domain_find(m, *n);
                        bool dup = false;

                        if (!d || d->hidden)
                                return sd_bus_error_setf(error, VM_ERROR_NO_SUCH_DOMAIN, "No domain '%s'", *n);
                        for (size_t i = 0; i < c->n; i++)
                                dup = dup || c->entries[i].domain == d;
                        if (!dup)
                                c->entries[c->n++].domain = vm_domain_ref(d);
                }
                return 0;
        }
        g_hash_table_iter_init(&it, m->domains_by_name);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                VmDomain *d = value;

                if (!d->hidden && domain_selected(d, o))
                        c->entries[c->n++].domain = vm_domain_ref(d);
        }
        qsort(c->entries, c->n, sizeof(AllStatsEntry), (int (*)(const void *, const void *)) compare_entries);
        return 0;
}

int vm_manager_method_get_all_domain_stats(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        StatsOptions o = {};
        AllStatsCall *c;
        unsigned groups;
        int r;

        r = parse_groups(message, &groups, error);
        if (r < 0)
                return r;
        r = parse_options(message, true, &o, error);
        if (r < 0) {
                stats_options_clear(&o);
                return r;
        }
        o.groups = groups;
        r = check_enforce(&o, groups != 0, error);
        if (r < 0) {
                stats_options_clear(&o);
                return r;
        }
        groups = o.groups = groups ?: STATS_GROUPS_ALL;
        c = g_new0(AllStatsCall, 1);
        c->message = sd_bus_message_ref(message);
        c->groups = groups;
        r = all_stats_select(m, &o, c, error);
        if (r < 0) {
                stats_options_clear(&o);
                all_stats_free(c);
                return r;
        }
        c->pending = 1;
        for (size_t i = 0; i < c->n; i++) {
                AllStatsEntry *e = &c->entries[i];

                e->call = c;
                c->pending++;
                r = domain_stats_ask(e->domain, groups, o.timeout_ms, on_entry_stats, e);
                if (r <= 0) {
                        if (r < 0)
                                log_warning_errno(r, "Failed to collect statistics of domain '%s': %m",
                                                  e->domain->name);
                        c->pending--;
                }
        }
        stats_options_clear(&o);
        all_stats_release(c);
        return 1;
}
