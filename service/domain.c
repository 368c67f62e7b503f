/* domain.c — domain objects: registry, reference counting, property change signals, driver events. */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bus-util.h"
#include "domain.h"
#include "domain-disk-secrets.h"
#include "domain-files.h"
#include "domain-lease.h"
#include "domain-nvram.h"
#include "log.h"
#include "domain-tune.h"
#include "network.h"
#include "object-kind.h"
#include "pool.h"

int vm_domain_new(Manager *m, DomainDef *def, bool persistent, VmDomain **ret) {
        VmDomain *d;
        int r;

        d = g_new0(VmDomain, 1);
        d->n_ref = 1;
        d->manager = m;
        d->def = def;
        d->drv = manager_driver_for_def(m, def, NULL);
        if (!d->drv) {
                vm_domain_unref(d);
                return -EOPNOTSUPP;
        }
        d->name = g_strdup(def->name);
        conf_uuid_format(def->uuid, d->uuid);
        d->persistent = persistent;
        d->state = DOMAIN_STATE_SHUTOFF;
        d->reason = g_strdup("unknown");
        d->snapshots = g_ptr_array_new_with_free_func(vm_snapshot_free);
        r = sd_bus_path_encode(VM_DOMAIN_PREFIX, d->name, &d->path);
        if (r < 0) {
                vm_domain_unref(d);
                return r;
        }
        g_hash_table_insert(m->domains_by_name, d->name, d);
        g_hash_table_insert(m->domains_by_uuid, d->uuid, d);
        vm_domain_clash_index(d, true);
        vm_domain_managed_save_refresh(d);
        /* start-up loads the snapshots kept for the domains once they are all known
         * (vm_snapshot_store_load_all); a new domain: what an old one of that name left is not its */
        if (m->ready)
                vm_snapshot_store_remove_all(d);
        *ret = d;
        return 0;
}

VmDomain *vm_domain_ref(VmDomain *d) {
        if (d)
                d->n_ref++;
        return d;
}

VmDomain *vm_domain_unref(VmDomain *d) {
        if (!d || --d->n_ref > 0)
                return NULL;
        domain_def_free(d->def);
        domain_def_free(d->newdef);
        if (d->hidden_events)
                g_array_free(d->hidden_events, TRUE);
        if (d->snapshots)
                g_ptr_array_free(d->snapshots, TRUE);
        free(d->path);
        g_free(d->name);
        g_free(d->reason);
        g_free(d->config_file);
        g_free(d);
        return NULL;
}

void vm_domain_remove(VmDomain *d) {
        Manager *m = d->manager;
        bool visible = m->ready && !d->hidden;

        if (g_hash_table_lookup(m->domains_by_name, d->name) != d)
                return;
        if (d->snapshots->len > 0)
                vm_snapshots_drop(d);   /* a domain that goes keeps no snapshot metadata (a transient one's) */
        if (visible)
                (void) sd_bus_emit_object_removed(m->bus, d->path);
        g_hash_table_remove(m->domains_by_uuid, d->uuid);
        vm_domain_clash_index(d, false);
        /* drops the registry's reference: keep d alive until we are done */
        vm_domain_ref(d);
        g_hash_table_remove(m->domains_by_name, d->name);
        vm_domain_unref(d);
}

VmDomain *vm_domain_find_by_name(Manager *m, const char *name) {
        return g_hash_table_lookup(m->domains_by_name, name);
}

static char *clash_base(const VmDriver *drv, const char *name) {
        return drv->ops->log_clash_base ? drv->ops->log_clash_base(drv->driver, name) : NULL;
}

void vm_domain_clash_index(VmDomain *d, bool add) {
        GHashTable *index = d->manager->domains_by_clash_base;
        g_autofree char *base = clash_base(d->drv, d->name);
        GPtrArray *same;

        if (!base)
                return;
        same = g_hash_table_lookup(index, base);
        if (add) {
                if (!same) {
                        same = g_ptr_array_new();
                        g_hash_table_insert(index, g_strdup(base), same);
                }
                g_ptr_array_add(same, d);
        } else if (same) {
                g_ptr_array_remove_fast(same, d);
                if (same->len == 0)
                        g_hash_table_remove(index, base);
        }
}

