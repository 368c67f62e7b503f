/* domain-tpm.c — a domain's emulated TPM state as the service sees it: the driver keeps it beside
 * the definition; it goes with the domain (Undefine, a transient domain's stop) unless kept, and a
 * clone gets a copy. */
#include <errno.h>
#include <string.h>

#include "domain.h"
#include "log.h"

static bool has_emulated_tpm(const DomainDef *def) {
        return def && def->tpm && streq_ptr(def->tpm->backend, "emulator");
}

void vm_domain_tpm_state_drop(VmDomain *d) {
        int r;

        if (!has_emulated_tpm(d->def) || d->def->tpm->persistent_state || d->keep_tpm || !d->drv ||
            !d->drv->ops->tpm_state_remove)
                return;
        r = d->drv->ops->tpm_state_remove(d->drv->driver, d->def->uuid);
        if (r < 0)
                log_warning_errno(r, "Domain '%s': cannot remove its TPM state: %m", d->name);
        else
                log_debug("Domain '%s': TPM state removed.", d->name);
}

int vm_domain_tpm_state_copy(VmDomain *from, const DomainDef *to, char **ret_message) {
        *ret_message = NULL;
        if (!has_emulated_tpm(from->def) || !has_emulated_tpm(to) || !from->drv || !from->drv->ops->tpm_state_copy)
                return 0;
        return from->drv->ops->tpm_state_copy(from->drv->driver, from->def->uuid, to->uuid, ret_message);
}

void vm_domain_tpm_state_discard(VmDomain *from, const DomainDef *to) {
        if (has_emulated_tpm(from->def) && has_emulated_tpm(to) && from->drv && from->drv->ops->tpm_state_remove)
                (void) from->drv->ops->tpm_state_remove(from->drv->driver, to->uuid);
}
