/* domain-device.c — devices added to, removed from and changed in a domain: AttachDevice, DetachDevice
 * and UpdateDevice, live (the driver plugs the running domain) and/or in the persistent definition.
 *
 * libvirt's semantics: live and config say where the change goes; neither
 * means "current" (live while the domain runs, else config). The live part
 * goes first; the persistent definition changes only once it succeeded, and
 * is written durably as every definition is (Generation bumps,
 * PropertiesChanged). A new disk's image is opened with the caller's rights
 * and judged by the path policy as at start (domain-files.h); the driver gets
 * the fds. A live detach asks the guest; the call waits for it a short while,
 * then answers and a Job (type "detach-device") waits on, which fails when
 * the guest did not let go in time and leaves the definitions as they were. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "bus-util.h"
#include "domain-device.h"
#include "domain-lease.h"
#include "domain-files.h"
#include "domain.h"
#include "domain-disk-secrets.h"
#include "log.h"
#include "network.h"

typedef enum DeviceVerb {
        VERB_ATTACH,
        VERB_DETACH,
        VERB_UPDATE,
} DeviceVerb;

static const char *const verb_names[] = {
        [VERB_ATTACH] = "attach",
        [VERB_DETACH] = "detach",
        [VERB_UPDATE] = "update",
};

typedef struct DeviceCall {
        VmDomain *domain;               /* a reference */
        sd_bus_message *message;        /* the call, until answered */
        DeviceVerb verb;
        DomainDeviceKind kind;
        DomainDef *dev;                 /* the device (attach: normalized with the live definition) */
        DomainDef *cfg_dev;             /* the device as the caller gave it (MAC filled in), for the persistent definition */
        bool live, config, force;
        char *what;                     /* "disk 'vdb'", for messages */

        DomainDef *files_def;           /* a disk's image, for the opener (the set borrows from it) */
        DriverFileSet *files;
        VmDomainFilesJob *opening;
        VmLeasesCall *leasing;          /* a disk's lease, being taken */

        /* detach */
        uint64_t wait_usec, timeout_usec;
        sd_event_source *timer;
        VmDomainJob *job;               /* once the call answered before the guest let go */
        DriverJob driver_job;           /* what the Job's Cancel reaches */
        DriverJobCallbacks job_cb;
        bool given_up;                  /* timed out or cancelled: only the driver's done is still awaited */

        VmDomainProps before;           /* live: the properties before the driver changed the live definition */
        bool have_before;
} DeviceCall;

static void call_free(DeviceCall *c) {
        if (!c)
                return;
        sd_event_source_disable_unref(c->timer);
        if (c->have_before)
                vm_domain_props_clear(&c->before);
        vm_domain_files_job_cancel(c->opening);
        vm_leases_call_cancel(c->leasing);
        driver_file_set_free(c->files);
        domain_def_free(c->files_def);
        domain_def_free(c->dev);
        domain_def_free(c->cfg_dev);
        sd_bus_message_unref(c->message);
        vm_domain_unref(c->domain);
        g_free(c->what);
        g_free(c);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(DeviceCall *, call_free);
static inline void domain_def_freep(DomainDef **p) {
        domain_def_free(*p);
}

static void reply_error(DeviceCall *c, int r, const char *message) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *what = g_strdup_printf("Failed to %s %s of domain '%s'", verb_names[c->verb], c->what,
                                                    c->domain->name);

        if (!c->message)
                return;
        bus_error_from_errno(&error, r, message, what);
        (void) sd_bus_reply_method_error(c->message, &error);
        c->message = sd_bus_message_unref(c->message);
}

static void reply_ok(DeviceCall *c) {
        if (!c->message)
                return;
        (void) sd_bus_reply_method_return(c->message, NULL);
        c->message = sd_bus_message_unref(c->message);
}

/* ---- device arrays ---- */

static void device_array(DomainDef *def, DomainDeviceKind kind, void ***ret_array, size_t **ret_n, size_t *ret_size) {
        switch (kind) {
        case DOMAIN_DEVICE_DISK:
                *ret_array = (void **) &def->disks, *ret_n = &def->n_disks, *ret_size = sizeof(DomainDiskDef);
                break;
        case DOMAIN_DEVICE_NET:
                *ret_array = (void **) &def->nets, *ret_n = &def->n_nets, *ret_size = sizeof(DomainNetDef);
                break;
        case DOMAIN_DEVICE_MEMORY:
                *ret_array = (void **) &def->memories, *ret_n = &def->n_memories, *ret_size = sizeof(DomainMemoryDef);
                break;
        case DOMAIN_DEVICE_LEASE:
                *ret_array = (void **) &def->leases, *ret_n = &def->n_leases, *ret_size = sizeof(DomainLeaseDef);
                break;
        default:
                *ret_array = (void **) &def->controllers, *ret_n = &def->n_controllers,
                *ret_size = sizeof(DomainControllerDef);
        }
}

/* Appends a copy of dev's device to def. */
static int append_device(DomainDef *def, DomainDeviceKind kind, const DomainDef *dev) {
        _cleanup_(domain_def_freep) DomainDef *copy = domain_def_copy(dev);
        void **array, **from;
        size_t *n, *n_from, size;
        char *a;

        if (!copy)
                return -ENOMEM;
        if (kind == DOMAIN_DEVICE_MEMORY)   /* <memory> grows with it */
                return copy->n_memories == 1 ? domain_def_memory_add(def, copy->memories) : -EINVAL;
        device_array(def, kind, &array, &n, &size);
        device_array(copy, kind, &from, &n_from, &size);
        if (*n_from != 1)
                return -EINVAL;
        a = realloc(*array, (*n + 1) * size);
        if (!a)
                return -ENOMEM;
        memcpy(a + *n * size, *from, size);
        *array = a;
        (*n)++;
        *n_from = 0;   /* the copy's element is def's now */
        return 0;
}

/* Removes (and frees) device index of def. */
static void remove_device(DomainDef *def, DomainDeviceKind kind, size_t index) {
        DomainDef *one = domain_def_new();
        void **array, **to;
        size_t *n, *n_to, size;
        char *a;

        if (kind == DOMAIN_DEVICE_MEMORY) {   /* <memory> shrinks with it */
                domain_def_free(one);
                domain_def_memory_remove(def, index);
                return;
        }
        device_array(def, kind, &array, &n, &size);
        a = *array;
        if (one) {
                device_array(one, kind, &to, &n_to, &size);
                *to = malloc(size);
                if (*to) {
                        memcpy(*to, a + index * size, size);
                        *n_to = 1;
                }
        }
        domain_def_free(one);
        memmove(a + index * size, a + (index + 1) * size, (*n - index - 1) * size);
        (*n)--;
}