/* An AlreadyExists error if d's driver says name and d's name would share a file. */
static int clash_with(const VmDomain *d, const char *name, const VmDomain *self, sd_bus_error *error) {
        _cleanup_free_ char *file = NULL;

        if (!d || d == self || streq(d->name, name) || !d->drv->ops->log_clash)
                return 0;
        file = d->drv->ops->log_clash(d->drv->driver, name, d->name);
        if (!file)
                return 0;
        return sd_bus_error_setf(error, VM_ERROR_ALREADY_EXISTS,
                                 "Domain name '%s' clashes with domain '%s': both would write the log file %s",
                                 name, d->name, file);
}

int vm_domain_check_log_clash(Manager *m, const char *name, const VmDomain *self, sd_bus_error *error) {
        GPtrArray *same = g_hash_table_lookup(m->domains_by_clash_base, name);
        int r;

        /* name is X-console and X exists (as each driver names its files) */
        for (size_t i = 0; i < m->n_drivers; i++) {
                g_autofree char *base = clash_base(&m->drivers[i], name);
                VmDomain *d = base ? vm_domain_find_by_name(m, base) : NULL;

                if (d && d->drv == &m->drivers[i] && (r = clash_with(d, name, self, error)) < 0)
                        return r;
        }
        /* name is X and X-console exists */
        for (guint i = 0; same && i < same->len; i++)
                if ((r = clash_with(same->pdata[i], name, self, error)) < 0)
                        return r;
        return 0;
}

VmDomain *vm_domain_find_by_uuid(Manager *m, const char *uuid) {
        unsigned char raw[16];
        char text[37];

        if (conf_uuid_parse(uuid, raw) < 0)
                return NULL;
        conf_uuid_format(raw, text);
        return g_hash_table_lookup(m->domains_by_uuid, text);
}

VmDomain *vm_domain_find(Manager *m, const char *name_or_uuid) {
        VmDomain *d = vm_domain_find_by_name(m, name_or_uuid);

        if (!d)
                d = vm_domain_find_by_uuid(m, name_or_uuid);
        if (d && d->hidden)
                return NULL;
        return d;
}

VmDomain *vm_domain_find_by_path(Manager *m, const char *path) {
        _cleanup_free_ char *name = NULL;
        VmDomain *d;

        if (sd_bus_path_decode(path, VM_DOMAIN_PREFIX, &name) <= 0)
                return NULL;
        d = vm_domain_find_by_name(m, name);
        return d && !d->hidden ? d : NULL;
}

bool vm_domain_is_active(const VmDomain *d) {
        return d->rt && d->state != DOMAIN_STATE_SHUTOFF;
}

const DomainDef *vm_domain_current_def(const VmDomain *d) {
        if (vm_domain_is_active(d)) {
                const DomainDef *live = d->drv->ops->live_def(d->rt);
                if (live)
                        return live;
        }
        return d->def;
}

void vm_domains_foreach_network_nic(Manager *m, const char *network, VmDomainNicFn fn, void *userdata) {
        GHashTableIter it;
        gpointer value;

        g_hash_table_iter_init(&it, m->domains_by_name);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                const VmDomain *d = value;
                const DomainDef *def;

                if (!vm_domain_is_active(d))
                        continue;
                def = vm_domain_current_def(d);
                for (size_t i = 0; i < def->n_nets; i++)
                        if (def->nets[i].type == DOMAIN_NET_TYPE_NETWORK && def->nets[i].target_dev &&
                            streq_ptr(def->nets[i].source_network, network))
                                fn(userdata, d, &def->nets[i]);
        }
}

const DomainDef *vm_domain_inactive_def(const VmDomain *d) {
        return d->newdef ?: d->def;
}

/* ---- properties and signals ---- */

