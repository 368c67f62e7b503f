/* domain-dbus.c — org.vmgmt.Domain: properties, methods, object lookup and enumeration. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "bus-util.h"
#include "domain-clone.h"
#include "domain-console.h"
#include "domain-blockjob.h"
#include "domain-device.h"
#include "domain-graphics.h"
#include "domain-nvram.h"
#include "domain-tune.h"
#include "domain-stats.h"
#include "domain.h"
#include "migrate.h"
#include "log.h"
#include "object-kind.h"
#include "path-policy.h"

/* ---- properties ---- */

static int property_get_name(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        return sd_bus_message_append_basic(reply, 's', d->name);
}

static int property_get_uuid(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        return sd_bus_message_append_basic(reply, 's', d->uuid);
}

static int property_get_id(sd_bus *bus, const char *path, const char *interface, const char *property,
                           sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        uint32_t id = vm_domain_is_active(d) ? (uint32_t) d->id : 0;
        return sd_bus_message_append_basic(reply, 'u', &id);
}

static int property_get_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        return sd_bus_message_append_basic(reply, 's', domain_state_to_string(d->state));
}

static int property_get_state_reason(sd_bus *bus, const char *path, const char *interface, const char *property,
                                     sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        return sd_bus_message_append_basic(reply, 's', strempty(d->reason));
}

static int property_get_persistent(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        int b = d->persistent;
        return sd_bus_message_append_basic(reply, 'b', &b);
}

static int property_get_autostart(sd_bus *bus, const char *path, const char *interface, const char *property,
                                  sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        int b = d->autostart;
        return sd_bus_message_append_basic(reply, 'b', &b);
}

static int property_get_vcpus(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const DomainDef *def = vm_domain_current_def(userdata);
        uint32_t n = def->current_vcpus ?: def->vcpus;
        return sd_bus_message_append_basic(reply, 'u', &n);
}

static int property_get_memory(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const DomainDef *def = vm_domain_current_def(userdata);
        uint64_t kib = def->current_memory_kib ?: def->memory_kib;
        return sd_bus_message_append_basic(reply, 't', &kib);
}

static int property_get_max_memory(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const DomainDef *def = vm_domain_current_def(userdata);
        uint64_t kib = def->memory_kib;   /* libvirt's max memory is <memory>, not <maxMemory> */
        return sd_bus_message_append_basic(reply, 't', &kib);
}

static int property_get_title(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const DomainDef *def = vm_domain_current_def(userdata);
        return sd_bus_message_append_basic(reply, 's', strempty(def->title));
}

static int property_get_description(sd_bus *bus, const char *path, const char *interface, const char *property,
                                    sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const DomainDef *def = vm_domain_current_def(userdata);
        return sd_bus_message_append_basic(reply, 's', strempty(def->description));
}

static int property_get_has_managed_save(sd_bus *bus, const char *path, const char *interface, const char *property,
                                         sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        int b = vm_domain_has_managed_save(userdata);
        return sd_bus_message_append_basic(reply, 'b', &b);
}

static int property_get_current_snapshot(sd_bus *bus, const char *path, const char *interface, const char *property,
                                         sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        return sd_bus_message_append_basic(reply, 'o', d->current_snapshot ? vm_snapshot_path(d->current_snapshot) : "/");
}

static int property_get_start_time(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        uint64_t t = vm_domain_is_active(d) ? d->start_time : 0;
        return sd_bus_message_append_basic(reply, 't', &t);
}

static int property_get_generation(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        return sd_bus_message_append_basic(reply, 't', &d->generation);
}

static int property_get_security_model(sd_bus *bus, const char *path, const char *interface, const char *property,
                                       sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        DriverSecurity sec;

        vm_domain_security(userdata, &sec);
        return sd_bus_message_append_basic(reply, 's', sec.model);
}

static int property_get_security_label(sd_bus *bus, const char *path, const char *interface, const char *property,
                                       sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        DriverSecurity sec;

        vm_domain_security(userdata, &sec);
        return sd_bus_message_append_basic(reply, 's', vm_domain_is_active(userdata) ? sec.label : "");
}

const char *const *vm_domain_details(const VmDomain *d, const char *buf[static 5]) {
        buf[0] = "domain";
        buf[1] = d->name;
        buf[2] = "domain_uuid";
        buf[3] = d->uuid;
        buf[4] = NULL;
        return buf;
}

/* Details of a property Set: the object's plus the property's name. */
static const char *const *domain_set_details(const VmDomain *d, const char *property, const char *buf[static 7]) {
        vm_domain_details(d, buf);
        buf[4] = "property";
        buf[5] = property;
        buf[6] = NULL;
        return buf;
}

