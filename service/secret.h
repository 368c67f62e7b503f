/* secret.h — org.vmgmt.Secret objects at /org/vmgmt/secret/UUID: libvirt's secrets (a credential's
 * definition and its value), stored root-only in CONFIG/secrets, and the lookup other drivers use. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "conf/domain-conf.h"
#include "object-store.h"

#define VM_SECRET_PREFIX "/org/vmgmt/secret"
#define VM_SECRET_INTERFACE "org.vmgmt.Secret"
#define VM_ERROR_NO_SUCH_SECRET "org.vmgmt.Error.NoSuchSecret"
#define VM_ACTION_SECRET_MANAGE "org.vmgmt.secret.manage"

#define SECRET_XML_MAX_SIZE (64u * 1024u)
#define SECRET_VALUE_MAX_SIZE (64u * 1024u)

/* <secret ephemeral= private=><uuid/><description/><usage type=>…</usage></secret> */
typedef struct SecretDef {
        char uuid[37];                  /* "" when the XML had none */
        char *description;              /* NULL: none */
        char *usage_type;               /* ceph, iscsi, volume, tls, vtpm; NULL: no <usage> */
        char *usage_id;                 /* its <name>, <target> or <volume> */
        bool ephemeral, private_;
} SecretDef;

/* Parses secret XML (purely). Returns 0 with *ret, -EINVAL with err, -EFBIG, -ENOMEM. */
int secret_def_parse(const char *xml, size_t len, SecretDef **ret, ConfError *err);
/* The canonical XML (malloc'd; NULL: out of memory). */
char *secret_def_format(const SecretDef *def);
void secret_def_free(SecretDef *def);

typedef struct VmObjectKind VmObjectKind;
extern const VmObjectKind vm_secret_kind;

typedef struct VmSecrets VmSecrets;

typedef struct VmSecret {
        char uuid[37];                  /* the store's name too */
        char *path;
        bool on_bus;
        SecretDef *def;
        uint8_t *value;                 /* NULL: no value set */
        size_t value_len;
        VmSecrets *secrets;
} VmSecret;

struct VmSecrets {
        ObjectStore store;              /* UUID → VmSecret* */
        Manager *manager;
};

/* Loads CONFIG/secrets (definitions and values). Returns 0 or a negative errno (logged). */
int vm_secrets_startup(Manager *m);
void vm_secrets_free(Manager *m);
/* The manager's DefineSecret, GetSecret, ListSecrets on /org/vmgmt. */
int vm_manager_secret_register(Manager *m);

/* By UUID, "TYPE ID" (LookupByUsage: "ceph client.admin") or a usage id alone; NULL when none. */
VmSecret *vm_secret_find(Manager *m, const char *uuid_or_usage);

/* The value of the secret of that usage type (NULL: any) named by usage_or_uuid
 * (its usage id or its UUID), for drivers that hand credentials on (rbd, iscsi):
 * a copy (*ret malloc'd, the caller wipes and frees it). Returns 0, -ENOENT (no
 * such secret), -ENODATA (it has no value), -ENOMEM. */
int vm_secret_lookup_value(Manager *m, const char *usage_type, const char *usage_or_uuid, uint8_t **ret,
                           size_t *ret_len);
