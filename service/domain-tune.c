/* domain-tune.c — org.vmgmt.Domain: SetVCPUs, SetMemory, SetMaxMemory, the scheduler, memory and
 * blkio parameters, PinVCPU, PinEmulator, GetVCPUPinInfo. The running domain through its driver,
 * the persistent definition here. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "bus-util.h"
#include "domain-tune.h"
#include "domain.h"
#include "log.h"

#define VCPU_UNPLUG_TIMEOUT_USEC (60 * 1000000ULL)   /* a guest under a loaded TCG host is slow to let go */

static const char DOMAIN_IFACE[] = "org.vmgmt.Domain";

void vm_domain_live_def_changed(void *owner) {
        VmDomain *d = owner;

        if (!d->manager->ready || d->hidden || !d->manager->bus)
                return;
        (void) sd_bus_emit_properties_changed(d->manager->bus, d->path, DOMAIN_IFACE, "VCPUs", "MemoryKiB", NULL);
}

/* ---- live and config ---- */

typedef struct Scope {
        bool live, config;
} Scope;

/* libvirt's AFFECT_CURRENT (neither given): the running domain, else the definition. */
static int scope_resolve(VmDomain *d, bool live, bool config, Scope *ret, sd_bus_error *error) {
        bool active = vm_domain_is_active(d) && d->rt;

        if (!live && !config) {
                live = active;
                config = !active;
        }
        if (live && !active)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Domain '%s' is not running", d->name);
        if (config && !d->persistent)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE,
                                         "Domain '%s' is transient: it has no persistent definition to change",
                                         d->name);
        *ret = (Scope) { .live = live, .config = config };
        return 0;
}

typedef int (*DefEditFn)(DomainDef *def, void *userdata, sd_bus_error *error);

/* Changes the persistent definition with fn on a copy, writes it (durably)
 * and makes it d's: the pending one while d runs. */
static int config_change(VmDomain *d, DefEditFn fn, void *userdata, sd_bus_error *error) {
        DomainDef *def = domain_def_copy(vm_domain_inactive_def(d));
        _cleanup_free_ char *file = NULL;
        VmDomainProps before;
        int r;

        if (!def)
                return -ENOMEM;
        r = fn(def, userdata, error);
        if (r < 0) {
                domain_def_free(def);
                return r;
        }
        r = vm_domain_store_write(d->manager, def, d->generation + 1, &file);
        if (r < 0) {
                domain_def_free(def);
                return sd_bus_error_setf(error, VM_ERROR_OPERATION_FAILED,
                                         "Failed to save the definition of domain '%s': %s", d->name, strerror(-r));
        }
        vm_domain_props_get(d, &before);
        if (vm_domain_is_busy(d)) {
                domain_def_free(d->newdef);
                d->newdef = def;
        } else {
                domain_def_free(d->def);
                d->def = def;
        }
        d->generation++;
        if (!streq_ptr(file, d->config_file)) {
                g_free(d->config_file);
                d->config_file = g_strdup(file);
        }
        vm_domain_props_emit_changes(d, &before);
        return 0;
}

/* The live tune edited by fn, given to the driver. */
static int live_tune_change(VmDomain *d, DefEditFn fn, void *userdata, sd_bus_error *error) {
        const DomainDef *live = d->drv->ops->live_def(d->rt);
        _cleanup_free_ char *err = NULL, *what = NULL;
        DomainDef *def;
        int r;

        if (!d->drv->ops->set_tune)
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED, "The %s driver cannot change resource limits",
                                         d->drv->ops->name);
        def = live ? domain_def_copy(live) : NULL;
        if (!def)
                return -ENOMEM;
        r = fn(def, userdata, error);
        if (r >= 0) {
                r = d->drv->ops->set_tune(d->rt, &def->tune, &err);
                if (r < 0) {
                        what = g_strdup_printf("Failed to change the resource limits of domain '%s'", d->name);
                        r = bus_error_from_errno(error, r, err, what);
                }
        }
        domain_def_free(def);
        return r;
}