void vm_domain_security(const VmDomain *d, DriverSecurity *ret) {
        *ret = (DriverSecurity) { .model = "none" };
        /* the runtime only while the domain is active: once the driver reported
         * it stopped (or its start failed), the runtime may be freed already */
        if (d->drv && d->drv->driver && d->drv->ops->security)
                d->drv->ops->security(d->drv->driver, vm_domain_is_active(d) ? d->rt : NULL, ret);
}

void vm_domain_props_get(const VmDomain *d, VmDomainProps *ret) {
        const DomainDef *def = vm_domain_current_def(d);
        bool active = vm_domain_is_active(d);
        DriverSecurity sec;

        vm_domain_security(d, &sec);

        *ret = (VmDomainProps) {
                .state = d->state,
                .reason = g_strdup(strempty(d->reason)),
                .id = active ? (uint32_t) d->id : 0,
                .persistent = d->persistent,
                .autostart = d->autostart,
                .generation = d->generation,
                .start_time = active ? d->start_time : 0,
                .vcpus = def->current_vcpus ?: def->vcpus,
                .memory_kib = def->current_memory_kib ?: def->memory_kib,
                .max_memory_kib = def->memory_kib,
                .title = g_strdup(strempty(def->title)),
                .description = g_strdup(strempty(def->description)),
                .security_model = g_strdup(sec.model),
                .security_label = g_strdup(active ? sec.label : ""),
        };
}

void vm_domain_props_clear(VmDomainProps *p) {
        g_free(p->reason);
        g_free(p->title);
        g_free(p->description);
        g_free(p->security_model);
        g_free(p->security_label);
        *p = (VmDomainProps) {};
}

void vm_domain_props_emit_changes(VmDomain *d, VmDomainProps *before) {
        const char *names[16];
        size_t n = 0;
        VmDomainProps now;

        if (!d->manager->ready || d->hidden) {
                vm_domain_props_clear(before);
                return;
        }
        vm_domain_props_get(d, &now);
        if (now.state != before->state)
                names[n++] = "State";
        if (!streq(now.reason, before->reason))
                names[n++] = "StateReason";
        if (now.id != before->id)
                names[n++] = "Id";
        if (now.start_time != before->start_time)
                names[n++] = "StartTime";
        if (now.persistent != before->persistent)
                names[n++] = "Persistent";
        if (now.autostart != before->autostart)
                names[n++] = "Autostart";
        if (now.generation != before->generation)
                names[n++] = "Generation";
        if (now.vcpus != before->vcpus)
                names[n++] = "VCPUs";
        if (now.memory_kib != before->memory_kib)
                names[n++] = "MemoryKiB";
        if (now.max_memory_kib != before->max_memory_kib)
                names[n++] = "MaxMemoryKiB";
        if (!streq(now.title, before->title))
                names[n++] = "Title";
        if (!streq(now.description, before->description))
                names[n++] = "Description";
        if (!streq_ptr(now.security_model, before->security_model))
                names[n++] = "SecurityModel";
        if (!streq_ptr(now.security_label, before->security_label))
                names[n++] = "SecurityLabel";
        vm_domain_props_clear(&now);
        vm_domain_props_clear(before);
        if (n == 0)
                return;
        names[n] = NULL;
        vm_object_kind_emit_changed(&vm_domain_kind, d->manager, d, names);
}

typedef struct HeldEvent {
        const char *event, *detail;
} HeldEvent;

void vm_domain_emit_event(VmDomain *d, const char *event, const char *detail) {
        if (!d->manager->ready)
                return;
        if (d->hidden) {
                HeldEvent e = { event, detail };
                if (!d->hidden_events)
                        d->hidden_events = g_array_new(FALSE, FALSE, sizeof(HeldEvent));
                g_array_append_val(d->hidden_events, e);
                return;
        }
        (void) manager_emit_domain_event(d->manager, d, event, detail);
}