/* The device of def that dev means: a disk by its target (or source), an
 * interface by its MAC (or alias, or as the only one of its type and
 * source), a controller by type and index, a memory module by what it
 * names of model, size, node and slot. -1 when none; -2 when several
 * interfaces match without a MAC. */
static ssize_t find_device(const DomainDef *def, DomainDeviceKind kind, const DomainDef *dev) {
        ssize_t found = -1;

        if (!def)
                return -1;
        switch (kind) {
        case DOMAIN_DEVICE_DISK: {
                const DomainDiskDef *x = dev->disks;
                for (size_t i = 0; i < def->n_disks; i++)
                        if (x->target_dev ? streq_ptr(def->disks[i].target_dev, x->target_dev)
                                          : streq_ptr(def->disks[i].source, x->source))
                                return (ssize_t) i;
                return -1;
        }
        case DOMAIN_DEVICE_NET: {
                const DomainNetDef *x = dev->nets;
                for (size_t i = 0; i < def->n_nets; i++) {
                        const DomainNetDef *n = &def->nets[i];
                        if (x->mac) {
                                if (streq_ptr(n->mac, x->mac))
                                        return (ssize_t) i;
                                continue;
                        }
                        if (x->alias) {
                                if (streq_ptr(n->alias, x->alias))
                                        return (ssize_t) i;
                                continue;
                        }
                        if (n->type != x->type || (x->source_network && !streq_ptr(n->source_network, x->source_network)) ||
                            (x->type == DOMAIN_NET_TYPE_BRIDGE && x->source_bridge &&
                             !streq_ptr(n->source_bridge, x->source_bridge)))
                                continue;
                        if (found >= 0)
                                return -2;
                        found = (ssize_t) i;
                }
                return found;
        }
        case DOMAIN_DEVICE_MEMORY: {
                const DomainMemoryDef *x = dev->memories;
                for (size_t i = 0; i < def->n_memories; i++) {
                        const DomainMemoryDef *m = &def->memories[i];
                        if (streq_ptr(m->model, x->model) && m->size_kib == x->size_kib &&
                            (x->node < 0 || m->node == x->node) && (x->slot < 0 || m->slot == x->slot))
                                return (ssize_t) i;
                }
                return -1;
        }
        case DOMAIN_DEVICE_LEASE: {
                const DomainLeaseDef *x = dev->leases;
                for (size_t i = 0; i < def->n_leases; i++) {
                        const DomainLeaseDef *l = &def->leases[i];
                        if (streq_ptr(l->target_path, x->target_path) && l->target_offset == x->target_offset)
                                return (ssize_t) i;
                }
                return -1;
        }
        default: {
                const DomainControllerDef *x = dev->controllers;
                for (size_t i = 0; i < def->n_controllers; i++)
                        if (streq_ptr(def->controllers[i].type, x->type) && def->controllers[i].index == x->index)
                                return (ssize_t) i;
                return -1;
        }
        }
}

static char *describe(DomainDeviceKind kind, const DomainDef *dev) {
        switch (kind) {
        case DOMAIN_DEVICE_DISK:
                return g_strdup_printf("disk '%s'", dev->disks->target_dev ?: strna(dev->disks->source));
        case DOMAIN_DEVICE_NET:
                return dev->nets->mac ? g_strdup_printf("interface '%s'", dev->nets->mac) : g_strdup("interface");
        case DOMAIN_DEVICE_MEMORY:
                return dev->memories->slot >= 0
                               ? g_strdup_printf("memory %s of %" PRIu64 " KiB in slot %d", strna(dev->memories->model),
                                                 dev->memories->size_kib, dev->memories->slot)
                               : g_strdup_printf("memory %s of %" PRIu64 " KiB", strna(dev->memories->model),
                                                 dev->memories->size_kib);
        case DOMAIN_DEVICE_LEASE:
                return g_strdup_printf("lease %s%s%s", strna(dev->leases->key), dev->leases->lockspace ? " in lockspace " : "",
                                       strempty(dev->leases->lockspace));
        default:
                return g_strdup_printf("controller %s index %d", strna(dev->controllers->type), dev->controllers->index);
        }
}

static bool mac_in_use(Manager *m, const char *mac) {
        GHashTableIter it;
        gpointer value;

        g_hash_table_iter_init(&it, m->domains_by_name);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                const VmDomain *d = value;
                const DomainDef *defs[] = { vm_domain_current_def(d), vm_domain_inactive_def(d) };
                for (size_t k = 0; k < ELEMENTSOF(defs); k++)
                        for (size_t i = 0; defs[k] && i < defs[k]->n_nets; i++)
                                if (streq_ptr(defs[k]->nets[i].mac, mac))
                                        return true;
        }
        return false;
}

/* Refuses what would clash with a device of def already there (a target, a MAC, a controller). */
static int check_new_device(DeviceCall *c, const DomainDef *def, const char *which, sd_bus_error *error) {
        VmDomain *d = c->domain;

        switch (c->kind) {
        case DOMAIN_DEVICE_DISK:
                if (!c->dev->disks->target_dev)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "The disk has no <target dev=…>");
                for (size_t i = 0; i < def->n_disks; i++)
                        if (streq_ptr(def->disks[i].target_dev, c->dev->disks->target_dev))
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                         "The %s definition of domain '%s' has a disk '%s' already", which,
                                                         d->name, c->dev->disks->target_dev);
                return 0;
        case DOMAIN_DEVICE_NET:
                for (size_t i = 0; i < def->n_nets; i++)
                        if (streq_ptr(def->nets[i].mac, c->dev->nets->mac))
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                         "The %s definition of domain '%s' has an interface with MAC %s already",
                                                         which, d->name, c->dev->nets->mac);
                return 0;
        case DOMAIN_DEVICE_MEMORY:
                if (c->dev->memories->slot >= 0 && domain_def_memory_find_slot(def, c->dev->memories->slot) >= 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "The %s definition of domain '%s' has a memory device in slot %d already",
                                                 which, d->name, c->dev->memories->slot);
                return 0;   /* normalize judges the rest: <maxMemory>, its slots, the size */
        case DOMAIN_DEVICE_LEASE:
                if (find_device(def, c->kind, c->dev) >= 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "The %s definition of domain '%s' has a lease on %s offset %" PRIu64 " already",
                                                 which, d->name, c->dev->leases->target_path, c->dev->leases->target_offset);
                return 0;
        default:
                if (find_device(def, c->kind, c->dev) >= 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "The %s definition of domain '%s' has a %s controller with index %d already",
                                                 which, d->name, c->dev->controllers->type, c->dev->controllers->index);
                return 0;
        }
}