static int tune_change(VmDomain *d, const Scope *s, DefEditFn fn, void *userdata, sd_bus_error *error) {
        int r;

        if (s->live) {
                r = live_tune_change(d, fn, userdata, error);
                if (r < 0)
                        return r;
        }
        if (s->config)
                return config_change(d, fn, userdata, error);
        return 0;
}

/* The definition a getter reads: the live one, or (config) the persistent one. */
static const DomainDef *scope_def(VmDomain *d, const Scope *s) {
        return s->live ? vm_domain_current_def(d) : vm_domain_inactive_def(d);
}

/* ---- a call answered when the driver is done ---- */

typedef struct TuneCall {
        VmOp *op;
        bool config;                    /* then change the definition too */
        DefEditFn edit;
        uint64_t value;
} TuneCall;

static void tune_call_done(void *userdata, int r, const char *message) {
        TuneCall *c = userdata;
        VmDomain *d = c->op->domain;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        if (r < 0) {
                _cleanup_free_ char *what = g_strdup_printf("Failed to %s of domain '%s'", c->op->verb, d->name);
                bus_error_from_errno(&error, r, message, what);
        } else if (c->config)
                r = config_change(d, c->edit, &c->value, &error);
        if (r < 0)
                (void) sd_bus_reply_method_error(c->op->message, &error);
        else
                (void) sd_bus_reply_method_return(c->op->message, NULL);
        vm_op_free(c->op);
        free(c);
}

/* ---- SetVCPUs ---- */

static int edit_vcpus(DomainDef *def, void *userdata, sd_bus_error *error) {
        unsigned n = (unsigned) *(uint64_t *) userdata;

        if (n == 0 || n > def->vcpus)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "%u vCPUs: the domain has between 1 and %u (its <vcpu> maximum)", n, def->vcpus);
        def->current_vcpus = n == def->vcpus ? 0 : n;
        return 0;
}

static int edit_max_vcpus(DomainDef *def, void *userdata, sd_bus_error *error) {
        unsigned n = (unsigned) *(uint64_t *) userdata, cur = def->current_vcpus ?: def->vcpus;

        if (n == 0 || n > 4096)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "A maximum of %u vCPUs is out of range", n);
        if (def->cpu_sockets || def->cpu_cores || def->cpu_threads)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "The domain's <cpu><topology> fixes its vCPU count: change it with the definition");
        for (size_t i = 0; i < def->tune.n_vcpupins; i++)
                if (def->tune.vcpupins[i].vcpu >= n)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "vCPU %u is pinned: unpin it first",
                                                 def->tune.vcpupins[i].vcpu);
        def->vcpus = n;
        def->current_vcpus = MIN(cur, n) == n ? 0 : MIN(cur, n);
        return 0;
}

int domain_method_set_vcpus(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        uint32_t count;
        bool live = false, config = false, maximum = false, guest = false;
        const BusOption options[] = { { "live", "b", &live }, { "config", "b", &config }, { "maximum", "b", &maximum },
                                      { "guest", "b", &guest }, {} };
        TuneCall *c;
        Scope s = {};
        int r;

        r = sd_bus_message_read(message, "u", &count);
        if (r < 0)
                return r;
        r = vm_domain_method_prologue(message, d, VM_ACTION_DOMAIN_MANAGE, options, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (guest)
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED,
                                         "Setting the vCPUs the guest uses needs the guest agent, which vmgmt does not ask for yet");
        r = scope_resolve(d, live, config, &s, error);
        if (r < 0)
                return r;
        if (maximum) {
                if (s.live)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "The maximum vCPU count of a running domain cannot change (config only)");
                uint64_t v = count;
                r = config_change(d, edit_max_vcpus, &v, error);
                return r < 0 ? r : sd_bus_reply_method_return(message, NULL);
        }
        if (s.config) {
                /* checked before the live change, so that one failing half changes nothing */
                const DomainDef *inactive = vm_domain_inactive_def(d);
                if (count == 0 || count > inactive->vcpus)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "%u vCPUs: the definition allows between 1 and %u", count, inactive->vcpus);
        }
        if (!s.live) {
                uint64_t v = count;
                r = config_change(d, edit_vcpus, &v, error);
                return r < 0 ? r : sd_bus_reply_method_return(message, NULL);
        }
        if (!d->drv->ops->set_vcpus)
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED, "The %s driver cannot plug vCPUs",
                                         d->drv->ops->name);
        if (count == 0 || count > d->drv->ops->live_def(d->rt)->vcpus)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "%u vCPUs: the running domain can have between 1 and %u", count,
                                         d->drv->ops->live_def(d->rt)->vcpus);
        c = calloc(1, sizeof(TuneCall));
        if (!c)
                return -ENOMEM;
        *c = (TuneCall) { .op = vm_op_new(d, message, "set the vCPUs"), .config = s.config, .edit = edit_vcpus,
                          .value = count };
        r = d->drv->ops->set_vcpus(d->rt, count, VCPU_UNPLUG_TIMEOUT_USEC, tune_call_done, c);
        if (r < 0) {
                _cleanup_free_ char *what = g_strdup_printf("Failed to set the vCPUs of domain '%s'", d->name);
                vm_op_free(c->op);
                free(c);
                return bus_error_from_errno(error, r, NULL, what);
        }
        return 1;
}