void vm_domain_unhide(VmDomain *d) {
        if (!d->hidden)
                return;
        d->hidden = false;
        if (!d->manager->ready)
                return;
        vm_object_kind_emit_added(&vm_domain_kind, d->manager, d->path);
        if (d->hidden_events) {
                for (guint i = 0; i < d->hidden_events->len; i++) {
                        HeldEvent *e = &g_array_index(d->hidden_events, HeldEvent, i);
                        (void) manager_emit_domain_event(d->manager, d, e->event, e->detail);
                }
                g_array_free(d->hidden_events, TRUE);
                d->hidden_events = NULL;
        }
}

void vm_domain_set_cause(VmDomain *d, sd_bus_message *message) {
        uid_t uid;
        pid_t pid;

        if (!message || bus_creds_cache_get(d->manager->creds, message, &uid, &pid) < 0) {
                d->cause_set = false;
                return;
        }
        d->cause_set = true;
        d->cause_uid = uid;
        d->cause_pid = pid;
}

void vm_domain_clear_cause(VmDomain *d) {
        d->cause_set = false;
}

/* ---- operations ---- */

VmOp *vm_op_new(VmDomain *d, sd_bus_message *message, const char *verb) {
        VmOp *op = g_new0(VmOp, 1);

        op->manager = d->manager;
        op->domain = vm_domain_ref(d);
        op->message = sd_bus_message_ref(message);
        op->verb = verb;
        g_hash_table_add(d->manager->pending_ops, op);
        return op;
}

void vm_op_free(VmOp *op) {
        if (!op)
                return;
        g_hash_table_remove(op->manager->pending_ops, op);
        vm_domain_unref(op->domain);
        sd_bus_message_unref(op->message);
        g_free(op);
}

void vm_op_abandon_all(Manager *m) {
        GHashTableIter it;
        gpointer key, value;
        GPtrArray *ops = g_ptr_array_new();

        /* starts still opening their files answer through their ops' done */
        g_hash_table_iter_init(&it, m->domains_by_name);
        while (g_hash_table_iter_next(&it, NULL, &value))
                g_ptr_array_add(ops, vm_domain_ref(value));
        for (guint i = 0; i < ops->len; i++) {
                vm_domain_start_cancel(ops->pdata[i], "vmgmtd is shutting down");
                vm_domain_unref(ops->pdata[i]);
        }
        g_ptr_array_set_size(ops, 0);

        g_hash_table_iter_init(&it, m->pending_ops);
        while (g_hash_table_iter_next(&it, &key, NULL))
                g_ptr_array_add(ops, key);
        for (guint i = 0; i < ops->len; i++) {
                VmOp *op = ops->pdata[i];
                if (op->message)
                        (void) sd_bus_reply_method_errorf(op->message, VM_ERROR_OPERATION_FAILED,
                                                          "vmgmtd is shutting down; %s of domain '%s' is left as it is",
                                                          op->verb, op->domain->name);
                vm_op_free(op);
        }
        g_ptr_array_free(ops, TRUE);
}

/* ---- driver events ---- */

/* Detail words are static in the driver only for the duration of the call;
 * events held back for hidden domains need strings that live on. */
static const char *detail_intern(const char *detail) {
        return detail ? g_intern_string(detail) : "unknown";
}

static void on_state_changed(void *owner, DomainState state, const char *reason, DomainEventType event,
                             const char *detail) {
        VmDomain *d = owner;
        VmDomainProps before;
        const char *ev;

        bool started = state != DOMAIN_STATE_SHUTOFF && d->state == DOMAIN_STATE_SHUTOFF && d->rt;

        vm_domain_props_get(d, &before);
        if (started) {
                d->start_time = d->drv->ops->start_time(d->rt);
                if (d->start_time == 0)
                        d->start_time = (uint64_t) g_get_real_time();
        }
        d->state = state;
        if (started)
                vm_networks_domain_started(d->manager, d);   /* openvswitch ports of its interfaces */
        if (!streq_ptr(d->reason, reason)) {
                g_free(d->reason);
                d->reason = g_strdup(reason ?: "unknown");
        }
        vm_domain_props_emit_changes(d, &before);
        ev = domain_event_type_to_string(event);
        if (ev)
                vm_domain_emit_event(d, ev, detail_intern(detail));
}

