/* manager-domcaps.c — Manager.GetDomainCapabilities: picks the driver for the domain type and answers with
 * what its probe of the emulator says, libvirt's <domainCapabilities>. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "bus-util.h"
#include "macro.h"
#include "conf/domain-conf.h"
#include "manager-domcaps.h"
#include "manager.h"

static bool virt_type_known(const char *type) {
        for (DomainVirtType t = 0; t < _DOMAIN_VIRT_MAX; t++)
                if (streq_ptr(domain_virt_type_to_string(t), type))
                        return true;
        return false;
}

static VmDriver *first_answering_driver(Manager *m) {
        for (size_t i = 0; i < m->n_drivers; i++)
                if (m->drivers[i].driver && m->drivers[i].ops->domain_capabilities)
                        return &m->drivers[i];
        return NULL;
}

static void domcaps_done(void *userdata, int r, const char *xml, const char *message) {
        sd_bus_message *m = userdata;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        if (r < 0) {
                bus_error_from_errno(&error, r, message, "Failed to get the domain capabilities");
                (void) sd_bus_reply_method_error(m, &error);
        } else
                (void) sd_bus_reply_method_return(m, "s", xml);
        sd_bus_message_unref(m);
}

int vm_manager_method_get_domain_capabilities(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *emulator, *arch, *machine, *virttype;
        _cleanup_free_ char *msg = NULL;
        uid_t uid = (uid_t) -1;
        pid_t pid;
        VmDriver *drv;
        int r;

        r = sd_bus_message_read(message, "ssss", &emulator, &arch, &machine, &virttype);
        if (r < 0)
                return r;
        r = bus_options_parse(message, (const BusOption[]) { {} }, error);
        if (r < 0)
                return r;
        if (!isempty(virttype) && !virt_type_known(virttype))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Unknown virttype '%s'", virttype);
        /* no type: the first driver that answers, with its own default type (as libvirt's) */
        drv = isempty(virttype) ? first_answering_driver(m) : manager_driver_for_type(m, virttype);
        if (!drv || !drv->driver || !drv->ops->domain_capabilities)
                return sd_bus_error_setf(error, VM_ERROR_NOT_SUPPORTED, "No driver serves virttype '%s'",
                                         isempty(virttype) ? "(any)" : virttype);
        /* who asks matters only for a named emulator (it runs as root): then the bus is asked once per caller */
        if (!isempty(emulator) && bus_creds_cache_get(m->creds, message, &uid, &pid) < 0)
                uid = (uid_t) -1;
        r = drv->ops->domain_capabilities(drv->driver, emulator, arch, machine, isempty(virttype) ? NULL : virttype,
                                          uid == 0, domcaps_done,
                                          sd_bus_message_ref(message), &msg);
        if (r < 0) {
                sd_bus_message_unref(message);
                return bus_error_from_errno(error, r, msg, "Failed to get the domain capabilities");
        }
        return 1;
}