/* ---- SetMemory, SetMaxMemory ---- */

static int edit_memory(DomainDef *def, void *userdata, sd_bus_error *error) {
        uint64_t kib = *(uint64_t *) userdata;

        if (kib == 0 || kib > def->memory_kib)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "%" PRIu64 " KiB: the domain's memory is between 1 KiB and its maximum %" PRIu64
                                         " KiB", kib, def->memory_kib);
        def->current_memory_kib = kib;
        return 0;
}

static int edit_max_memory(DomainDef *def, void *userdata, sd_bus_error *error) {
        uint64_t kib = *(uint64_t *) userdata;

        if (kib == 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "The maximum memory must be above 0");
        if (def->max_memory_kib && kib > def->max_memory_kib)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "%" PRIu64 " KiB is above the domain's <maxMemory> of %" PRIu64 " KiB", kib,
                                         def->max_memory_kib);
        def->memory_kib = kib;
        if (def->current_memory_kib > kib || def->current_memory_kib == 0)
                def->current_memory_kib = kib;
        return 0;
}

int domain_method_set_memory(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        uint64_t kib;
        bool live = false, config = false;
        const BusOption options[] = { { "live", "b", &live }, { "config", "b", &config }, {} };
        TuneCall *c;
        Scope s = {};
        int r;

        r = sd_bus_message_read(message, "t", &kib);
        if (r < 0)
                return r;
        r = vm_domain_method_prologue(message, d, VM_ACTION_DOMAIN_MANAGE, options, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        r = scope_resolve(d, live, config, &s, error);
        if (r < 0)
                return r;
        if (s.config && (kib == 0 || kib > vm_domain_inactive_def(d)->memory_kib))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "%" PRIu64 " KiB: the definition allows between 1 KiB and %" PRIu64 " KiB", kib,
                                         vm_domain_inactive_def(d)->memory_kib);
        if (!s.live) {
                r = config_change(d, edit_memory, &kib, error);
                return r < 0 ? r : sd_bus_reply_method_return(message, NULL);
        }
        if (!d->drv->ops->set_memory)
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED, "The %s driver has no balloon",
                                         d->drv->ops->name);
        if (kib == 0 || kib > d->drv->ops->live_def(d->rt)->memory_kib)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "%" PRIu64 " KiB: the running domain can have between 1 KiB and %" PRIu64 " KiB",
                                         kib, d->drv->ops->live_def(d->rt)->memory_kib);
        c = calloc(1, sizeof(TuneCall));
        if (!c)
                return -ENOMEM;
        *c = (TuneCall) { .op = vm_op_new(d, message, "set the memory"), .config = s.config, .edit = edit_memory,
                          .value = kib };
        r = d->drv->ops->set_memory(d->rt, kib, tune_call_done, c);
        if (r < 0) {
                _cleanup_free_ char *what = g_strdup_printf("Failed to set the memory of domain '%s'", d->name);
                vm_op_free(c->op);
                free(c);
                return bus_error_from_errno(error, r, r == -EOPNOTSUPP ? "the domain has no virtio balloon device" : NULL,
                                            what);
        }
        return 1;
}