static void on_stopped(void *owner) {
        VmDomain *d = owner;
        VmDomainProps before;

        vm_networks_domain_stopped(d->manager, d);   /* openvswitch ports of its interfaces */
        vm_domain_props_get(d, &before);
        d->rt = NULL;
        d->start_time = 0;
        if (d->state != DOMAIN_STATE_SHUTOFF && d->state != DOMAIN_STATE_CRASHED)
                d->state = DOMAIN_STATE_SHUTOFF;
        vm_domain_clear_cause(d);
        if (d->newdef) {
                domain_def_free(d->def);
                d->def = TAKE_PTR(d->newdef);
        }
        if (!d->persistent) {
                vm_domain_props_clear(&before);
                log_info("Transient domain '%s' stopped, removing it.", d->name);
                if (d->hidden)
                        return; /* its start is still pending; the start's completion removes it */
                vm_domain_tpm_state_drop(d);
                vm_domain_remove(d);
                return;
        }
        vm_domain_props_emit_changes(d, &before);
}

const DomainDriverEvents vm_domain_driver_events = {
        .state_changed = on_state_changed,
        .stopped = on_stopped,
        .create_tap = vm_networks_create_tap,
        .live_def_changed = vm_domain_live_def_changed,
};

/* A start waiting for its files. */
typedef struct VmStart {
        VmDomain *domain;          /* a reference */
        VmDriver *drv;
        DomainDef *def;            /* what the driver gets: volumes and networks resolved */
        DriverStartFlags flags;
        DriverDoneFn done;
        void *userdata;
        VmDomainFilesJob *job;
        DriverFileSet *set;        /* the files, opened, while the leases are taken */
        VmLeasesCall *leases_call;
        VmDomainLaunchFn launch;   /* instead of the driver's start (a restore) */
        void *launch_data;
        sd_bus_message *caller;    /* whose rights the files are opened with (referenced) */
        VmNvramJob *nvram;         /* the UEFI variable store being made, before the files */
        DriverFileSet *pending;    /* the files to open after it */
        int nvram_fd;              /* the store in the driver's directory, opened by vmgmtd; -1: none */
} VmStart;

static void vm_start_free(VmStart *s) {
        vm_nvram_job_cancel(s->nvram);
        driver_file_set_free(s->pending);
        if (s->nvram_fd >= 0)
                close(s->nvram_fd);
        sd_bus_message_unref(s->caller);
        vm_domain_files_job_cancel(s->job);
        vm_leases_call_cancel(s->leases_call);
        driver_file_set_free(s->set);
        domain_def_free(s->def);
        vm_domain_unref(s->domain);
        g_free(s);
}

/* Hands def, its files and its leases to the driver. On success the domain has its runtime and Id. */
static int start_driver(VmDomain *d, VmDriver *drv, const DomainDef *def, const DriverFiles *files, VmLeases *leases,
                        DriverStartFlags flags, VmDomainLaunchFn launch, void *launch_data, DriverDoneFn done,
                        void *userdata) {
        Manager *m = d->manager;
        DriverRuntime *rt = NULL;
        DriverFiles with_leases = files ? *files : (DriverFiles) {};
        int id = m->next_id, r;

        with_leases.lease_fds = leases->by_disk;
        with_leases.n_lease_fds = leases->n_disks;
        if (launch)
                r = launch(launch_data, drv, d, def, id, flags, &with_leases, leases, &rt, done, userdata);
        else
                r = drv->ops->start(drv->driver, d, def, id, flags, &with_leases, &rt, done, userdata);
        /* the hypervisor got the leases at its spawn (in its disks' fd sets): ours go (the caller's) */
        if (r >= 0 && rt && drv->ops->pid && !(flags & DRIVER_START_NO_LEASES))
                vm_leases_set_pid(leases, drv->ops->pid(rt));
        if (r < 0)
                return r;
        m->next_id++;
        d->id = id;
        d->rt = rt;
        return 0;
}

