/* manager-dbus.c — org.vmgmt.Manager at /org/vmgmt: define, create, look up and list domains; host facts; DomainEvent. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "bus-util.h"
#include "domain-nvram.h"
#include "config.h"
#include "domain.h"
#include "migrate.h"
#include "domain-stats.h"
#include "log.h"
#include "manager-domcaps.h"
#include "network.h"
#include "secret.h"
#include "object-kind.h"
#include "osinfo.h"
#include "path-policy.h"
#include "pool.h"

/* What a client can test for instead of a version: the fixed words, then one
 * per network forward mode (network-nat, …) and storage pool type
 * (storage-dir, …) from the tables the parsers accept, so they cannot drift. */
static const char *const manager_features[] = { "autostart", "transient-domains", "if-generation", "console",
                                                  "graphics-vnc", "screenshot", "jobs", "confinement",
                                                  "network-dhcp-leases", "network-update", "storage-volume-upload",
                                                  "storage-volume-download", "storage-volume-clone", "block-jobs", "save", "managed-save",
                                                  "core-dump", "migration", "domain-clone", "osinfo", NULL };

static int property_get_version(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append_basic(reply, 's', VMGMT_VERSION);
}

static int property_get_features(sd_bus *bus, const char *path, const char *interface, const char *property,
                                 sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        int r;

        r = sd_bus_message_open_container(reply, 'a', "s");
        for (const char *const *f = manager_features; r >= 0 && *f; f++)
                r = sd_bus_message_append_basic(reply, 's', *f);
        for (int i = 0; r >= 0 && i < _NETWORK_FORWARD_MAX; i++) {
                _cleanup_free_ char *w = g_strdup_printf("network-%s", network_forward_mode_to_string(i));
                r = sd_bus_message_append_basic(reply, 's', w);
        }
        for (int i = 0; r >= 0 && i < _STORAGE_POOL_TYPE_MAX; i++) {
                if (!storage_driver_pool_type_supported(i))
                        continue;   /* rbd, iscsi-direct: only with their libraries */
                _cleanup_free_ char *w = g_strdup_printf("storage-%s", storage_pool_type_to_string(i));
                r = sd_bus_message_append_basic(reply, 's', w);
        }
        if (r < 0)
                return r;
        return sd_bus_message_close_container(reply);
}

/* The registered drivers that can run domains on this host. */
static int property_get_drivers(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "s");
        for (size_t i = 0; r >= 0 && i < m->n_drivers; i++)
                if (m->drivers[i].usable)
                        r = sd_bus_message_append_basic(reply, 's', m->drivers[i].ops->name);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(reply);
}

static int property_get_hostname(sd_bus *bus, const char *path, const char *interface, const char *property,
                                 sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        char name[256] = "";

        if (gethostname(name, sizeof(name) - 1) < 0)
                return -errno;
        return sd_bus_message_append_basic(reply, 's', name);
}

int manager_emit_domain_event(Manager *m, VmDomain *d, const char *event, const char *detail) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *s = NULL;
        uint64_t now = (uint64_t) g_get_real_time();
        int r;

        r = sd_bus_message_new_signal(m->bus, &s, VM_MANAGER_PATH, VM_MANAGER_INTERFACE, "DomainEvent");
        if (r < 0)
                return r;
        r = sd_bus_message_append(s, "oss", d->path, event, detail);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(s, 'a', "{sv}");
        if (r < 0)
                return r;
        r = sd_bus_message_append(s, "{sv}", "time_usec", "t", now);
        if (r >= 0 && d->cause_set)
                r = sd_bus_message_append(s, "{sv}{sv}", "uid", "u", (uint32_t) d->cause_uid,
                                          "pid", "u", (uint32_t) d->cause_pid);
        if (r < 0)
                return r;
        r = sd_bus_message_close_container(s);
        if (r < 0)
                return r;
        return sd_bus_send(m->bus, s, NULL);
}

/* ---- parsing definitions ---- */