int domain_method_set_max_memory(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        uint64_t kib;
        bool live = false, config = false;
        const BusOption options[] = { { "live", "b", &live }, { "config", "b", &config }, {} };
        Scope s = {};
        int r;

        r = sd_bus_message_read(message, "t", &kib);
        if (r < 0)
                return r;
        r = vm_domain_method_prologue(message, d, VM_ACTION_DOMAIN_MANAGE, options, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        r = scope_resolve(d, live, config || !live, &s, error);
        if (r < 0)
                return r;
        if (s.live)
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED,
                                         "The maximum memory of a running domain cannot change (config only)");
        r = config_change(d, edit_max_memory, &kib, error);
        return r < 0 ? r : sd_bus_reply_method_return(message, NULL);
}

/* ---- typed parameters ---- */

/* libvirt's typed parameters: vcpu_* each vCPU's, emulator_* the emulator threads', global_* the domain's. */
enum { SCHED_VCPU, SCHED_EMULATOR, SCHED_GLOBAL, _SCHED_MAX };
static const char *const sched_prefix[_SCHED_MAX] = { "vcpu", "emulator", "global" };

typedef struct SchedParams {
        uint64_t shares, period[_SCHED_MAX];
        int64_t quota[_SCHED_MAX];
        bool has_shares, has_period[_SCHED_MAX], has_quota[_SCHED_MAX];
} SchedParams;

static void sched_fields(DomainTuneDef *t, uint64_t *period[_SCHED_MAX], int64_t *quota[_SCHED_MAX]) {
        period[SCHED_VCPU] = &t->period, quota[SCHED_VCPU] = &t->quota;
        period[SCHED_EMULATOR] = &t->emulator_period, quota[SCHED_EMULATOR] = &t->emulator_quota;
        period[SCHED_GLOBAL] = &t->global_period, quota[SCHED_GLOBAL] = &t->global_quota;
}

static int edit_sched(DomainDef *def, void *userdata, sd_bus_error *error) {
        const SchedParams *p = userdata;
        uint64_t *period[_SCHED_MAX];
        int64_t *quota[_SCHED_MAX];

        sched_fields(&def->tune, period, quota);
        if (p->has_shares)
                def->tune.shares = p->shares;
        for (int k = 0; k < _SCHED_MAX; k++) {
                if (p->has_period[k])
                        *period[k] = p->period[k];
                if (p->has_quota[k])
                        *quota[k] = p->quota[k];
        }
        return 0;
}

/* Reads the options a{sv} (live, config) after the parameters and authorizes. */
static int params_prologue(sd_bus_message *message, VmDomain *d, const char *action, Scope *s, sd_bus_error *error) {
        bool live = false, config = false;
        const BusOption options[] = { { "live", "b", &live }, { "config", "b", &config }, {} };
        int r;

        if (action) {
                r = vm_domain_method_prologue(message, d, action, options, error);
                if (r <= 0)
                        return r;
        } else {
                r = bus_options_parse(message, options, error);
                if (r < 0)
                        return r;
        }
        r = scope_resolve(d, live, config, s, error);
        return r < 0 ? r : 1;
}