/* The start's end, failed (r < 0) or handed to the driver. */
static void start_end(VmStart *s, int r, const char *message) {
        VmDomain *d = s->domain;

        /* the driver has what it keeps (the hypervisor got the fds at its spawn): ours go */
        s->set = driver_file_set_free(s->set);
        if (r < 0 && d->newdef) {
                /* redefined while its files were opened: the new definition applies now */
                domain_def_free(d->def);
                d->def = TAKE_PTR(d->newdef);
        }
        if (r < 0)
                s->done(s->userdata, r, message);
        vm_start_free(s);
}

static void start_leases_done(void *userdata, int r, VmLeases *leases, const char *message) {
        VmStart *s = userdata;
        VmDomain *d = s->domain;

        s->leases_call = NULL;
        d->starting = NULL;
        if (r >= 0) {
                r = start_driver(d, s->drv, s->def, &s->set->view, leases, s->flags, s->launch, s->launch_data,
                                 s->done, s->userdata);
                if (r < 0)
                        message = strerror(-r);
        }
        start_end(s, r, message);
}

/* The disks' leases first: a disk another domain uses (here or on a host sharing the lease
 * directory) fails the start before anything runs; a migration's destination only opens them
 * (domain-lease.h). start_leases_done() follows. */
static int start_leases(VmStart *s) {
        return vm_leases_take_start(s->domain->manager, s->def, s->def, &s->set->view,
                                    !(s->flags & DRIVER_START_NO_LEASES), start_leases_done, s, &s->leases_call);
}

static void start_files_done(void *userdata, int r, DriverFileSet *set, const char *message) {
        VmStart *s = userdata;

        s->job = NULL;
        s->set = set;
        if (r >= 0 && s->nvram_fd >= 0) {
                driver_file_set_add_own(set, DOMAIN_PATH_NVRAM, s->def->nvram, s->nvram_fd);
                s->nvram_fd = -1;
        }
        if (r >= 0) {
                r = start_leases(s);
                if (r >= 0)
                        return;
                message = strerror(-r);
        }
        s->domain->starting = NULL;
        start_end(s, r, message);
}

/* The set's files opened as the caller (or only the leases taken when there are none). */
static int start_open_files(VmStart *s, DriverFileSet *set) {
        if (set->n_paths == 0) {
                /* only leases (network disks, <lease> devices) */
                s->set = set;
                return start_leases(s);
        }
        return vm_domain_files_open(s->domain->manager, s->caller, s->domain->name, set, start_files_done, s, &s->job);
}

static void start_nvram_done(void *userdata, int r, int fd, const char *message) {
        VmStart *s = userdata;

        s->nvram = NULL;
        s->nvram_fd = fd;
        if (r >= 0) {
                r = start_open_files(s, TAKE_PTR(s->pending));
                if (r >= 0)
                        return;
                message = strerror(-r);
        }
        s->domain->starting = NULL;
        start_end(s, r, message);
}

/* Makes the store from its template when it is missing (or anew: reset_nvram). Only root's starts make
 * one outside the driver's directory: for anybody else such a store is a file of theirs, opened as them. */
static int start_nvram(VmStart *s) {
        Manager *m = s->domain->manager;
        const DomainDef *def = s->def;
        bool root = vm_caller_is_root(m, s->caller), reset = s->flags & DRIVER_START_RESET_NVRAM;

        if (!def->nvram_managed && !root) {
                if (reset)
                        return -EACCES;   /* "cannot make the NVRAM store: Permission denied" */
                return start_open_files(s, TAKE_PTR(s->pending));
        }
        return vm_nvram_copy_start(m, def->nvram_template, def->nvram, reset, !root, def->nvram_managed,
                                   start_nvram_done, s, &s->nvram);
}

void vm_domain_start_cancel(VmDomain *d, const char *message) {
        VmStart *s = d->starting;

        if (!s)
                return;
        d->starting = NULL;
        s->done(s->userdata, -ECANCELED, message);
        vm_start_free(s);
}