/* Normalizes a parsed definition with the driver. This may probe the
 * <emulator> the XML names, i.e. run a program: only ever call it after the
 * caller has been authorized. A definition whose name is already defined
 * keeps that domain's UUID (a redefinition). */
static int manager_normalize_definition(Manager *m, DomainDef *def, sd_bus_error *error) {
        ConfError err = {};
        VmDomain *existing;
        int r;

        existing = vm_domain_find_by_name(m, def->name);
        if (existing && !def->has_uuid) {
                memcpy(def->uuid, existing->def->uuid, sizeof(def->uuid));
                def->has_uuid = true;
        }
        VmDriver *drv = manager_driver_for_def(m, def, error);

        if (!drv)
                return -EOPNOTSUPP;
        r = drv->ops->normalize(drv->driver, def, &err);
        if (r < 0) {
                sd_bus_error_setf(error, VM_ERROR_INVALID_XML, "%s", err.message ?: "Invalid domain definition");
                conf_error_clear(&err);
                return -EINVAL;
        }
        return 0;
}

/* ---- waiting for the driver to know an emulator ---- */

/* What a call does once the emulator its definition names has been probed;
 * takes def. Returns as a method handler does (its reply sent, or a negative
 * errno with error set). */
typedef int (*DefinitionContinueFn)(Manager *m, sd_bus_message *message, DomainDef *def, const void *args,
                                    sd_bus_error *error);

typedef struct EmulatorWait {
        Manager *manager;
        sd_bus_message *message;
        VmCaller *caller;          /* gone: the call is dropped, as auth.c drops it */
        DomainDef *def;
        DefinitionContinueFn fn;
        unsigned char args[];
} EmulatorWait;

/* A definition naming an emulator that cannot be used does not validate
 * (InvalidXML); a probe that fails (the program hangs or errs) is the
 * program's refusal (OperationFailed). */
static int emulator_error(sd_bus_error *error, const DomainDef *def, int r, const char *message) {
        bool bad_definition = r == -ENOENT || r == -EPERM || r == -EACCES || r == -ENOEXEC || r == -EINVAL;
        const char *name = bad_definition ? VM_ERROR_INVALID_XML : VM_ERROR_OPERATION_FAILED;

        if (!def->name)
                return sd_bus_error_setf(error, name, "Cannot read host capabilities: %s", message ?: strerror(-r));
        return sd_bus_error_setf(error, name, "Cannot use domain '%s': %s", def->name, message ?: strerror(-r));
}

static void emulator_wait_done(void *userdata, int r, const char *message) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        EmulatorWait *w = userdata;

        if (vm_caller_gone(w->caller)) {
                /* nobody is there to answer: the call must not happen */
                log_debug("%s disconnected while its %s call waited for the emulator's probe; dropping it.",
                          vm_caller_name(w->caller), strna(sd_bus_message_get_member(w->message)));
                domain_def_free(w->def);
                r = 0;
        } else if (r < 0) {
                emulator_error(&error, w->def, r, message);
                domain_def_free(w->def);
        } else
                r = w->fn(w->manager, w->message, w->def, w->args, &error);
        if (r < 0)
                (void) (sd_bus_error_is_set(&error) ? sd_bus_reply_method_error(w->message, &error)
                                                    : sd_bus_reply_method_errno(w->message, r, NULL));
        sd_bus_message_unref(w->message);
        vm_caller_free(w->caller);
        g_free(w);
}

/* Runs fn now when the driver knows def's emulator, else keeps the call and
 * runs fn (or answers with the probe's error) when the probe has ended: the
 * loop serves every other call meanwhile. Takes def. */