int domain_method_set_scheduler_parameters(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        SchedParams p = {};
        const BusOption params[] = {
                { "cpu_shares", "t", &p.shares, &p.has_shares },
                { "vcpu_period", "t", &p.period[SCHED_VCPU], &p.has_period[SCHED_VCPU] },
                { "vcpu_quota", "x", &p.quota[SCHED_VCPU], &p.has_quota[SCHED_VCPU] },
                { "emulator_period", "t", &p.period[SCHED_EMULATOR], &p.has_period[SCHED_EMULATOR] },
                { "emulator_quota", "x", &p.quota[SCHED_EMULATOR], &p.has_quota[SCHED_EMULATOR] },
                { "global_period", "t", &p.period[SCHED_GLOBAL], &p.has_period[SCHED_GLOBAL] },
                { "global_quota", "x", &p.quota[SCHED_GLOBAL], &p.has_quota[SCHED_GLOBAL] },
                {},
        };
        Scope s = {};
        int r;

        r = bus_options_parse(message, params, error);
        if (r < 0)
                return r;
        r = params_prologue(message, d, VM_ACTION_DOMAIN_MANAGE, &s, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (p.has_shares && (p.shares < 2 || p.shares > 262144))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "cpu_shares must be between 2 and 262144");
        for (int k = 0; k < _SCHED_MAX; k++) {
                if (p.has_period[k] && p.period[k] != 0 && (p.period[k] < 1000 || p.period[k] > 1000000))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "%s_period must be between 1000 and 1000000", sched_prefix[k]);
                if (p.has_quota[k] && p.quota[k] != 0 && p.quota[k] != -1 &&
                    (p.quota[k] < 1000 || p.quota[k] > 17592186044415LL))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "%s_quota must be -1 or between 1000 and 17592186044415",
                                                 sched_prefix[k]);
        }
        r = tune_change(d, &s, edit_sched, &p, error);
        return r < 0 ? r : sd_bus_reply_method_return(message, NULL);
}

static int append_t(sd_bus_message *reply, const char *key, uint64_t v) {
        return sd_bus_message_append(reply, "{sv}", key, "t", v);
}

int domain_method_get_scheduler_parameters(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const DomainTuneDef *t;
        Scope s = {};
        int r;

        r = params_prologue(message, d, NULL, &s, error);
        if (r < 0)
                return r;
        t = &scope_def(d, &s)->tune;
        const uint64_t period[_SCHED_MAX] = { t->period, t->emulator_period, t->global_period };
        const int64_t quota[_SCHED_MAX] = { t->quota, t->emulator_quota, t->global_quota };
        r = sd_bus_message_new_method_return(message, &reply);
        if (r < 0)
                return r;
        /* what was not set is the kernel's default for a new cgroup */
        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r >= 0)
                r = append_t(reply, "cpu_shares", t->shares ?: 1024);
        for (int k = 0; r >= 0 && k < _SCHED_MAX; k++) {
                _cleanup_free_ char *pk = g_strdup_printf("%s_period", sched_prefix[k]);
                _cleanup_free_ char *qk = g_strdup_printf("%s_quota", sched_prefix[k]);
                r = append_t(reply, pk, period[k] ?: 100000);
                if (r >= 0)
                        r = sd_bus_message_append(reply, "{sv}", qk, "x", quota[k] ?: (int64_t) -1);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

typedef struct MemParams {
        uint64_t hard, soft, swap;
        bool has_hard, has_soft, has_swap;
} MemParams;

static int edit_mem(DomainDef *def, void *userdata, sd_bus_error *error) {
        const MemParams *p = userdata;
        uint64_t hard, swap;

        if (p->has_hard)
                def->tune.hard_limit_kib = MIN(p->hard, DOMAIN_MEMTUNE_UNLIMITED);
        if (p->has_soft)
                def->tune.soft_limit_kib = MIN(p->soft, DOMAIN_MEMTUNE_UNLIMITED);
        if (p->has_swap)
                def->tune.swap_hard_limit_kib = MIN(p->swap, DOMAIN_MEMTUNE_UNLIMITED);
        hard = def->tune.hard_limit_kib ?: DOMAIN_MEMTUNE_UNLIMITED;
        swap = def->tune.swap_hard_limit_kib ?: DOMAIN_MEMTUNE_UNLIMITED;
        if (swap < hard)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "swap_hard_limit (memory + swap) must not be below hard_limit");
        return 0;
}

