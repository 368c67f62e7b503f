/* migrate.h — live migration between two vmgmtd (issue 15): the source's Domain.Migrate
 * (domain-migrate.c) and the destination's Manager.PrepareMigration,
 * Domain.FinishIncomingMigration and Domain.AbortIncomingMigration (manager-migrate.c). */
#pragma once

#include <systemd/sd-bus.h>

#include "manager.h"

/* vmgmtd.conf [migration]: where incoming migrations listen */
#define VM_MIGRATION_PORT_MIN_DEFAULT 49152u
#define VM_MIGRATION_PORT_MAX_DEFAULT 49215u

/* Reads [migration] (migration_port_min, migration_port_max, migration_address,
 * migrate_tls_x509_cert_dir) into c. 0 or -EINVAL (logged). */
int vm_migration_config_load(GKeyFile *kf, const char *path, ManagerConfig *c);

int vm_manager_method_prepare_migration(sd_bus_message *message, void *userdata, sd_bus_error *error);
int vm_domain_method_finish_incoming_migration(sd_bus_message *message, void *userdata, sd_bus_error *error);
int vm_domain_method_abort_incoming_migration(sd_bus_message *message, void *userdata, sd_bus_error *error);
int vm_domain_method_migrate(sd_bus_message *message, void *userdata, sd_bus_error *error);
int vm_domain_method_set_migration_parameters(sd_bus_message *message, void *userdata, sd_bus_error *error);
int vm_domain_method_get_migration_parameters(sd_bus_message *message, void *userdata, sd_bus_error *error);
/* The incoming migrations waiting for their source go (vmgmtd exits: their hypervisors keep running). */
void vm_incoming_migrations_free(Manager *m);

/* ---- a copy_storage migration's images here (migrate-storage.c) ---- */

/* made: what was made ("pool"/"volume" pairs, for vm_precreated_remove()), NULL when nothing or r < 0. */
typedef void (*VmPrecreateDoneFn)(void *userdata, int r, const char *message, GPtrArray *made);
/* For each disk disks[k] of def whose image file is missing from the active dir, fs or netfs pool whose
 * target is its directory: a volume of the disk's format and its size in sizes ("vda=BYTES,…", the
 * source's numbers), one after the other. done follows (at once when there is nothing to make); on a
 * failure what was made is removed again. 0, or a negative errno (done not called). */
int vm_migration_precreate(Manager *m, const DomainDef *def, const size_t *disks, size_t n_disks, const char *sizes,
                           VmPrecreateDoneFn done, void *userdata);
/* Removes the volumes (in the background) and frees made. NULL-safe. */
void vm_precreated_remove(Manager *m, GPtrArray *made);