static int manager_when_emulator_known(Manager *m, sd_bus_message *message, DomainDef *def, DefinitionContinueFn fn,
                                       const void *args, size_t args_size, sd_bus_error *error) {
        _cleanup_free_ char *msg = NULL;
        EmulatorWait *w;
        VmDriver *drv;
        int r;

        /* a type no driver runs: NotSupported naming it */
        drv = manager_driver_for_def(m, def, error);
        if (!drv) {
                domain_def_free(def);
                return -EOPNOTSUPP;
        }
        w = g_malloc0(sizeof(EmulatorWait) + args_size);
        r = drv->ops->prepare(drv->driver, def, emulator_wait_done, w, &msg);
        if (r == 0) {
                w->manager = m;
                w->message = sd_bus_message_ref(message);
                w->caller = vm_caller_watch(m, message);
                w->def = def;
                w->fn = fn;
                if (args_size > 0)
                        memcpy(w->args, args, args_size);
                return 1;
        }
        g_free(w);
        if (r < 0) {
                r = emulator_error(error, def, r, msg);
                domain_def_free(def);
                return r;
        }
        return fn(m, message, def, args, error);
}

/* ---- <emulator> of a caller other than root (path-policy.h) ---- */

/* The call's own continuation and arguments, and the <emulator> the
 * definition named, kept aside while the driver's own emulator for the arch
 * is made known: the caller's program is never run, not even probed. */
typedef struct EmulatorCheck {
        DefinitionContinueFn fn;
        uid_t uid;
        size_t args_size;
        unsigned char args[64];
        char emulator[PATH_MAX];
} EmulatorCheck;

static int emulator_check_continue(Manager *m, sd_bus_message *message, DomainDef *def, const void *userdata,
                                   sd_bus_error *error) {
        const EmulatorCheck *c = userdata;
        VmDriver *drv = manager_driver_for_def(m, def, NULL);
        DomainDef *own = drv ? domain_def_copy(def) : NULL;
        ConfError err = {};
        int r;

        /* the copy names no emulator: normalizing it picks the driver's own */
        if (own && drv->ops->normalize(drv->driver, own, &err) < 0)
                own = domain_def_free(own);
        conf_error_clear(&err);
        def->emulator = strdup(c->emulator);
        if (!def->emulator) {
                domain_def_free(own);
                domain_def_free(def);
                return -ENOMEM;
        }
        r = vm_emulator_policy_check(c->uid, def, own, error);
        domain_def_free(own);
        if (r < 0) {
                domain_def_free(def);
                return r;
        }
        return manager_when_emulator_known(m, message, def, c->fn, c->args, c->args_size, error);
}

/* manager_when_emulator_known(), but a caller other than root must name no
 * <emulator> or one vmgmtd found itself: else AccessDenied naming it. Takes def. */
static int manager_when_emulator_allowed(Manager *m, sd_bus_message *message, DomainDef *def, DefinitionContinueFn fn,
                                         const void *args, size_t args_size, sd_bus_error *error) {
        EmulatorCheck c = { .fn = fn, .uid = vm_path_policy_caller_uid(m, message), .args_size = args_size };

        if (!def->emulator || !vm_path_policy_applies(c.uid))
                return manager_when_emulator_known(m, message, def, fn, args, args_size, error);
        if (strlen(def->emulator) >= sizeof(c.emulator) || args_size > sizeof(c.args)) {
                sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                  "Access denied: emulator '%s' is not one vmgmtd found itself", def->emulator);
                domain_def_free(def);
                return -EACCES;
        }
        strcpy(c.emulator, def->emulator);
        if (args_size > 0)
                memcpy(c.args, args, args_size);
        free(def->emulator);
        def->emulator = NULL;
        return manager_when_emulator_known(m, message, def, emulator_check_continue, &c, sizeof(c), error);
}

/* The domain def collides with: NULL when new, the same domain (name and UUID
 * match), or an error when the name or the UUID belongs to another one. */