/* ---- an interface's <bandwidth> (UpdateDevice) ---- */

/* NULL when the interface x (as the caller gave it) differs from n in <bandwidth> only (libvirt's
 * rule for a NIC's update); else what else differs. */
static const char *net_other_change(const DomainNetDef *n, const DomainNetDef *x) {
        if (n->type != x->type)
                return "its type";
        if (x->source_network && !streq_ptr(n->source_network, x->source_network))
                return "its network";
        if (n->type == DOMAIN_NET_TYPE_BRIDGE && x->source_bridge && !streq_ptr(n->source_bridge, x->source_bridge))
                return "its bridge";
        if (x->model && !streq_ptr(n->model, x->model))
                return "its model";
        if (x->target_dev && n->target_dev && !streq_ptr(n->target_dev, x->target_dev))
                return "its target";
        return NULL;
}

/* ---- the persistent definition ---- */

/* The persistent definition with the change made (normalized), in *ret; errors set in error. */
static int config_changed(DeviceCall *c, DomainDef **ret, sd_bus_error *error) {
        VmDomain *d = c->domain;
        _cleanup_(domain_def_freep) DomainDef *def = domain_def_copy(vm_domain_inactive_def(d));
        ConfError err = {};
        ssize_t i;
        int r;

        if (!def)
                return -ENOMEM;
        switch (c->verb) {
        case VERB_ATTACH:
                r = check_new_device(c, def, "persistent", error);
                if (r < 0)
                        return r;
                /* as given: the live one's addresses are the running domain's */
                r = append_device(def, c->kind, c->cfg_dev ?: c->dev);
                if (r < 0)
                        return r;
                break;
        case VERB_DETACH:
                i = find_device(def, c->kind, c->dev);
                if (i == -2)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Several interfaces of domain '%s' match: name one by its MAC", d->name);
                if (i < 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "The persistent definition of domain '%s' has no %s", d->name, c->what);
                remove_device(def, c->kind, (size_t) i);
                break;
        case VERB_UPDATE: {
                DomainDiskDef *disk;
                const DomainDiskDef *x = c->dev->disks;

                i = find_device(def, c->kind, c->dev);
                if (i < 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "The persistent definition of domain '%s' has no %s", d->name, c->what);
                if (c->kind == DOMAIN_DEVICE_NET) {
                        const char *other = net_other_change(&def->nets[i], c->dev->nets);
                        if (other)
                                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED,
                                                         "Only the <bandwidth> of %s can be changed, not %s", c->what, other);
                        def->nets[i].bw_inbound = c->dev->nets->bw_inbound;
                        def->nets[i].bw_outbound = c->dev->nets->bw_outbound;
                        break;
                }
                disk = &def->disks[i];
                if (disk->device != DOMAIN_DISK_DEVICE_CDROM)
                        return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED,
                                                 "Only the medium of a cdrom can be changed, and %s is no cdrom", c->what);
                free(disk->source);
                disk->source = x->source ? strdup(x->source) : NULL;
                free(disk->driver_type);
                disk->driver_type = x->driver_type ? strdup(x->driver_type) : NULL;
                disk->type = x->type;
                break;
        }
        }
        r = d->drv->ops->normalize(d->drv->driver, def, &err);
        if (r < 0) {
                sd_bus_error_setf(error, VM_ERROR_INVALID_XML, "%s", err.message ?: "Invalid domain definition");
                conf_error_clear(&err);
                return -EINVAL;
        }
        *ret = TAKE_PTR(def);
        return 0;
}

/* Writes the changed persistent definition and makes it d's. 0, or a negative errno with error set. */
static int config_apply(DeviceCall *c, sd_bus_error *error) {
        VmDomain *d = c->domain;
        Manager *m = d->manager;
        _cleanup_(domain_def_freep) DomainDef *def = NULL;
        _cleanup_free_ char *file = NULL;
        VmDomainProps before;
        int r;

        r = config_changed(c, &def, error);
        if (r < 0)
                return r;
        r = vm_domain_store_write(m, def, d->generation + 1, &file);
        if (r < 0)
                return sd_bus_error_setf(error, VM_ERROR_OPERATION_FAILED, "Failed to save domain '%s': %s", d->name,
                                         strerror(-r));
        vm_domain_props_get(d, &before);
        d->generation++;
        if (!streq_ptr(file, d->config_file)) {
                g_free(d->config_file);
                d->config_file = g_strdup(file);
        }
        if (vm_domain_is_busy(d)) {
                domain_def_free(d->newdef);
                d->newdef = TAKE_PTR(def);
        } else {
                domain_def_free(d->def);
                d->def = TAKE_PTR(def);
        }
        vm_domain_props_emit_changes(d, &before);
        log_info("Domain '%s': %s %s in the persistent definition", d->name,
                 c->verb == VERB_ATTACH ? "added" : c->verb == VERB_DETACH ? "removed" : "changed", c->what);
        return 0;
}

/* The live part is done (or there was none): the persistent one, then the answer. */
static void finish_call(DeviceCall *c) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        if (c->config && config_apply(c, &error) < 0) {
                if (c->message && c->live)
                        (void) sd_bus_reply_method_errorf(c->message, error.name,
                                                          "The running domain has the change, its persistent definition not: %s",
                                                          error.message);
                else if (c->message)
                        (void) sd_bus_reply_method_error(c->message, &error);
                else
                        log_error("Domain '%s': %s", c->domain->name, error.message);
                c->message = sd_bus_message_unref(c->message);
                return;
        }
        reply_ok(c);
}

/* ---- live ---- */

static int check_running(DeviceCall *c, sd_bus_error *error) {
        VmDomain *d = c->domain;

        if (!vm_domain_is_active(d) || !d->rt)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Domain '%s' is not running", d->name);
        return 0;
}