int vm_domain_start(VmDomain *d, sd_bus_message *caller, DriverStartFlags flags, DriverDoneFn done, void *userdata,
                    char **ret_error) {
        return vm_domain_start_with(d, caller, flags, NULL, NULL, NULL, done, userdata, ret_error);
}

int vm_domain_start_with(VmDomain *d, sd_bus_message *caller, DriverStartFlags flags, const DomainDef *def,
                         VmDomainLaunchFn launch, void *launch_data, DriverDoneFn done, void *userdata,
                         char **ret_error) {
        Manager *m = d->manager;
        const DomainDef *start_def = def ?: d->def;
        DomainDef *resolved = NULL;
        DriverFileSet *set = NULL;
        VmDriver *drv;
        VmStart *s;
        int r;

        if (d->starting)
                return -EBUSY;
        /* a redefinition may have changed the type */
        drv = manager_driver_for_def(m, start_def, NULL);
        if (!drv) {
                if (ret_error)
                        *ret_error = g_strdup_printf("no driver for domain type '%s'",
                                                     strna(domain_virt_type_to_string(start_def->virt_type)));
                return -EOPNOTSUPP;
        }
        d->drv = drv;
        /* <disk type='volume'>: the driver gets a copy with the volumes' files */
        r = vm_storage_resolve_domain_disks(m, start_def, &resolved, ret_error);
        if (r < 0)
                return r;
        /* <interface type='network'>: the driver gets the network's bridge */
        r = vm_networks_resolve_domain_nets(m, start_def, &resolved, ret_error);
        if (r < 0) {
                domain_def_free(resolved);
                return r;
        }
        /* <disk type='network'> with <auth>: the driver gets the secret's value */
        r = vm_domain_disk_secrets_resolve(m, caller, start_def, &resolved, ret_error);
        if (r < 0) {
                domain_def_free(resolved);
                return r;
        }
        /* the definition may change while the files are opened: the start keeps its own */
        if (!resolved)
                resolved = domain_def_copy(start_def);
        if (!resolved)
                return -ENOMEM;
        /* UEFI: the firmware this host has for it, and its variable store (the live XML shows them) */
        if (drv->ops->firmware_resolve) {
                r = drv->ops->firmware_resolve(drv->driver, resolved, ret_error);
                if (r < 0) {
                        domain_def_free(resolved);
                        return r;
                }
        }
        r = driver_file_set_new(resolved, &set);
        if (r < 0) {
                domain_def_free(resolved);
                return r;
        }
        if (set->n_paths == 0 && !vm_leases_needed(resolved)) {
                /* nothing to open, no lease to take: the driver starts at once */
                r = start_driver(d, drv, resolved, &set->view, &(VmLeases) {}, flags, launch, launch_data, done,
                                 userdata);
                driver_file_set_free(set);
                domain_def_free(resolved);
                if (r < 0 && ret_error)
                        *ret_error = g_strdup(strerror(-r));
                return r;
        }
        s = g_new0(VmStart, 1);
        s->domain = vm_domain_ref(d);
        s->drv = drv;
        s->def = resolved;
        s->flags = flags;
        s->done = done;
        s->userdata = userdata;
        s->launch = launch;
        s->launch_data = launch_data;
        s->caller = sd_bus_message_ref(caller);
        s->nvram_fd = -1;
        if (resolved->nvram) {
                /* the variable store first (vmgmtd's own file, or one root may have made), then the files */
                s->pending = set;
                r = start_nvram(s);
        } else
                r = start_open_files(s, set);
        if (r < 0) {
                if (ret_error)
                        *ret_error = s->pending && r == -EACCES
                                             ? g_strdup_printf("only root may reset the NVRAM store %s (not in vmgmt's "
                                                               "own directory)", resolved->nvram)
                                             : g_strdup_printf("cannot %s: %s", s->pending ? "make the NVRAM store"
                                                               : s->set ? "take the domain's disk leases"
                                                                        : "open the domain's files", strerror(-r));
                vm_start_free(s);
                return r;
        }
        d->starting = s;
        return 0;
}