static int manager_check_conflicts(Manager *m, const DomainDef *def, VmDomain **ret, sd_bus_error *error) {
        char uuid[37];
        VmDomain *by_name, *by_uuid;

        conf_uuid_format(def->uuid, uuid);
        by_name = vm_domain_find_by_name(m, def->name);
        by_uuid = g_hash_table_lookup(m->domains_by_uuid, uuid);
        if (by_name && by_name != by_uuid)
                return sd_bus_error_setf(error, VM_ERROR_ALREADY_EXISTS,
                                         "Domain '%s' already exists with UUID %s", def->name, by_name->uuid);
        if (by_uuid && by_uuid != by_name)
                return sd_bus_error_setf(error, VM_ERROR_ALREADY_EXISTS,
                                         "Domain '%s' already has UUID %s", by_uuid->name, uuid);
        if (by_name && by_name->hidden)
                return sd_bus_error_setf(error, VM_ERROR_ALREADY_EXISTS, "Domain '%s' is being created", def->name);
        if (!by_name && vm_domain_check_log_clash(m, def->name, NULL, error) < 0)
                return -EEXIST;
        if (vm_domain_nvram_check_shared(m, def, by_name, error) < 0)
                return -EEXIST;
        *ret = by_name;
        return 0;
}

static bool definition_unchanged(const VmDomain *d, const DomainDef *def) {
        _cleanup_free_ char *a = NULL, *b = NULL;

        if (!d->persistent)
                return false;
        a = domain_def_format(vm_domain_inactive_def(d), DOMAIN_FORMAT_INACTIVE | DOMAIN_FORMAT_SECURE);
        b = domain_def_format(def, DOMAIN_FORMAT_INACTIVE | DOMAIN_FORMAT_SECURE);
        return a && b && streq(a, b);
}

/* A DefineDomain whose file is being committed; applied when it is durable. */
typedef struct DefineOp {
        Manager *manager;
        sd_bus_message *message;
        DomainDef *def;
        VmDomain *domain;          /* the domain redefined, or NULL for a new one */
} DefineOp;

static void define_op_free(DefineOp *op) {
        sd_bus_message_unref(op->message);
        domain_def_free(op->def);
        vm_domain_unref(op->domain);
        g_free(op);
}

/* Applies a durable definition: the new domain or the updated one, its
 * signals, the reply. */
static void define_commit(void *userdata, int r, char *file) {
        DefineOp *op = userdata;
        Manager *m = op->manager;
        VmDomain *d = op->domain;
        VmDomainProps before;
        const char *detail;

        if (r < 0) {
                (void) sd_bus_reply_method_errorf(op->message, VM_ERROR_OPERATION_FAILED,
                                                  "Failed to save domain '%s': %s", op->def->name, strerror(-r));
                define_op_free(op);
                return;
        }
        /* a transient domain that stopped meanwhile is gone: this defines a new one */
        if (d && vm_domain_find_by_name(m, d->name) != d)
                d = NULL;

        if (!d) {
                r = vm_domain_new(m, TAKE_PTR(op->def), true, &d);
                if (r < 0) {
                        (void) sd_bus_reply_method_errno(op->message, r, NULL);
                        g_free(file);
                        define_op_free(op);
                        return;
                }
                d->config_file = file;
                d->generation = 1;
                vm_domain_set_cause(d, op->message);
                vm_object_kind_emit_added(&vm_domain_kind, m, d->path);
                vm_domain_emit_event(d, "defined", "added");
                vm_domain_clear_cause(d);
                (void) sd_bus_reply_method_return(op->message, "o", d->path);
                define_op_free(op);
                return;
        }

        if (d->config_file && !streq(d->config_file, file))
                (void) vm_domain_store_remove(m, d->config_file);
        /* libvirt: "added" when there was no persistent definition (a transient domain) */
        detail = d->persistent ? "updated" : "added";
        vm_domain_props_get(d, &before);
        if (vm_domain_is_busy(d)) {
                domain_def_free(d->newdef);
                d->newdef = TAKE_PTR(op->def);
        } else {
                domain_def_free(d->def);
                d->def = TAKE_PTR(op->def);
                d->drv = manager_driver_for_def(m, d->def, NULL) ?: d->drv;
        }
        d->generation = d->persistent ? d->generation + 1 : 1;
        d->persistent = true;
        g_free(d->config_file);
        d->config_file = file;
        if (d->autostart)
                (void) vm_domain_store_set_autostart(m, d->config_file, true);
        vm_domain_set_cause(d, op->message);
        vm_domain_props_emit_changes(d, &before);
        vm_domain_emit_event(d, "defined", detail);
        vm_domain_clear_cause(d);
        (void) sd_bus_reply_method_return(op->message, "o", d->path);
        define_op_free(op);
}