static void attach_done(void *userdata, int r, const char *alias, const char *message) {
        DeviceCall *c = userdata;
        VmDomain *d = c->domain;

        if (r < 0) {
                reply_error(c, r, message);
                call_free(c);
                return;
        }
        log_info("Domain '%s': %s attached as %s", d->name, c->what, strna(alias));
        if (c->have_before) {   /* the live definition changed (a memory module: MemoryKiB) */
                c->have_before = false;
                vm_domain_props_emit_changes(d, &c->before);
        }
        vm_domain_set_cause(d, c->message);
        vm_domain_emit_event(d, "device-added", alias ?: "");
        vm_domain_clear_cause(d);
        finish_call(c);
        call_free(c);
}

/* Running (still, after its lease was taken): the driver plugs it in with its files and lease. */
static void attach_with_leases(DeviceCall *c, VmLeases *leases) {
        VmDomain *d = c->domain;
        _cleanup_free_ char *err = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        DriverFiles view = c->files ? c->files->view : (DriverFiles) {};
        int r;

        if (check_running(c, &error) < 0) {
                (void) sd_bus_reply_method_error(c->message, &error);
                call_free(c);
                return;
        }
        view.lease_fds = leases->by_disk;
        view.n_lease_fds = leases->n_disks;
        if (leases->n > 0 && d->drv->ops->pid)
                vm_leases_set_pid(leases, d->drv->ops->pid(d->rt));
        vm_domain_props_get(d, &c->before);
        c->have_before = true;
        /* the driver keeps its own copy of the lease until the hypervisor has it */
        r = d->drv->ops->attach_device(d->rt, c->kind, c->dev, c->files || leases->n ? &view : NULL, attach_done, c,
                                       &err);
        if (r < 0) {
                reply_error(c, r, err);
                call_free(c);
                return;
        }
        /* the driver has its own fds: the caller's need not stay open */
        c->files = driver_file_set_free(c->files);
}

static void attach_leases_done(void *userdata, int r, VmLeases *leases, const char *message) {
        DeviceCall *c = userdata;

        c->leasing = NULL;
        if (r < 0) {
                reply_error(c, r, message);
                call_free(c);
                return;
        }
        attach_with_leases(c, leases);
}

static void live_attach(DeviceCall *c) {
        VmDomain *d = c->domain;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        if (check_running(c, &error) < 0) {
                (void) sd_bus_reply_method_error(c->message, &error);
                call_free(c);
                return;
        }
        if (c->kind == DOMAIN_DEVICE_LEASE) {
                /* taken as a start takes it, for this domain: Busy when another holds it */
                const DomainDef *live = vm_domain_current_def(d);
                DomainDef owner = { .name = live->name, .leases = c->dev->leases, .n_leases = 1, .id = -1 };

                memcpy(owner.uuid, live->uuid, sizeof(owner.uuid));
                r = vm_leases_take_start(d->manager, &owner, &owner, NULL, true, attach_leases_done, c, &c->leasing);
                if (r < 0) {
                        reply_error(c, r, NULL);
                        call_free(c);
                }
                return;
        }
        if (c->kind != DOMAIN_DEVICE_DISK) {
                attach_with_leases(c, &(VmLeases) {});
                return;
        }
        /* a disk's lease first (domain-lease.h): Busy when another domain uses it */
        r = vm_leases_take_start(d->manager, vm_domain_current_def(d), c->dev, c->files ? &c->files->view : NULL,
                                 true, attach_leases_done, c, &c->leasing);
        if (r < 0) {
                reply_error(c, r, NULL);
                call_free(c);
        }
}

static void media_done(void *userdata, int r, const char *alias, const char *message) {
        DeviceCall *c = userdata;

        if (r < 0)
                reply_error(c, r, message);
        else {
                log_info("Domain '%s': the medium of %s changed", c->domain->name, c->what);
                finish_call(c);
        }
        call_free(c);
}

static void live_update(DeviceCall *c) {
        VmDomain *d = c->domain;
        _cleanup_free_ char *err = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        ssize_t i;
        int r;

        if (check_running(c, &error) < 0) {
                (void) sd_bus_reply_method_error(c->message, &error);
                call_free(c);
                return;
        }
        i = find_device(vm_domain_current_def(d), c->kind, c->dev);
        if (i < 0) {
                reply_error(c, -EINVAL, "the running domain has no such disk");
                call_free(c);
                return;
        }
        r = d->drv->ops->change_media(d->rt, (size_t) i, c->dev->disks, c->files ? &c->files->view : NULL, c->force,
                                      media_done, c, &err);
        if (r < 0) {
                reply_error(c, r, err);
                call_free(c);
                return;
        }
        c->files = driver_file_set_free(c->files);
}

/* A disk's image is open (as the caller could): on to the driver. */
static void files_opened(void *userdata, int r, DriverFileSet *set, const char *message) {
        DeviceCall *c = userdata;

        c->opening = NULL;
        if (r < 0) {
                reply_error(c, r, message);
                call_free(c);
                return;
        }
        c->files = set;
        if (c->verb == VERB_ATTACH)
                live_attach(c);
        else
                live_update(c);
}

/* Opens the image of the call's disk (if it names one), then goes on live. */
static int open_disk_and_go(DeviceCall *c) {
        const DomainDiskDef *disk = c->kind == DOMAIN_DEVICE_DISK ? c->dev->disks : NULL;
        DriverFileSet *set = NULL;
        int r;

        if (!disk || (!disk->source && !(disk->type == DOMAIN_DISK_TYPE_NETWORK && c->verb == VERB_ATTACH))) {
                if (c->verb == VERB_ATTACH)
                        live_attach(c);
                else
                        live_update(c);
                return 0;
        }
        c->files_def = domain_def_copy(c->dev);
        if (!c->files_def)
                return -ENOMEM;
        free(c->files_def->name);
        c->files_def->name = strdup(c->domain->name);
        r = driver_file_set_new(c->files_def, &set);
        if (r < 0)
                return r;
        if (set->n_paths == 0) {
                /* a network disk that names no host path (all but an nbd unix socket) */
                driver_file_set_free(set);
                live_attach(c);
                return 0;
        }
        return vm_domain_files_open(c->domain->manager, c->message, c->domain->name, set, files_opened, c,
                                    &c->opening);
}

/* ---- detach: waiting for the guest ---- */

