/* domain-disk-secrets.h — the secrets of network disks' <auth> (rbd's cephx key, iscsi's CHAP
 * password), looked up for a start or an attach and handed to the driver in the definition it gets. */
#pragma once

#include <systemd/sd-bus.h>

#include "conf/domain-conf.h"
#include "manager.h"

/* For every <disk type='network'> of def with <auth>: the value of the secret it names (its
 * usage type the protocol's: ceph, iscsi) goes into that disk's net.secret_value of *ret, a
 * copy of def (or *ret itself when it is one already: then it is filled in place). Only root
 * (and vmgmtd's own uid, autostart: caller NULL) may hand a secret to a domain: another caller
 * gets -EACCES. Returns 0 (*ret untouched when def has no such disk), or a negative errno
 * with *ret_error naming the disk and the secret: -EKEYREJECTED no such secret (NoSuchSecret
 * on the bus), -ENOTCONN it has no value (InvalidState), -EACCES, -ENOMEM. */
int vm_domain_disk_secrets_resolve(Manager *m, sd_bus_message *caller, const DomainDef *def, DomainDef **ret,
                                   char **ret_error);