typedef struct DefineArgs {
        uint64_t if_generation;
        bool has_if_generation;
} DefineArgs;

/* DefineDomain once authorized and the emulator is known. */
static int define_continue(Manager *m, sd_bus_message *message, DomainDef *def, const void *userdata,
                           sd_bus_error *error) {
        const DefineArgs *a = userdata;
        char uuid[37];
        VmDomain *d = NULL;
        DefineOp *op;
        int r;

        r = manager_normalize_definition(m, def, error);
        if (r < 0)
                goto finish;
        /* a pending write of the same name or UUID must land before we judge conflicts */
        conf_uuid_format(def->uuid, uuid);
        if (vm_domain_store_pending(m, def->name, uuid))
                vm_domain_store_flush(m);
        r = manager_check_conflicts(m, def, &d, error);
        if (r < 0)
                goto finish;
        if (a->has_if_generation && a->if_generation != (d && d->persistent ? d->generation : 0)) {
                r = sd_bus_error_setf(error, VM_ERROR_CONFLICT,
                                      "Domain '%s' changed: generation is %" PRIu64 ", not %" PRIu64,
                                      def->name, d && d->persistent ? d->generation : 0, a->if_generation);
                goto finish;
        }

        if (d && definition_unchanged(d, def)) {
                vm_domain_set_cause(d, message);
                vm_domain_emit_event(d, "defined", "updated");
                vm_domain_clear_cause(d);
                domain_def_free(def);
                return sd_bus_reply_method_return(message, "o", d->path);
        }

        op = g_new0(DefineOp, 1);
        op->manager = m;
        op->message = sd_bus_message_ref(message);
        op->domain = vm_domain_ref(d);
        op->def = def;
        r = vm_domain_store_write_batched(m, def, d && d->persistent ? d->generation + 1 : 1, define_commit, op);
        if (r < 0) {
                op->def = NULL;
                define_op_free(op);
                r = sd_bus_error_setf(error, VM_ERROR_OPERATION_FAILED, "Failed to save domain '%s': %s",
                                      def->name, strerror(-r));
                goto finish;
        }
        return 1;

finish:
        domain_def_free(def);
        return r < 0 ? r : 1;
}

/* Parses xml and authorizes the caller for it (the kind's one path,
 * vm_object_kind_parse_authorized()), then has fn run once the emulator it
 * names is known: the path every call taking domain XML shares. */
static int manager_handle_definition(Manager *m, sd_bus_message *message, const char *xml, DefinitionContinueFn fn,
                                     const void *args, size_t args_size, sd_bus_error *error) {
        void *def = NULL;
        int r;

        r = vm_object_kind_parse_authorized(&vm_domain_kind, m, message, xml, NULL, &def, error);
        if (r <= 0)
                return r < 0 ? r : 1;   /* 0: authorization pending, the call is dispatched again */
        /* only now: knowing the emulator may mean running it */
        return manager_when_emulator_allowed(m, message, def, fn, args, args_size, error);
}

/* The body of DefineDomain and CreateDomain (s xml, a{sv} options): the
 * options are read into args (which `options` points into) before fn gets a
 * copy of them. */
static int definition_method(sd_bus_message *message, Manager *m, const BusOption *options,
                             DefinitionContinueFn fn, const void *args, size_t args_size, sd_bus_error *error) {
        const char *xml;
        int r;

        r = sd_bus_message_read(message, "s", &xml);
        if (r < 0)
                return r;
        r = bus_options_parse(message, options, error);
        if (r < 0)
                return r;
        return manager_handle_definition(m, message, xml, fn, args, args_size, error);
}

static int method_define_domain(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        DefineArgs a = {};
        const BusOption options[] = { { "if_generation", "t", &a.if_generation, &a.has_if_generation }, {} };

        return definition_method(message, userdata, options, define_continue, &a, sizeof(a), error);
}