static void detach_give_up(DeviceCall *c, int r, const char *message) {
        c->given_up = true;
        c->timer = sd_event_source_disable_unref(c->timer);
        if (c->job) {
                DriverJobCallbacks cb = c->job_cb;
                c->job = NULL;
                cb.done(cb.userdata, r, message);
        }
}

static void detach_done(void *userdata, int r, const char *alias, const char *message) {
        DeviceCall *c = userdata;
        VmDomain *d = c->domain;

        c->timer = sd_event_source_disable_unref(c->timer);
        if (r >= 0) {
                log_info("Domain '%s': the guest released %s (%s)", d->name, c->what, strna(alias));
                if (c->have_before) {
                        c->have_before = false;
                        vm_domain_props_emit_changes(d, &c->before);
                }
                vm_domain_set_cause(d, c->message);
                vm_domain_emit_event(d, "device-removed", alias ?: "");
                vm_domain_clear_cause(d);
        }
        if (c->given_up) {   /* the call and its Job are over: the definitions stay as they were */
                call_free(c);
                return;
        }
        if (r < 0)
                reply_error(c, r, message);
        else
                finish_call(c);
        if (c->job) {
                DriverJobCallbacks cb = c->job_cb;
                c->job = NULL;
                cb.done(cb.userdata, r, message);
        }
        call_free(c);
}

static int on_detach_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        DeviceCall *c = userdata;
        _cleanup_free_ char *msg = g_strdup_printf("The guest did not release %s within %" PRIu64 " s", c->what,
                                                   (c->timeout_usec + 999999) / 1000000);

        log_warning("Domain '%s': %s", c->domain->name, msg);
        detach_give_up(c, -ETIMEDOUT, msg);
        return 0;
}

static void detach_job_cancel(DriverJob *j) {
        DeviceCall *c = (DeviceCall *) ((char *) j - offsetof(DeviceCall, driver_job));

        detach_give_up(c, -ECANCELED, "stopped waiting for the guest");
}

/* The call waited long enough: it answers, a Job waits on. */
static int on_detach_wait(sd_event_source *s, uint64_t usec, void *userdata) {
        DeviceCall *c = userdata;
        VmDomain *d = c->domain;

        c->timer = sd_event_source_disable_unref(c->timer);
        c->job = vm_domain_job_new(d, c->message, "detach-device", NULL, NULL, NULL);
        c->job_cb = vm_domain_job_callbacks(c->job);
        c->driver_job.cancel = detach_job_cancel;
        (void) vm_domain_job_started(c->job, &c->driver_job, NULL);
        log_info("Domain '%s': the guest has not released %s yet; job %s waits", d->name, c->what,
                 vm_domain_job_path(c->job));
        reply_ok(c);   /* the request is with the guest */
        if (c->timeout_usec > c->wait_usec)
                (void) sd_event_add_time_relative(d->manager->event, &c->timer, CLOCK_MONOTONIC,
                                                  c->timeout_usec - c->wait_usec, 0, on_detach_timeout, c);
        else
                on_detach_timeout(NULL, 0, c);
        return 0;
}

/* A <lease>'s lock is let go (the hypervisor keeps an fd it inherited at its start, unlocked); then the
 * driver drops it from the live definition. */
static void lease_released(void *userdata, int r, VmLeases *leases, const char *message) {
        DeviceCall *c = userdata;
        VmDomain *d = c->domain;
        _cleanup_free_ char *err = NULL;
        ssize_t i;

        c->leasing = NULL;
        i = r >= 0 && d->rt ? find_device(vm_domain_current_def(d), c->kind, c->dev) : -1;
        if (r >= 0 && i < 0) {
                r = -ESRCH;
                message = "the domain stopped or the lease went meanwhile";
        }
        if (r >= 0)
                r = d->drv->ops->detach_device(d->rt, c->kind, (size_t) i, detach_done, c, &err);
        if (r < 0) {
                reply_error(c, r, err ?: message);
                call_free(c);
        }
}

static int live_detach(DeviceCall *c, sd_bus_error *error) {
        VmDomain *d = c->domain;
        _cleanup_free_ char *err = NULL;
        ssize_t i;
        int r;

        i = find_device(vm_domain_current_def(d), c->kind, c->dev);
        if (i == -2)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Several interfaces of domain '%s' match: name one by its MAC", d->name);
        if (i < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "The running domain '%s' has no %s", d->name,
                                         c->what);
        vm_domain_props_get(d, &c->before);
        c->have_before = true;
        if (c->kind == DOMAIN_DEVICE_LEASE) {
                if (!d->drv->ops->pid)
                        return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED, "The %s driver holds no leases",
                                                 d->drv->ops->name);
                r = vm_lease_device_release_start(d->manager, &vm_domain_current_def(d)->leases[i],
                                                  d->drv->ops->pid(d->rt), lease_released, c, &c->leasing);
                if (r < 0)
                        return sd_bus_error_set_errnof(error, r, "Failed to release %s: %m", c->what);
                return 0;
        }
        r = d->drv->ops->detach_device(d->rt, c->kind, (size_t) i, detach_done, c, &err);
        if (r < 0) {
                _cleanup_free_ char *what = g_strdup_printf("Failed to detach %s of domain '%s'", c->what, d->name);
                return bus_error_from_errno(error, r, err, what);
        }
        r = sd_event_add_time_relative(d->manager->event, &c->timer, CLOCK_MONOTONIC, c->wait_usec, 0, on_detach_wait,
                                       c);
        if (r < 0)
                log_warning_errno(r, "Domain '%s': cannot time the detach of %s: %m", d->name, c->what);
        return 0;
}

/* ---- the methods ---- */

/* What every method does first: the XML, the options, polkit, where the change goes. Returns 1 with *ret,
 * 0 when polkit's answer is pending, negative with error set. */
