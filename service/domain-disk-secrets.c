/* domain-disk-secrets.c — network disks' <auth> secrets for the driver (see domain-disk-secrets.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <glib.h>

#include "domain-disk-secrets.h"
#include "macro.h"
#include "path-policy.h"
#include "secret.h"

int vm_domain_disk_secrets_resolve(Manager *m, sd_bus_message *caller, const DomainDef *def, DomainDef **ret,
                                   char **ret_error) {
        DomainDef *copy = *ret;
        /* what the earlier steps resolved (a pool volume may have become a network disk) */
        const DomainDef *src = copy ?: def;
        bool made = false;
        uid_t uid = caller ? vm_path_policy_caller_uid(m, caller) : 0;

        for (size_t i = 0; i < src->n_disks; i++) {
                const DomainDiskDef *d = &src->disks[i];
                const DomainDiskNet *n = &d->net;
                const char *name, *type;
                uint8_t *value = NULL;
                size_t len = 0;
                int r;

                if (d->type != DOMAIN_DISK_TYPE_NETWORK || !n->auth_username)
                        continue;
                name = n->secret_uuid ?: n->secret_usage;
                type = domain_disk_protocol_secret_type(n->protocol);
                if (uid != 0 && uid != geteuid()) {
                        *ret_error = g_strdup_printf("disk '%s' uses the %s secret '%s': only root may give a domain "
                                                     "one of vmgmt's secrets", strna(d->target_dev), strna(type), name);
                        r = -EACCES;
                        goto fail;
                }
                r = vm_secret_lookup_value(m, type, name, &value, &len);
                if (r == -ENOENT) {
                        *ret_error = g_strdup_printf("disk '%s': there is no %s secret with %s '%s'", strna(d->target_dev),
                                                     strna(type), n->secret_uuid ? "UUID" : "usage", name);
                        r = -EKEYREJECTED;
                        goto fail;
                }
                if (r == -ENODATA) {
                        *ret_error = g_strdup_printf("disk '%s': the %s secret '%s' has no value (SetValue)",
                                                     strna(d->target_dev), strna(type), name);
                        r = -ENOTCONN;
                        goto fail;
                }
                if (r < 0)
                        goto fail;
                if (!copy) {
                        copy = domain_def_copy(src);
                        made = true;
                        if (!copy) {
                                explicit_bzero(value, len);
                                free(value);
                                return -ENOMEM;
                        }
                }
                if (copy->disks[i].net.secret_value) {
                        explicit_bzero(copy->disks[i].net.secret_value, copy->disks[i].net.secret_len);
                        free(copy->disks[i].net.secret_value);
                }
                copy->disks[i].net.secret_value = value;
                copy->disks[i].net.secret_len = len;
                continue;
        fail:
                if (made)
                        domain_def_free(copy);
                return r;
        }
        *ret = copy;
        return 0;
}