/* ---- CreateDomain: transient, hidden until it runs ---- */

static void create_done(void *userdata, int r, const char *message) {
        VmOp *op = userdata;
        VmDomain *d = op->domain;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        vm_domain_clear_cause(d);
        if (r < 0 || !d->rt) {
                _cleanup_free_ char *what = g_strdup_printf("Failed to create domain '%s'", d->name);
                d->rt = NULL;
                vm_domain_remove(d);
                bus_error_from_errno(&error, r < 0 ? r : -ESRCH, message, what);
                (void) sd_bus_reply_method_error(op->message, &error);
        } else {
                vm_domain_unhide(d);
                (void) sd_bus_reply_method_return(op->message, "o", d->path);
        }
        vm_op_free(op);
}

/* CreateDomain once authorized and the emulator is known. */
static int create_continue(Manager *m, sd_bus_message *message, DomainDef *def, const void *userdata,
                           sd_bus_error *error) {
        const bool *paused = userdata;
        _cleanup_free_ char *msg = NULL;
        VmDomain *d = NULL;
        VmOp *op;
        int r;

        r = manager_normalize_definition(m, def, error);
        if (r < 0)
                goto fail;
        vm_domain_store_flush(m);
        r = manager_check_conflicts(m, def, &d, error);
        if (r < 0)
                goto fail;
        if (d) {
                r = sd_bus_error_setf(error, VM_ERROR_ALREADY_EXISTS, "Domain '%s' already exists", def->name);
                goto fail;
        }
        r = vm_domain_new(m, TAKE_PTR(def), false, &d);
        if (r < 0)
                return r;
        d->hidden = true;
        vm_domain_set_cause(d, message);
        op = vm_op_new(d, message, "create");
        r = vm_domain_start(d, message, *paused ? DRIVER_START_PAUSED : 0, create_done, op, &msg);
        if (r < 0) {
                vm_op_free(op);
                _cleanup_free_ char *what = g_strdup_printf("Failed to create domain '%s'", d->name);
                vm_domain_remove(d);
                return bus_error_from_errno(error, r, msg, what);
        }
        return 1;

fail:
        domain_def_free(def);
        return r < 0 ? r : 1;
}

static int method_create_domain(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        bool paused = false;
        const BusOption options[] = { { "paused", "b", &paused }, {} };

        return definition_method(message, userdata, options, create_continue, &paused, sizeof(paused), error);
}

static int method_get_domain(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return vm_object_kind_method_get(&vm_domain_kind, userdata, message, error);
}

static int method_list_domains(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return vm_object_kind_method_list(&vm_domain_kind, userdata, message, error);
}

static int capabilities_continue(Manager *m, sd_bus_message *message, DomainDef *def, const void *args,
                                 sd_bus_error *error) {
        _cleanup_free_ char *xml = NULL;
        int r;

        domain_def_free(def);
        r = node_capabilities_xml(m, &xml);
        if (r < 0)
                return sd_bus_error_setf(error, VM_ERROR_OPERATION_FAILED, "Failed to read host capabilities: %s",
                                         strerror(-r));
        return sd_bus_reply_method_return(message, "s", xml);
}

static int method_get_capabilities(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        DomainDef *def;

        /* the machine types come from the host arch's default emulator */
        if (m->capabilities_xml)
                return capabilities_continue(m, message, NULL, NULL, error);
        def = domain_def_new();
        if (!def)
                return -ENOMEM;
        return manager_when_emulator_known(m, message, def, capabilities_continue, NULL, 0, error);
}

typedef int (*NodeAppendFn)(sd_bus_message *reply);

static int reply_with_dict(sd_bus_message *message, NodeAppendFn fn, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(message, &reply);
        if (r < 0)
                return r;
        r = fn(reply);
        if (r < 0)
                return sd_bus_error_setf(error, VM_ERROR_OPERATION_FAILED, "Failed to read host information: %s",
                                         strerror(-r));
        return sd_bus_send(NULL, reply, NULL);
}