static int call_begin(sd_bus_message *message, VmDomain *d, DeviceVerb verb, DeviceCall **ret, sd_bus_error *error) {
        const char *xml;
        bool live = false, config = false, current = false, force = false;
        uint32_t wait_ms = 0, timeout_ms = 0;
        bool has_wait = false, has_timeout = false;
        const BusOption attach_opts[] = { { "live", "b", &live }, { "config", "b", &config }, { "current", "b", &current },
                                          {} };
        const BusOption detach_opts[] = { { "live", "b", &live }, { "config", "b", &config }, { "current", "b", &current },
                                          { "wait_ms", "u", &wait_ms, &has_wait },
                                          { "timeout_ms", "u", &timeout_ms, &has_timeout }, {} };
        const BusOption update_opts[] = { { "live", "b", &live }, { "config", "b", &config }, { "current", "b", &current },
                                          { "force", "b", &force }, {} };
        _cleanup_(call_freep) DeviceCall *c = NULL;
        ConfError err = {};
        int r;

        r = sd_bus_message_read(message, "s", &xml);
        if (r < 0)
                return r;
        r = vm_domain_method_prologue(message, d, VM_ACTION_DOMAIN_MANAGE,
                                      verb == VERB_ATTACH ? attach_opts : verb == VERB_DETACH ? detach_opts : update_opts,
                                      error);
        if (r <= 0)
                return r;
        c = g_new0(DeviceCall, 1);
        c->domain = vm_domain_ref(d);
        c->message = sd_bus_message_ref(message);
        c->verb = verb;
        c->force = force;
        c->wait_usec = has_wait ? (uint64_t) wait_ms * 1000 : VM_DETACH_WAIT_USEC_DEFAULT;
        c->timeout_usec = has_timeout ? (uint64_t) timeout_ms * 1000 : VM_DETACH_TIMEOUT_USEC_DEFAULT;
        if (c->timeout_usec < c->wait_usec)
                c->wait_usec = c->timeout_usec;

        r = domain_device_parse(xml, strlen(xml), &c->dev, &c->kind, &err);
        if (r < 0) {
                sd_bus_error_setf(error, VM_ERROR_INVALID_XML, "%s", err.message ?: "Invalid device XML");
                conf_error_clear(&err);
                return -EINVAL;
        }
        c->what = describe(c->kind, c->dev);
        if (c->kind == DOMAIN_DEVICE_MEMORY && !streq_ptr(c->dev->memories->model, "dimm"))
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED, "Memory devices of model '%s' are not supported (dimm)",
                                         strna(c->dev->memories->model));
        if (current && (live || config))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Option current excludes live and config");
        if (!live && !config) {
                /* libvirt's "current": the running domain, or the definition of one shut off */
                live = vm_domain_is_active(d);
                config = !live;
        }
        if (live && (!vm_domain_is_active(d) || !d->rt))
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Domain '%s' is not running", d->name);
        if (config && !d->persistent)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE,
                                         "Domain '%s' is transient: it has no persistent definition", d->name);
        if (d->snapshot_op)
                return sd_bus_error_setf(error, VM_ERROR_BUSY, "Domain '%s' has a snapshot operation running", d->name);
        if (live && (verb == VERB_ATTACH ? !d->drv->ops->attach_device
                     : verb == VERB_DETACH ? !d->drv->ops->detach_device
                     : c->kind == DOMAIN_DEVICE_NET ? !d->drv->ops->set_net_bandwidth : !d->drv->ops->change_media))
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED, "The %s driver cannot %s devices of a running domain",
                                         d->drv->ops->name, verb_names[verb]);
        c->live = live;
        c->config = config;
        *ret = TAKE_PTR(c);
        return 1;
}

/* The persistent part would work (checked before anything changes). */
static int config_check(DeviceCall *c, sd_bus_error *error) {
        _cleanup_(domain_def_freep) DomainDef *def = NULL;

        if (!c->config)
                return 0;
        return config_changed(c, &def, error);
}