static int property_set_autostart(sd_bus *bus, const char *path, const char *interface, const char *property,
                                  sd_bus_message *value, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        Manager *m = d->manager;
        VmDomainProps before;
        const char *details[7];
        int b, r;

        r = sd_bus_message_read_basic(value, 'b', &b);
        if (r < 0)
                return r;
        /* domain_object_callback() already waited for the answer; this takes it. */
        r = vm_authorize(m, sd_bus_get_current_message(bus), VM_ACTION_DOMAIN_MANAGE,
                         domain_set_details(d, property, details), error);
        if (r < 0)
                return r;
        if (r == 0)
                return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED, "Access denied: authorization pending");
        if (!d->persistent)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE,
                                         "Cannot set autostart for transient domain '%s'", d->name);
        if (d->autostart == !!b)
                return 0;
        r = vm_domain_store_set_autostart(m, d->config_file, b);
        if (r < 0)
                return sd_bus_error_setf(error, VM_ERROR_OPERATION_FAILED, "Failed to set autostart of domain '%s': %s", d->name, strerror(-r));
        vm_domain_props_get(d, &before);
        d->autostart = b;
        vm_domain_props_emit_changes(d, &before);
        return 0;
}

/* ---- asynchronous lifecycle operations ---- */

void vm_domain_start_failed(VmDomain *d) {
        VmDomainProps before;
        bool was_active = d->state != DOMAIN_STATE_SHUTOFF;

        if (!d->rt)
                return;
        d->rt = NULL;   /* freed already: nothing may ask the driver about it */
        vm_domain_props_get(d, &before);
        d->start_time = 0;
        if (was_active) {
                d->state = DOMAIN_STATE_SHUTOFF;
                g_free(d->reason);
                d->reason = g_strdup("failed");
        }
        vm_domain_props_emit_changes(d, &before);
        if (was_active)
                vm_domain_emit_event(d, "stopped", "failed");
}

static void domain_op_done(void *userdata, int r, const char *message) {
        VmOp *op = userdata;
        VmDomain *d = op->domain;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        if (!streq(op->verb, "shutdown"))
                vm_domain_clear_cause(d);
        if (r < 0) {
                _cleanup_free_ char *what = g_strdup_printf("Failed to %s domain '%s'", op->verb, d->name);
                if (streq(op->verb, "start"))
                        /* the start did not happen: the driver tore its runtime down */
                        vm_domain_start_failed(d);
                bus_error_from_errno(&error, r, message, what);
                (void) sd_bus_reply_method_error(op->message, &error);
        } else
                (void) sd_bus_reply_method_return(op->message, NULL);
        vm_op_free(op);
}

static int domain_check_active(VmDomain *d, sd_bus_error *error) {
        if (!vm_domain_is_active(d))
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Domain '%s' is not running", d->name);
        return 0;
}

int vm_domain_method_prologue(sd_bus_message *message, VmDomain *d, const char *action,
                                  const BusOption *options, sd_bus_error *error) {
        const char *details[5];
        int r;

        r = bus_options_parse(message, options, error);
        if (r < 0)
                return r;
        r = vm_authorize(d->manager, message, action, vm_domain_details(d, details), error);
        if (r <= 0)
                return r;
        /* A client that pipelines DefineDomain and Start means the new
         * definition. Only now: the flush fsyncs, which an unauthorized
         * caller must not be able to cause. */
        vm_domain_store_flush(d->manager);
        return 1;
}

/* Busy while a Clone copies d's disks: they must not change (start, resume) or go (undefine, rename)
 * before the copies are done. */
static int refuse_while_cloned(VmDomain *d, sd_bus_error *error) {
        if (vm_job_find_running(d->manager, d->path, "clone"))
                return sd_bus_error_setf(error, VM_ERROR_BUSY,
                                         "Domain '%s' is being cloned: its disks must not change until the copies are done",
                                         d->name);
        return 0;
}