static int method_get_node_info(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return reply_with_dict(message, node_info_append, error);
}

static int method_get_node_stats(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return reply_with_dict(message, node_stats_append, error);
}

/* Runs before sd-bus's own handling of messages to /org/vmgmt; takes only
 * GetManagedObjects (answered from the kinds' registries, object-kind.c) and
 * passes on the rest. */
static int manager_object_callback(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Manager *m = userdata;
        int r;

        if (!sd_bus_message_is_method_call(message, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects") ||
            !sd_bus_message_has_signature(message, ""))
                return 0;
        r = sd_bus_message_new_method_return(message, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "{oa{sa{sv}}}");
        if (r < 0)
                return r;
        r = vm_object_kinds_append_managed_objects(m, reply, error);
        if (r < 0)
                return r;
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

#define UNPRIV SD_BUS_VTABLE_UNPRIVILEGED

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Version", "s", property_get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Features", "as", property_get_features, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Hostname", "s", property_get_hostname, 0, 0),
        SD_BUS_PROPERTY("Drivers", "as", property_get_drivers, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_METHOD_WITH_ARGS("DefineDomain", SD_BUS_ARGS("s", xml, "a{sv}", options), SD_BUS_RESULT("o", domain),
                                method_define_domain, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("CreateDomain", SD_BUS_ARGS("s", xml, "a{sv}", options), SD_BUS_RESULT("o", domain),
                                method_create_domain, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("PrepareMigration", SD_BUS_ARGS("s", xml, "a{sv}", options),
                                SD_BUS_RESULT("o", domain, "a{sv}", params), vm_manager_method_prepare_migration, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("RestoreDomain", SD_BUS_ARGS("s", path, "a{sv}", options), SD_BUS_RESULT("o", job),
                                vm_manager_method_restore_domain, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("GetDomain", SD_BUS_ARGS("s", name_or_uuid), SD_BUS_RESULT("o", domain),
                                method_get_domain, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("ListDomains", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("ao", domains),
                                method_list_domains, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("GetCapabilities", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", xml),
                                method_get_capabilities, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("GetDomainCapabilities",
                                SD_BUS_ARGS("s", emulator, "s", arch, "s", machine, "s", virttype, "a{sv}", options),
                                SD_BUS_RESULT("s", xml), vm_manager_method_get_domain_capabilities, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("GetNodeInfo", SD_BUS_NO_ARGS, SD_BUS_RESULT("a{sv}", info),
                                method_get_node_info, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("GetNodeStats", SD_BUS_NO_ARGS, SD_BUS_RESULT("a{sv}", stats),
                                method_get_node_stats, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("GetAllDomainStats", SD_BUS_ARGS("as", groups, "a{sv}", options),
                                SD_BUS_RESULT("a(oa{sv})", stats), vm_manager_method_get_all_domain_stats, UNPRIV),
        SD_BUS_SIGNAL_WITH_ARGS("DomainEvent",
                                SD_BUS_ARGS("o", domain, "s", event, "s", detail, "a{sv}", info), 0),
        SD_BUS_VTABLE_END
};

int manager_dbus_register(Manager *m) {
        int r;

        r = sd_bus_add_object_vtable(m->bus, NULL, VM_MANAGER_PATH, VM_MANAGER_INTERFACE, manager_vtable, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add manager vtable: %m");
        r = sd_bus_add_object_manager(m->bus, NULL, VM_MANAGER_PATH);
        if (r < 0)
                return log_error_errno(r, "Failed to add object manager: %m");
        r = sd_bus_add_object(m->bus, NULL, VM_MANAGER_PATH, manager_object_callback, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add GetManagedObjects handler: %m");
        r = vm_object_kinds_register(m);
        if (r < 0)
                return r;
        r = vm_manager_pool_register(m);
        if (r < 0)
                return r;
        r = vm_manager_secret_register(m);
        if (r < 0)
                return r;
        r = vm_manager_osinfo_register(m);
        if (r < 0)
                return r;
        return vm_manager_network_register(m);
}