int vm_domain_method_attach_device(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        _cleanup_(call_freep) DeviceCall *c = NULL;
        int r;

        r = call_begin(message, d, VERB_ATTACH, &c, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (c->kind == DOMAIN_DEVICE_NET && !c->dev->nets->mac) {
                /* one new MAC for both definitions, used by no other interface here */
                char mac[18];
                do
                        conf_mac_generate(mac);
                while (mac_in_use(d->manager, mac));
                c->dev->nets->mac = strdup(mac);
                if (!c->dev->nets->mac)
                        return -ENOMEM;
        }
        r = config_check(c, error);
        if (r < 0)
                return r;
        if (!c->live) {
                finish_call(c);
                return 1;
        }
        c->cfg_dev = domain_def_copy(c->dev);
        if (!c->cfg_dev)
                return -ENOMEM;
        {
                /* placed as the running domain has room (PCI address, drive address) */
                _cleanup_(domain_def_freep) DomainDef *live = domain_def_copy(vm_domain_current_def(d));
                ConfError err = {};
                void **array;
                size_t *n, size;

                if (!live)
                        return -ENOMEM;
                r = check_new_device(c, live, "live", error);
                if (r < 0)
                        return r;
                r = append_device(live, c->kind, c->dev);
                if (r < 0)
                        return r;
                r = d->drv->ops->normalize(d->drv->driver, live, &err);
                if (r < 0) {
                        sd_bus_error_setf(error, VM_ERROR_INVALID_XML, "%s", err.message ?: "Invalid device");
                        conf_error_clear(&err);
                        return -EINVAL;
                }
                device_array(live, c->kind, &array, &n, &size);
                domain_def_free(c->dev);
                c->dev = domain_def_new();
                if (!c->dev)
                        return -ENOMEM;
                r = append_device(c->dev, c->kind, &(DomainDef) {
                        .disks = c->kind == DOMAIN_DEVICE_DISK ? &live->disks[*n - 1] : NULL,
                        .n_disks = c->kind == DOMAIN_DEVICE_DISK,
                        .nets = c->kind == DOMAIN_DEVICE_NET ? &live->nets[*n - 1] : NULL,
                        .n_nets = c->kind == DOMAIN_DEVICE_NET,
                        .controllers = c->kind == DOMAIN_DEVICE_CONTROLLER ? &live->controllers[*n - 1] : NULL,
                        .n_controllers = c->kind == DOMAIN_DEVICE_CONTROLLER,
                        .memories = c->kind == DOMAIN_DEVICE_MEMORY ? &live->memories[*n - 1] : NULL,
                        .n_memories = c->kind == DOMAIN_DEVICE_MEMORY,
                        .leases = c->kind == DOMAIN_DEVICE_LEASE ? &live->leases[*n - 1] : NULL,
                        .n_leases = c->kind == DOMAIN_DEVICE_LEASE,
                        .id = -1,
                });
                if (r < 0)
                        return r;
        }
        if (c->kind == DOMAIN_DEVICE_NET && c->dev->nets->type == DOMAIN_NET_TYPE_NETWORK) {
                _cleanup_free_ char *msg = NULL;
                DomainDef *resolved = NULL;

                r = vm_networks_resolve_domain_nets(d->manager, c->dev, &resolved, &msg);
                if (r < 0) {
                        _cleanup_free_ char *what = g_strdup_printf("Failed to attach %s to domain '%s'", c->what, d->name);
                        return bus_error_from_errno(error, r == -ENOENT ? -EINVAL : r, msg, what);
                }
                if (resolved) {
                        domain_def_free(c->dev);
                        c->dev = resolved;
                }
        }
        if (c->kind == DOMAIN_DEVICE_DISK && c->dev->disks->type == DOMAIN_DISK_TYPE_NETWORK) {
                _cleanup_free_ char *msg = NULL;

                r = vm_domain_disk_secrets_resolve(d->manager, message, c->dev, &c->dev, &msg);
                if (r < 0) {
                        _cleanup_free_ char *what = g_strdup_printf("Failed to attach %s to domain '%s'", c->what, d->name);
                        return bus_error_from_errno(error, r, msg, what);
                }
        }
        r = open_disk_and_go(c);
        if (r < 0) {
                _cleanup_free_ char *what = g_strdup_printf("Failed to attach %s to domain '%s'", c->what, d->name);
                return bus_error_from_errno(error, r, NULL, what);
        }
        TAKE_PTR(c);
        return 1;
}

int vm_domain_method_detach_device(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        _cleanup_(call_freep) DeviceCall *c = NULL;
        int r;

        r = call_begin(message, d, VERB_DETACH, &c, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        r = config_check(c, error);
        if (r < 0)
                return r;
        if (!c->live) {
                finish_call(c);
                return 1;
        }
        r = live_detach(c, error);
        if (r < 0)
                return r;
        TAKE_PTR(c);
        return 1;
}

/* UpdateDevice of a running domain's interface: the new <bandwidth> on its tap, then in the live definition. */
static int live_net_bandwidth(DeviceCall *c, sd_bus_error *error) {
        VmDomain *d = c->domain;
        const DomainDef *live = vm_domain_current_def(d);
        const NetworkBandwidthRate *in, *out;
        _cleanup_free_ char *err = NULL;
        DomainNetDef want;
        const char *other;
        ssize_t i;
        int r;

        if (c->dev->nets->type == DOMAIN_NET_TYPE_USER)
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED,
                                         "An interface of type 'user' has no tap: its <bandwidth> cannot be changed live");
        i = find_device(live, c->kind, c->dev);
        if (i == -2)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Several interfaces of domain '%s' match: name one by its MAC", d->name);
        if (i < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "The running domain '%s' has no %s", d->name,
                                         c->what);
        other = net_other_change(&live->nets[i], c->dev->nets);
        if (other)
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED, "Only the <bandwidth> of %s can be changed, not %s",
                                         c->what, other);
        if (!live->nets[i].target_dev)
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED,
                                         "%s of domain '%s' has no tap to set a <bandwidth> on", c->what, d->name);
        want = live->nets[i];
        want.bw_inbound = c->dev->nets->bw_inbound;
        want.bw_outbound = c->dev->nets->bw_outbound;
        vm_networks_nic_bandwidth(d->manager, &want, &in, &out);
        r = network_tap_set_bandwidth(want.target_dev, in, out, &err);
        if (r < 0) {
                /* nothing changed: the tap gets its old rules back */
                vm_networks_nic_bandwidth(d->manager, &live->nets[i], &in, &out);
                if (network_tap_set_bandwidth(want.target_dev, in, out, NULL) < 0)
                        log_warning("Domain '%s': the old <bandwidth> of %s could not be set again", d->name, c->what);
                _cleanup_free_ char *what = g_strdup_printf("Failed to set the <bandwidth> of %s of domain '%s'", c->what,
                                                            d->name);
                return bus_error_from_errno(error, r == -EOPNOTSUPP ? r : -EIO, err, what);
        }
        r = d->drv->ops->set_net_bandwidth(d->rt, (size_t) i, &want.bw_inbound, &want.bw_outbound);
        if (r < 0)
                return bus_error_from_errno(error, r, NULL, "Failed to record the new <bandwidth>");
        log_info("Domain '%s': the <bandwidth> of %s changed", d->name, c->what);
        return 0;
}

int vm_domain_method_update_device(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        _cleanup_(call_freep) DeviceCall *c = NULL;
        ssize_t i;
        int r;

        r = call_begin(message, d, VERB_UPDATE, &c, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (c->kind != DOMAIN_DEVICE_DISK && c->kind != DOMAIN_DEVICE_NET)
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED,
                                         "UpdateDevice changes the medium of a cdrom or the <bandwidth> of an interface; "
                                         "%s cannot be updated", c->what);
        r = config_check(c, error);
        if (r < 0)
                return r;
        if (!c->live) {
                finish_call(c);
                return 1;
        }
        if (c->kind == DOMAIN_DEVICE_NET) {
                r = live_net_bandwidth(c, error);
                if (r < 0)
                        return r;
                finish_call(c);
                return 1;
        }
        i = find_device(vm_domain_current_def(d), c->kind, c->dev);
        if (i < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "The running domain '%s' has no %s", d->name,
                                         c->what);
        if (vm_domain_current_def(d)->disks[i].device != DOMAIN_DISK_DEVICE_CDROM)
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED,
                                         "Only the medium of a cdrom can be changed, and %s is no cdrom", c->what);
        c->dev->disks->device = DOMAIN_DISK_DEVICE_CDROM;
        c->dev->disks->readonly = true;
        r = open_disk_and_go(c);
        if (r < 0) {
                _cleanup_free_ char *what = g_strdup_printf("Failed to update %s of domain '%s'", c->what, d->name);
                return bus_error_from_errno(error, r, NULL, what);
        }
        TAKE_PTR(c);
        return 1;
}

/* ---- SetInterfaceParameters / GetInterfaceParameters (virsh domiftune) ---- */

static const char *const iftune_keys[] = {
        "inbound.average", "inbound.peak", "inbound.burst", "inbound.floor",
        "outbound.average", "outbound.peak", "outbound.burst",
};