int domain_method_set_memory_parameters(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        MemParams p = {};
        const BusOption params[] = {
                { "hard_limit", "t", &p.hard, &p.has_hard },
                { "soft_limit", "t", &p.soft, &p.has_soft },
                { "swap_hard_limit", "t", &p.swap, &p.has_swap },
                {},
        };
        Scope s = {};
        int r;

        r = bus_options_parse(message, params, error);
        if (r < 0)
                return r;
        r = params_prologue(message, d, VM_ACTION_DOMAIN_MANAGE, &s, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        r = tune_change(d, &s, edit_mem, &p, error);
        return r < 0 ? r : sd_bus_reply_method_return(message, NULL);
}

int domain_method_get_memory_parameters(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const DomainTuneDef *t;
        Scope s = {};
        int r;

        r = params_prologue(message, d, NULL, &s, error);
        if (r < 0)
                return r;
        t = &scope_def(d, &s)->tune;
        r = sd_bus_message_new_method_return(message, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r >= 0)
                r = append_t(reply, "hard_limit", t->hard_limit_kib ?: DOMAIN_MEMTUNE_UNLIMITED);
        if (r >= 0)
                r = append_t(reply, "soft_limit", t->soft_limit_kib ?: DOMAIN_MEMTUNE_UNLIMITED);
        if (r >= 0)
                r = append_t(reply, "swap_hard_limit", t->swap_hard_limit_kib ?: DOMAIN_MEMTUNE_UNLIMITED);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* ---- blkio ---- */

typedef struct BlkioParams {
        uint32_t weight;
        bool has_weight;
        const char *devices[5];         /* device_weight, device_{read,write}_{bytes,iops}_sec: "PATH,N,PATH,N" */
} BlkioParams;

static const char *const blkio_device_keys[5] = {
        "device_weight", "device_read_bytes_sec", "device_write_bytes_sec", "device_read_iops_sec",
        "device_write_iops_sec",
};

static uint64_t *blkio_field(DomainBlkioDeviceDef *dev, size_t k) {
        uint64_t *fields[] = { NULL, &dev->read_bytes_sec, &dev->write_bytes_sec, &dev->read_iops_sec,
                               &dev->write_iops_sec };
        return fields[k];
}

static int edit_blkio(DomainDef *def, void *userdata, sd_bus_error *error) {
        const BlkioParams *p = userdata;

        if (p->has_weight) {
                if (p->weight != 0 && (p->weight < 100 || p->weight > 1000))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "weight must be between 100 and 1000");
                def->tune.blkio_weight = p->weight;
        }
        for (size_t k = 0; k < ELEMENTSOF(blkio_device_keys); k++) {
                g_auto(GStrv) f = NULL;
                guint n;

                if (!p->devices[k] || isempty(p->devices[k]))
                        continue;
                f = g_strsplit(p->devices[k], ",", -1);
                n = g_strv_length(f);
                if (n % 2 != 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "%s must be PATH,VALUE pairs",
                                                 blkio_device_keys[k]);
                for (guint i = 0; i < n; i += 2) {
                        DomainBlkioDeviceDef *dev;
                        char *end = NULL;
                        unsigned long long v;

                        errno = 0;
                        v = strtoull(f[i + 1], &end, 10);
                        if (f[i][0] != '/' || errno || !end || *end || isempty(f[i + 1]) ||
                            (k == 0 && v != 0 && (v < 100 || v > 1000)))
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "%s: bad entry '%s,%s'",
                                                         blkio_device_keys[k], f[i], f[i + 1]);
                        dev = domain_tune_blkio_device(&def->tune, f[i]);
                        if (!dev)
                                return -ENOMEM;
                        if (k == 0)
                                dev->weight = (unsigned) v;
                        else
                                *blkio_field(dev, k) = v;
                }
        }
        /* a device left with nothing set is no longer tuned */
        for (size_t i = def->tune.n_blkio_devices; i > 0; i--) {
                DomainBlkioDeviceDef *dev = &def->tune.blkio_devices[i - 1];
                if (dev->weight || dev->read_bytes_sec || dev->write_bytes_sec || dev->read_iops_sec ||
                    dev->write_iops_sec)
                        continue;
                free(dev->path);
                memmove(dev, dev + 1, (def->tune.n_blkio_devices - i) * sizeof(*dev));
                def->tune.n_blkio_devices--;
        }
        return 0;
}