static int method_start(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        bool paused = false, bypass_cache = false, reset_nvram = false;
        const BusOption options[] = { { "paused", "b", &paused },
                                      { "bypass_cache", "b", &bypass_cache },
                                      { "reset_nvram", "b", &reset_nvram },
                                      {} };
        _cleanup_free_ char *msg = NULL;
        VmOp *op;
        int r;

        r = vm_domain_method_prologue(message, d, VM_ACTION_DOMAIN_LIFECYCLE, options, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (vm_domain_is_busy(d))
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Domain '%s' is already running", d->name);
        if (d->snapshot_op)
                return sd_bus_error_setf(error, VM_ERROR_BUSY, "Domain '%s' has a snapshot operation running", d->name);
        r = refuse_while_cloned(d, error);
        if (r < 0)
                return r;
        r = vm_emulator_policy_check_normalized(d->manager, message, d->def, error);
        if (r < 0)
                return r;
        vm_domain_set_cause(d, message);
        op = vm_op_new(d, message, "start");
        if (vm_domain_has_managed_save(d) && reset_nvram) {
                vm_op_free(op);
                vm_domain_clear_cause(d);
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE,
                                         "Domain '%s' resumes from its managed save image: its NVRAM cannot be reset now",
                                         d->name);
        }
        if (vm_domain_has_managed_save(d))   /* domain-save.c: resumes from it */
                r = vm_domain_start_managed(d, message, paused, bypass_cache, domain_op_done, op, &msg);
        else
                r = vm_domain_start(d, message, (paused ? DRIVER_START_PAUSED : 0) |
                                                (reset_nvram ? DRIVER_START_RESET_NVRAM : 0),
                                    domain_op_done, op, &msg);
        if (r < 0) {
                _cleanup_free_ char *what = g_strdup_printf("Failed to start domain '%s'", d->name);
                vm_op_free(op);
                vm_domain_clear_cause(d);
                return bus_error_from_errno(error, r, msg, what);
        }
        return 1;
}

typedef enum LifecycleVerb {
        VERB_SHUTDOWN,
        VERB_DESTROY,
        VERB_REBOOT,
        VERB_RESET,
        VERB_SUSPEND,
        VERB_RESUME,
} LifecycleVerb;

static const char *const verb_names[] = {
        [VERB_SHUTDOWN] = "shutdown",
        [VERB_DESTROY] = "destroy",
        [VERB_REBOOT] = "reboot",
        [VERB_RESET] = "reset",
        [VERB_SUSPEND] = "suspend",
        [VERB_RESUME] = "resume",
};

static int domain_lifecycle(sd_bus_message *message, VmDomain *d, LifecycleVerb verb, sd_bus_error *error) {
        const DomainDriverOps *ops = d->drv->ops;
        bool graceful = false;
        const BusOption destroy_options[] = { { "graceful", "b", &graceful }, {} };
        VmOp *op;
        int r;

        r = vm_domain_method_prologue(message, d, VM_ACTION_DOMAIN_LIFECYCLE,
                                   verb == VERB_DESTROY ? destroy_options : NULL, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        /* Destroy also stops a domain that is still starting (its Start fails) */
        if (verb == VERB_DESTROY && d->starting && !d->rt) {
                vm_domain_set_cause(d, message);
                vm_domain_start_cancel(d, "the domain was destroyed while it was starting");
                vm_domain_clear_cause(d);
                return sd_bus_reply_method_return(message, NULL);
        }
        if (!(verb == VERB_DESTROY && d->rt)) {
                r = domain_check_active(d, error);
                if (r < 0)
                        return r;
        }
        if (verb == VERB_SUSPEND && d->state == DOMAIN_STATE_PAUSED)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Domain '%s' is already paused", d->name);
        if (verb == VERB_RESUME && d->state != DOMAIN_STATE_PAUSED)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Domain '%s' is not paused", d->name);
        if (verb == VERB_RESUME && (r = refuse_while_cloned(d, error)) < 0)
                return r;

        vm_domain_set_cause(d, message);
        op = vm_op_new(d, message, verb_names[verb]);
        switch (verb) {
        case VERB_SHUTDOWN:
                r = ops->shutdown(d->rt, domain_op_done, op);
                break;
        case VERB_DESTROY:
                r = ops->destroy(d->rt, graceful, domain_op_done, op);
                break;
        case VERB_REBOOT:
                r = ops->reboot(d->rt, domain_op_done, op);
                break;
        case VERB_RESET:
                r = ops->reset(d->rt, domain_op_done, op);
                break;
        case VERB_SUSPEND:
                r = ops->suspend(d->rt, domain_op_done, op);
                break;
        case VERB_RESUME:
                r = ops->resume(d->rt, domain_op_done, op);
                break;
        default:
                r = -EINVAL;
        }
        if (r < 0) {
                _cleanup_free_ char *what = g_strdup_printf("Failed to %s domain '%s'", verb_names[verb], d->name);
                vm_op_free(op);
                vm_domain_clear_cause(d);
                return bus_error_from_errno(error, r, NULL, what);
        }
        return 1;
}

static int method_shutdown(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return domain_lifecycle(message, userdata, VERB_SHUTDOWN, error);
}
static int method_destroy(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return domain_lifecycle(message, userdata, VERB_DESTROY, error);
}
static int method_reboot(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return domain_lifecycle(message, userdata, VERB_REBOOT, error);
}
static int method_reset(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return domain_lifecycle(message, userdata, VERB_RESET, error);
}
static int method_suspend(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return domain_lifecycle(message, userdata, VERB_SUSPEND, error);
}
static int method_resume(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return domain_lifecycle(message, userdata, VERB_RESUME, error);
}

/* ---- definition changes ---- */

static int method_undefine(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_(vm_domain_unrefp) VmDomain *d = vm_domain_ref(userdata);
        bool managed_save = false, snapshots = false, keep_tpm = false, nvram = false, keep_nvram = false;
        const BusOption options[] = {
                { "managed_save", "b", &managed_save },
                { "snapshots", "b", &snapshots },
                { "keep_tpm", "b", &keep_tpm },
                { "nvram", "b", &nvram },
                { "keep_nvram", "b", &keep_nvram },
                {}
        };
        VmDomainProps before;
        int r;

        r = vm_domain_method_prologue(message, d, VM_ACTION_DOMAIN_MANAGE, options, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (!d->persistent)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Domain '%s' is transient, it cannot be undefined", d->name);
        if (vm_domain_has_managed_save(d) && !managed_save)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE,
                                         "Domain '%s' has a managed save image; remove it first or pass managed_save",
                                         d->name);
        if (d->snapshots->len > 0 && !snapshots)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE,
                                         "Domain '%s' has %u snapshots: delete them, or undefine with option snapshots to drop their metadata",
                                         d->name, d->snapshots->len);
        if (d->snapshot_op)
                return sd_bus_error_setf(error, VM_ERROR_BUSY, "Domain '%s' has a snapshot operation running", d->name);
        r = refuse_while_cloned(d, error);
        if (r < 0)
                return r;
        r = vm_domain_nvram_undefine(d, nvram, keep_nvram, error);
        if (r < 0)
                return r;
        r = vm_domain_store_remove(d->manager, d->config_file);
        if (r >= 0 && managed_save && vm_domain_managed_save_remove(d) < 0)
                log_warning("Undefine of domain '%s': cannot remove its managed save image", d->name);
        if (r < 0)
                return sd_bus_error_setf(error, VM_ERROR_OPERATION_FAILED, "Failed to undefine domain '%s': %s", d->name, strerror(-r));

        if (snapshots && d->snapshots->len > 0)
                vm_snapshots_drop(d);
        vm_domain_set_cause(d, message);
        vm_domain_props_get(d, &before);
        g_clear_pointer(&d->config_file, g_free);
        d->persistent = false;
        d->autostart = false;
        d->newdef = domain_def_free(d->newdef);
        d->keep_tpm = keep_tpm;
        if (vm_domain_is_active(d) || vm_domain_is_busy(d)) {
                /* a TPM state goes when the domain stops (domain.c) */
                vm_domain_props_emit_changes(d, &before);
                vm_domain_emit_event(d, "undefined", "removed");
        } else {
                vm_domain_props_clear(&before);
                vm_domain_emit_event(d, "undefined", "removed");
                vm_domain_tpm_state_drop(d);
                vm_domain_remove(d);
        }
        vm_domain_clear_cause(d);
        return sd_bus_reply_method_return(message, NULL);
}