static uint64_t *iftune_field(DomainNetDef *n, size_t k) {
        uint64_t *f[] = { &n->bw_inbound.average, &n->bw_inbound.peak, &n->bw_inbound.burst, &n->bw_inbound.floor,
                          &n->bw_outbound.average, &n->bw_outbound.peak, &n->bw_outbound.burst };
        return f[k];
}

/* The interface iface (its MAC or its tap's name) of def, or -1. */
static ssize_t iftune_find(const DomainDef *def, const char *iface) {
        for (size_t i = 0; def && i < def->n_nets; i++)
                if ((def->nets[i].mac && g_ascii_strcasecmp(def->nets[i].mac, iface) == 0) ||
                    streq_ptr(def->nets[i].target_dev, iface))
                        return (ssize_t) i;
        return -1;
}

static int iftune_check_rate(const NetworkBandwidthRate *r, const char *dir, sd_bus_error *error) {
        if (!r->set)
                return 0;
        if (!r->average && !r->floor)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "%s.peak and %s.burst need %s.average", dir, dir,
                                         dir);
        if (r->peak && r->peak < r->average)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "%s.peak is below %s.average", dir, dir);
        if ((r->peak || r->burst) && !r->average)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "%s.peak and %s.burst need %s.average", dir, dir,
                                         dir);
        return 0;
}

int vm_domain_method_set_interface_parameters(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        _cleanup_(call_freep) DeviceCall *c = NULL;
        uint32_t v[ELEMENTSOF(iftune_keys)] = {};
        bool has[ELEMENTSOF(iftune_keys)] = {};
        BusOption params[ELEMENTSOF(iftune_keys) + 1] = {};
        bool live = false, config = false, current = false;
        const BusOption options[] = { { "live", "b", &live }, { "config", "b", &config }, { "current", "b", &current }, {} };
        const DomainDef *base;
        DomainNetDef *n;
        const char *iface;
        ssize_t i;
        int r;

        for (size_t k = 0; k < ELEMENTSOF(iftune_keys); k++)
                params[k] = (BusOption) { iftune_keys[k], "u", &v[k], &has[k] };
        r = sd_bus_message_read(message, "s", &iface);
        if (r < 0)
                return r;
        r = bus_options_parse(message, params, error);
        if (r < 0)
                return r;
        r = vm_domain_method_prologue(message, d, VM_ACTION_DOMAIN_MANAGE, options, error);
        if (r <= 0)
                return r < 0 ? r : 1;   /* 0: polkit's answer is pending, the call comes again */
        if (current && (live || config))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Option current excludes live and config");
        if (!live && !config) {
                live = vm_domain_is_active(d);
                config = !live;
        }
        if (live && (!vm_domain_is_active(d) || !d->rt))
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Domain '%s' is not running", d->name);
        if (config && !d->persistent)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE,
                                         "Domain '%s' is transient: it has no persistent definition", d->name);
        if (live && !d->drv->ops->set_net_bandwidth)
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED, "The %s driver cannot change interfaces of a "
                                         "running domain", d->drv->ops->name);
        /* the values not given are those of the running interface (live) or of the definition's */
        base = live ? vm_domain_current_def(d) : vm_domain_inactive_def(d);
        i = iftune_find(base, iface);
        if (i < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Domain '%s' has no interface '%s'", d->name,
                                         iface);

        c = g_new0(DeviceCall, 1);
        c->domain = vm_domain_ref(d);
        c->message = sd_bus_message_ref(message);
        c->verb = VERB_UPDATE;
        c->kind = DOMAIN_DEVICE_NET;
        c->live = live;
        c->config = config;
        c->dev = domain_def_new();
        if (!c->dev)
                return -ENOMEM;
        n = c->dev->nets = g_new0(DomainNetDef, 1);
        c->dev->n_nets = 1;
        n->type = base->nets[i].type;
        n->mac = strdup(base->nets[i].mac ?: "");
        c->what = g_strdup_printf("interface '%s'", n->mac);
        if (!n->mac)
                return -ENOMEM;
        n->bw_inbound = base->nets[i].bw_inbound;
        n->bw_outbound = base->nets[i].bw_outbound;
        for (size_t k = 0; k < ELEMENTSOF(iftune_keys); k++)
                if (has[k])
                        *iftune_field(n, k) = v[k];
        /* libvirt's rule: an average of 0 removes that direction */
        if (has[0] || has[1] || has[2] || has[3])
                n->bw_inbound.set = true;
        if (has[4] || has[5] || has[6])
                n->bw_outbound.set = true;
        if (has[0] && v[0] == 0 && !n->bw_inbound.floor)
                n->bw_inbound = (NetworkBandwidthRate) {};
        if (has[4] && v[4] == 0)
                n->bw_outbound = (NetworkBandwidthRate) {};
        if ((r = iftune_check_rate(&n->bw_inbound, "inbound", error)) < 0 ||
            (r = iftune_check_rate(&n->bw_outbound, "outbound", error)) < 0)
                return r;
        if (n->bw_inbound.floor && n->type != DOMAIN_NET_TYPE_NETWORK)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "inbound.floor needs an interface of type network");
        r = config_check(c, error);
        if (r < 0)
                return r;
        if (c->live) {
                r = live_net_bandwidth(c, error);
                if (r < 0)
                        return r;
        }
        finish_call(c);
        return 1;
}

int vm_domain_method_get_interface_parameters(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        bool live = false, config = false;
        const BusOption options[] = { { "live", "b", &live }, { "config", "b", &config }, {} };
        const DomainDef *def;
        const char *iface;
        DomainNetDef n;
        ssize_t i;
        int r;

        r = sd_bus_message_read(message, "s", &iface);
        if (r < 0)
                return r;
        r = bus_options_parse(message, options, error);
        if (r < 0)
                return r;
        if (live && config)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Options live and config exclude each other");
        if (live && !vm_domain_is_active(d))
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Domain '%s' is not running", d->name);
        def = config || !vm_domain_is_active(d) ? vm_domain_inactive_def(d) : vm_domain_current_def(d);
        i = iftune_find(def, iface);
        if (i < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Domain '%s' has no interface '%s'", d->name,
                                         iface);
        n = def->nets[i];
        r = sd_bus_message_new_method_return(message, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        for (size_t k = 0; r >= 0 && k < ELEMENTSOF(iftune_keys); k++)
                r = sd_bus_message_append(reply, "{sv}", iftune_keys[k], "u", (uint32_t) MIN(*iftune_field(&n, k), UINT32_MAX));
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}