int domain_method_set_blkio_parameters(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        BlkioParams p = {};
        const BusOption params[] = {
                { "weight", "u", &p.weight, &p.has_weight },
                { "device_weight", "s", &p.devices[0] },
                { "device_read_bytes_sec", "s", &p.devices[1] },
                { "device_write_bytes_sec", "s", &p.devices[2] },
                { "device_read_iops_sec", "s", &p.devices[3] },
                { "device_write_iops_sec", "s", &p.devices[4] },
                {},
        };
        Scope s = {};
        int r;

        r = bus_options_parse(message, params, error);
        if (r < 0)
                return r;
        r = params_prologue(message, d, VM_ACTION_DOMAIN_MANAGE, &s, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        r = tune_change(d, &s, edit_blkio, &p, error);
        return r < 0 ? r : sd_bus_reply_method_return(message, NULL);
}

int domain_method_get_blkio_parameters(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const DomainTuneDef *t;
        Scope s = {};
        int r;

        r = params_prologue(message, d, NULL, &s, error);
        if (r < 0)
                return r;
        t = &scope_def(d, &s)->tune;
        r = sd_bus_message_new_method_return(message, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r >= 0)
                r = sd_bus_message_append(reply, "{sv}", "weight", "u", (uint32_t) t->blkio_weight);
        for (size_t k = 0; r >= 0 && k < ELEMENTSOF(blkio_device_keys); k++) {
                g_autoptr(GString) v = g_string_new(NULL);
                for (size_t i = 0; i < t->n_blkio_devices; i++) {
                        DomainBlkioDeviceDef *dev = &t->blkio_devices[i];
                        uint64_t n = k == 0 ? dev->weight : *blkio_field(dev, k);
                        if (n)
                                g_string_append_printf(v, "%s%s,%" PRIu64, v->len ? "," : "", dev->path, n);
                }
                r = sd_bus_message_append(reply, "{sv}", blkio_device_keys[k], "s", v->str);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* ---- pinning ---- */

typedef struct Pin {
        int vcpu;                       /* -1: the emulator (or the iothread) */
        unsigned iothread;              /* 0: none */
        bool iothread_zero;             /* PinIOThread(0): refused once authorized */
        const char *cpuset;             /* "" or NULL: unpinned */
} Pin;

static int edit_pin(DomainDef *def, void *userdata, sd_bus_error *error) {
        const Pin *p = userdata;
        const char *set = isempty(p->cpuset) ? NULL : p->cpuset;
        int r;

        if (p->vcpu >= 0 && (unsigned) p->vcpu >= def->vcpus)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "The domain has no vCPU %d (it has %u)",
                                         p->vcpu, def->vcpus);
        if (p->iothread && !domain_tune_has_iothread(&def->tune, p->iothread))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "The domain has no iothread %u",
                                         p->iothread);
        if (p->iothread)
                r = domain_tune_set_iothreadpin(&def->tune, p->iothread, set);
        else if (p->vcpu >= 0) {
                r = domain_tune_set_vcpupin(&def->tune, (unsigned) p->vcpu, set);
        } else {
                uint8_t mask[DOMAIN_CPUSET_MAX / 8];
                r = set ? domain_cpuset_parse(set, mask) : 0;
                if (r >= 0) {
                        free(def->tune.emulatorpin);
                        def->tune.emulatorpin = set ? domain_cpuset_format(mask) : NULL;
                        r = set && !def->tune.emulatorpin ? -ENOMEM : 0;
                }
        }
        if (r == -EINVAL)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid cpuset '%s'", set);
        return r;
}

static int pin(sd_bus_message *message, VmDomain *d, Pin *p, sd_bus_error *error) {
        Scope s = {};
        int r;

        r = params_prologue(message, d, VM_ACTION_DOMAIN_MANAGE, &s, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (p->iothread_zero)   /* told only to whom polkit lets change the domain */
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "No iothread 0 (ids start at 1)");
        if (!isempty(p->cpuset)) {
                uint8_t mask[DOMAIN_CPUSET_MAX / 8];
                long n = sysconf(_SC_NPROCESSORS_CONF);
                if (domain_cpuset_parse(p->cpuset, mask) < 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid cpuset '%s'", p->cpuset);
                for (long i = n; i < DOMAIN_CPUSET_MAX; i++)
                        if (mask[i / 8] & (1u << (i % 8)))
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                         "cpuset '%s' names CPU %ld: the host has %ld", p->cpuset, i, n);
        }
        r = tune_change(d, &s, edit_pin, p, error);
        return r < 0 ? r : sd_bus_reply_method_return(message, NULL);
}

int domain_method_pin_vcpu(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        uint32_t vcpu;
        Pin p = {};
        int r;

        r = sd_bus_message_read(message, "us", &vcpu, &p.cpuset);
        if (r < 0)
                return r;
        if (vcpu > 4095)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "No vCPU %u", vcpu);
        p.vcpu = (int) vcpu;
        return pin(message, userdata, &p, error);
}