static int method_rename(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_(vm_domain_unrefp) VmDomain *d = vm_domain_ref(userdata);
        Manager *m = d->manager;
        _cleanup_free_ char *new_file = NULL, *new_path = NULL;
        const char *new_name, *reason, *details[7];
        DomainDef *def;
        char *old_file, *old_name, *old_path;
        int r;

        r = sd_bus_message_read(message, "s", &new_name);
        if (r < 0)
                return r;
        r = bus_options_parse(message, NULL, error);
        if (r < 0)
                return r;
        vm_domain_details(d, details);
        details[4] = "new_name";
        details[5] = new_name;
        details[6] = NULL;
        r = vm_authorize(m, message, VM_ACTION_DOMAIN_MANAGE, details, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (conf_name_validate(new_name, &reason) < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid domain name '%s': %s", new_name, reason);
        if (streq(new_name, d->name))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Domain '%s' already has that name", d->name);
        if (vm_domain_find_by_name(m, new_name))
                return sd_bus_error_setf(error, VM_ERROR_ALREADY_EXISTS, "Domain '%s' already exists", new_name);
        r = vm_domain_check_log_clash(m, new_name, d, error);
        if (r < 0)
                return r;
        if (vm_domain_is_busy(d) || !d->persistent)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_STATE, "Domain '%s' must be shut off to be renamed", d->name);
        if (d->snapshot_op)
                return sd_bus_error_setf(error, VM_ERROR_BUSY, "Domain '%s' has a snapshot operation running", d->name);
        r = refuse_while_cloned(d, error);
        if (r < 0)
                return r;
        r = vm_snapshot_store_rename(d, new_name);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Failed to rename domain '%s': cannot move its snapshots: %m", d->name);
        r = sd_bus_path_encode(VM_DOMAIN_PREFIX, new_name, &new_path);
        if (r < 0)
                return r;

        /* The new file first; only when it is durable does the old one go. */
        def = domain_def_copy(d->def);
        if (!def)
                return -ENOMEM;
        free(def->name);
        def->name = strdup(new_name);
        g_autofree char *nvram_error = NULL;
        r = def->name ? vm_domain_nvram_rename(d, def, new_name, &nvram_error) : -ENOMEM;
        if (r < 0) {
                domain_def_free(def);
                return sd_bus_error_setf(error, VM_ERROR_OPERATION_FAILED, "Failed to rename domain '%s': %s", d->name,
                                         nvram_error ?: strerror(-r));
        }
        r = vm_domain_store_write(m, def, d->generation + 1, &new_file);
        if (r < 0) {
                vm_domain_nvram_rename_undo(d, new_name);
                domain_def_free(def);
                return sd_bus_error_setf(error, VM_ERROR_OPERATION_FAILED, "Failed to rename domain '%s': %s", d->name, strerror(-r));
        }
        if (d->autostart)
                (void) vm_domain_store_set_autostart(m, new_file, true);
        if (!streq(new_file, d->config_file)) {
                r = vm_domain_store_remove(m, d->config_file);
                if (r < 0 && access(d->config_file, F_OK) == 0) {
                        /* two files with one UUID would lose one domain at the next start: undo */
                        (void) vm_domain_store_remove(m, new_file);
                        vm_domain_nvram_rename_undo(d, new_name);
                        if (d->autostart)
                                (void) vm_domain_store_set_autostart(m, d->config_file, true);
                        domain_def_free(def);
                        return sd_bus_error_setf(error, VM_ERROR_OPERATION_FAILED,
                                                 "Failed to rename domain '%s': cannot remove its old definition: %s",
                                                 d->name, strerror(-r));
                }
        }

        vm_domain_set_cause(d, message);
        vm_domain_emit_event(d, "undefined", "renamed");
        if (m->ready)
                (void) sd_bus_emit_object_removed(m->bus, d->path);
        vm_domain_clash_index(d, false);
        g_hash_table_steal(m->domains_by_name, d->name);
        old_name = d->name;
        old_path = d->path;
        old_file = d->config_file;
        d->name = g_strdup(new_name);
        d->path = TAKE_PTR(new_path);
        d->config_file = TAKE_PTR(new_file);
        domain_def_free(d->def);
        d->def = def;
        d->generation++;
        g_hash_table_insert(m->domains_by_name, d->name, d);
        vm_domain_clash_index(d, true);
        g_free(old_name);
        free(old_path);
        g_free(old_file);
        vm_object_kind_emit_added(&vm_domain_kind, m, d->path);
        vm_snapshots_repath(d);
        vm_domain_emit_event(d, "defined", "renamed");
        vm_domain_clear_cause(d);
        return sd_bus_reply_method_return(message, NULL);
}

static int method_get_xml(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        VmDomain *d = userdata;
        bool inactive = false, secure = false;
        const BusOption options[] = { { "inactive", "b", &inactive }, { "secure", "b", &secure }, {} };
        const char *details[5];
        _cleanup_free_ char *xml = NULL;
        int r;

        r = bus_options_parse(message, options, error);
        if (r < 0)
                return r;
        if (secure) {
                r = vm_authorize(d->manager, message, VM_ACTION_DOMAIN_CONSOLE, vm_domain_details(d, details), error);
                if (r <= 0)
                        return r < 0 ? r : 1;
        }
        xml = vm_domain_kind.xml_format(d, (inactive ? VM_FORMAT_INACTIVE : 0) | (secure ? VM_FORMAT_SECURE : 0));
        if (!xml)
                return -ENOMEM;
        return sd_bus_reply_method_return(message, "s", xml);
}

/* ---- the object table ---- */

#define EMITS SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE
#define CONST SD_BUS_VTABLE_PROPERTY_CONST
#define UNPRIV SD_BUS_VTABLE_UNPRIVILEGED

const sd_bus_vtable domain_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Name", "s", property_get_name, 0, CONST),
        SD_BUS_PROPERTY("UUID", "s", property_get_uuid, 0, CONST),
        SD_BUS_PROPERTY("Id", "u", property_get_id, 0, EMITS),
        SD_BUS_PROPERTY("State", "s", property_get_state, 0, EMITS),
        SD_BUS_PROPERTY("StateReason", "s", property_get_state_reason, 0, EMITS),
        SD_BUS_PROPERTY("Persistent", "b", property_get_persistent, 0, EMITS),
        SD_BUS_WRITABLE_PROPERTY("Autostart", "b", property_get_autostart, property_set_autostart, 0, EMITS | UNPRIV),
        SD_BUS_PROPERTY("VCPUs", "u", property_get_vcpus, 0, EMITS),
        SD_BUS_PROPERTY("MemoryKiB", "t", property_get_memory, 0, EMITS),
        SD_BUS_PROPERTY("MaxMemoryKiB", "t", property_get_max_memory, 0, EMITS),
        SD_BUS_PROPERTY("Title", "s", property_get_title, 0, EMITS),
        SD_BUS_PROPERTY("Description", "s", property_get_description, 0, EMITS),
        SD_BUS_PROPERTY("HasManagedSave", "b", property_get_has_managed_save, 0, EMITS),
        SD_BUS_PROPERTY("CurrentSnapshot", "o", property_get_current_snapshot, 0, EMITS),
        SD_BUS_PROPERTY("StartTime", "t", property_get_start_time, 0, EMITS),
        SD_BUS_PROPERTY("Generation", "t", property_get_generation, 0, EMITS),
        SD_BUS_PROPERTY("SecurityModel", "s", property_get_security_model, 0, EMITS),
        SD_BUS_PROPERTY("SecurityLabel", "s", property_get_security_label, 0, EMITS),
        SD_BUS_METHOD_WITH_ARGS("Start", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT, method_start, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("Shutdown", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT, method_shutdown, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("Destroy", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT, method_destroy, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("Reboot", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT, method_reboot, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("Reset", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT, method_reset, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("Suspend", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT, method_suspend, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("Resume", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT, method_resume, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("Undefine", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT, method_undefine, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("Rename", SD_BUS_ARGS("s", new_name, "a{sv}", options), SD_BUS_NO_RESULT, method_rename, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("GetXML", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("s", xml), method_get_xml, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("GetStats", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("a{sv}", stats),
                                vm_domain_method_get_stats, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("GetInterfaceAddresses", SD_BUS_ARGS("a{sv}", options),
                                SD_BUS_RESULT("aa{sv}", addresses), vm_domain_method_get_interface_addresses, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("CreateSnapshot", SD_BUS_ARGS("s", xml, "a{sv}", options), SD_BUS_RESULT("o", snapshot),
                                vm_domain_method_create_snapshot, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("ListSnapshots", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("ao", snapshots),
                                vm_domain_method_list_snapshots, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("OpenGraphics", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("h", fd),
                                domain_method_open_graphics, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("Screenshot", SD_BUS_ARGS("h", fd, "a{sv}", options), SD_BUS_NO_RESULT,
                                domain_method_screenshot, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("OpenConsole", SD_BUS_ARGS("s", device, "a{sv}", options), SD_BUS_RESULT("h", fd),
                                domain_method_open_console, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("OpenConsoleStream", SD_BUS_ARGS("s", device, "a{sv}", options),
                                SD_BUS_RESULT("s", path), domain_method_open_console_stream, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("OpenGraphicsStream", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("s", path),
                                domain_method_open_graphics_stream, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("ScreenshotStream", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("s", path),
                                domain_method_screenshot_stream, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("BlockCommit", SD_BUS_ARGS("s", disk, "a{sv}", options), SD_BUS_RESULT("o", job),
                                domain_method_block_commit, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("BlockPull", SD_BUS_ARGS("s", disk, "a{sv}", options), SD_BUS_RESULT("o", job),
                                domain_method_block_pull, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("BlockCopy", SD_BUS_ARGS("s", disk, "s", destination, "a{sv}", options),
                                SD_BUS_RESULT("o", job), domain_method_block_copy, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("BlockJobAbort", SD_BUS_ARGS("s", disk, "a{sv}", options), SD_BUS_NO_RESULT,
                                domain_method_block_job_abort, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("BlockResize", SD_BUS_ARGS("s", disk, "t", size, "a{sv}", options), SD_BUS_NO_RESULT,
                                domain_method_block_resize, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("SetVCPUs", SD_BUS_ARGS("u", count, "a{sv}", options), SD_BUS_NO_RESULT,
                                domain_method_set_vcpus, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("SetMemory", SD_BUS_ARGS("t", kib, "a{sv}", options), SD_BUS_NO_RESULT,
                                domain_method_set_memory, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("SetMaxMemory", SD_BUS_ARGS("t", kib, "a{sv}", options), SD_BUS_NO_RESULT,
                                domain_method_set_max_memory, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("SetSchedulerParameters", SD_BUS_ARGS("a{sv}", params, "a{sv}", options),
                                SD_BUS_NO_RESULT, domain_method_set_scheduler_parameters, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("GetSchedulerParameters", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("a{sv}", params),
                                domain_method_get_scheduler_parameters, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("SetMemoryParameters", SD_BUS_ARGS("a{sv}", params, "a{sv}", options),
                                SD_BUS_NO_RESULT, domain_method_set_memory_parameters, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("GetMemoryParameters", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("a{sv}", params),
                                domain_method_get_memory_parameters, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("SetBlkioParameters", SD_BUS_ARGS("a{sv}", params, "a{sv}", options),
                                SD_BUS_NO_RESULT, domain_method_set_blkio_parameters, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("GetBlkioParameters", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("a{sv}", params),
                                domain_method_get_blkio_parameters, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("PinVCPU", SD_BUS_ARGS("u", vcpu, "s", cpuset, "a{sv}", options), SD_BUS_NO_RESULT,
                                domain_method_pin_vcpu, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("PinEmulator", SD_BUS_ARGS("s", cpuset, "a{sv}", options), SD_BUS_NO_RESULT,
                                domain_method_pin_emulator, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("GetVCPUPinInfo", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("a{sv}", pins),
                                domain_method_get_vcpu_pin_info, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("PinIOThread", SD_BUS_ARGS("u", iothread, "s", cpuset, "a{sv}", options),
                                SD_BUS_NO_RESULT, domain_method_pin_iothread, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("GetIOThreadInfo", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("a{sv}", pins),
                                domain_method_get_iothread_info, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("Migrate", SD_BUS_ARGS("s", destination, "a{sv}", options), SD_BUS_RESULT("o", job),
                                vm_domain_method_migrate, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("FinishIncomingMigration", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT,
                                vm_domain_method_finish_incoming_migration, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("AbortIncomingMigration", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT,
                                vm_domain_method_abort_incoming_migration, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("SetMigrationParameters", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT,
                                vm_domain_method_set_migration_parameters, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("GetMigrationParameters", SD_BUS_ARGS("a{sv}", options),
                                SD_BUS_RESULT("a{sv}", parameters), vm_domain_method_get_migration_parameters, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("Clone", SD_BUS_ARGS("s", new_name, "a{sv}", options), SD_BUS_RESULT("o", job),
                                vm_domain_method_clone, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("Save", SD_BUS_ARGS("s", path, "a{sv}", options), SD_BUS_RESULT("o", job),
                                vm_domain_method_save, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("ManagedSave", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("o", job),
                                vm_domain_method_managed_save, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("ManagedSaveRemove", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT,
                                vm_domain_method_managed_save_remove, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("CoreDump", SD_BUS_ARGS("s", path, "a{sv}", options), SD_BUS_RESULT("o", job),
                                vm_domain_method_core_dump, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("AttachDevice", SD_BUS_ARGS("s", xml, "a{sv}", options), SD_BUS_NO_RESULT,
                                vm_domain_method_attach_device, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("DetachDevice", SD_BUS_ARGS("s", xml, "a{sv}", options), SD_BUS_NO_RESULT,
                                vm_domain_method_detach_device, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("UpdateDevice", SD_BUS_ARGS("s", xml, "a{sv}", options), SD_BUS_NO_RESULT,
                                vm_domain_method_update_device, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("SetInterfaceParameters", SD_BUS_ARGS("s", iface, "a{sv}", params, "a{sv}", options),
                                SD_BUS_NO_RESULT, vm_domain_method_set_interface_parameters, UNPRIV),
        SD_BUS_METHOD_WITH_ARGS("GetInterfaceParameters", SD_BUS_ARGS("s", iface, "a{sv}", options),
                                SD_BUS_RESULT("a{sv}", params), vm_domain_method_get_interface_parameters, UNPRIV),
        SD_BUS_VTABLE_END
};

static int domain_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                              sd_bus_error *error) {
        _cleanup_free_ char *name = NULL;
        VmDomain *d;

        /* The prefix itself is no domain; a path below it that names none is
         * NoSuchDomain, not UnknownObject (API.md). */
        if (sd_bus_path_decode(path, VM_DOMAIN_PREFIX, &name) <= 0 || isempty(name))
                return 0;
        /* PREFIX/NAME/snapshot/SNAP is no domain: the snapshot kind says
         * whether it names anything (NoSuchSnapshot, NoSuchDomain) */
        if (vm_object_kind_owns_path(&vm_snapshot_kind, path)) {
                void *snapshot;
                int r = vm_snapshot_kind.find(bus, path, interface, userdata, &snapshot, error);
                return r < 0 ? r : 0;
        }
        d = vm_domain_find_by_name(userdata, name);
        if (!d || d->hidden)
                return sd_bus_error_setf(error, VM_ERROR_NO_SUCH_DOMAIN, "No domain '%s'", name);
        *found = d;
        return 1;
}

static int domain_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error) {
        Manager *m = userdata;
        GHashTableIter it;
        gpointer value;
        char **l;
        size_t n = 0;

        l = malloc(sizeof(char *) * (g_hash_table_size(m->domains_by_name) + 1));
        if (!l)
                return -ENOMEM;
        g_hash_table_iter_init(&it, m->domains_by_name);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                VmDomain *d = value;
                if (d->hidden)
                        continue;
                l[n] = strdup(d->path);
                if (!l[n]) {
                        l[n] = NULL;
                        strv_freep(&l);
                        return -ENOMEM;
                }
                n++;
        }
        l[n] = NULL;
        *nodes = l;
        return 1;
}

/* The domain part of the Properties.Set filter (see bus_property_set_filter()). */
static int domain_authorize_set(sd_bus_message *message, const char *property, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *details[7];
        VmDomain *d;

        d = vm_domain_find_by_path(m, sd_bus_message_get_path(message));
        if (!d)
                return 1;   /* sd-bus answers NoSuchDomain through domain_object_find() */
        return vm_authorize_prepare(m, message, VM_ACTION_DOMAIN_MANAGE, domain_set_details(d, property, details),
                                    error);
}

/* ---- the kind ---- */

static int domain_foreach(Manager *m, VmObjectFn fn, void *userdata) {
        GHashTableIter it;
        gpointer value;

        g_hash_table_iter_init(&it, m->domains_by_name);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                VmDomain *d = value;
                int r;

                if (d->hidden)
                        continue;
                r = fn(userdata, d, d->path);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void *domain_lookup(Manager *m, const char *name_or_uuid) {
        return vm_domain_find(m, name_or_uuid);
}

static const char *domain_name(const void *object) {
        return ((const VmDomain *) object)->name;
}

static char *domain_path(const void *object) {
        return g_strdup(((const VmDomain *) object)->path);
}

static bool domain_active(const void *object) {
        return vm_domain_is_active(object);
}

/* Domain XML, parsed and validated (pure: runs nothing, touches nothing). */
static int domain_xml_parse(const char *xml, void **ret, sd_bus_error *error) {
        DomainDef *def = NULL;
        ConfError err = {};
        int r;

        r = domain_def_parse(xml, strlen(xml), &def, &err);
        if (r == -EFBIG || r == -ENOMEM)
                conf_error_clear(&err);
        if (r == -EFBIG)
                return sd_bus_error_setf(error, VM_ERROR_INVALID_XML, "Domain XML is larger than %u bytes",
                                         DOMAIN_XML_MAX_SIZE);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                sd_bus_error_setf(error, VM_ERROR_INVALID_XML, "%s", err.message ?: "Invalid domain XML");
                conf_error_clear(&err);
                return -EINVAL;
        }
        *ret = def;
        return 0;
}

static const char *domain_def_name(const void *def) {
        return ((const DomainDef *) def)->name;
}

static void domain_def_free_hook(void *def) {
        domain_def_free(def);
}

static const char *const *domain_def_details(const void *parent, const char *name, const char *buf[static 7]) {
        buf[0] = name ? "domain" : NULL;
        buf[1] = name;
        buf[2] = NULL;
        return buf;
}

/* An inactive domain has only its persistent definition. */
static char *domain_xml_format(const void *object, VmFormatFlags flags) {
        const VmDomain *d = object;
        DomainFormatFlags f = flags & VM_FORMAT_SECURE ? DOMAIN_FORMAT_SECURE : 0;

        if (flags & VM_FORMAT_INACTIVE || !vm_domain_is_active(d))
                return domain_def_format(vm_domain_inactive_def(d), f | DOMAIN_FORMAT_INACTIVE);
        return domain_def_format(vm_domain_current_def(d), f);
}

const VmObjectKind vm_domain_kind = {
        .noun = "domain",
        .interface = VM_DOMAIN_INTERFACE,
        .path_prefix = VM_DOMAIN_PREFIX,
        .path_pattern = VM_DOMAIN_PREFIX "/%",
        .no_such_error = VM_ERROR_NO_SUCH_DOMAIN,
        .action = VM_ACTION_DOMAIN_MANAGE,   /* and lifecycle, console: see each method */
        .config_per_driver = true,           /* CONFIG/DRIVER: each domain in its own driver's directory */
        .vtable = domain_vtable,
        .find = domain_object_find,
        .enumerate = domain_node_enumerator,
        .authorize_set = domain_authorize_set,
        .foreach = domain_foreach,
        .lookup = domain_lookup,
        .object_name = domain_name,
        .object_path = domain_path,
        .is_active = domain_active,
        .xml_parse = domain_xml_parse,
        .def_name = domain_def_name,
        .def_free = domain_def_free_hook,
        .def_details = domain_def_details,
        .xml_format = domain_xml_format,
};