int domain_method_pin_emulator(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Pin p = { .vcpu = -1 };
        int r;

        r = sd_bus_message_read(message, "s", &p.cpuset);
        if (r < 0)
                return r;
        return pin(message, userdata, &p, error);
}

int domain_method_pin_iothread(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        uint32_t id;
        Pin p = { .vcpu = -1 };
        int r;

        r = sd_bus_message_read(message, "us", &id, &p.cpuset);
        if (r < 0)
                return r;
        p.iothread = id;
        p.iothread_zero = id == 0;
        return pin(message, userdata, &p, error);
}

int domain_method_get_iothread_info(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *all = NULL;
        const DomainDef *def;
        Scope s = {};
        int r;

        r = params_prologue(message, d, NULL, &s, error);
        if (r < 0)
                return r;
        def = scope_def(d, &s);
        all = sysconf(_SC_NPROCESSORS_CONF) > 1 ? g_strdup_printf("0-%ld", sysconf(_SC_NPROCESSORS_CONF) - 1)
                                                 : g_strdup("0");
        r = sd_bus_message_new_method_return(message, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        for (size_t i = 0; r >= 0 && i < def->tune.n_iothreads; i++) {
                unsigned id = def->tune.iothread_ids[i];
                _cleanup_free_ char *key = g_strdup_printf("iothread.%u", id);
                const DomainIOThreadPinDef *p = domain_tune_iothreadpin(&def->tune, id);

                /* unpinned: the emulator's CPUs (an iothread is one of its threads) */
                r = sd_bus_message_append(reply, "{sv}", key, "s", p ? p->cpuset : def->tune.emulatorpin ?: all);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

int domain_method_get_vcpu_pin_info(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *all = NULL;
        const DomainDef *def;
        unsigned n;
        Scope s = {};
        int r;

        r = params_prologue(message, d, NULL, &s, error);
        if (r < 0)
                return r;
        def = scope_def(d, &s);
        n = s.live ? def->current_vcpus ?: def->vcpus : def->vcpus;
        all = sysconf(_SC_NPROCESSORS_CONF) > 1 ? g_strdup_printf("0-%ld", sysconf(_SC_NPROCESSORS_CONF) - 1)
                                                 : g_strdup("0");
        r = sd_bus_message_new_method_return(message, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        for (int v = 0; r >= 0 && v <= (int) n; v++) {
                /* v == n: the emulator */
                int vcpu = v == (int) n ? -1 : v;
                _cleanup_free_ char *key = vcpu < 0 ? g_strdup("emulator") : g_strdup_printf("vcpu.%d", vcpu);
                _cleanup_free_ char *now = NULL;
                const DomainVcpuPinDef *p = vcpu >= 0 ? domain_tune_vcpupin(&def->tune, (unsigned) vcpu) : NULL;
                const char *set = vcpu >= 0 ? (p ? p->cpuset : NULL) : def->tune.emulatorpin;

                /* the running domain: what its threads may use now */
                if (s.live && d->drv->ops->get_affinity && d->drv->ops->get_affinity(d->rt, vcpu, &now) >= 0)
                        set = now;
                r = sd_bus_message_append(reply, "{sv}", key, "s", set ?: all);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}
